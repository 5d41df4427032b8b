"""Taylor FO: filter pruning by the first-order Taylor estimate of the loss change.

Molchanov, Mallya, Tyree, Frosio & Kautz, "Importance Estimation for Neural Network Pruning",
CVPR 2019 (https://arxiv.org/abs/1906.10771; code https://github.com/NVlabs/Taylor_pruning). The
importance of a filter is the squared first-order Taylor term of the loss change when its
parameters S are zeroed, I_S = (sum_{s in S} g_s w_s)^2 with g = dL/dw on a minibatch, averaged
over minibatches. The filters with the smallest importance are removed, with one threshold over all
layers (global ranking, as in the paper; no per-layer normalization).

Structured, global allocation (`--ratio` ranks every channel against every other; a compress rate
or named configuration is applied per layer instead). Hyperparameters (paper / reference defaults):

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
- Channels shared by several convs (a residual stage) get the mean of the member convs' scores
  (the core's rule); the reference code gates such a channel once and, for ImageNet ResNets,
  divides its accumulated criterion by the number of blocks.
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


@ADAPTERS.register("taylor")
class Taylor(Adapter):
    name = "taylor"
    paper = "Molchanov et al. 2019 (Taylor FO)"
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
        after = ctx.norms if self.hparams.variant == "bn" else {}  # conv → the BatchNorm on its output
        # Per conv: the parameters whose sum of g * w is the channel's gate contribution.
        gate_params: dict[str, list[torch.Tensor]] = {}
        for name, conv in ctx.layers.items():
            bn = after.get(name)
            owner = bn if bn is not None and getattr(bn, "affine", False) else conv
            gate_params[name] = [p for p in (owner.weight, owner.bias) if p is not None]
        params = list({id(p): p for ps in gate_params.values() for p in ps}.values())

        totals = {name: torch.zeros(conv.weight.shape[0], dtype=torch.float64) for name, conv in ctx.layers.items()}
        with torch.enable_grad():
            for inputs, labels in ctx.calibration:
                loss = F.cross_entropy(ctx.model(inputs), labels)
                # autograd.grad, not backward(): no .grad is created on the model's parameters.
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                grad_of = {id(p): g for p, g in zip(params, grads)}
                for name, ps in gate_params.items():
                    contribution = torch.zeros_like(totals[name])
                    for p in ps:
                        g = grad_of[id(p)]
                        if g is not None:
                            contribution += (p.detach() * g).reshape(p.shape[0], -1).sum(1).double().cpu()
                    totals[name] += contribution.pow(2)
        return {name: total / len(ctx.calibration) for name, total in totals.items()}
