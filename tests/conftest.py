"""Fixtures shared by tests in several folders. Fixtures one folder uses live in that folder's conftest.py;
plain helper functions live in tests/helpers/ (import them as `tests.helpers.<module>`)."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from tests.helpers import fuzzing
from tests.helpers.paths import HISTORIC_RECORD


def pytest_configure(config):
    """Under pytest-xdist each worker is one process per core: one torch thread each, so that the workers
    do not oversubscribe the cores (tests that are about threads set their own)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture
def example_record() -> dict:
    """A real record written by `bench evaluate` (schema v1), frozen: it must always validate."""
    return json.loads(HISTORIC_RECORD.read_text())


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: extra intra-op threads only add overhead, and thrash when the cores are shared.
    Use per module: `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def work_in_tmp(tmp_path, monkeypatch) -> Path:
    """The test's own folder as the working directory: default runs/ and results/ land there.
    Use per module: `pytestmark = pytest.mark.usefixtures("work_in_tmp")`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(capsys):
    """`cli(*argv)` runs `bench ARGV` in this process: (exit code, stdout, stderr)."""
    from bench.ui.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


# --- dense weights for --checkpoint, so that tests skip the dense training ----------------------------------


@pytest.fixture(scope="session")
def dense_state_file(tmp_path_factory) -> Path:
    """An untrained ResNet-20 for digits (10 classes, 1 input channel), seeded: written once per session.
    Read it, never write it: copy it where a test may change it (`dense_weights`, or `shutil.copy`)."""
    torch_state = torch.get_rng_state()
    torch.manual_seed(0)
    from bench.models import build_model

    path = tmp_path_factory.mktemp("dense-weights") / "dense.pt"
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), path)
    torch.set_rng_state(torch_state)
    return path


@pytest.fixture
def dense_weights(tmp_path, dense_state_file) -> Path:
    """The test's own copy of `dense_state_file`, at tmp_path/dense.pt."""
    return Path(shutil.copyfile(dense_state_file, tmp_path / "dense.pt"))


# --- models and data ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet20():
    """A freshly initialized ResNet-20 for digits (seed 0), in eval mode; one per test module."""
    from bench.models import build_model

    torch.manual_seed(0)
    return build_model("resnet20", num_classes=10, in_channels=1).eval()


@pytest.fixture(scope="module")
def digits():
    """The default dataset (scikit-learn's digits, offline), loaded once per test module."""
    from bench.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="module")
def tiny_cifar():
    """Synthetic CIFAR-shaped data (192 training, 64 evaluation images): a training epoch in milliseconds."""
    from bench.perf import perf

    return perf.synthetic_cifar(n_train=192, n_eval=64)


@pytest.fixture(scope="module")
def dense_models():
    """Each model family's dense model for the model matrix (tests/helpers/matrix.py), built once per module."""
    from tests.helpers.matrix import build_dense

    cache = {}

    def get(name: str) -> torch.nn.Module:
        if name not in cache:
            cache[name] = build_dense(name)
        return cache[name]

    return get


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """A plugin distribution on sys.path with one good adapter and three broken entry points
    (tests/helpers/plugins.py); the global adapter registry loads entry points afresh and is restored after."""
    from tests.helpers.plugins import installed

    with installed(tmp_path, monkeypatch):
        yield tmp_path


# --- the fuzz tests' case counts ------------------------------------------------------------------------------


def pytest_sessionfinish(session):
    """The number of fuzz cases run per input kind (tests/helpers/fuzzing.py): printed with -s, and
    written to fuzz_counts.json in PRUNEBENCH_ARTIFACTS when that is set."""
    if not fuzzing.CASES:
        return
    print(f"\nfuzz cases run: {dict(fuzzing.CASES)}")
    folder = os.environ.get("PRUNEBENCH_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "fuzz_counts.json").write_text(json.dumps(dict(fuzzing.CASES), indent=2))


def pytest_collection_modifyitems(config, items):
    """Benchmarks run only when a marker expression asks for them (`-m perf`): a `-m` of one's own,
    such as the fast lane's `-m "not slow"`, replaces the `-m 'not perf'` of pyproject's addopts."""
    if "perf" in (config.option.markexpr or ""):
        return
    benchmarks = [item for item in items if "perf" in item.keywords]
    if benchmarks:
        config.hook.pytest_deselected(items=benchmarks)
        items[:] = [item for item in items if "perf" not in item.keywords]
