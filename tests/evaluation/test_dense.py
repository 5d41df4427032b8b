"""The dense baseline (bench/evaluation/dense.py): its cache id and its training numbers, pinned to
DENSE_TRAINING_VERSION so that cached baselines and the records made from them stay reachable."""

from __future__ import annotations

import pytest
import torch

from bench.api import load_data
from bench.core.config import config_hash
from bench.data import load_dataset
from bench.evaluation.dense import dense_config
from bench.pruning import get_adapter


def test_dense_baseline_hash_is_pinned(monkeypatch):
    """The id of the default dense baseline (2 CPU threads, as on the reference machine).
    If this changes, every cached baseline is retrained and old records no longer match: do it on
    purpose only, by bumping DENSE_TRAINING_VERSION."""
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    data = load_dataset("digits")
    assert config_hash(dense_config("resnet20", data, 0)) == PINNED
    # the contiguous format keeps the id baselines had before the format was a choice
    assert config_hash(dense_config("resnet20", data, 0, memory_format="contiguous")) == PINNED_CONTIGUOUS
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)  # CPU results depend on the thread count
    assert config_hash(dense_config("resnet20", data, 0)) != PINNED


PINNED = "d0bac17bab79"
PINNED_CONTIGUOUS = "f0aa3c6c034f"


# What one epoch of the dense training path computes, per (DENSE_TRAINING_VERSION, CPU kernels, CPU
# model, memory format): (first-epoch train loss, sum of |weights| after it), on digits ResNet-20 with 1
# thread. Other CPUs round differently (AVX2 vs AVX512 Xeons, an AVX512 Xeon vs an AVX512 EPYC), so each
# machine type is pinned where it was measured; on an unpinned one the test says what to pin.
DENSE_NUMBERS = {  # version 1: the records of eec39eb..1c57c59, whose dense weights differed
    (2, "AVX2", "Intel(R) Xeon(R) Processor", "contiguous"): (2.0864, 15136.10),
    (2, "AVX512", "Intel(R) Xeon(R) Processor", "contiguous"): (2.0845, 15129.57),
    (2, "AVX512", "AMD EPYC", "contiguous"): (2.0762, 15141.55),
    (2, "AVX512", "AMD EPYC", "channels_last"): (2.0440, 15131.09),
    (2, "AVX512", "Intel(R) Xeon(R) Processor", "channels_last"): (2.0201, 15131.88),
    (2, "AVX2", "AMD EPYC", "contiguous"): (2.0864, 15136.10),  # the AVX2 Xeon's numbers: AVX2 rounds alike on both
    (2, "AVX2", "AMD EPYC", "channels_last"): (2.0185, 15138.16),
}


@pytest.mark.parametrize("memory_format", ["channels_last", "contiguous"])
def test_dense_training_numbers_are_pinned_to_its_version(memory_format):
    """The dense cache is keyed by DENSE_TRAINING_VERSION, so the version must move whenever the dense
    training (data pipeline, augmentation, init, loop, recipe) computes other numbers. If this fails
    after a change: bump DENSE_TRAINING_VERSION (cached baselines are then retrained and records made
    with the old ones no longer match) and pin the new numbers under the new version."""
    import dataclasses

    import torch

    from bench.api import DENSE_TRAINING_VERSION, load_data, new_model, recipe_spec
    from bench.core.train import train
    from bench.infra.environment import cpu_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_data("digits", torch.device("cpu"))
        torch.manual_seed(0)
        model = new_model("resnet20", data.spec, torch.device("cpu"))
        result = train(model, data, dataclasses.replace(recipe_spec(data), epochs=1), seed=0, memory_format=memory_format)
    finally:
        torch.set_num_threads(threads)
    loss = result.curve[0].train_loss
    weight_sum = float(sum(p.detach().double().abs().sum() for p in model.parameters()))
    key = (DENSE_TRAINING_VERSION, torch.backends.cpu.get_cpu_capability(), cpu_model(), memory_format)
    if not any(k[0] == DENSE_TRAINING_VERSION for k in DENSE_NUMBERS):
        pytest.fail("pin the new DENSE_TRAINING_VERSION's numbers in DENSE_NUMBERS")
    if key not in DENSE_NUMBERS:
        pytest.skip(f"no numbers pinned for {key}: pin loss {loss:.4f}, |w| sum {weight_sum:.2f}")
    pinned_loss, pinned_sum = DENSE_NUMBERS[key]
    assert (round(loss, 4), round(weight_sum, 2)) == pytest.approx((pinned_loss, pinned_sum), abs=2e-3), (
        f"dense training now gives loss {loss:.4f}, |w| sum {weight_sum:.2f}: bump DENSE_TRAINING_VERSION and pin these"
    )


def test_penalized_dense_training_is_cached_apart_from_the_shared_baseline():
    data = load_data("digits", torch.device("cpu"))
    hook = get_adapter("slimming")().dense_hook()
    plain, penalized = dense_config("resnet20", data, 0), dense_config("resnet20", data, 0, hook.identity())
    assert "regularizer" not in plain and config_hash(plain) != config_hash(penalized)
