"""Your own model (bench/models/user.py): `--model package.module:factory` on the command line, and the
Python API."""

from __future__ import annotations

import json
import textwrap

import pytest

from bench.errors import BenchError
from bench.ui.cli import main


NETS = textwrap.dedent('''
    import torch.nn as nn

    def small_cnn(num_classes=10, in_channels=3):
        return nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
        )

    def not_a_model(num_classes=10):
        return "nope"

    def classes_only(num_classes):
        return nn.Linear(4, num_classes)

    def broken(num_classes=10, in_channels=3):
        raise RuntimeError("widths do not add up\\nsecond line")
''')


@pytest.fixture(autouse=True)
def _own_module(tmp_path, monkeypatch):
    (tmp_path / "my_nets.py").write_text(NETS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_prune_your_own_model_from_the_command_line(capsys):
    assert main(["prune", "--adapter", "l1-norm", "--model", "my_nets:small_cnn", "--ratio", "0.5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["structure"]["units"]["0"] == {"kept": 4, "total": 8}
    assert report["pruned"]["params"] < report["dense"]["params"]


@pytest.mark.parametrize("model, message", [
    ("my_nets:missing", "has no callable 'missing'"),
    ("my_nets:not_a_model", "returned str, not a torch.nn.Module"),
    ("no_such_module:f", "cannot import no_such_module"),
])
def test_a_bad_import_path_is_one_line(capsys, model, message):
    assert main(["prune", "--adapter", "l1-norm", "--model", model]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.slow
def test_the_python_api_prunes_and_evaluates_your_own_model(tmp_path):
    """The README's example, as written there."""
    from bench import api
    from bench.pruning import Target

    device = api.training_device("cpu")
    api.set_threads(1)
    spec = api.specify(device, adapter="l1-norm", model="my_nets:small_cnn", protocol="ft-1", seeds=(0, 1),
                       target=Target(speedup=2))
    record, path = api.evaluate(spec, api.Execution(records_dir=str(tmp_path / "results"), runs_dir=str(tmp_path / "runs")))
    assert path.is_file() and record["model"] == "my_nets:small_cnn"
    # Two convs are coarse (one channel of the second is 1.5% of the FLOPs): the nearest network, said so.
    match, dense = record["target"]["match"], record["dense"]["flops"]
    assert match["error_of_dense_flops"] == pytest.approx(abs(record["method"]["flops"] - dense / 2) / dense, abs=1e-6)
    assert match["error_of_dense_flops"] < 0.05 and match["exact"] == (match["error_of_dense_flops"] <= 0.005)
    assert record["random_control"]["structure"] == record["method"]["structure"]


def test_a_factory_gets_the_keywords_it_takes_and_its_failures_are_one_line():
    from bench.models import user

    assert user.is_import_path("my_nets:small_cnn") and user.is_import_path("pkg.sub.nets:f")
    assert not user.is_import_path("resnet20") and not user.is_import_path("my_nets.small_cnn")
    assert user.build("my_nets:classes_only", num_classes=7, in_channels=1).out_features == 7  # in_channels left out
    model = user.build("my_nets:small_cnn", num_classes=5, in_channels=1)
    assert model[0].in_channels == 1 and model[-1].out_features == 5
    with pytest.raises(BenchError) as info:
        user.build("my_nets:broken", num_classes=10, in_channels=1)
    assert str(info.value) == ("--model my_nets:broken: broken(num_classes=10, in_channels=1) failed: "
                               "RuntimeError: widths do not add up")
