"""The generic registry: normalized names, loud duplicates, did-you-mean."""

import pytest

from bench.errors import BenchError, UnknownNameError
from bench.registry import Registry


def test_names_are_normalized_on_register_and_lookup():
    reg = Registry("widget")
    reg.add("Global_Magnitude", 1)
    assert reg.get("global-magnitude") == 1
    assert reg.get("GLOBAL_MAGNITUDE") == 1
    assert "global_magnitude" in reg
    assert reg.names() == ["global-magnitude"]


def test_duplicate_registration_raises():
    reg = Registry("widget")
    reg.register("a")(int)
    with pytest.raises(BenchError, match="already registered"):
        reg.add("A", float)


def test_unknown_name_suggests_close_matches():
    reg = Registry("adapter")
    reg.add("hrankplus", 1)
    reg.add("l1-norm", 2)
    with pytest.raises(UnknownNameError, match=r"did you mean 'hrankplus'") as info:
        reg.get("hrankpls")
    assert "bench list adapters" in str(info.value)


def test_wildcard_listing():
    reg = Registry("model")
    for name in ("resnet20", "resnet56", "vgg16"):
        reg.add(name, name)
    assert reg.names("resnet*") == ["resnet20", "resnet56"]
