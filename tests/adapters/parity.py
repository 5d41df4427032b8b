"""Parity with each method's reference: on fixed weights, the channels an adapter keeps (indices, not
just counts) equal an independent computation of the reference's rule, written in each adapter's tests from
the paper and the reference code's semantics with numpy/scipy and explicit forward passes (no engine code).
These are the shared pieces: what the adapter keeps, and the reference rules' rankings."""

import numpy as np
import torch

from bench.pruning import Target, get_adapter
from bench.pruning.job import PruneJob


X = torch.zeros(1, 1, 16, 16)


BLOCKS = [f"layer{s}.{b}" for s in (1, 2, 3) for b in range(3)]  # ResNet-20


def calibration(n_batches=2, batch=16, shape=(1, 16, 16), seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, *shape, generator=gen), torch.randint(10, (batch,), generator=gen)) for _ in range(n_batches)]


def kept(adapter, model, ratio, model_name="resnet20", calib=(), example=X, **hp):
    cls = get_adapter(adapter)
    p = PruneJob(model, model_name, cls(cls.Hparams(**hp)) if hp else cls(), Target(ratio=ratio),
                 example_inputs=example, calibration=list(calib), seed=0).plan()
    return {unit: sorted(mask.nonzero().flatten().tolist()) for unit, mask in p.keep.items()}, p


def conv_weights(model, conv):
    return model.get_submodule(conv).weight.detach().double().numpy().reshape(model.get_submodule(conv).out_channels, -1)


def keep_top(scores, k):
    """The k highest, ties to the lower index; returned in index order (as the references re-sort)."""
    return sorted(np.argsort(-np.asarray(scores), kind="stable")[:k].tolist())


def drop_lowest(scores, n_removed):
    order = np.argsort(np.asarray(scores), kind="stable")
    return sorted(set(range(len(scores))) - set(order[:n_removed].tolist()))


def every_conv(model):
    return ["conv1"] + [f"{blk}.conv{i}" for blk in BLOCKS for i in (1, 2)]
