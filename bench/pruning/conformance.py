"""The adapter conformance checks: what every pruning adapter must satisfy, run through the same
`PruneJob` the benchmark uses (so adapters with extra lifecycle hooks are checked the same way).

Used by tests/pruning/test_conformance.py (parametrized over the registry), by tests/ui/test_scaffold.py
(a freshly generated adapter passes as it is), and importable from a third-party package's tests:

    from bench.pruning import conformance

    conformance.check_adapter("my-adapter")  # every check, on a CIFAR ResNet-20 with tiny inputs

`check_adapter` prints one line per check (PASS or FAIL and why), runs them all, then raises the first
failure: an AssertionError naming the adapter and what went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.core.counting import count
from bench.models import build_model
from bench.pruning.interface import Adapter, PruningContext, Scores
from bench.pruning.job import PruneJob
from bench.pruning.registry import get_adapter
from bench.pruning.structure import PrunedModel
from bench.pruning.targets import Target

AdapterSpec = Union[str, type]  # a registered name or an Adapter subclass
RATIOS = (0.2, 0.5, 0.8)


@dataclass
class Setup:
    """A dense model and the tiny inputs every check prunes it with."""

    model_name: str
    dense: nn.Module
    example_inputs: torch.Tensor
    calibration: list[tuple[torch.Tensor, torch.Tensor]]
    num_classes: int


def make_setup(
    model_name: str = "resnet20",
    *,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (1, 16, 16),
    calibration_batches: int = 2,
    batch_size: int = 16,
    seed: int = 0,
) -> Setup:
    torch.manual_seed(seed)
    dense = build_model(model_name, num_classes=num_classes, in_channels=input_shape[0]).eval()
    gen = torch.Generator().manual_seed(seed)
    example = torch.randn(1, *input_shape, generator=gen)
    calibration = [
        (torch.randn(batch_size, *input_shape, generator=gen), torch.randint(num_classes, (batch_size,), generator=gen))
        for _ in range(calibration_batches)
    ]
    return Setup(model_name, dense, example, calibration, num_classes)


def _require(condition: object, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def adapter_class(spec: AdapterSpec) -> type:
    if isinstance(spec, str):
        return get_adapter(spec)
    _require(isinstance(spec, type) and issubclass(spec, Adapter), f"{spec!r} is not an Adapter subclass")
    return spec


def run(spec: AdapterSpec, setup: Setup, ratio: float = 0.5, *, seed: int = 0, adapter: Adapter | None = None) -> PrunedModel:
    """Prune the setup's dense model with a fresh instance of the adapter (default hyperparameters)."""
    return job(spec, setup, ratio, seed=seed, adapter=adapter).prune()


def job(spec: AdapterSpec, setup: Setup, ratio: float = 0.5, *, seed: int = 0, adapter: Adapter | None = None) -> PruneJob:
    """The pruning of the setup's dense model by the adapter (a fresh instance unless `adapter` is given)."""
    adapter = adapter if adapter is not None else adapter_class(spec)()
    return PruneJob(setup.dense, setup.model_name, adapter, Target(ratio=ratio), example_inputs=setup.example_inputs,
                    calibration=setup.calibration, seed=seed)


# --- the checks ------------------------------------------------------------------------------------


def check_score_shapes(adapter: Adapter, ctx: PruningContext, scores: Scores) -> None:
    """Structured: a 1-D tensor over output channels per layer; unstructured: weight-shaped; only
    layers of `ctx.layers`; no NaN."""
    who = adapter.name or type(adapter).__name__
    _require(isinstance(scores, Mapping), f"{who}: score() must return a dict of tensors, got {type(scores).__name__}")
    _require(len(scores) > 0, f"{who}: score() returned no scores")
    extra = sorted(set(scores) - set(ctx.layers))
    _require(not extra, f"{who}: scores for layers not in ctx.layers: {', '.join(map(str, extra[:3]))}")
    for name, s in scores.items():
        _require(isinstance(s, torch.Tensor), f"{who}: the score of {name} is a {type(s).__name__}, not a tensor")
        weight = ctx.layers[name].weight
        expected = (weight.shape[0],) if adapter.kind == "structured" else tuple(weight.shape)
        _require(
            tuple(s.shape) == expected,
            f"{who} ({adapter.kind}): scores of {name} have shape {tuple(s.shape)}, expected {expected}",
        )
        _require(not torch.isnan(s.detach().float()).any(), f"{who}: NaN in the scores of {name}")


def check_scores_have_the_right_shapes(spec: AdapterSpec, setup: Setup) -> None:
    """`adapter.score(ctx)` on exactly the context pruning builds, checked before anything is removed."""
    adapter = adapter_class(spec)()
    original = adapter.score
    calls = []

    def checked_score(ctx: PruningContext) -> Scores:
        scores = original(ctx)
        check_score_shapes(adapter, ctx, scores)
        calls.append(ctx)
        return scores

    adapter.score = checked_score  # type: ignore[method-assign]
    run(spec, setup, 0.5, adapter=adapter)
    _require(calls, f"{adapter.name}: prune() never called score()")


def check_pruned_model_is_valid_and_smaller(spec: AdapterSpec, setup: Setup) -> None:
    name = adapter_class(spec).name
    pruned = run(spec, setup, 0.5)
    for mod, mask in pruned.masks.items():
        weight = pruned.model.get_submodule(mod).weight
        _require(not weight[~mask.to(weight.device)].any(), f"{name}: masked weights of {mod} are not zero")
    model = pruned.model.train()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, *setup.example_inputs.shape[1:], generator=gen)
    out = model(x)
    _require(tuple(out.shape) == (4, setup.num_classes), f"{name}: pruned model outputs {tuple(out.shape)}")
    _require(torch.isfinite(out).all(), f"{name}: pruned model outputs non-finite values")
    F.cross_entropy(out, torch.randint(setup.num_classes, (4,), generator=gen)).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    _require(grads and all(g is not None and torch.isfinite(g).all() for g in grads), f"{name}: backward left missing or non-finite gradients")
    before = count(setup.dense, setup.example_inputs)
    after = count(pruned.model, setup.example_inputs, pruned.masks)
    _require(after.params < before.params, f"{name}: {after.params} params after pruning, {before.params} before")
    _require(after.flops < before.flops, f"{name}: {after.flops} FLOPs after pruning, {before.flops} before")
    _require(0 < pruned.structure.density < 1, f"{name}: density {pruned.structure.density} at ratio 0.5")
    bad = [u for u, (kept, total) in pruned.structure.units.items() if not 0 < kept <= total]
    _require(not bad, f"{name}: units with impossible kept counts: {bad[:3]}")


def check_counts_fall_as_the_ratio_grows(spec: AdapterSpec, setup: Setup) -> None:
    name = adapter_class(spec).name
    counts = [count(p.model, setup.example_inputs, p.masks) for p in (run(spec, setup, r) for r in RATIOS)]
    params, flops = [c.params for c in counts], [c.flops for c in counts]
    _require(params[0] > params[1] > params[2], f"{name}: params at ratios {RATIOS}: {params} (must fall)")
    _require(flops[0] > flops[1] > flops[2], f"{name}: FLOPs at ratios {RATIOS}: {flops} (must fall)")


def check_same_seed_same_result(spec: AdapterSpec, setup: Setup) -> None:
    name = adapter_class(spec).name
    a, b = run(spec, setup, 0.5, seed=3), run(spec, setup, 0.5, seed=3)
    _require(a.structure == b.structure, f"{name}: the same seed gave different structures")
    sa, sb = a.model.state_dict(), b.model.state_dict()
    _require(list(sa) == list(sb), f"{name}: the same seed gave different parameter names")
    differ = [k for k in sa if not torch.equal(sa[k], sb[k])]
    _require(not differ, f"{name}: the same seed gave different values for {differ[:3]}")
    _require(
        a.masks.keys() == b.masks.keys() and all(torch.equal(a.masks[k], b.masks[k]) for k in a.masks),
        f"{name}: the same seed gave different masks",
    )


def check_random_control_matches_the_structure(spec: AdapterSpec, setup: Setup) -> None:
    """The random control the benchmark builds from this result keeps exactly its per-layer counts."""
    adapter = adapter_class(spec)()
    pruning = job(spec, setup, 0.5, adapter=adapter)
    method = pruning.prune()
    control = pruning.random_control(method.structure, seed=1)
    name = adapter.name
    _require(control.structure == method.structure, f"{name}: the random control's structure differs")
    _require(_layer_sizes(control) == _layer_sizes(method), f"{name}: the random control's per-layer sizes differ")
    _require(
        count(control.model, setup.example_inputs, control.masks) == count(method.model, setup.example_inputs, method.masks),
        f"{name}: the random control's params/FLOPs differ",
    )


def _layer_sizes(pruned: PrunedModel) -> dict[str, object]:
    """Structured: every parameter's shape; unstructured: the kept weights per masked layer."""
    if pruned.structure.kind == "structured":
        return {n: tuple(p.shape) for n, p in pruned.model.named_parameters()}
    return {n: int(m.sum()) for n, m in pruned.masks.items()}


CHECKS: tuple[Callable[[AdapterSpec, Setup], None], ...] = (
    check_scores_have_the_right_shapes,
    check_pruned_model_is_valid_and_smaller,
    check_counts_fall_as_the_ratio_grows,
    check_same_seed_same_result,
    check_random_control_matches_the_structure,
)


def check_adapter(
    spec: AdapterSpec, setup: Setup | None = None, *, report: Callable[[str], None] | None = print
) -> list[tuple[str, str | None]]:
    """Every conformance check, on `setup` (default: CIFAR ResNet-20, one 16x16 channel). A plugin author
    sees what was checked: `report` gets one line per check (None: silent); returns (check, failure or
    None) pairs. Every check runs, so one failure does not hide the others; the first is then raised."""
    setup = setup if setup is not None else make_setup()
    who = spec if isinstance(spec, str) else getattr(spec, "name", "") or getattr(spec, "__name__", repr(spec))
    results: list[tuple[str, str | None]] = []
    first: Exception | None = None
    for check in CHECKS:
        what = check.__name__.removeprefix("check_").replace("_", " ")
        try:
            check(spec, setup)
            failure = None
        except Exception as exc:  # noqa: BLE001 (an adapter may raise anything; reported, then re-raised)
            first = first or exc
            message = " ".join(str(exc).split())  # one line
            failure = message if isinstance(exc, AssertionError) and message else f"{type(exc).__name__}: {message}"
        results.append((what, failure))
        if report is not None:
            report(f"conformance {who}: {'FAIL' if failure else 'PASS'}  {what}" + (f": {failure}" if failure else ""))
    if first is not None:
        raise first
    return results


__all__ = ["CHECKS", "Setup", "check_adapter", "check_score_shapes", "job", "make_setup", "run"] + [c.__name__ for c in CHECKS]
