"""TODO."""

from bench.pruning import Adapter, get_adapter


def test_built_in_refusals_are_declared_on_the_adapters():
    assert set(get_adapter("slimming").refuses) == {"timm:convnext_atto", "timm:mobilenetv3_small_050"}
    assert set(get_adapter("width-scaled").refuses) == {"vgg16", "densenet40"}
    assert Adapter.refuses == () and get_adapter("l1-norm").refuses == ()
