"""L1-norm filter pruning (PFEC).

Li, Kadav, Durdanovic, Samet & Graf, "Pruning Filters for Efficient ConvNets", ICLR 2017
(https://arxiv.org/abs/1608.08710). Each conv filter is scored by the L1 norm of its weights (the sum
of |w| over input channels and kernel); the filters with the smallest norms are removed.

Structured, layerwise. Default layout `block-internal` on the CIFAR ResNets (as `res56prune.py` of
Liu et al.'s reference implementation prunes them): only each block's first conv loses filters; the
stem, every block's output and so the residual stream keep their width, so every identity route
survives for the method and its random control alike. Other models: their default layout (VGG-16:
the first 12 convs). Kept counts are `int(n * (1 - r))`, as the reference rounds. Hyperparameters:
none (the paper's criterion has none; its per-layer rates are the target). Named configurations reproduce the paper's pruned models, with the layer choices of the
reference implementation by Liu et al. 2019 (rethinking-network-pruning, `res56prune.py`,
`res110prune.py`, `vggprune.py`): only the first conv of each residual block is pruned, layers
sensitive to pruning are skipped, and each stage has its own rate. PFEC published A and B for
ResNet-56/110 (paper: ResNet-56-A 1.12e8 FLOPs, -10.4%; ResNet-56-B 9.09e7 FLOPs, -27.6%);
C and D come from the official code of Le & Hua 2021 (NPTM) with B's skipped layers.
"""

from __future__ import annotations

from bench.pruning import ADAPTERS, Adapter, NamedConfig, PruningContext, Scores


def _resnet_config(depth: int, skip: set[int], stage_rates: tuple[float, float, float], label: str) -> NamedConfig:
    """PFEC's CIFAR ResNet configuration. Layer ids count convs from 1 (the stem); block k's first
    conv is layer 2k + 2, and only those (even ids) are pruned, except the skipped ones."""
    blocks = (depth - 2) // 6
    rates = {}
    for k in range(3 * blocks):
        layer_id = 2 * k + 2
        if layer_id in skip:
            continue
        stage = k // blocks
        if stage_rates[stage] > 0:
            rates[f"layer{stage + 1}.{k % blocks}.conv1"] = stage_rates[stage]
    return NamedConfig(f"resnet{depth}", rates, f"PFEC {label}: skip layers {sorted(skip)}, stage rates {stage_rates}")


def _vgg16_a() -> NamedConfig:
    """VGG-16-A: conv 1 and convs 8-13 lose half their filters."""
    convs = [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40]  # module indices of the 13 convs in CifarVGG.features
    layers = [1] + list(range(8, 14))
    return NamedConfig("vgg16", {f"features.{convs[i - 1]}": 0.5 for i in layers}, "PFEC VGG-16-A")


CONFIGS = {
    "resnet56-A": _resnet_config(56, {16, 20, 38, 54}, (0.1, 0.1, 0.1), "ResNet-56-A"),
    "resnet56-B": _resnet_config(56, {16, 18, 20, 34, 38, 54}, (0.6, 0.3, 0.1), "ResNet-56-B"),
    # C and D are the stronger settings of the same family used by Le & Hua 2021's official code (NPTM).
    "resnet56-C": _resnet_config(56, {16, 18, 20, 34, 38, 54}, (0.6, 0.5, 0.4), "ResNet-56-C"),
    "resnet56-D": _resnet_config(56, {16, 18, 20, 34, 38, 54}, (0.6, 0.6, 0.6), "ResNet-56-D"),
    "resnet110-A": _resnet_config(110, {36}, (0.5, 0.0, 0.0), "ResNet-110-A"),
    "resnet110-B": _resnet_config(110, {36, 38, 74}, (0.5, 0.4, 0.3), "ResNet-110-B"),
    "resnet110-C": _resnet_config(110, {36, 38, 74}, (0.5, 0.5, 0.5), "ResNet-110-C"),
    "resnet110-D": _resnet_config(110, {36, 38, 74}, (0.5, 0.6, 0.7), "ResNet-110-D"),
    "vgg16-A": _vgg16_a(),
}


@ADAPTERS.register()
class L1Norm(Adapter):
    name = "l1-norm"
    version = "2"
    paper = "Li et al. 2017 (PFEC)"
    layout = "block-internal"
    configs = CONFIGS

    def score(self, ctx: PruningContext) -> Scores:
        return {name: m.weight.detach().abs().flatten(1).sum(1) for name, m in ctx.layers.items()}
