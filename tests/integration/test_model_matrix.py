"""Every registered adapter on every model family, on tiny inputs.

Each (adapter × model) pair either prunes to a working, smaller model (forward and backward run,
fewer parameters) or refuses with a clear one-line BenchError — never another exception. An adapter
declares the families it refuses (`refuses`, bench/pruning/interface.py), so a plugin package states
its own; the core's refusals are in REFUSED, with the reason. Every other pair must prune.
"""

import pytest
import torch
import torch.nn.functional as F

from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.engine import prune
from bench.pruning.registry import adapter_names
from bench.ui.cli import main

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


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dense_models():
    """Each family's dense model, built once for all adapters."""
    cache = {}

    def get(name: str) -> torch.nn.Module:
        if name not in cache:
            torch.manual_seed(0)
            cache[name] = build_model(name, num_classes=NUM_CLASSES, in_channels=INPUT_SHAPE[0]).eval()
        return cache[name]

    return get


def expected_refusal(model_name: str, adapter) -> str | None:
    """A fragment the pair's BenchError must contain ("": a declared refusal, any message), or None."""
    core = REFUSED.get((model_name, adapter.name)) or REFUSED.get((model_name, adapter.kind))
    return core if core is not None else ("" if model_name in adapter.refuses else None)


@pytest.mark.parametrize("adapter_name", adapter_names())
@pytest.mark.parametrize("model_name", FAMILIES)
@pytest.mark.filterwarnings("ignore:Unwrapped parameters detected")  # torch-pruning on ConvNeXt's layer scale
def test_pair_prunes_to_a_working_smaller_model_or_refuses_cleanly(model_name, adapter_name, dense_models):
    check_pair(model_name, get_adapter(adapter_name)(), dense_models(model_name))


def check_pair(model_name: str, adapter, dense: torch.nn.Module) -> None:
    """The pair prunes to a working, smaller model, or refuses (as expected) in one line."""
    adapter_name = adapter.name
    refusal = expected_refusal(model_name, adapter)
    try:
        pruned = prune(
            dense, model_name, adapter, Target(ratio=0.5), example_inputs=EXAMPLE, calibration=CALIBRATION, seed=0
        )
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


def test_refused_pairs_name_real_families_and_adapters():
    kinds = {"structured", "unstructured"}
    assert all(m in FAMILIES and (a in kinds or a in adapter_names()) for m, a in REFUSED)
    for name in adapter_names():  # a misspelt family would make the declaration a silent no-op
        refuses = get_adapter(name).refuses
        assert isinstance(refuses, tuple) and set(refuses) <= set(FAMILIES), f"{name}: refuses {refuses}"


def test_cli_refuses_grouped_convolutions_in_one_line(capsys):
    code = main(["prune", "--adapter", "l1-norm", "--model", "timm:regnetx_002", "--dataset", "cifar10"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("bench: error: structured pruning does not support grouped convolutions") and err.count("\n") == 1


def _tiny(middle: torch.nn.Module) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), middle, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(middle.out_channels, NUM_CLASSES),
    )


def test_depthwise_convs_prune_but_grouped_ones_are_refused():
    kwargs = dict(example_inputs=torch.zeros(1, 3, 8, 8), calibration=[], seed=0)
    pruned = prune(_tiny(torch.nn.Conv2d(8, 8, 3, groups=8)), "tiny", get_adapter("l1-norm")(), Target(ratio=0.5), **kwargs)
    assert pruned.model(torch.zeros(2, 3, 8, 8)).shape == (2, NUM_CLASSES) and pruned.structure.density < 1
    for grouped in (torch.nn.Conv2d(8, 16, 3, groups=8), torch.nn.Conv2d(8, 8, 3, groups=2)):  # channel multiplier; groups
        with pytest.raises(BenchError, match=r"grouped convolutions \(1: groups="):
            prune(_tiny(grouped), "tiny", get_adapter("l1-norm")(), Target(ratio=0.5), **kwargs)
    masked = prune(_tiny(torch.nn.Conv2d(8, 8, 3, groups=2)), "tiny", get_adapter("global-magnitude")(), Target(ratio=0.5), **kwargs)
    assert masked.structure.density < 1  # unstructured pruning masks grouped convs as any other
