"""Run hashes: canonical JSON, literal hashes pinned so caches and records stay reachable, commits."""

import re
import subprocess
from pathlib import Path

import pytest

from bench.api import dense_config
from bench.core.config import Recipe, canonical_json, config_hash
from bench.data import load_dataset
from bench.infra.environment import source_commit
from tests.helpers.paths import REPO


def test_canonical_json_is_order_independent():
    assert canonical_json({"b": 1, "a": (1, 2)}) == canonical_json({"a": [1, 2], "b": 1}) == '{"a":[1,2],"b":1}'


def test_recipe_lr_schedule():
    recipe = Recipe(epochs=160, lr=0.1, milestones=(0.5, 0.75), gamma=0.1, batch_size=64)
    assert recipe.milestone_epochs() == (80, 120)
    assert [recipe.step_lr(e) for e in (0, 79, 80, 119, 120, 159)] == [0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1]


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


def test_weights_digest_is_the_weights_identity():
    import torch

    from bench.core.checkpoint import weights_digest

    torch.manual_seed(0)
    a = {"w": torch.randn(3, 4), "b": torch.zeros(2, dtype=torch.long)}
    same = {"b": a["b"].clone(), "w": a["w"].clone()}  # order and storage do not matter
    assert weights_digest(a) == weights_digest(same) and len(weights_digest(a)) == 64
    changed = {**same, "w": same["w"].clone()}
    changed["w"][1, 2] = torch.nextafter(changed["w"][1, 2], torch.tensor(1e9))  # one ulp
    assert weights_digest(changed) != weights_digest(a)
    assert weights_digest({"w2": a["w"], "b": a["b"]}) != weights_digest(a)  # names are part of it


def test_records_name_the_commit_when_run_from_a_checkout(monkeypatch):
    """Editable or not (`pip install .` copies no .git), running from the checkout finds its commit."""
    repo = REPO
    if not (repo / ".git").exists():
        pytest.skip("not running from a git checkout")
    monkeypatch.chdir(repo)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=repo).stdout.strip()
    commit = source_commit()
    assert commit is not None and re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit) and commit.startswith(head)
