"""The checks a run passes before anything trains (bench/evaluation/preflight.py), for `bench evaluate` and every
run of a `bench sweep`: the target must fit the model (a speed-up within the layout's reach), the checkpoint
must be the model's, `--iterations` needs a protocol that keeps the weights and a pruner that does not train
its own way; each failure is one BenchError saying which. The models are built once per (model, dataset)."""

from __future__ import annotations

import re

import pytest
import torch

from bench.errors import BenchError
from bench.evaluation.preflight import Preflight
from bench.evaluation.spec import RunSpec
from bench.models import build_model
from bench.pruning import Target

pytestmark = pytest.mark.usefixtures("one_thread")


def spec(**fields) -> RunSpec:
    return RunSpec(**{"adapter": "l1-norm", "threads": 1, "protocol": "ft-1", "seeds": (0,), **fields})


@pytest.fixture(scope="module")
def preflight() -> Preflight:
    """One for the module, as a sweep keeps one for all its runs: a failed check leaves it usable."""
    return Preflight()


def fails(preflight: Preflight, run: RunSpec) -> str:
    with pytest.raises(BenchError) as caught:
        preflight.check(run)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_valid_spec_passes(preflight, dense_state_file):
    preflight.check(spec())
    preflight.check(spec(checkpoint=str(dense_state_file), target=Target(speedup=2.0)))
    preflight.check(spec(adapter="sfp"))  # its own full-width layout
    preflight.check(spec(iterations=2, protocol="ft-2"))


def test_a_target_that_does_not_fit_the_model(preflight):
    assert fails(preflight, spec(target=Target(config="resnet56-A"))) == (
        "config=resnet56-A on resnet20: configuration 'resnet56-A' is defined for model 'resnet56', not 'resnet20'")
    message = fails(preflight, spec(target=Target(compress_rate=(0.1, 0.2, 0.3))))
    assert message.startswith("compress_rate=") and "has 3 entries but resnet20's block-internal layout takes 9" in message


def test_a_speedup_beyond_the_layouts_reach(preflight):
    message = fails(preflight, spec(target=Target(speedup=1000.0)))
    assert message.startswith("speedup=1000 on resnet20: --speedup 1000 is out of reach for l1-norm on resnet20 "
                              "in its block-internal layout: it reaches 1x to ")


def test_a_checkpoint_of_another_model(preflight, tmp_path):
    other = tmp_path / "resnet32.pt"
    torch.save(build_model("resnet32", num_classes=10, in_channels=1).state_dict(), other)
    message = fails(preflight, spec(checkpoint=str(other)))
    assert re.match(rf"resnet20 on digits: checkpoint {re.escape(str(other))} does not fit the model: \d+ unexpected key\(s\), e\.g\. ", message)
    assert "layer1.3.conv1.weight" in message  # the first layer resnet20 lacks


def test_iterations_need_a_protocol_that_keeps_the_weights(preflight):
    assert fails(preflight, spec(iterations=2, protocol="scratch-e")) == (
        "--iterations needs a protocol that keeps the weights; scratch-e starts from scratch")


def test_iterations_do_not_apply_to_a_pruner_that_prunes_while_it_trains(preflight):
    assert fails(preflight, spec(adapter="sfp", iterations=2)) == (
        "adapter 'sfp' prunes while it trains (soft pruning); --iterations does not apply to it")
    message = fails(preflight, spec(adapter="sfp", layout="hrankplus"))
    assert message.startswith("ratio=0.5 on resnet20: sfp prunes softly") and message.endswith("(use --layout full-width)")


def test_the_model_is_built_once_per_model_and_dataset():
    preflight = Preflight()
    model = preflight.model("resnet20", "digits")
    preflight.check(spec())
    preflight.check(spec(target=Target(ratio=0.3), seeds=(0, 1)))
    assert preflight.model("resnet20", "digits") is model  # every check used this one
    assert model.conv1.in_channels == 1 and next(model.parameters()).device.type == "cpu"
    cifar = preflight.model("resnet20", "cifar10")
    assert cifar is not model and cifar.conv1.in_channels == 3
    assert preflight.model("resnet32", "digits") is not model
    assert preflight.model("resnet20", "cifar10") is cifar
