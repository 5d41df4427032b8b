import pytest
import torch

from bench.api import Execution, specify


@pytest.fixture
def options(tmp_path, dense_state_file):
    """`options(**fields)`: (spec, execution) for `evaluate(*options(...))`, by default one seed of ft-1 from
    fixed dense weights (`dense_state_file`), with runs and records in the test's own folder."""

    def make(**fields):
        spec = specify(torch.device("cpu"), **{"protocol": "ft-1", "seeds": (0,), "checkpoint": str(dense_state_file), **fields})
        return spec, Execution(runs_dir=str(tmp_path / "runs"), records_dir=str(tmp_path / "out"), device="cpu")

    return make
