"""The worked example in CONTRIBUTING.md must stay true: its adapter file registers and prunes."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch

from bench.models import build_model
from bench.pruning import ADAPTERS, Target, get_adapter
from bench.pruning.engine import prune

GUIDE = Path(__file__).resolve().parent.parent / "CONTRIBUTING.md"


@pytest.fixture
def example_module(tmp_path):
    code = re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.S).group(1)
    code = "\n".join(line[3:] if line.startswith("   ") else line for line in code.splitlines())  # list indent
    path = tmp_path / "l2_norm_example.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("l2_norm_example", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]
    ADAPTERS._items.pop("l2-norm", None)  # keep the global registry as the other tests expect it


def test_contributing_example_adapter_prunes(example_module):
    cls = get_adapter("l2-norm")
    assert cls.Hparams().power == 2.0
    dense = build_model("resnet20", num_classes=10, in_channels=1).eval()
    x = torch.zeros(1, 1, 16, 16)
    pruned = prune(dense, "resnet20", cls(), Target(ratio=0.5), example_inputs=x, calibration=[], seed=0)
    assert pruned.model(torch.randn(2, 1, 16, 16)).shape == (2, 10)
    assert 0 < pruned.structure.density < 1
