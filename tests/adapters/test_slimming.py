"""Network slimming (adapters/slimming.py): the L1 penalty on BatchNorm scales during dense training, and
the channels kept by one global threshold on them, as the reference does (tests/adapters/parity.py)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bench.adapters.slimming import NetworkSlimming
from bench.api import load_data
from bench.core.train import TrainSpec, train
from bench.models import build_model

from tests.adapters.parity import BLOCKS, kept
from tests.helpers.trained_like import trained_like


def test_the_penalty_adds_the_l1_subgradient_of_the_batchnorm_scales(resnet20):
    model = build_model("resnet20", num_classes=10, in_channels=1)
    model.load_state_dict(resnet20.state_dict())
    with torch.no_grad():
        model.bn1.weight[0] = -2.0
    hook = NetworkSlimming(NetworkSlimming.Hparams(sparsity=0.5)).dense_hook()
    model.train()
    F.cross_entropy(model(torch.randn(4, 1, 16, 16)), torch.arange(4)).backward()
    before = model.bn1.weight.grad.clone()
    hook.after_backward(model)
    assert torch.allclose(model.bn1.weight.grad - before, 0.5 * torch.sign(model.bn1.weight.detach()))
    assert NetworkSlimming(NetworkSlimming.Hparams(sparsity=0.0)).dense_hook() is None


def test_the_penalty_shrinks_batchnorm_scales_in_training():
    data = load_data("digits", torch.device("cpu"))
    spec = TrainSpec(epochs=1, batch_size=128, lr_at=lambda step: 0.05, momentum=0.9, nesterov=False, weight_decay=0.0)
    l1 = {}
    slimming = NetworkSlimming
    for sparsity in (0.0, 0.05):
        torch.manual_seed(0)
        model = build_model("resnet20", num_classes=10, in_channels=1)
        hooks = [slimming(slimming.Hparams(sparsity=sparsity)).dense_hook()] if sparsity else []
        train(model, data, spec, seed=0, hooks=hooks)
        l1[sparsity] = sum(float(m.weight.detach().abs().sum()) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert l1[0.05] < 0.95 * l1[0.0]  # measured: 0.88


def test_slimming_keeps_the_bn1_scales_above_one_global_threshold():
    model = trained_like()
    ours, _ = kept("slimming", model, 0.4)
    gammas = {f"{blk}.conv1": model.get_submodule(f"{blk}.bn1").weight.detach().abs().numpy() for blk in BLOCKS}
    flat = np.concatenate(list(gammas.values()))
    threshold = np.sort(flat)[int(flat.size * 0.4) - 1]
    for conv, g in gammas.items():  # resprune.py: keep |gamma| > threshold (inner channels only)
        assert ours[conv] == np.nonzero(g > threshold)[0].tolist(), conv


def test_slimming_on_densenet_keeps_a_channel_while_any_reader_would_keep_it():
    model = trained_like("densenet40", in_channels=3)
    ours, _ = kept("slimming", model, 0.4, model_name="densenet40", example=torch.zeros(1, 3, 32, 32))
    # Independent bookkeeping of DenseNet-40's concatenations: which BatchNorm channels read which conv channel.
    blocks = list(model.blocks)
    readers: dict[str, list[np.ndarray]] = {}
    position: dict[str, range] = {"conv1": range(24)}
    pending = ["conv1"]
    for i, layer in enumerate(blocks):
        gamma = layer.bn.weight.detach().abs().numpy()
        for conv in pending:
            readers.setdefault(conv, []).append(gamma[list(position[conv])])
        name = f"blocks.{i}.conv"
        if hasattr(layer, "pool"):  # a transition: a fresh input for the next block
            position, pending = {name: range(layer.conv.out_channels)}, [name]
        else:
            position[name] = range(layer.bn.num_features, layer.bn.num_features + layer.conv.out_channels)
            pending.append(name)
    final = model.bn.weight.detach().abs().numpy()
    for conv in pending:
        readers.setdefault(conv, []).append(final[list(position[conv])])
    scores = {conv: np.max(np.stack(r), axis=0) for conv, r in readers.items() if conv != "conv1"}  # stem entry prunes nothing
    flat = np.concatenate(list(scores.values()))
    threshold = np.sort(flat)[int(flat.size * 0.4) - 1]
    for conv, s in scores.items():
        expected = np.nonzero(s > threshold)[0].tolist() or [int(np.argmax(s))]  # every layer keeps one
        assert ours[conv] == expected, conv
