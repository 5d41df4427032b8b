"""User-facing errors: the CLI prints their message on one line and exits with code 2."""

import difflib


class BenchError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class UnknownNameError(BenchError, KeyError):
    """A name (adapter, model, dataset, protocol) that no registry knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def did_you_mean(word: str, choices, *, n: int = 1, cutoff: float = 0.6, show=repr) -> str:
    """The hint that ends an unknown-name message: "; did you mean 'x'?" (or "'x' or 'y'"), or "" when
    nothing is close. The one place every registry, file validator and adapter words it."""
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)
    return f"; did you mean {' or '.join(show(c) for c in close)}?" if close else ""
