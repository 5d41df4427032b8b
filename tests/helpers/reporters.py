"""A progress reporter that keeps what it was told: the trainings started (their labels) and the messages."""

from bench.infra.progress import SilentReporter


class Recording(SilentReporter):
    def __init__(self):
        self.trained: list[str] = []
        self.messages: list[str] = []

    def task(self, label, epochs):
        self.trained.append(label)
        return super().task(label, epochs)

    def message(self, text):
        self.messages.append(text)
