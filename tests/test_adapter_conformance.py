"""Every registered adapter, through one conformance suite (parametrized over the registry).

A new adapter in adapters/ is picked up here without writing a test for it.
"""

import pytest
import torch

from bench.counting import count
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.engine import prune
from bench.pruning.registry import adapter_names

MODEL = "resnet20"
X = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
CALIBRATION = [(torch.randn(16, 1, 16, 16, generator=torch.Generator().manual_seed(i)), torch.zeros(16, dtype=torch.long)) for i in range(2)]


@pytest.fixture(scope="module")
def dense():
    torch.manual_seed(0)
    return build_model(MODEL, num_classes=10, in_channels=1).eval()


def run(name, dense, ratio, seed=0, reference=None):
    adapter = get_adapter(name)()
    return prune(
        dense, MODEL, adapter, None if reference else Target(ratio=ratio),
        example_inputs=X, calibration=CALIBRATION, seed=seed, reference=reference,
    )


@pytest.mark.parametrize("name", adapter_names())
def test_pruned_model_is_valid_and_smaller(name, dense):
    pruned = run(name, dense, 0.5)
    model = pruned.model.train()
    out = model(torch.randn(4, 1, 16, 16))
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    out.sum().backward()  # and backward
    before, after = count(dense, X), count(pruned.model, X, pruned.masks)
    assert after.params < before.params and after.flops < before.flops
    assert 0 < pruned.structure.density < 1
    assert all(0 < kept <= total for kept, total in pruned.structure.units.values())


@pytest.mark.parametrize("name", adapter_names())
def test_counts_fall_as_the_ratio_grows(name, dense):
    counts = [count(p.model, X, p.masks) for p in (run(name, dense, r) for r in (0.2, 0.5, 0.8))]
    assert counts[0].params > counts[1].params > counts[2].params
    assert counts[0].flops > counts[1].flops > counts[2].flops


@pytest.mark.parametrize("name", adapter_names())
def test_same_seed_same_result(name, dense):
    a, b = run(name, dense, 0.5, seed=3), run(name, dense, 0.5, seed=3)
    assert a.structure == b.structure
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert a.masks.keys() == b.masks.keys() and all(torch.equal(a.masks[k], b.masks[k]) for k in a.masks)


@pytest.mark.parametrize("name", adapter_names())
def test_random_control_matches_the_structure_exactly(name, dense):
    method = run(name, dense, 0.5)
    random_cls = get_adapter("random")
    control = prune(
        dense, MODEL, random_cls(random_cls.Hparams(kind=get_adapter(name).kind if name != "random" else "structured")),
        None, example_inputs=X, calibration=[], seed=1, reference=method.structure,
    )
    assert control.structure == method.structure
    assert count(control.model, X, control.masks) == count(method.model, X, method.masks)
