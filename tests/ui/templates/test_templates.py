"""File templates shipped as package data (bench/ui/templates/): the adapter module `bench new-adapter` fills in."""

import re
from importlib.resources import files
from string import Template

from bench.ui import templates
from bench.ui.scaffold import render

from tests.helpers.paths import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def test_template_is_shipped_as_package_data():
    assert (files("bench.ui.templates") / "adapter.py.tmpl").is_file()
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "bench.ui.templates" in setuptools["packages"]
    assert "*.tmpl" in setuptools["package-data"]["bench.ui.templates"]


def test_every_placeholder_of_the_adapter_template_is_one_the_scaffold_fills():
    text = (files(templates) / "adapter.py.tmpl").read_text(encoding="utf-8")
    placeholders = {m.group("named") or m.group("braced") for m in Template.pattern.finditer(text) if not m.group("escaped")}
    assert placeholders == {"name", "module", "class_name", "hparams_class"} - ({"module"} - placeholders)
    rendered = render("l2-norm", "l2_norm", "L2Norm")
    assert "$" not in rendered and 'name = "l2-norm"' in rendered and re.search(r"^class L2Norm\(Adapter\):", rendered, re.M)
    compile(rendered, "l2_norm.py", "exec")  # valid Python as written
