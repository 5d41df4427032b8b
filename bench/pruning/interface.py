"""The adapter interface: the one contract every pruner (built-in or third-party) implements.

An adapter only *scores*; the core (`PruneJob`, bench/pruning/job.py) decides how many channels or weights
each layer keeps from the target and removes them. An adapter declares its lifecycle up front, so the
core never branches on an adapter's name:

- `kind`: "structured" (scores per output channel of each conv; channels are removed physically) or
  "unstructured" (scores per weight; a fixed mask is kept through retraining).
- `allocation`: "layerwise" (each layer keeps its own fraction) or "global" (one threshold over all
  layers for a global `--ratio`, as in magnitude pruning).
- `needs_calibration`: the context's `calibration` batches are read (feature maps, gradients).
- `needs_gradients`: scoring runs backward passes (the core keeps autograd enabled).
- `layout`: where the method's reference code prunes a model (bench/pruning/layouts.py: e.g.
  "hrankplus", "block-internal", "full-width", "stage-coupled" on the CIFAR ResNets); None takes the
  model's default. Used where the model offers it; `--layout` chooses another.
- `rounding`: how a layerwise rate becomes a channel count, as the reference rounds: "kept"
  (int(n * (1 - rate)) kept) or "removed" (int(n * rate) removed).
- `layout_required`: the adapter is defined by its layout, so a model that offers layouts but not
  this one is an error rather than a silent fallback to the model's default (`--layout` still
  chooses another explicitly).
- `from_scratch`: the adapter names an architecture, not a criterion (the width-scaled dense
  model): it runs only under protocols that reinitialize the pruned network, and it has no random
  control, which would be the same architecture from another random init.
- `refuses`: the model families (as tests/helpers/matrix.py names them, e.g. "vgg16",
  "timm:convnext_atto") this adapter refuses with a one-line BenchError. Only the model matrix reads
  it: it then expects that clean refusal instead of a pruned model, so a plugin states its own limits.

Pruners that act while a network trains return a `TrainingHook`: `dense_hook()` runs while the
dense baseline trains (network slimming's sparsity penalty; it changes the baseline, so its
`identity()` keys the dense cache). `soft_pruning()` declares a pruner's own training, which runs
before the protocol (soft filter pruning): the network trains at full width from the dense weights
under the original step schedule, its hook zeroes what the adapter's current scores would remove,
the core removes those channels after the last epoch, and the small network then retrains under the
protocol like any other pruned network.

Hyperparameters are a frozen dataclass (`Hparams`) with the paper's defaults; `--hp key=value` sets
them from the CLI. Named per-layer configurations from a paper go in `configs`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal, Mapping, Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.core.hooks import TrainingHook
from bench.errors import BenchError

Scores = dict[str, torch.Tensor]


@dataclass(frozen=True)
class NoHparams:
    """An adapter without hyperparameters."""


@dataclass(frozen=True)
class NamedConfig:
    """A per-layer pruning configuration published with a method (e.g. PFEC's ResNet-56-B).

    `rates` maps conv module names of `model` to the fraction of output channels removed."""

    model: str
    rates: Mapping[str, float]
    description: str = ""


# The activations a feature map may be read through, by name (torch-pruning traces activation
# modules as anonymous ops, so the point names the function rather than a module).
ACTIVATIONS = {
    "relu": F.relu,
    "relu6": F.relu6,
    "hardswish": F.hardswish,
    "silu": F.silu,
    "gelu": F.gelu,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "mish": F.mish,
}


@dataclass(frozen=True)
class FeatureMap:
    """Where a conv's channels are seen as the next layer sees them (after its BatchNorm and
    activation; for a residual block's output, after the addition): the output of `module`, on
    `channels` of it in the conv's channel order (all of them when None), passed through the
    activation `activation` (a name in ACTIVATIONS) first when one is named."""

    module: str
    channels: tuple[int, ...] | None = None
    activation: str | None = None

    def register(self, model: nn.Module, sink) -> torch.utils.hooks.RemovableHandle:
        """Call `sink(feature_map)` with this point's (N, C, H, W) map on every forward of `model`."""
        activation = ACTIVATIONS[self.activation] if self.activation else None
        index = list(self.channels) if self.channels is not None else None

        def hook(_module, _inputs, output):
            out = output if index is None else output[:, index]
            sink(activation(out) if activation is not None else out)

        return model.get_submodule(self.module).register_forward_hook(hook)


@dataclass
class PruningContext:
    """What an adapter may look at. `layers` are the prunable layers by module name: for structured
    adapters every conv whose output channels can be removed, for unstructured ones every layer whose
    weight is masked. `calibration` is a list of (inputs, labels) batches from the training split.
    `feature_maps` says where each conv's channels are seen by the layers after it (the points
    HRankPlus ranks); `norms` maps a conv to the BatchNorm that normalizes its output directly, where
    there is one; `normalized_by` lists, per conv, every BatchNorm that normalizes its channels (in a
    pre-activation network each later layer's) with the channel each conv channel has there;
    `residual` names the convs whose channels are residual-stream channels (removing one removes its
    identity routes too, so a gate belongs after the addition, at `feature_maps`); `units` maps each
    pruning unit to its member convs (a tied residual stream has several), which keep or lose a
    channel together. `graph` is the core's torch-pruning dependency graph of `model` (structured
    adapters; built with prunebench's own pruners for the CIFAR ResNet's shortcut and scatters), on
    which any `torch_pruning.importance` can score a conv's group."""

    model: nn.Module
    example_inputs: torch.Tensor
    layers: dict[str, nn.Module]
    calibration: list[tuple[torch.Tensor, torch.Tensor]]
    feature_maps: dict[str, FeatureMap]
    generator: torch.Generator
    seed: int
    norms: dict[str, nn.Module] = dataclasses.field(default_factory=dict)
    normalized_by: dict[str, list[tuple[nn.Module, tuple[int, ...]]]] = dataclasses.field(default_factory=dict)
    residual: frozenset[str] = frozenset()
    units: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    graph: Any = None  # torch_pruning.DependencyGraph (structured adapters), typed loosely: adapters need not import it


class SoftPruner(Protocol):
    """Handed to `SoftPruning.hook` by the core."""

    def zero(self, model: nn.Module) -> None:
        """Zero, in place, the filters (or weights) this adapter's current scores would remove."""

    def recalibrate(self, model: nn.Module) -> None:
        """Re-estimate the BatchNorm statistics of `model` on fixed training batches (no gradients),
        so that in eval mode the zeroed network runs with the statistics of what it now computes."""

    def mask_gradients(self, model: nn.Module) -> None:
        """Zero, in place, the gradients of what the last `zero` zeroed (call after backward): a zeroed
        filter feeds a zero-variance BatchNorm channel, whose gradient is scaled by 1/sqrt(eps)."""


@dataclass(frozen=True)
class SoftPruning:
    """A pruner's own training at full width, before the protocol retrains the small network (SFP).

    It starts from the dense weights and follows the dataset's original step schedule, stretched to
    `epochs` epochs (0: the original length), at `lr_scale` times its learning rates. `hook(pruner)` builds the
    hook active while it trains (the core hands it the `SoftPruner` of the copy being trained)."""

    hook: Callable[["SoftPruner"], TrainingHook]
    epochs: int = 0
    lr_scale: float = 1.0
    # Before the protocol, rescale the small network's filters to the dense network's filter norms
    # where a BatchNorm makes their scale irrelevant to the function (surgery.rescale_filters).
    rescale: bool = False

    def __post_init__(self):
        if self.epochs < 0 or not self.lr_scale > 0:
            raise BenchError(f"soft pruning needs epochs >= 0 and a positive lr_scale, got {self.epochs} and {self.lr_scale}")


class Adapter:
    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    kind: ClassVar[Literal["structured", "unstructured"]] = "structured"
    allocation: ClassVar[Literal["layerwise", "global"]] = "layerwise"
    needs_calibration: ClassVar[bool] = False
    needs_gradients: ClassVar[bool] = False
    layout: ClassVar[str | None] = None
    rounding: ClassVar[Literal["kept", "removed"]] = "kept"
    layout_required: ClassVar[bool] = False
    from_scratch: ClassVar[bool] = False
    refuses: ClassVar[tuple[str, ...]] = ()
    Hparams: ClassVar[type] = NoHparams
    configs: ClassVar[Mapping[str, NamedConfig]] = {}
    paper: ClassVar[str] = ""

    def __init__(self, hparams: object | None = None):
        self.hparams = hparams if hparams is not None else self.Hparams()
        if not isinstance(self.hparams, self.Hparams):
            raise TypeError(f"{self.name} expects {self.Hparams.__name__}, got {type(hparams).__name__}")

    def calibration_size(self) -> tuple[int, int]:
        """(number of batches, batch size) of calibration data; used when `needs_calibration`."""
        return (0, 0)

    def score(self, ctx: PruningContext) -> Scores:
        """Higher score = more important = kept. Structured: a 1-D tensor over output channels for
        layers in `ctx.layers` (a unit of several convs takes the mean of those scored; a unit with
        none scored is an error); unstructured: a tensor shaped like the weight, for every layer."""
        raise NotImplementedError

    def dense_hook(self) -> TrainingHook | None:
        """A hook active while prunebench trains the dense baseline; None uses the shared baseline."""
        return None

    def soft_pruning(self) -> SoftPruning | None:
        """The adapter's own training before the protocol; when given, the network trains at full width
        with its hook, is pruned for real by this adapter's final scores after the last epoch, and the
        small network retrains under the protocol."""
        return None

    @classmethod
    def describe_hparams(cls) -> dict[str, object]:
        return {f.name: f.default for f in dataclasses.fields(cls.Hparams)}


def parse_hparams(adapter_cls: type[Adapter], assignments: list[str]) -> object:
    """Typed `key=value` overrides for an adapter's hyperparameter dataclass."""
    fields = {f.name: f for f in dataclasses.fields(adapter_cls.Hparams)}
    values: dict[str, object] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            known = ", ".join(fields) or "none"
            raise BenchError(f"bad --hp {item!r} for adapter {adapter_cls.name}: expected KEY=VALUE with KEY one of: {known}")
        default = fields[key].default
        values[key] = _convert(raw.strip(), type(default), f"--hp {key}")
    return adapter_cls.Hparams(**values)


def _convert(raw: str, typ: type, what: str) -> object:
    if typ is bool:
        flags = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
        if raw.lower() in flags:
            return flags[raw.lower()]
    elif typ in (int, float, str):
        try:
            return typ(raw)
        except ValueError:
            pass
    else:
        raise BenchError(f"{what}: hyperparameters of type {typ.__name__} cannot be set from the command line")
    raise BenchError(f"{what}: {raw!r} is not a valid {typ.__name__}")
