"""Terminal tables (tabulate) for `bench evaluate` and `bench prune`."""

from __future__ import annotations

from tabulate import tabulate

from bench.leaderboard.entries import finished_runs
from bench.leaderboard.stats import difference


def _millions(n: int) -> str:
    return f"{n / 1e6:.3f}M"


def _accuracy(arm: dict) -> str:
    if arm["diverged"]:
        return "diverged"
    n = len(arm["runs"])
    return f"{arm['top1_mean']:.2f} ± {arm['top1_std']:.2f} (n={n})"


def evaluation_table(record: dict) -> str:
    dense = record["dense"]
    rows = [["dense", f"{dense['test_top1']:.2f}", _millions(dense["params"]), "", _millions(dense["flops"]), ""]]
    routes = []
    allocation = record.get("allocation_control")
    arms = [("method", record["method"]), ("random control", record["random_control"])]
    if isinstance(allocation, dict):
        arms.append(("allocation control", allocation))
    for label, arm in arms:
        if arm is None:
            continue
        if arm.get("identity_routes") is not None:
            routes.append(f"{label} {100 * arm['identity_routes']:.1f}%")
        rows.append(
            [
                f"{arm['adapter']} ({label})",
                _accuracy(arm),
                f"{_millions(dense['params'])} → {_millions(arm['params'])}",
                f"-{arm['params_reduction_pct']:.1f}%",
                f"{_millions(dense['flops'])} → {_millions(arm['flops'])}",
                f"-{arm['flops_reduction_pct']:.1f}%",
            ]
        )
    protocol = record["protocol"]
    title = (
        f"{record['model']} on {record['dataset']['name']}, {record['target']['description']}, "
        f"protocol {protocol['name']} (v{protocol['version']}, {protocol['epochs']} epochs), seeds {record['seeds']}"
    )
    table = tabulate(rows, headers=["", "top-1 % (mean ± std)", "params", "Δparams", "FLOPs", "ΔFLOPs"], tablefmt="github")
    verdict = "\n".join(result_lines(record))
    notes = [
        "top-1 %: test accuracy at each seed's best-validation epoch, mean ± std over the seeds.",
        f"protocol {protocol['name']} (v{protocol['version']}, {protocol['epochs']} epochs): the retraining schedule, "
        "its version, and the epochs it trains on this dataset (the paper's budget as the same fraction of this "
        "dataset's original training).",
        "FLOPs: fvcore, one multiply-add = one FLOP.",
    ]
    if record.get("layout"):
        notes.insert(0, f"layout {record['layout']['name']}: {record['layout']['description']}")
    if routes:
        notes.insert(1, "identity routes kept: " + ", ".join(routes) + " (residual shortcuts that still add a block's "
                     "input unchanged; the method and its control keep the same number by construction)")
    if record["target"].get("match"):
        m = record["target"]["match"]
        notes.append(f"--speedup {m['speedup']:g}: {m['achieved_speedup']:.3f}x FLOPs speed-up reached (the adapter's ratio found: {m['ratio']:.4f})")
    if allocation == "same_as_random_control":
        notes.append("allocation control: uniform widths at the method's FLOPs are the method's own widths, so it is the random control")
    elif isinstance(allocation, dict):
        notes.append("allocation control: random channels at one rate per layer of the layout, at the method's FLOPs "
                     "(isolates where the method prunes; the random control isolates which channels)")
    return f"{title}\n\n{table}\n\n{verdict}\n\n" + "\n".join(notes)


def result_lines(record: dict) -> list[str]:
    """What the evaluation says, in words: the method against its random control, paired by seed, with
    its 95% interval and verdict, and what one test example is worth."""
    test = record["dataset"]["sizes"]["test"]
    worth = f"One test example of {record['dataset']['name']} is worth {100 / test:.2f} points of top-1 ({test} test images)."
    method, control = record["method"], record["random_control"]
    if control is None:
        return ["No random control was run (--no-random-control): nothing says whether the criterion beats chance.", worth]
    d = difference(finished_runs(method), finished_runs(control))
    if d is None or d.ci is None:
        return [f"{method['adapter']} minus its random control: too few seeds that finished in both arms for an "
                "interval (use --seeds 5).", worth]
    if d.ci.sign > 0:
        verdict = "the method beats its random control (the interval excludes 0)"
    elif d.ci.sign < 0:
        verdict = "random pruning beats the method (the interval excludes 0)"
    else:
        verdict = "tied: the interval includes 0, so these seeds cannot tell the method from random pruning"
    lines = [f"{method['adapter']} minus its random control: {d.mean:+.2f} points, paired 95% interval "
             f"[{d.ci.low:+.2f}, {d.ci.high:+.2f}] over {d.n} seeds: {verdict}.", worth]
    allocation = record.get("allocation_control")
    if isinstance(allocation, dict) and (a := difference(finished_runs(method), finished_runs(allocation))) is not None and a.ci is not None:
        lines.insert(1, f"{method['adapter']} minus its allocation control: {a.mean:+.2f} points, paired 95% interval "
                        f"[{a.ci.low:+.2f}, {a.ci.high:+.2f}] (where it prunes and what it keeps, together).")
    return lines


def prune_table(report: dict) -> str:
    d, p = report["dense"], report["pruned"]
    head = tabulate(
        [["params", f"{d['params']:,}", f"{p['params']:,}", f"-{100 * (1 - p['params'] / d['params']):.1f}%"],
         ["FLOPs", f"{d['flops']:,}", f"{p['flops']:,}", f"-{100 * (1 - p['flops'] / d['flops']):.1f}%"]],
        headers=["", "dense", "pruned", "change"],
        tablefmt="github",
    )
    structure = report["structure"]
    unit = "channels" if structure["kind"] == "structured" else "weights"
    rows = [[name, f"{u['kept']}/{u['total']}", f"{100 * u['kept'] / u['total']:.1f}%"] for name, u in structure["units"].items()]
    layers = tabulate(rows, headers=["layer", f"kept {unit}", "kept %"], tablefmt="github")
    title = f"{report['adapter']} on {report['model']} ({report['dataset']}), {report['target']}"
    if report.get("layout"):
        title += f"\nlayout {report['layout']['name']}: {report['layout']['description']}"
    if report.get("identity_routes") is not None:
        title += f"\nidentity routes kept: {100 * report['identity_routes']:.1f}%"
    if report.get("match"):
        m = report["match"]
        title += (f"\nFLOPs speed-up {m['achieved_speedup']:.3f}x for --speedup {m['speedup']:g} "
                  f"({m['error_of_dense_flops']:.3%} of the dense FLOPs off; found ratio {m['ratio']:.4f})")
    return f"{title}\n\n{head}\n\n{layers}"
