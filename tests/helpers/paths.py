"""Where things are, for tests that read the repository's own files."""

from pathlib import Path


TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
HISTORIC_RECORD = TESTS / "historic" / "record_v1_digits_hrankplus.json"  # a real record (schema v1), frozen
EXAMPLE_ADAPTER_PACKAGE = TESTS / "example_adapter_package"
