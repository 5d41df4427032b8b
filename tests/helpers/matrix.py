"""The model matrix: one model per structural family the pruning core has to handle, and the check every
(adapter x model) pair must pass: prune to a working, smaller model, or refuse in one line as declared.

Used by tests/integration/test_model_matrix.py (every registered adapter), by the tp adapter's tests (every
Torch-Pruning importance) and by the adapter registry's tests (a plugin's declared refusals); the
`dense_models` fixture (tests/conftest.py) builds each family's dense model once per test module."""

import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target
from bench.pruning.job import PruneJob


# One model per structural family the core has to handle (the comment: what it exercises).
FAMILIES = (
    "resnet20",  # CIFAR ResNet: parameter-free channel-routing shortcuts (bench/pruning/shortcut.py)
    "vgg16",  # plain conv stack, BatchNorm1d in the classifier
    "densenet40",  # concatenation: channels of one conv feed every later layer of the block
    "resnet18",  # torchvision ResNet: 1x1 conv downsample shortcuts
    "timm:mobilenetv3_small_050",  # depthwise convs, squeeze-and-excitation, hard-swish
    "timm:convnext_atto",  # 7x7 depthwise, LayerNorm and Linear MLP (channels-last), layer scale
    "timm:regnetx_002",  # grouped (not depthwise) convs: structured pruning refuses them
)

# The core's refusals: (model, adapter kind or name) → a fragment of the one-line BenchError the pair
# must raise. An adapter's own refusals are its `refuses` declaration, not listed here.
REFUSED = {
    ("timm:regnetx_002", "structured"): "does not support grouped convolutions",
}

INPUT_SHAPE = (3, 32, 32)  # the smallest the ImageNet-style models (stride 32) accept
NUM_CLASSES = 5
EXAMPLE = torch.zeros(1, *INPUT_SHAPE)
_gen = torch.Generator().manual_seed(0)
CALIBRATION = [(torch.randn(8, *INPUT_SHAPE, generator=_gen), torch.randint(NUM_CLASSES, (8,), generator=_gen))]


def build_dense(name: str) -> torch.nn.Module:
    """A family's dense model, seeded, in eval mode."""
    torch.manual_seed(0)
    return build_model(name, num_classes=NUM_CLASSES, in_channels=INPUT_SHAPE[0]).eval()


def expected_refusal(model_name: str, adapter) -> str | None:
    """A fragment the pair's BenchError must contain ("": a declared refusal, any message), or None."""
    core = REFUSED.get((model_name, adapter.name)) or REFUSED.get((model_name, adapter.kind))
    return core if core is not None else ("" if model_name in adapter.refuses else None)


def check_pair(model_name: str, adapter, dense: torch.nn.Module) -> None:
    """The pair prunes to a working, smaller model, or refuses (as expected) in one line."""
    adapter_name = adapter.name
    refusal = expected_refusal(model_name, adapter)
    try:
        pruned = PruneJob(dense, model_name, adapter, Target(ratio=0.5),
                          example_inputs=EXAMPLE, calibration=CALIBRATION, seed=0).prune()
    except BenchError as exc:
        message = str(exc)
        assert message and "\n" not in message, f"refusal is not one line: {message!r}"
        assert refusal is not None, (
            f"{adapter_name} x {model_name} refused: {message!r} (if intended, declare it: refuses = ({model_name!r},))"
        )
        assert refusal in message
        return
    assert refusal is None, f"{adapter_name} x {model_name} pruned, but a refusal was expected ({refusal!r})"

    model = pruned.model.train()
    gen = torch.Generator().manual_seed(1)
    out = model(torch.randn(2, *INPUT_SHAPE, generator=gen))
    assert out.shape == (2, NUM_CLASSES) and torch.isfinite(out).all()
    F.cross_entropy(out, torch.randint(NUM_CLASSES, (2,), generator=gen)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)

    dense_params = sum(p.numel() for p in dense.parameters())
    pruned_params = sum(p.numel() for p in model.parameters()) - sum(int((~m).sum()) for m in pruned.masks.values())
    assert pruned_params < dense_params
    assert 0 < pruned.structure.density < 1
