"""The worked example in CONTRIBUTING.md must stay true: its adapter file registers and prunes."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch

from bench.models import build_model
from bench.pruning import ADAPTERS, Target, get_adapter
from bench.pruning.job import PruneJob

from tests.helpers.paths import REPO


GUIDE = REPO / "CONTRIBUTING.md"


@pytest.fixture
def example_module(tmp_path):
    code = re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.S).group(1)
    code = "\n".join(line[3:] if line.startswith("   ") else line for line in code.splitlines())  # list indent
    path = tmp_path / "l2_norm_example.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("l2_norm_example", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]
    ADAPTERS._items.pop("l2-norm", None)  # keep the global registry as the other tests expect it


def test_contributing_example_adapter_prunes(example_module):
    cls = get_adapter("l2-norm")
    assert cls.Hparams().power == 2.0
    dense = build_model("resnet20", num_classes=10, in_channels=1).eval()
    x = torch.zeros(1, 1, 16, 16)
    pruned = PruneJob(dense, "resnet20", cls(), Target(ratio=0.5), example_inputs=x, calibration=[], seed=0).prune()
    assert pruned.model(torch.randn(2, 1, 16, 16)).shape == (2, 10)
    assert 0 < pruned.structure.density < 1


# --- the whole guide, as written ----------------------------------------------------------------------

REPO = GUIDE.parent
TOP_LEVEL_SKIP = {".git", ".venv", "runs", "results", ".pytest_cache", ".benchmarks", "leaderboard"}  # state, not source


def _commands(section: str) -> list[str]:
    """The bash blocks of one section of the guide, continuation lines joined, list indent removed."""
    text = GUIDE.read_text().split(f"## {section}")[1].split("\n## ")[0]
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    out = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


@pytest.mark.slow
def test_the_guide_runs_as_written_and_the_record_joins_a_reference_table(tmp_path):
    """CONTRIBUTING's worked example in a copy of the repository, command by command: scaffold, fill in,
    register, conformance, evaluate at a reference cell from the shipped checkpoint, validate, leaderboard."""
    import json
    import os
    import shutil
    import subprocess

    copy = tmp_path / "prunebench"
    def ignore(folder: str, names: list[str]) -> set[str]:
        top = Path(folder).resolve() == REPO.resolve()
        return {n for n in names if n in ("__pycache__", ".sweep") or (top and n in TOP_LEVEL_SKIP)}

    shutil.copytree(REPO, copy, ignore=ignore, symlinks=True)
    # Importing from the copy: the folders setuptools installs as bench.adapters / protocol_files / schemas.
    for package, folder in (("adapters", "adapters"), ("protocol_files", "protocols"), ("schemas", "submissions")):
        if not (copy / "bench" / package).is_symlink():  # a checkout that links them already (a worktree) copied its links
            (copy / "bench" / package).symlink_to(Path("..") / folder, target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(copy), "OMP_NUM_THREADS": "1"}

    def run(command: str) -> str:
        argv = command.split()
        if argv[0] == "bench":
            argv = [sys.executable, "-m", "bench", *argv[1:]]
        elif argv[0] == "pytest":
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *argv[1:]]
        if any("*" in a for a in argv):  # the shell's glob
            argv = [m for a in argv for m in (sorted(str(p.relative_to(copy)) for p in copy.glob(a)) if "*" in a else [a])]
        done = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done.stdout + done.stderr

    add = _commands("Add a pruning method")
    assert add[0] == "bench new-adapter l2-norm"
    run(add[0])
    code = re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.S).group(1)
    (copy / "adapters" / "l2_norm.py").write_text("\n".join(line[3:] if line.startswith("   ") else line for line in code.splitlines()))
    registry = copy / "bench" / "pruning" / "registry.py"  # step 2: the explicit list of built-ins
    registry.write_text(registry.read_text().replace('    "width_scaled",\n', '    "width_scaled",\n    "l2_norm",\n'))
    for command in add[1:]:
        if not command.startswith("bench prune"):  # step 5 needs CIFAR on disk; the record below prunes for real
            run(command)

    for command in _commands("Submit results"):
        run(command)
    (record,) = (copy / "submissions" / "digits" / "resnet20").glob("l2-norm_*.json")
    board = json.loads((copy / "leaderboard" / "leaderboard.json").read_text())
    (group,) = [g for g in board["groups"] if any(e["file"] == f"digits/resnet20/{record.name}" for e in g["ranked"])]
    others = {e["adapter"] for e in group["ranked"]} - {"l2-norm"}
    assert others, f"the record landed in a table of its own: {group['title']}"  # beside the reference records
