"""The built-in adapters as a package (adapters/, installed as `bench.adapters`): what ships, and the shape
every adapter module has."""

from pathlib import Path

from tests.helpers.paths import REPO


def test_the_distribution_does_not_ship_a_top_level_adapters_package():
    """`adapters` is also an unrelated PyPI package: ours is installed as `bench.adapters` only. (An
    editable install leaves a prunebench.egg-info in the checkout, which lists the source tree; only
    installed metadata says what ships.)"""
    from importlib.metadata import distributions

    installed = [d for d in distributions(name="prunebench") if Path(d.locate_file("")).resolve() != REPO]
    assert installed, "prunebench is not installed"
    for dist in installed:
        shipped = {str(f).split("/")[0] for f in dist.files or []}
        assert "adapters" not in shipped
    import bench.adapters.hrankplus  # noqa: F401  (and the built-ins import from their real home)


def test_every_adapter_module_cites_its_paper_and_registers_one_adapter():
    """The order CONTRIBUTING.md asks of an adapter module: a docstring citing the paper, then the adapter,
    registered under its name (bench/adapters/__init__.py)."""
    import importlib

    from bench.pruning import Adapter, get_adapter
    from bench.pruning.registry import BUILTIN_MODULES

    for name in BUILTIN_MODULES:
        module = importlib.import_module(f"bench.adapters.{name}")
        assert module.__doc__ and module.__doc__.strip().splitlines()[0], name
        adapters = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Adapter) and v.__module__ == module.__name__]
        assert len(adapters) == 1, (name, adapters)
        (cls,) = adapters
        assert get_adapter(cls.name) is cls and cls.paper and cls.paper != Adapter.paper, name
