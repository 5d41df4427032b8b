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
    for label, arm in (("method", record["method"]), ("random control", record["random_control"])):
        if arm is None:
            continue
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
    return f"{title}\n\n{table}\n\nFLOPs: fvcore, one multiply-add = one FLOP."


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
    return f"{report['adapter']} on {report['model']} ({report['dataset']}), {report['target']}\n\n{head}\n\n{layers}"
