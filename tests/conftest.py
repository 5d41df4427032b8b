import json

import pytest
import torch

from tests.helpers.paths import HISTORIC_RECORD


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


def pytest_collection_modifyitems(config, items):
    """Benchmarks run only when a marker expression asks for them (`-m perf`): a `-m` of one's own,
    such as the fast lane's `-m "not slow"`, replaces the `-m 'not perf'` of pyproject's addopts."""
    if "perf" in (config.option.markexpr or ""):
        return
    benchmarks = [item for item in items if "perf" in item.keywords]
    if benchmarks:
        config.hook.pytest_deselected(items=benchmarks)
        items[:] = [item for item in items if "perf" not in item.keywords]
