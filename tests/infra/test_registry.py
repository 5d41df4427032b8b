"""The generic registry (bench/infra/registry.py): normalized names, loud duplicates, did-you-mean, entry points."""

import pytest

from bench.errors import BenchError, UnknownNameError
from bench.infra.registry import Registry


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


def test_third_party_adapters_register_through_the_entry_point_group(tmp_path, monkeypatch):
    """A real (installed-style) distribution on sys.path, declaring a `prunebench.adapters` entry point."""
    (tmp_path / "thirdparty_pruner.py").write_text(
        "from bench.pruning import Adapter\n"
        "class Thirdparty(Adapter):\n"
        "    name = 'thirdparty'\n"
        "    def score(self, ctx):\n"
        "        return {n: m.weight.detach().abs().flatten(1).sum(1) for n, m in ctx.layers.items()}\n"
    )
    dist = tmp_path / "thirdparty_pruner-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-pruner\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[prunebench.adapters]\nthirdparty = thirdparty_pruner:Thirdparty\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("adapter", entry_point_group="prunebench.adapters")
    assert reg.get("thirdparty").__name__ == "Thirdparty"
    assert "thirdparty" in reg.names()


def test_an_adapter_is_registered_under_the_name_it_gives_itself():
    from bench.errors import BenchError
    from bench.infra.registry import Registry

    registry = Registry("adapter")

    class Named:
        name = "my-method"

    registry.register()(Named)
    assert registry.get("my-method") is Named
    with pytest.raises(BenchError, match="registered as 'other' but names itself 'my-method'"):
        registry.register("other")(type("Again", (Named,), {}))
    with pytest.raises(BenchError, match="has no `name`"):
        registry.register()(type("Nameless", (), {}))
