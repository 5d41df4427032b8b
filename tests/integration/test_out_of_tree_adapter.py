"""A third-party adapter package, really installed: tests/example_adapter_package is pip-installed
into a temporary folder (offline, without touching the environment), and with that folder on
PYTHONPATH `bench list adapters` shows its adapter and the conformance suite runs on it."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import EXAMPLE_ADAPTER_PACKAGE, REPO


PACKAGE = EXAMPLE_ADAPTER_PACKAGE
NAME = "l2-norm-example"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("out_of_tree")
    # Build from a copy: an in-tree setuptools build would leave build/ and *.egg-info in the repo.
    source = tmp / "source"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
            "--no-cache-dir", "--disable-pip-version-check", "--quiet", "--target", str(target), str(source),
        ],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert list(target.glob("prunebench_l2_norm_example-*.dist-info/entry_points.txt"))
    return target


def _run(args: list[str], site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("PYTEST_ADDOPTS", None)
    # Outside the checkout: from its root, `python -m` would import the source folder bench/ (which has
    # no bench/adapters: pyproject maps adapters/ there) instead of the installed package.
    return subprocess.run([sys.executable, *args], cwd=site.parent, env=env, capture_output=True, text=True, timeout=600)


def test_installing_leaves_no_build_artifacts_in_the_repo(site):
    leftovers = [p.name for p in PACKAGE.iterdir() if p.name == "build" or p.name.endswith(".egg-info")]
    assert not leftovers


def test_bench_lists_the_installed_adapter(site):
    result = _run(["-m", "bench", "list", "adapters"], site)
    assert result.returncode == 0, result.stderr
    assert any(line.split()[0] == NAME for line in result.stdout.splitlines() if line.strip())


def test_conformance_suite_passes_on_the_installed_adapter(site):
    suite = str(REPO / "tests" / "pruning" / "test_conformance.py")
    result = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO), suite, "-k", NAME], site)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed and int(passed.group(1)) > 0, result.stdout[-2000:]
