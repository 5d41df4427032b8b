"""What each `bench` subcommand does: call bench.api (or the package that owns the job), print."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from bench.errors import BenchError
from bench.infra.interrupt import StopFlag, stop_on_signals
from bench.ui.spec_flags import hparams_from, spec_fields, target_from

MAX_JSON_STEPS = 1_000_000  # `bench protocols show --json` prints every step's LR

# The commands import what they run inside their function: `bench --help` and `bench list` never pay
# for torch, and each command loads only its own part of the package.


def _load_data(args, device):
    from bench import api  # lazy: torch and the command's own modules load only when it runs

    return api.load_data(args.dataset, device, split_seed=args.split_seed, data_root=args.data_root, download=args.download)


def cmd_evaluate(args) -> int:
    from bench import api  # lazy: torch and the command's own modules load only when it runs
    from bench.infra import distributed
    from bench.ui.report import evaluation_table

    execution = api.Execution(
        runs_dir=args.runs_dir, records_dir=args.out, data_root=args.data_root, download=args.download,
        device=args.device, checkpoint_every=args.checkpoint_every,
    )
    with stop_on_signals(StopFlag(), interrupt_unwatched=True) as stop, _reporter() as reporter, _process_group():
        device = api.training_device(args.device)
        api.set_threads(args.threads)
        spec = api.specify(device, reporter, **spec_fields(args))
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
    from bench.infra import distributed  # lazy: torch and the command's own modules load only when it runs
    from bench.infra.progress import SilentReporter, for_terminal

    return for_terminal() if distributed.is_main() else contextlib.nullcontext(SilentReporter())


@contextlib.contextmanager
def _process_group():
    """Leave torchrun's process group (if this command joined one) when the command ends."""
    try:
        yield
    finally:
        if "torch.distributed" in sys.modules:  # only a command that trained can have joined one
            from bench.infra import distributed  # lazy: torch and the command's own modules load only when it runs

            distributed.shutdown()


def cmd_new_adapter(args) -> int:
    from bench.ui.scaffold import new_adapter, next_steps  # lazy: torch and the command's own modules load only when it runs

    print("\n".join(next_steps(new_adapter(args.name, args.out))))
    return 0


def cmd_train(args) -> int:
    from bench import api  # lazy: torch and the command's own modules load only when it runs
    from bench.infra import distributed

    with stop_on_signals(StopFlag(), interrupt_unwatched=True) as stop, _reporter() as reporter, _process_group():
        device = api.training_device(args.device)
        api.set_threads()
        hook = api.make_adapter(args.adapter, hparams_from(args)).dense_hook() if args.adapter else None
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
    from bench import api  # lazy: torch and the command's own modules load only when it runs
    from bench.data import DATASETS
    from bench.ui.report import prune_table

    device = api.resolve_device(args.device)
    spec = DATASETS.get(args.dataset)
    adapter = api.make_adapter(args.adapter, hparams_from(args))
    target = target_from(args)
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
    from bench.core import shipped  # lazy: torch and the command's own modules load only when it runs
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
    from bench.core.protocols import list_protocols, load_protocol, resolve  # lazy: torch and the command's own modules load only when it runs
    from bench.core.schedule_plot import plot_schedule

    if args.action == "list":
        for name in list_protocols():
            print(f"{name:12s} {load_protocol(name).description}")
        return 0
    from bench.data import DATASETS  # lazy: torch and the command's own modules load only when it runs

    spec = DATASETS.get(args.dataset)
    resolved = resolve(load_protocol(args.name), spec.recipe, flops_ratio=args.flops_ratio)
    spe = args.steps_per_epoch
    if spe < 1:
        raise BenchError("--steps-per-epoch must be at least 1")
    total = resolved.total_steps(spe)
    if args.plot:
        plot_schedule(resolved, spe, args.plot)
    if args.json:
        if total > MAX_JSON_STEPS:
            raise BenchError(f"{total:,} steps are too many to print as JSON (at most {MAX_JSON_STEPS:,}); --plot draws them")
        print(json.dumps({"protocol": resolved.to_dict(), "dataset": spec.name, "steps_per_epoch": spe, "lr": resolved.lr_schedule(spe)}))
    else:
        info = resolved.to_dict()
        for key in sorted(info):
            print(f"{key:16s} {info[key]}")
        fn = resolved.lr_fn(spe)
        peak = max(resolved.lr_steps(spe))
        print(f"{'total_steps':16s} {total} ({spe} per epoch)")
        print(f"{'lr first/peak/last':16s} {fn(0):.6g} / {peak:.6g} / {fn(total - 1):.6g}")
    return 0


def cmd_list(args) -> int:
    if args.kind == "adapters":
        from bench.pruning.registry import adapter_names, get_adapter  # lazy: torch and the command's own modules load only when it runs

        for name in adapter_names():
            cls = get_adapter(name)
            hp = ", ".join(f"{k}={v}" for k, v in cls.describe_hparams().items()) or "-"
            configs = f"  configs: {', '.join(cls.configs)}" if cls.configs else ""
            layout = f"  layout: {cls.layout}" if cls.layout else ""
            print(f"{name:18s} {cls.kind:12s} {cls.paper}  hparams: {hp}{layout}{configs}")
    elif args.kind == "protocols":
        from bench.core.protocols import list_protocols  # lazy: torch and the command's own modules load only when it runs

        print("\n".join(list_protocols()))
        print("(any ft-N, lrw-N, slr-N or clr-N also resolves)")
    elif args.kind == "models":
        from bench.models import MODELS  # lazy: torch and the command's own modules load only when it runs

        print("\n".join(MODELS.names()))
        print("(also any torchvision classification model by name, and timm:<name>)")
    else:
        from bench.data import DATASETS  # lazy: torch and the command's own modules load only when it runs

        for name in DATASETS.names():
            spec = DATASETS.get(name)
            print(f"{name:10s} {spec.description}")
    return 0


def cmd_perf(args) -> int:
    from bench.api import set_threads  # lazy: torch and the command's own modules load only when it runs
    from bench.perf import limit, perf

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
        from bench.perf import sweep_rate  # lazy: torch and the command's own modules load only when it runs

        print(sweep_rate.report(sweep_rate.sweep_rates()))
        return 0
    if args.only == "limit":
        print(limit.report(limit.limits()))
        return 0
    if args.only == "epoch":
        from bench.api import training_device  # lazy: torch and the command's own modules load only when it runs
        from bench.perf import device_epoch

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
    from bench.core import records  # lazy: torch and the command's own modules load only when it runs
    from bench.evaluation import recount
    from bench.leaderboard.load import content_problems

    failed = 0
    for name in args.files:
        if name.endswith(records.VERIFICATION_SUFFIX):
            continue  # `bench verify`'s file beside a record (a shell glob picks it up)
        try:
            record = records.read(name)
            # What the leaderboard would reject (a file name or markup it cannot show) is rejected here too.
            bad_name = records.name_problem(Path(name).name)
            found = ([bad_name] if bad_name else []) + content_problems(record) + recount.problems(record)
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
    from bench.core.records import verification_path  # lazy: torch and the command's own modules load only when it runs
    from bench.evaluation.verify import verify

    with stop_on_signals(StopFlag(), interrupt_unwatched=True), _reporter() as reporter:
        result = verify(args.record, args.seeds, args.checkpoint, args.device, reporter, args.runs_dir, args.by)
    env = result["environment"]
    where = {True: "the record's environment (the dense weights retrained bitwise)",
             False: "not the record's environment (the dense weights retrained differently)",
             None: "environment not comparable (the dense weights were given)"}[result["same_environment"]]
    print(f"re-ran {args.record} on {env['device']}, {env['threads']} thread(s), torch {env['torch']}; {where}")
    for r in result["results"]:
        arms = "  ".join(
            f"{arm}: {_pct(r[arm]['recorded'])} → {_pct(r[arm]['rerun'])} ({r[arm]['status']}"
            + (f"; differs: {', '.join(r[arm]['differs'])})" if r[arm]["differs"] else ")")
            for arm in ("method", "random_control", "allocation_control") if arm in r
        )
        print(f"seed {r['seed']}: {r['status']:15s} {arms}")
    print(f"{result['status']}; written to {verification_path(args.record)}")
    return 0 if result["status"] != "not reproduced" else 1


def cmd_sweep(args) -> int:
    from bench.sweep.driver import run_sweep  # lazy: torch and the command's own modules load only when it runs

    return run_sweep(args)


def cmd_leaderboard(args) -> int:
    from bench import leaderboard  # lazy: torch and the command's own modules load only when it runs

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
