"""User-facing errors: the CLI prints their message on one line and exits with code 2."""


class BenchError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class UnknownNameError(BenchError, KeyError):
    """A name (adapter, model, dataset, protocol) that no registry knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
