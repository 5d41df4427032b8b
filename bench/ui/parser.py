"""`bench`'s argument parser. The flags of a run's specification are generated from RunSpec's options
(bench/ui/spec_flags.py); the rest (where results go, executors, pages) are the commands' own."""

from __future__ import annotations

import argparse

import bench
from bench import defaults
from bench.errors import BenchError
from bench.evaluation.options import RUN_OPTIONS
from bench.ui.spec_flags import add_spec_flags, seed_list


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`bench: error: ...`) instead of usage + message."""

    def error(self, message: str):  # type: ignore[override]
        raise BenchError(f"{self.prog}: {message}")


# --- arguments -------------------------------------------------------------------------------------


def _add_run_args(p: argparse.ArgumentParser, spec_fields, *, training: bool = True) -> None:
    """The flags of the RunSpec fields `spec_fields` (generated, in their sections), then where the data
    lives and, for commands that train, how often they save."""
    groups = {"data": p.add_argument_group("data")}
    if training:
        groups["training"] = p.add_argument_group("training")
    add_spec_flags(p, spec_fields, groups=groups)
    groups["data"].add_argument("--data-root", help="folder holding the datasets (default: $BENCH_DATA or ./data)")
    groups["data"].add_argument("--download", action="store_true", help="download CIFAR if it is missing (opt-in)")
    if not training:
        return
    groups["training"].add_argument(
        "--checkpoint-every", type=_seconds, default=60.0, metavar="SECONDS",
        help="seconds between periodic checkpoints (default 60; 0 = every epoch); runs also save when stopped",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bench", description="prunebench: fair benchmarking of neural-network pruning.")
    parser.add_argument("--version", action="version", version=f"prunebench {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("evaluate", help="prune, retrain under a protocol, evaluate and record (with a random control)")
    # Every flag that determines the numbers is generated from RunSpec's options, in its order.
    _add_run_args(p, RUN_OPTIONS)
    p.add_argument("--runs-dir", default=defaults.RUNS_DIR, help="cache of dense baselines and retraining runs, shared by every evaluation (default ./runs)")
    p.add_argument(
        "--out", default=defaults.RECORDS_DIR,
        help="records folder, in the submissions layout <dataset>/<model>/<name>.json (default ./results); "
        "an evaluation whose record is already there is not run again",
    )

    p = sub.add_parser("new-adapter", help="write a ready-to-fill adapter module NAME.py for a new pruning method")
    p.add_argument("name", metavar="NAME", help="the adapter's registered name, e.g. l2-norm (module l2_norm.py)")
    p.add_argument("--out", metavar="DIR", help="folder for the file (default: adapters/ in a prunebench checkout, else .)")

    p = sub.add_parser("train", help="train (or reuse) the cached dense baseline only")
    _add_run_args(p, ("model", "dataset", "split_seed", "device", "compile", "memory_format"))
    p.add_argument("--seed", type=int, default=defaults.DENSE_SEED)
    p.add_argument("--runs-dir", default=defaults.RUNS_DIR)
    p.add_argument("--adapter", help="train the dense baseline this adapter starts from (slimming: with its L1 penalty); default: the shared one")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="that adapter's hyperparameter (repeatable)")
    p.add_argument("--export", metavar="FILE", help="also write the weights to FILE (a state dict for --checkpoint), atomically")

    p = sub.add_parser("prune", help="prune without retraining and print the resulting structure")
    _add_run_args(p, ("adapter", "hparams", "model", "layout", "target", "dataset", "split_seed", "device"), training=False)
    p.add_argument("--checkpoint", help="dense weights to prune (default: the dense baseline cached under --runs-dir, "
                   "else the shipped reference checkpoint, else a random init with a warning)")
    p.add_argument("--runs-dir", default=defaults.RUNS_DIR, help="where `bench train`/`evaluate` cache dense baselines (default ./runs)")
    p.add_argument("--dense-seed", type=int, default=defaults.DENSE_SEED, help="seed of the cached dense baseline to prune (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("protocols", help="inspect retraining protocols")
    psub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    psub.add_parser("list", help="shipped protocols")
    show = psub.add_parser("show", help="a protocol resolved against a dataset's recipe, with the LR of every step")
    show.add_argument("name")
    show.add_argument("--dataset", default="digits")
    show.add_argument("--steps-per-epoch", type=int, required=True, help="optimizer steps per epoch")
    show.add_argument("--flops-ratio", type=float, help="dense/pruned FLOPs (scratch-b only)")
    show.add_argument("--json", action="store_true", help="print JSON including the LR of every step")
    show.add_argument("--plot", metavar="FILE", help="also draw the LR schedule to FILE (.png/.pdf/.svg)")

    p = sub.add_parser("list", help="list adapters, protocols, models or datasets")
    p.add_argument("kind", choices=["adapters", "protocols", "models", "datasets"])

    p = sub.add_parser("perf", help="measure the performance ratios (harness, data pipeline, real speedup) side by side")
    p.add_argument(
        "--only", choices=["harness", "data", "end-to-end", "speedup", "limit", "sweep", "quickstart", "epoch"],
        help="measure one ratio only; limit: training FLOP/s as a fraction of this machine's matmul peak; sweep and "
        "quickstart (not in the default set: minutes): runs/hour of `bench sweep` with K = 1, 2, 4 runs per device, and "
        "the README's main command timed cold and cached; epoch (not in the default set): one ResNet-56 training epoch "
        "per device option (batch, compile, bf16/fp32, memory format) on this machine's training device",
    )

    p = sub.add_parser("validate", help="check submission records against the schema")
    p.add_argument("files", nargs="+")

    p = sub.add_parser("verify", help="re-run a record's seeds from its own specification and say whether its numbers reproduce")
    p.add_argument("record", help="a record file (it carries its run specification)")
    p.add_argument("--seeds", type=seed_list, help="seed count or list to re-run (default: all of the record's)")
    p.add_argument("--checkpoint", help="the record's dense weights, when they are at hand (checked by digest); default: retrain them")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--runs-dir", default=defaults.RUNS_DIR, help="where the scratch folder of the re-run goes (removed afterwards; default ./runs)")
    p.add_argument("--by", default="not stated", metavar="NAME",
                   help="who ran the verification, as the leaderboard shows it beside the mark (e.g. your name or 'CI')")

    p = sub.add_parser("sweep", help="run a TOML grid of evaluations, idempotent and resumable, locally, on Ray or on SLURM")
    p.add_argument("grid", help="the sweep file (see examples/sweeps/)")
    p.add_argument("--dry-run", action="store_true", help="print the runs, their count and an estimated cost; run nothing")
    p.add_argument("--out", help="records, in the submissions layout (default ./results/<grid file name>)")
    p.add_argument("--runs-dir", default=defaults.RUNS_DIR, help="checkpoints and dense baselines, shared by the runs (default ./runs)")
    p.add_argument("--executor", choices=["local", "ray", "slurm"], default="local", help="where runs execute (default local)")
    p.add_argument("--jobs", type=int, help="runs at once (default: one per GPU, else half the cores, within memory)")
    p.add_argument("--cpus-per-task", type=int, help="CPU threads per run (default: cores // jobs here; 4 on a cluster)")
    p.add_argument(
        "--jobs-per-device", type=int, metavar="K",
        help="K runs at once on each GPU (each capped to 1/K of its memory), or K runs sharing the CPU's cores; instead of --jobs",
    )
    g = p.add_argument_group("ray")
    g.add_argument("--address", help="an existing Ray cluster, e.g. ray://head:10001 or auto (default: a local Ray instance)")
    g = p.add_argument_group("slurm")
    g.add_argument("--partition", help="SLURM partition")
    g.add_argument("--time", default="4:00:00", help="time limit per run (default 4:00:00); a run that hits it is requeued and resumes")
    g.add_argument("--gpus-per-task", type=int, help="GPUs per run (default 1, or 0 when the grid's device is cpu)")
    g.add_argument("--cluster", choices=["slurm", "local"], default="slurm", help="local: submitit's local executor, to try a sweep here first")

    p = sub.add_parser("leaderboard", help="build the static leaderboard site from the submission records")
    p.add_argument("--submissions", default="submissions", help="folder of records, read recursively (default ./submissions)")
    p.add_argument("--out", help="folder for the site (default ./leaderboard, which only the default --submissions may write)")
    p.add_argument(
        "--source-url", metavar="URL",
        help="base URL that adapter source links are relative to, e.g. https://host/org/repo/blob/main/ "
        "(default: the prunebench GitHub repository's main branch)",
    )
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if --out is stale or a submission is rejected")
    return parser


def _version() -> str:
    return bench.__version__


# --- commands --------------------------------------------------------------------------------------
