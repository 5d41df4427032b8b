"""Every registered adapter on every model family, on tiny inputs.

Each (adapter × model) pair either prunes to a working, smaller model (forward and backward run,
fewer parameters) or refuses with a clear one-line BenchError — never another exception. An adapter
declares the families it refuses (`refuses`, bench/pruning/interface.py), so a plugin package states
its own; the core's refusals are in REFUSED, with the reason. Every other pair must prune.
"""

import pytest

from bench.errors import BenchError
from bench.pruning import Adapter, get_adapter
from bench.pruning.registry import adapter_names

from tests.helpers.matrix import FAMILIES, REFUSED, check_pair


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("adapter_name", adapter_names())
@pytest.mark.parametrize("model_name", FAMILIES)
@pytest.mark.filterwarnings("ignore:Unwrapped parameters detected")  # torch-pruning on ConvNeXt's layer scale
def test_pair_prunes_to_a_working_smaller_model_or_refuses_cleanly(model_name, adapter_name, dense_models):
    check_pair(model_name, get_adapter(adapter_name)(), dense_models(model_name))


def test_refused_pairs_name_real_families_and_adapters():
    kinds = {"structured", "unstructured"}
    assert all(m in FAMILIES and (a in kinds or a in adapter_names()) for m, a in REFUSED)
    for name in adapter_names():  # a misspelt family would make the declaration a silent no-op
        refuses = get_adapter(name).refuses
        assert isinstance(refuses, tuple) and set(refuses) <= set(FAMILIES), f"{name}: refuses {refuses}"


def _refusing(message: str = "refusing-plugin cannot prune this model", refuses=("resnet20",), exc=None):
    class Refusing(Adapter):
        name = "refusing-plugin"

        def score(self, ctx):
            raise (exc or BenchError)(message)

    Refusing.refuses = refuses
    return Refusing()


# --- refusals are the adapter's declaration, and still checked ----------------------------------------


def test_a_declared_clean_refusal_passes_the_model_matrix(dense_models):
    assert "resnet20" in FAMILIES
    check_pair("resnet20", _refusing(), dense_models("resnet20"))


@pytest.mark.parametrize(
    "adapter, fails_with",
    [
        (_refusing(refuses=()), AssertionError),  # refused, but not declared
        (_refusing("two\nlines"), AssertionError),  # declared, but not one line
        (_refusing(exc=ValueError), ValueError),  # declared, but not a BenchError: never skipped
    ],
)
def test_a_refusal_must_be_declared_and_clean(dense_models, adapter, fails_with):
    with pytest.raises(fails_with):
        check_pair("resnet20", adapter, dense_models("resnet20"))
