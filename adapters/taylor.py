"""Taylor FO: filter pruning by the first-order Taylor estimate of the loss change.

Molchanov, Mallya, Tyree, Frosio & Kautz, "Importance Estimation for Neural Network Pruning",
CVPR 2019 (https://arxiv.org/abs/1906.10771; code https://github.com/NVlabs/Taylor_pruning). The
importance of a filter is the squared first-order Taylor term of the loss change when its
parameters S are zeroed, I_S = (sum_{s in S} g_s w_s)^2 with g = dL/dw on a minibatch, averaged
over minibatches. The filters with the smallest importance are removed, with one threshold over all
layers (global ranking, as in the paper; no per-layer normalization).

Structured, global allocation (`--ratio` ranks every channel against every other; a compress rate
or named configuration is applied per layer instead). Default layout `stage-coupled` on the CIFAR
ResNets, as the reference prunes its ResNets (checked against `models/resnet.py` and
`pruning_engine.py`): every block's inner channels (a gate after the first conv's BatchNorm) and each
stage's residual stream as one channel set, shared by the stage's blocks (one gate object per stage,
applied after every block's addition and ReLU). Removing a stream channel removes its identity
routes too, so it is scored by that shared gate, not by a branch BatchNorm: per batch the gate's
gradient is the sum of its uses (here also the stem output, which on a CIFAR ResNet is the stage-1
stream), squared, and divided by the number of uses, as the reference's ImageNet correction divides
each stage gate by its blocks. Hyperparameters (paper / reference defaults):

- `variant="bn"`: where the criterion is measured. "bn" is the paper's best variant, FO on the
  BatchNorm after the conv (Taylor-FO-BN, "gate after BN", method 22 of the reference code):
  I = (gamma * dL/dgamma + beta * dL/dbeta)^2 per channel, which equals the Taylor term of a gate
  multiplying the BatchNorm output. "weight" measures it on the conv's own parameters (weight and
  bias): I = (sum over the filter of g * w)^2 (the paper's Eq. for a set of parameters). A conv
  with no affine BatchNorm directly on its output (e.g. DenseNet's pre-activation convs) is scored
  on its own parameters under either variant: that is the same gate, placed before the missing BN.
- `calibration_batches=30` minibatches (the reference code's pruning `frequency`: the criterion is
  averaged over 30 minibatches before each pruning step) of `batch_size=256` images (the reference
  ImageNet command line).

Differences from the paper and its code:
- One-shot scoring of the model it is given. The paper prunes iteratively during fine-tuning
  (e.g. 100 neurons every 30 minibatches, with a momentum of 0.9 on the criterion across pruning
  steps); iteration here is the core's `--iterations K`, with one fresh measurement per step.
- Gradients are taken with the model in inference mode, as the core scores it: BatchNorm uses its
  running statistics and nothing is updated; the paper measures during training (batch statistics).
  Calibration images are not augmented.
- The reference code's "Taylor_weight" (method 0) sums the per-parameter terms, sum_s (g_s w_s)^2;
  `variant="weight"` follows the paper's formula (the square of the sum) instead.
- The reference's BasicBlock also gates each block's branch output before the addition (its
  `gate2`); here a block's second conv loses channels only with its stage's stream. The reference
  divides its in-block gates by 3 as well on ImageNet (a constant that only rescales them against
  the stage gates); here they are not divided. It has no CIFAR ResNet with shared gates (its CIFAR
  model is a pre-activation ResNet with per-branch gates).
- Not torch-pruning's `TaylorImportance`: by default it scores sum_s |g_s w_s| (an L1 sum of
  per-parameter terms, not the square of the sum), with `multivariable=True` it scores
  |sum_s g_s w_s| of the gradient accumulated in `.grad` (so batches are summed before squaring,
  not averaged after), and it ignores BatchNorm parameters (its BN branch tests for GroupNorm).
  On a single batch, `multivariable=True` squared equals `variant="weight"`; the tests check that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores

VARIANTS = ("bn", "weight")


@dataclass(frozen=True)
class TaylorHparams:
    variant: str = "bn"  # or "weight": the conv filter's own parameters
    calibration_batches: int = 30
    batch_size: int = 256


@ADAPTERS.register()
class Taylor(Adapter):
    name = "taylor"
    version = "2"
    paper = "Molchanov et al. 2019 (Taylor FO)"
    layout = "stage-coupled"
    allocation = "global"
    needs_calibration = True
    needs_gradients = True
    Hparams = TaylorHparams

    def __init__(self, hparams: TaylorHparams | None = None):
        super().__init__(hparams)
        if self.hparams.variant not in VARIANTS:
            raise BenchError(f"taylor: variant must be one of {', '.join(VARIANTS)}, got {self.hparams.variant!r}")
        if self.hparams.calibration_batches < 1 or self.hparams.batch_size < 1:
            raise BenchError("taylor: calibration_batches and batch_size must be positive")

    def calibration_size(self) -> tuple[int, int]:
        return self.hparams.calibration_batches, self.hparams.batch_size

    def score(self, ctx: PruningContext) -> Scores:
        if not ctx.calibration:
            raise BenchError("taylor needs calibration batches to compute gradients")
        gated = self.hparams.variant == "bn"
        after = ctx.norms if gated else {}  # conv → the BatchNorm on its output
        # Residual-stream channels: removing one removes its identity routes too, so its gate sits
        # after the addition (the block output), as the reference gates a ResNet's residual stream.
        streams = {name: ctx.feature_maps[name] for name in ctx.layers if gated and name in ctx.residual}
        # Every other conv: the parameters whose sum of g * w is the channel's gate contribution.
        gate_params: dict[str, list[torch.Tensor]] = {}
        for name, conv in ctx.layers.items():
            if name in streams:
                continue
            bn = after.get(name)
            owner = bn if bn is not None and getattr(bn, "affine", False) else conv
            gate_params[name] = [p for p in (owner.weight, owner.bias) if p is not None]
        params = list({id(p): p for ps in gate_params.values() for p in ps}.values())

        totals = {name: torch.zeros(conv.weight.shape[0], dtype=torch.float64) for name, conv in ctx.layers.items()}
        # The units whose stream gate is shared by several convs: their contributions add up before squaring.
        shared = {u: [c for c in members if c in streams] for u, members in ctx.units.items()}
        shared = {u: members for u, members in shared.items() if members} or {c: [c] for c in streams}
        with torch.enable_grad():
            for inputs, labels in ctx.calibration:
                outputs: dict[str, torch.Tensor] = {}
                handles = [point.register(ctx.model, lambda z, name=name: outputs.__setitem__(name, z)) for name, point in streams.items()]
                try:
                    loss = F.cross_entropy(ctx.model(inputs), labels)
                finally:
                    for h in handles:
                        h.remove()
                names = list(outputs)
                # autograd.grad, not backward(): no .grad is created on the model's parameters.
                grads = torch.autograd.grad(loss, params + [outputs[n] for n in names], allow_unused=True)
                grad_of = {id(p): g for p, g in zip(params, grads)}
                for name, ps in gate_params.items():
                    contribution = torch.zeros_like(totals[name])
                    for p in ps:
                        g = grad_of[id(p)]
                        if g is not None:
                            contribution += (p.detach() * g).reshape(p.shape[0], -1).sum(1).double().cpu()
                    totals[name] += contribution.pow(2)
                # A gate of 1 on a block output: dL/dgate = sum over N, H, W of z * dL/dz, per channel.
                uses = {n: (outputs[n].detach() * g).sum((0, 2, 3)).double().cpu() for n, g in zip(names, grads[len(params):]) if g is not None}
                for members in shared.values():
                    gate = sum((uses[m] for m in members if m in uses), torch.zeros_like(totals[members[0]]))
                    for m in members:  # the unit's score is the shared gate's, whichever member the core reads
                        totals[m] += gate.pow(2) / len(members)
        return {name: total / len(ctx.calibration) for name, total in totals.items()}
