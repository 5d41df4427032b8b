"""Progress reporting (bench/infra/progress.py): timestamped lines under a pipe, bars in a terminal."""

from __future__ import annotations

import io
import re

from bench.infra.progress import LineReporter, RichReporter, for_terminal


def test_progress_under_a_pipe_is_timestamped_lines_at_once():
    stream = io.StringIO()
    reporter = LineReporter(stream, clock=iter(range(100)).__next__)
    reporter.plan(4)

    class Log:
        epoch, train_loss, val_top1 = 0, 0.5, 97.5

    with reporter.task("l1-norm seed 0", 2) as on_epoch:
        on_epoch(Log)
    lines = stream.getvalue().splitlines()
    assert re.match(r"\d\d:\d\d:\d\d l1-norm seed 0: training 2 epochs$", lines[0])
    assert re.match(r"\d\d:\d\d:\d\d l1-norm seed 0: epoch 1/2 loss 0.5000 val top-1 97.50% \(all runs: 1/4 epochs, ETA 0:00:0\d\)$",
                    lines[1])
    assert isinstance(for_terminal(io.StringIO()), LineReporter)


def test_a_terminal_gets_bars():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(for_terminal(Tty()), RichReporter)
