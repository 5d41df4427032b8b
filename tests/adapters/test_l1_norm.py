"""Parity with each method's reference: on fixed weights, the channels an adapter keeps (indices, not
just counts) equal an independent computation of the reference's rule, written here from the paper
and the reference code's semantics with numpy/scipy and explicit forward passes (no engine code)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist

from bench.pruning import Target, get_adapter
from bench.pruning.engine import plan
from tests.helpers.trained_like import trained_like

pytestmark = pytest.mark.usefixtures("one_thread")

X = torch.zeros(1, 1, 16, 16)
BLOCKS = [f"layer{s}.{b}" for s in (1, 2, 3) for b in range(3)]  # ResNet-20


def calibration(n_batches=2, batch=16, shape=(1, 16, 16), seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, *shape, generator=gen), torch.randint(10, (batch,), generator=gen)) for _ in range(n_batches)]


def kept(adapter, model, ratio, model_name="resnet20", calib=(), example=X, **hp):
    cls = get_adapter(adapter)
    p = plan(model, model_name, cls(cls.Hparams(**hp)) if hp else cls(), Target(ratio=ratio), example_inputs=example,
             calibration=list(calib), seed=0)
    return {unit: sorted(mask.nonzero().flatten().tolist()) for unit, mask in p.keep.items()}, p


def weights(model, conv):
    return model.get_submodule(conv).weight.detach().double().numpy().reshape(model.get_submodule(conv).out_channels, -1)


def keep_top(scores, k):
    """The k highest, ties to the lower index; returned in index order (as the references re-sort)."""
    return sorted(np.argsort(-np.asarray(scores), kind="stable")[:k].tolist())


def drop_lowest(scores, n_removed):
    order = np.argsort(np.asarray(scores), kind="stable")
    return sorted(set(range(len(scores))) - set(order[:n_removed].tolist()))


def test_l1_norm_keeps_the_largest_l1_filters_of_each_blocks_first_conv():
    model = trained_like()
    ours, _ = kept("l1-norm", model, 0.5)
    expected = {}
    for blk in BLOCKS:  # res56prune.py: layer_id even = a block's first conv; num_keep = int(n * (1 - p))
        w = weights(model, f"{blk}.conv1")
        expected[f"{blk}.conv1"] = keep_top(np.abs(w).sum(1), int(w.shape[0] * 0.5))
    assert {u: k for u, k in ours.items() if u in expected} == expected
    assert all(len(k) == model.get_submodule(u).out_channels for u, k in ours.items() if u not in expected)  # all else dense


def every_conv(model):
    return ["conv1"] + [f"{blk}.conv{i}" for blk in BLOCKS for i in (1, 2)]


def test_sfp_zeroes_the_int_n_r_smallest_l2_filters_of_every_conv():
    model = trained_like()
    ours, _ = kept("sfp", model, 0.3)
    for conv in every_conv(model):  # pruning_cifar10_resnet.py: int(N * (1 - keep_rate)) smallest L2 norms
        w = weights(model, conv)
        assert ours[conv] == drop_lowest(np.linalg.norm(w, axis=1), int(w.shape[0] * 0.3)), conv


def test_fpgm_removes_the_filters_closest_to_the_geometric_median():
    model = trained_like()
    ours, _ = kept("fpgm", model, 0.4)
    for conv in every_conv(model):  # get_filter_similar: int(N * rate_dist) smallest sums of Euclidean distances
        w = weights(model, conv)
        assert ours[conv] == drop_lowest(np.abs(cdist(w, w, "euclidean")).sum(0), int(w.shape[0] * 0.4)), conv


def resnet_feature_maps(model, x):
    """HRankPlus's hooked points, by an explicit forward: the stem's ReLU, each block's relu1 and its
    output after the addition and relu2 (rank_generation.py)."""
    maps = {}
    with torch.no_grad():
        h = F.relu(model.bn1(model.conv1(x)))
        maps["conv1"] = h
        for blk in BLOCKS:
            block = model.get_submodule(blk)
            mid = F.relu(block.bn1(block.conv1(h)))
            maps[f"{blk}.conv1"] = mid
            h = F.relu(block.bn2(block.conv2(mid)) + block.shortcut(h))
            maps[f"{blk}.conv2"] = h
    return maps


def test_hrankplus_keeps_the_highest_mean_feature_map_ranks_at_hrankplus_points():
    model = trained_like()
    calib = calibration()
    ours, p = kept("hrankplus", model, 0.5, calib=calib, calibration_batches=2, batch_size=16)
    totals, images = {}, 0
    for x, _ in calib:
        for conv, fmap in resnet_feature_maps(model, x).items():
            ranks = np.array([[np.linalg.matrix_rank(fmap[i, c].numpy()) for c in range(fmap.shape[1])] for i in range(fmap.shape[0])])
            totals[conv] = totals.get(conv, 0) + ranks.sum(0)
        images += x.shape[0]
    for unit, keep in ours.items():
        n = model.get_submodule(unit).out_channels
        pruned = unit == "conv1" or unit.endswith("conv1") or unit.startswith(("layer1", "layer2"))  # stage-3 outputs stay
        expected = keep_top(totals[unit] / images, int(n * 0.5)) if pruned else list(range(n))
        assert keep == expected, unit


def taylor_scores_by_explicit_gates(model, calib):
    """Taylor-FO-BN as the reference computes it: gates of ones after every block's bn1 and one shared
    gate per stage after every block's addition + ReLU (and the stem output, the stage-1 stream);
    per batch (gate * dL/dgate)^2 of the batch-mean loss, a shared gate divided by its uses; mean over
    batches."""
    totals = {}
    for x, y in calib:
        gates = {f"{blk}.conv1": torch.ones(model.get_submodule(f"{blk}.conv1").out_channels, requires_grad=True) for blk in BLOCKS}
        stage = {s: torch.ones(w, requires_grad=True) for s, w in ((1, 16), (2, 32), (3, 64))}
        h = F.relu(model.bn1(model.conv1(x))) * stage[1].view(1, -1, 1, 1)
        for blk in BLOCKS:
            block = model.get_submodule(blk)
            mid = F.relu(block.bn1(block.conv1(h)) * gates[f"{blk}.conv1"].view(1, -1, 1, 1))
            h = F.relu(block.bn2(block.conv2(mid)) + block.shortcut(h)) * stage[int(blk[5])].view(1, -1, 1, 1)
        loss = F.cross_entropy(model.fc(torch.flatten(model.avgpool(h), 1)), y)
        grads = torch.autograd.grad(loss, list(gates.values()) + list(stage.values()))
        for (name, _), g in zip(list(gates.items()) + [(f"stage{s}", None) for s in stage], grads):
            uses = 4 if name == "stage1" else 3 if name.startswith("stage") else 1
            totals[name] = totals.get(name, 0) + g.double().numpy() ** 2 / uses
    return {name: total / len(calib) for name, total in totals.items()}


def test_taylor_keeps_the_globally_most_important_gates_with_shared_stage_gates():
    model = trained_like()
    calib = calibration()
    ours, _ = kept("taylor", model, 0.5, calib=calib, calibration_batches=2, batch_size=16)
    scores = taylor_scores_by_explicit_gates(model, calib)
    units = {f"{blk}.conv1": f"{blk}.conv1" for blk in BLOCKS} | {"conv1": "stage1", "layer2.0.conv2": "stage2", "layer3.0.conv2": "stage3"}
    flat = np.concatenate([scores[units[u]] for u in units])
    threshold = np.sort(flat)[int(flat.size * 0.5) - 1]  # the int(total * ratio) lowest go
    for unit, name in units.items():
        assert ours[unit] == np.nonzero(scores[name] > threshold)[0].tolist(), unit


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
