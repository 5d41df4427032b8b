"""The `bench` command line: parse, run the subcommand, print. User errors are one line and exit code 2."""

from __future__ import annotations

import sys
import warnings
from typing import Sequence

from bench.errors import BenchError
from bench.infra.interrupt import Interrupted
from bench.ui.commands import (
    cmd_evaluate,
    cmd_leaderboard,
    cmd_list,
    cmd_new_adapter,
    cmd_perf,
    cmd_protocols,
    cmd_prune,
    cmd_sweep,
    cmd_train,
    cmd_validate,
    cmd_verify,
)
from bench.ui.parser import build_parser

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

COMMANDS = {
    "evaluate": cmd_evaluate,
    "new-adapter": cmd_new_adapter,
    "train": cmd_train,
    "prune": cmd_prune,
    "protocols": cmd_protocols,
    "list": cmd_list,
    "perf": cmd_perf,
    "validate": cmd_validate,
    "verify": cmd_verify,
    "sweep": cmd_sweep,
    "leaderboard": cmd_leaderboard,
}


def main(argv: Sequence[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except Interrupted as exc:
        print(f"bench: {exc}; progress saved: rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BenchError as exc:
        print(f"bench: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bench: interrupted; rerun the same command to resume from the last completed epoch", file=sys.stderr)
        return EXIT_INTERRUPTED


def one_line(message: str) -> str:
    """The message on one line whatever it quotes: a control character (a newline, NEL, a line separator,
    an escape sequence) is written as its escape, so that it can neither break nor restyle the line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in message)


if __name__ == "__main__":
    raise SystemExit(main())
