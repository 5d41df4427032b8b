"""Width-scaled dense model: the reference every pruned network's architecture has to beat.

Liu, Sun, Zhou, Huang & Darrell, "Rethinking the Value of Network Pruning", ICLR 2019
(https://arxiv.org/abs/1810.05270), and Le & Hua 2021, Sec. 3 and Appendix D: a pruning method is
worth its cost only if its network beats the plain network of the same size trained from scratch.
This is that network: the dense model with every layer's width scaled by `1 - r`, trained from
random initialization. It names an architecture, not a criterion, so it runs only under protocols
that reinitialize (`scratch-e`: the original schedule plus the retraining budget; `scratch-b`: the
dense model's FLOPs), has no random control (that would be the same architecture from another
init), and the leaderboard draws it as the "width-scaled dense, from scratch" series on every
accuracy-vs-FLOPs plot of the same dense baseline.

On the CIFAR ResNets it requires layout `stage-coupled`: every conv at the same rate and each stage's
residual stream one channel set, which at one rate is exactly ResNet-20 with widths
int(16 (1 - r)), int(32 (1 - r)), int(64 (1 - r)) and option-A shortcuts (the pruned network's
positional shortcut pads by half the width difference, as option A does). Models without layouts
(torchvision, timm) are scaled through their dependency graph, every conv group at the same rate;
VGG-16 and DenseNet-40 offer only layouts that keep layers dense, so they are refused. Which
channels it keeps (the lowest indices) is irrelevant: the protocol reinitializes them. Hyperparameters:
none.
"""

from __future__ import annotations

import torch

from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores


@ADAPTERS.register()
class WidthScaled(Adapter):
    name = "width-scaled"
    version = "1"
    paper = "Liu et al. 2019 (scaled-down dense baseline)"
    layout = "stage-coupled"
    layout_required = True
    from_scratch = True
    refuses = ("vgg16", "densenet40")  # they offer only layouts that keep layers dense: nothing to scale

    def score(self, ctx: PruningContext) -> Scores:
        # Decreasing in the index: the first channels are kept (any choice would do; see above).
        return {name: -torch.arange(m.weight.shape[0], dtype=torch.float32) for name, m in ctx.layers.items()}
