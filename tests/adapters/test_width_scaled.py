"""The width-scaled dense model trained from scratch: it is exactly the dense model with every width
scaled, it runs only from scratch and without a control, and it refuses models it cannot scale."""

import pytest
import torch

from bench.adapters.width_scaled import WidthScaled
from bench.errors import BenchError
from bench.evaluation.spec import RunSpec
from bench.models import build_model
from bench.pruning import Target
from bench.pruning.job import PruneJob
from bench.ui.cli import main


X = torch.zeros(1, 1, 16, 16)


def resnet20_params(widths: tuple[int, int, int], in_channels: int = 1, classes: int = 10) -> int:
    """Parameters of a CIFAR ResNet-20 with these stage widths and option-A shortcuts, counted from
    its definition (He et al. 2016, Sec. 4.2): a 3x3 stem, 3 stages of 3 basic blocks, BN after
    every conv (weight and bias), a linear classifier."""
    conv = lambda cin, cout: 9 * cin * cout  # noqa: E731
    bn = lambda c: 2 * c  # noqa: E731
    total = conv(in_channels, widths[0]) + bn(widths[0])
    cin = widths[0]
    for w in widths:
        for _ in range(3):
            total += conv(cin, w) + bn(w) + conv(w, w) + bn(w)
            cin = w
    return total + widths[2] * classes + classes


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_resnet20_becomes_the_resnet20_of_scaled_widths(ratio):
    torch.manual_seed(0)
    dense = build_model("resnet20", num_classes=10, in_channels=1).eval()
    pruned = PruneJob(dense, "resnet20", WidthScaled(), Target(ratio=ratio), example_inputs=X, calibration=[], seed=0).prune()
    widths = tuple(int(w * (1 - ratio)) for w in (16, 32, 64))
    model = pruned.model
    # every conv of a stage has the stage's scaled width, in and out (the stem: stage 1's)
    for s, w in enumerate(widths, start=1):
        for b in range(3):
            blk = model.get_submodule(f"layer{s}.{b}")
            assert (blk.conv1.out_channels, blk.conv2.out_channels) == (w, w)
    assert model.conv1.out_channels == widths[0]
    assert sum(p.numel() for p in model.parameters()) == resnet20_params(widths)
    # it keeps the first channels (irrelevant from scratch, but fixed): the dense stem's first filters
    assert torch.equal(model.conv1.weight, dense.conv1.weight[: widths[0]])
    out = model(torch.randn(2, 1, 16, 16))
    assert out.shape == (2, 10)


def test_it_runs_only_from_scratch_and_without_a_control(capsys):
    spec = RunSpec(adapter="width-scaled", protocol="scratch-e", threads=1)
    assert spec.random_control is False  # its control would be the same architecture, reinitialized
    with pytest.raises(BenchError, match="needs a protocol that reinitializes"):
        RunSpec(adapter="width-scaled", protocol="clr-40", threads=1)
    code = main(["evaluate", "--adapter", "width-scaled", "--protocol", "ft-40", "--seeds", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "scratch-e, scratch-b" in err


@pytest.mark.parametrize("model_name", ["vgg16", "densenet40"])
def test_a_model_without_its_layout_is_refused_not_pruned_in_another(model_name):
    dense = build_model(model_name, num_classes=10, in_channels=3).eval()
    with pytest.raises(BenchError, match=f"needs the 'stage-coupled' layout, which {model_name} does not offer"):
        PruneJob(dense, model_name, WidthScaled(), Target(ratio=0.5),
                 example_inputs=torch.zeros(1, 3, 32, 32), calibration=[], seed=0).prune()
