"""The `bench` command line: parse, call bench.api, print. User errors are one line and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from pathlib import Path
from typing import Sequence

from bench import defaults
from bench.errors import BenchError
from bench.infra.interrupt import Interrupted, StopFlag, stop_on_signals

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`bench: error: ...`) instead of usage + message."""

    def error(self, message: str):  # type: ignore[override]
        raise BenchError(f"{self.prog}: {message}")


# --- arguments -------------------------------------------------------------------------------------


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=defaults.DATASET, help="digits (default, offline), cifar10, cifar100, imagenet")
    g.add_argument("--data-root", help="folder holding the datasets (default: $BENCH_DATA or ./data)")
    g.add_argument("--download", action="store_true", help="download CIFAR if it is missing (opt-in)")
    g.add_argument("--split-seed", type=int, default=defaults.SPLIT_SEED, help="seed of the fixed 90/10 train/val split (default 0)")
    g.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")


def _add_target_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--ratio", type=float, help="fraction of channels (or weights) removed per layer, in (0, 1); default 0.5")
    g.add_argument(
        "--speedup", type=float, metavar="S",
        help="a cost: prune until dense FLOPs / pruned FLOPs = S (structured adapters; searched in the adapter's "
        "layout, within 0.5%% of the dense FLOPs), so that methods compare at the same FLOPs",
    )
    g.add_argument("--compress-rate", help="per-layer rates in HRankPlus syntax, one per entry of the layout, e.g. '[0.]+[0.18]*29' (ResNet-56, hrankplus layout)")
    g.add_argument("--config", help="a named configuration of the adapter, e.g. resnet56-B for l1-norm")


def _add_adapter_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--adapter", required=required, help="pruning method (see `bench list adapters`)")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="adapter hyperparameter (repeatable)")
    p.add_argument("--model", default=defaults.MODEL, help="model name (default resnet20; see `bench list models`)")
    p.add_argument(
        "--layout", metavar="NAME",
        help="where to prune: a layout the model offers (CIFAR ResNets: hrankplus, block-internal, full-width, "
        "stage-coupled; default: the adapter's own, from its reference code)",
    )
    _add_target_args(p)


def _add_training_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--compile", action="store_true", help="train through torch.compile (slow to start; changes the numbers, so cached apart)")
    g.add_argument(
        "--memory-format", choices=defaults.MEMORY_FORMATS, default=defaults.MEMORY_FORMAT,
        help="layout of the model and its batches while training (default channels_last: faster on CPU and GPU; "
        "contiguous is how CPU runs trained before, e.g. the reference records; part of a run's identity)",
    )
    g.add_argument(
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


def _seeds(text: str) -> tuple[int, ...]:
    """`3` → (0, 1, 2); `0,5,7` → (0, 5, 7)."""
    try:
        if "," in text:
            if text.count(",") >= defaults.MAX_SEEDS:
                raise argparse.ArgumentTypeError(f"at most {defaults.MAX_SEEDS} seeds")
            seeds = tuple(int(s) for s in text.split(","))
        else:
            count = int(text)
            if count > defaults.MAX_SEEDS:  # before the list is built
                raise argparse.ArgumentTypeError(f"at most {defaults.MAX_SEEDS} seeds, got {count}")
            seeds = tuple(range(count))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a seed count or a comma-separated seed list") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: need at least one distinct non-negative seed")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bench", description="prunebench: fair benchmarking of neural-network pruning.")
    parser.add_argument("--version", action="version", version=f"prunebench {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("evaluate", help="prune, retrain under a protocol, evaluate and record (with a random control)")
    _add_adapter_args(p)
    p.add_argument("--protocol", default=defaults.PROTOCOL, help="retraining protocol (default clr-90; see `bench list protocols`)")
    p.add_argument("--seeds", type=_seeds, default=defaults.SEEDS, help="seed count or list (default 3 → 0,1,2)")
    p.add_argument(
        "--iterations", type=int, default=defaults.ITERATIONS, metavar="K",
        help="prune to the target in K equal steps, retraining under the protocol after each (default 1: one-shot)",
    )
    p.add_argument("--no-random-control", action="store_true", help="skip the random-pruning control")
    p.add_argument(
        "--allocation-control", action="store_true",
        help="also train uniform random pruning in the method's layout at the method's FLOPs, which isolates its "
        "per-layer allocation (trained once with the random control where the two are the same network)",
    )
    p.add_argument("--checkpoint", help="start from your own dense weights (a state dict) instead of training")
    p.add_argument("--dense-seed", type=int, default=defaults.DENSE_SEED, help="seed of the dense baseline training (default 0)")
    p.add_argument("--runs-dir", default=defaults.RUNS_DIR, help="cache of dense baselines and retraining runs, shared by every evaluation (default ./runs)")
    p.add_argument(
        "--out", default=defaults.RECORDS_DIR,
        help="records folder, in the submissions layout <dataset>/<model>/<name>.json (default ./results); "
        "an evaluation whose record is already there is not run again",
    )
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: every core this process may use); part of the run's identity on CPU")
    _add_data_args(p)
    _add_training_args(p)

    p = sub.add_parser("new-adapter", help="write a ready-to-fill adapter module NAME.py for a new pruning method")
    p.add_argument("name", metavar="NAME", help="the adapter's registered name, e.g. l2-norm (module l2_norm.py)")
    p.add_argument("--out", metavar="DIR", help="folder for the file (default: adapters/ in a prunebench checkout, else .)")

    p = sub.add_parser("train", help="train (or reuse) the cached dense baseline only")
    p.add_argument("--model", default=defaults.MODEL)
    p.add_argument("--seed", type=int, default=defaults.DENSE_SEED)
    p.add_argument("--runs-dir", default=defaults.RUNS_DIR)
    p.add_argument("--adapter", help="train the dense baseline this adapter starts from (slimming: with its L1 penalty); default: the shared one")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="that adapter's hyperparameter (repeatable)")
    p.add_argument("--export", metavar="FILE", help="also write the weights to FILE (a state dict for --checkpoint), atomically")
    _add_data_args(p)
    _add_training_args(p)

    p = sub.add_parser("prune", help="prune without retraining and print the resulting structure")
    _add_adapter_args(p)
    p.add_argument("--checkpoint", help="dense weights to prune (default: the dense baseline cached under --runs-dir, "
                   "else the shipped reference checkpoint, else a random init with a warning)")
    p.add_argument("--runs-dir", default=defaults.RUNS_DIR, help="where `bench train`/`evaluate` cache dense baselines (default ./runs)")
    p.add_argument("--dense-seed", type=int, default=defaults.DENSE_SEED, help="seed of the cached dense baseline to prune (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_data_args(p)

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
    p.add_argument("--seeds", type=_seeds, help="seed count or list to re-run (default: all of the record's)")
    p.add_argument("--checkpoint", help="the record's dense weights, when they are at hand (checked by digest); default: retrain them")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--runs-dir", default=defaults.RUNS_DIR, help="where the scratch folder of the re-run goes (removed afterwards; default ./runs)")

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
    import bench

    return bench.__version__


# --- commands --------------------------------------------------------------------------------------


def _target(args):
    from bench.pruning import Target, parse_compress_rate

    if args.compress_rate is not None:
        return Target(compress_rate=parse_compress_rate(args.compress_rate))
    if args.config is not None:
        return Target(config=args.config)
    if args.speedup is not None:
        return Target(speedup=args.speedup)
    return Target(ratio=defaults.RATIO if args.ratio is None else args.ratio)


def _load_data(args, device):
    from bench import api

    return api.load_data(args.dataset, device, split_seed=args.split_seed, data_root=args.data_root, download=args.download)


def _hparams(args):
    from bench.pruning import get_adapter, parse_hparams

    return parse_hparams(get_adapter(args.adapter), args.hp)


def cmd_evaluate(args) -> int:
    from bench import api
    from bench.infra import distributed
    from bench.ui.report import evaluation_table

    execution = api.Execution(
        runs_dir=args.runs_dir, records_dir=args.out, data_root=args.data_root, download=args.download,
        device=args.device, checkpoint_every=args.checkpoint_every,
    )
    with stop_on_signals(StopFlag()) as stop, _reporter() as reporter, _process_group():
        device = api.training_device(args.device)
        api.set_threads(args.threads)
        spec = api.specify(
            device,
            reporter,
            adapter=args.adapter,
            hparams=_hparams(args),
            target=_target(args),
            layout=args.layout,
            model=args.model,
            dataset=args.dataset,
            split_seed=args.split_seed,
            protocol=args.protocol,
            seeds=args.seeds,
            random_control=not args.no_random_control,
            allocation_control=args.allocation_control,
            iterations=args.iterations,
            dense_seed=args.dense_seed,
            checkpoint=args.checkpoint,
            compile=args.compile,
            memory_format=args.memory_format,
        )
        record, path = api.evaluate(spec, execution, reporter, stop)
    if distributed.is_main():
        print(evaluation_table(record))
        print(f"\nrecord written to {path}")
        warning = api.unshared_baseline_warning(record, path)
        if warning:
            print(warning, file=sys.stderr)
    return 0


def _reporter():
    """Progress bars in a terminal, timestamped lines elsewhere; under torchrun on rank 0 only (the
    other ranks follow it silently)."""
    from bench.infra import distributed
    from bench.infra.progress import SilentReporter, for_terminal

    return for_terminal() if distributed.is_main() else contextlib.nullcontext(SilentReporter())


@contextlib.contextmanager
def _process_group():
    """Leave torchrun's process group (if this command joined one) when the command ends."""
    try:
        yield
    finally:
        if "torch.distributed" in sys.modules:  # only a command that trained can have joined one
            from bench.infra import distributed

            distributed.shutdown()


def cmd_new_adapter(args) -> int:
    from bench.ui.scaffold import new_adapter, next_steps

    print("\n".join(next_steps(new_adapter(args.name, args.out))))
    return 0


def cmd_train(args) -> int:
    from bench import api
    from bench.infra import distributed

    with stop_on_signals(StopFlag()) as stop, _reporter() as reporter, _process_group():
        device = api.training_device(args.device)
        api.set_threads()
        hook = api.make_adapter(args.adapter, _hparams(args)).dense_hook() if args.adapter else None
        data = _load_data(args, device)
        dense = api.train_dense(
            args.model, data, seed=args.seed, runs_dir=args.runs_dir, hook=hook, reporter=reporter, stop=stop,
            compile=args.compile, memory_format=args.memory_format, checkpoint_every=args.checkpoint_every,
        )
    if not distributed.is_main():
        return 0
    print(
        f"dense {args.model} on {args.dataset}: val top-1 {dense.val_top1:.2f}%, test top-1 {dense.test_top1:.2f}% "
        f"({dense.counts.params:,} params, {dense.counts.flops:,} FLOPs) — cached in {dense.path}"
    )
    if args.export:
        api.export_weights(dense.model, args.export)
        print(f"weights written to {args.export} (SHA-256 {api.file_digest(args.export)}): pass it as --checkpoint")
    return 0


def cmd_prune(args) -> int:
    # lazy: the API and the datasets import torch; `bench --help` and the other subcommands stay fast
    from bench import api
    from bench.data import DATASETS
    from bench.ui.report import prune_table  # lazy: tabulate, for this subcommand only

    device = api.resolve_device(args.device)
    spec = DATASETS.get(args.dataset)
    adapter = api.make_adapter(args.adapter, _hparams(args))
    target = _target(args)
    model = api.new_model(args.model, spec, device)
    weights, source = _prune_weights(args, adapter)
    if weights is not None:
        api.load_checkpoint(model, weights)
    # Only calibration-based adapters read the dataset; the others can inspect CIFAR/ImageNet shapes offline.
    data = _load_data(args, device) if adapter.needs_calibration else None
    report, match = api.prune_report(model, args.model, adapter, target, spec, seed=args.seed, data=data, layout=args.layout)
    if weights is not None:  # said once the target has proved valid: an error stays one line
        print(f"pruned {source}: {weights}", file=sys.stderr)
    else:
        print(f"warning: pruned a randomly initialized model: no --checkpoint given and no dense {args.model} on "
              f"{spec.name} cached under {args.runs_dir} (make one with `bench train --model {args.model} "
              f"--dataset {spec.name}`)", file=sys.stderr)
    if match is not None and match.note:
        print(f"note: {match.note}", file=sys.stderr)
    print(json.dumps(report, indent=2) if args.json else prune_table(report))
    return 0


def _prune_weights(args, adapter) -> tuple[str | None, str]:
    """What `bench prune` prunes: --checkpoint, else the dense baseline cached for this model and dataset
    (the adapter's own, for one that trains its own), else the shipped reference checkpoint."""
    from bench.core import shipped
    from bench.evaluation.dense import find_cached

    if args.checkpoint:
        return args.checkpoint, "the given checkpoint"
    hook = adapter.dense_hook()
    cached = find_cached(args.runs_dir, args.model, args.dataset, args.dense_seed, hook.identity() if hook else None)
    if cached is not None:
        return str(cached), "the cached dense baseline"
    copy = shipped.for_run(args.model, args.dataset, adapter.name)
    if copy is not None and (copy.adapter is not None) == (hook is not None):
        return str(copy.path), "the shipped reference checkpoint"
    return None, ""


def cmd_protocols(args) -> int:
    from bench.core.protocols import (
        list_protocols,
        load_protocol,
        plot_schedule,
        resolve,
    )

    if args.action == "list":
        for name in list_protocols():
            print(f"{name:12s} {load_protocol(name).description}")
        return 0
    from bench.data import DATASETS

    spec = DATASETS.get(args.dataset)
    resolved = resolve(load_protocol(args.name), spec.recipe, flops_ratio=args.flops_ratio)
    spe = args.steps_per_epoch
    if spe < 1:
        raise BenchError("--steps-per-epoch must be at least 1")
    schedule = resolved.lr_schedule(spe)
    if args.plot:
        plot_schedule(resolved, spe, args.plot)
    if args.json:
        print(json.dumps({"protocol": resolved.to_dict(), "dataset": spec.name, "steps_per_epoch": spe, "lr": schedule}))
    else:
        info = resolved.to_dict()
        for key in sorted(info):
            print(f"{key:16s} {info[key]}")
        print(f"{'total_steps':16s} {len(schedule)} ({spe} per epoch)")
        print(f"{'lr first/peak/last':16s} {schedule[0]:.6g} / {max(schedule):.6g} / {schedule[-1]:.6g}")
    return 0


def cmd_list(args) -> int:
    if args.kind == "adapters":
        from bench.pruning.registry import adapter_names, get_adapter

        for name in adapter_names():
            cls = get_adapter(name)
            hp = ", ".join(f"{k}={v}" for k, v in cls.describe_hparams().items()) or "-"
            configs = f"  configs: {', '.join(cls.configs)}" if cls.configs else ""
            layout = f"  layout: {cls.layout}" if cls.layout else ""
            print(f"{name:18s} {cls.kind:12s} {cls.paper}  hparams: {hp}{layout}{configs}")
    elif args.kind == "protocols":
        from bench.core.protocols import list_protocols

        print("\n".join(list_protocols()))
        print("(any ft-N, lrw-N, slr-N or clr-N also resolves)")
    elif args.kind == "models":
        from bench.models import MODELS

        print("\n".join(MODELS.names()))
        print("(also any torchvision classification model by name, and timm:<name>)")
    else:
        from bench.data import DATASETS

        for name in DATASETS.names():
            spec = DATASETS.get(name)
            print(f"{name:10s} {spec.description}")
    return 0


def cmd_perf(args) -> int:
    from bench.api import set_threads
    from bench.ui import limit, perf

    set_threads()
    if args.only == "quickstart":
        print(perf.quickstart().report())
        return 0
    measures = {
        "harness": perf.harness_ratio,
        "data": perf.data_ratio,
        "end-to-end": perf.end_to_end_ratio,
        "speedup": perf.speedup_ratio,
    }
    if args.only == "sweep":
        from bench.ui import sweep_rate

        print(sweep_rate.report(sweep_rate.sweep_rates()))
        return 0
    if args.only == "limit":
        print(limit.report(limit.limits()))
        return 0
    if args.only == "epoch":
        from bench.api import training_device
        from bench.ui import device_epoch

        device = training_device("auto")
        print(device_epoch.report(device, device_epoch.epoch_timings(device)))
        return 0
    names = [args.only] if args.only else list(measures)
    ratios = [measures[name]() for name in names]
    print(perf.report(ratios))
    if args.only is None:  # informative, beside the ratios (no target)
        print(limit.report(limit.limits()))
    return 0 if all(r.ok for r in ratios) else 1


def cmd_validate(args) -> int:
    from bench.core import records
    from bench.evaluation import recount
    from bench.leaderboard.load import content_problems

    failed = 0
    for name in args.files:
        if name.endswith(records.VERIFICATION_SUFFIX):
            continue  # `bench verify`'s file beside a record (a shell glob picks it up)
        try:
            record = records.read(name)
            # What the leaderboard would reject (markup in any string) is rejected here too, not only there.
            found = content_problems(record) + recount.problems(record)
            if found:
                raise BenchError(f"{name}: {'; '.join(found)}")
            print(f"ok    {name}")
        except BenchError as exc:
            failed += 1
            print(f"FAIL  {exc}", file=sys.stderr)
    return 1 if failed else 0


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}%"


def cmd_verify(args) -> int:
    from bench.core.records import verification_path
    from bench.evaluation.verify import verify

    with stop_on_signals(StopFlag()), _reporter() as reporter:
        result = verify(args.record, args.seeds, args.checkpoint, args.device, reporter, args.runs_dir)
    env = result["environment"]
    where = "the record's environment" if result["same_environment"] else "not the record's environment"
    print(f"re-ran {args.record} on {env['device']}, {env['threads']} thread(s), torch {env['torch']} ({where}); dense: {result['dense']}")
    for r in result["results"]:
        arms = "  ".join(
            f"{arm}: {_pct(r[arm]['recorded'])} → {_pct(r[arm]['rerun'])} ({r[arm]['status']})" for arm in ("method", "random_control") if arm in r
        )
        print(f"seed {r['seed']}: {r['status']:15s} {arms}")
    print(f"{result['status']}; written to {verification_path(args.record)}")
    return 0 if result["status"] != "not reproduced" else 1


def cmd_sweep(args) -> int:
    from bench.sweep.driver import run_sweep

    return run_sweep(args)


def cmd_leaderboard(args) -> int:
    from bench import leaderboard

    if args.out is None:
        if Path(args.submissions).resolve() != Path("submissions").resolve():
            # Never replace the committed pages with another folder's: say where they should go instead.
            raise BenchError(f"--submissions {args.submissions} needs its own --out (e.g. --out leaderboard-"
                             f"{Path(args.submissions).name}): ./leaderboard is the pages of ./submissions")
        args.out = "leaderboard"

    if args.check:
        problems = leaderboard.check(args.submissions, args.out, source_url=args.source_url)
        for line in problems:
            print(line, file=sys.stderr)
        if not problems:
            print(f"{args.out} is up to date")
        return 1 if problems else 0
    site = leaderboard.generate(args.submissions, args.out, source_url=args.source_url)
    for line in leaderboard.rejection_lines(args.submissions, site.rejected) + leaderboard.baseline_warnings(site):
        print(line, file=sys.stderr)
    entries = sum(len(g.entries) for g in site.groups)
    print(f"leaderboard written to {args.out}: {len(site.groups)} groups, {entries} entries, {len(site.rejected)} rejected files")
    return 1 if site.rejected else 0


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
        print(f"bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bench: interrupted; rerun the same command to resume from the last completed epoch", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
