import json
from pathlib import Path

import pytest

HISTORIC = Path(__file__).parent / "historic"


@pytest.fixture
def example_record() -> dict:
    """A real record written by `bench evaluate` (schema v1), frozen: it must always validate."""
    return json.loads((HISTORIC / "record_v1_digits_hrankplus.json").read_text())
