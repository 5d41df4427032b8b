"""Terminal tables (tabulate) for `bench evaluate` and `bench prune`."""

from __future__ import annotations

from tabulate import tabulate


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
    notes = ["FLOPs: fvcore, one multiply-add = one FLOP."]
    if record.get("layout"):
        notes.insert(0, f"layout {record['layout']['name']}: {record['layout']['description']}")
    if routes:
        notes.insert(1, "identity routes kept: " + ", ".join(routes))
    if record["target"].get("match"):
        m = record["target"]["match"]
        notes.append(f"--speedup {m['speedup']:g}: {m['achieved_speedup']:.3f}x FLOPs speed-up reached (the adapter's ratio found: {m['ratio']:.4f})")
    if allocation == "same_as_random_control":
        notes.append("allocation control: uniform widths at the method's FLOPs are the method's own widths, so it is the random control")
    elif isinstance(allocation, dict):
        notes.append("allocation control: random channels at one rate per layer of the layout, at the method's FLOPs "
                     "(isolates where the method prunes; the random control isolates which channels)")
    return f"{title}\n\n{table}\n\n" + "\n".join(notes)


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
