import pytest


@pytest.fixture(autouse=True, scope="module")
def _tiny_models_on_one_thread(one_thread):
    """Every adapter test prunes tiny models: one intra-op thread each (tests/conftest.py's one_thread)."""
