"""Every registered adapter, through one conformance suite (parametrized over the registry).

A new adapter in adapters/ (or one a third-party package registers through the `prunebench.adapters`
entry-point group) is picked up here without writing a test for it. The checks themselves live in
bench/pruning/conformance.py so that other test suites (and third-party packages) can run them.
"""

import pytest

from bench.pruning import Adapter, conformance
from bench.pruning.registry import adapter_names


NAMES = adapter_names()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup():
    return conformance.make_setup("resnet20", num_classes=10, input_shape=(1, 16, 16))


@pytest.mark.parametrize("name", NAMES)
def test_scores_have_the_right_shapes(name, setup):
    conformance.check_scores_have_the_right_shapes(name, setup)


@pytest.mark.parametrize("name", NAMES)
def test_pruned_model_is_valid_and_smaller(name, setup):
    conformance.check_pruned_model_is_valid_and_smaller(name, setup)


@pytest.mark.parametrize("name", NAMES)
def test_counts_fall_as_the_ratio_grows(name, setup):
    conformance.check_counts_fall_as_the_ratio_grows(name, setup)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_result(name, setup):
    conformance.check_same_seed_same_result(name, setup)


@pytest.mark.parametrize("name", NAMES)
def test_random_control_matches_the_structure(name, setup):
    conformance.check_random_control_matches_the_structure(name, setup)


def test_every_check_has_a_test_here():
    tests = {n for n in globals() if n.startswith("test_")}
    assert {"test_" + c.__name__.removeprefix("check_") for c in conformance.CHECKS} <= tests


def test_check_adapter_prints_one_line_per_check(capsys):
    results = conformance.check_adapter("l1-norm")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(results) == len(conformance.CHECKS)
    assert all(line.startswith("conformance l1-norm: PASS  ") for line in lines)
    assert "random control matches the structure" in lines[-1]


def test_check_adapter_reports_every_failure_then_raises(capsys):
    class Empty(Adapter):
        name = "empty-probe"

        def score(self, ctx):
            return {}

    with pytest.raises(AssertionError, match="returned no scores"):
        conformance.check_adapter(Empty)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(conformance.CHECKS)
    assert all(line.startswith("conformance empty-probe: FAIL  ") for line in lines), lines
