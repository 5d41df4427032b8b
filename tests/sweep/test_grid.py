"""Sweep files (bench/sweep/grid.py): expansion into runs, the hash of each, checkpoints and cost targets per
adapter, and every invalid grid a one-line error. (Real sweeps through each executor: tests/sweep/executors/.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench.api import RunSpec, specify
from bench.core import shipped
from bench.core.config import file_digest
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target
from bench.sweep.driver import make_jobs
from bench.sweep.grid import load_grid, parse_grid
from bench.ui.cli import main


def write(folder: Path, text: str, name: str = "grid.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# --- grid ----------------------------------------------------------------------------------------


def test_expansion_order_targets_hp_axes_and_layout(workdir):
    grid = parse_grid(
        """
        protocols = ["ft-2", "clr-2"]
        seeds = 2
        checkpoint = "dense.pt"
        [[adapters]]
        name = "hrankplus"
        hp = { calibration_batches = [1, 2] }
        [[adapters]]
        name = "l1-norm"
        ratios = [0.3, 0.3]
        protocols = "lrw-2"
        """,
        source=workdir / "inline.toml",
    )
    labels = [r.label for r in grid.runs]
    assert labels == [
        "hrankplus ratio0.5 calibration_batches=1 resnet20/digits ft-2",
        "hrankplus ratio0.5 calibration_batches=1 resnet20/digits clr-2",
        "hrankplus ratio0.5 calibration_batches=2 resnet20/digits ft-2",
        "hrankplus ratio0.5 calibration_batches=2 resnet20/digits clr-2",
        "l1-norm ratio0.3 resnet20/digits lrw-2",  # a per-adapter protocols list overrides the global one
    ]
    assert grid.duplicates == 1  # ratios [0.3, 0.3]
    first = grid.runs[0]
    assert first.seeds == (0, 1) and first.arms == 2 and first.train_epochs == 2 * 2 * 1  # ft-2 on digits: 2/160 of 30 epochs → 1
    assert first.record == f"digits/resnet20/hrankplus_ratio0.5_ft-2_{first.hash}.json"  # the submissions layout
    assert len({r.hash for r in grid.runs}) == len(grid.runs)


def test_a_soft_pruning_shared_by_several_protocols_is_counted_once(workdir):
    grid = parse_grid(
        """
        protocols = ["ft-16", "clr-16"]
        seeds = 2
        checkpoint = "dense.pt"
        [[adapters]]
        name = "sfp"
        ratios = [0.3, 0.5]
        hp = { soft_epochs = 4 }
        """,
        source=workdir / "soft.toml",
    )
    assert [r.soft_epochs for r in grid.runs] == [4] * 4
    first = grid.runs[0]  # ft-16 on digits: 16/160 of 30 epochs → 3; two arms; two seeds with 4 soft epochs each
    assert first.train_epochs == 2 * (2 * 3 + 4)
    assert len({r.soft_key for r in grid.runs}) == 2  # one per ratio, whichever the protocol
    to_do = grid.epochs_to_do(set())
    assert sum(to_do.values()) == 4 * 2 * 2 * 3 + 2 * 2 * 4
    assert sum(grid.epochs_to_do({first.hash}).values()) == 3 * 2 * 2 * 3 + 2 * 4  # ratio 0.3's soft phase is trained


def test_layouts_are_an_axis_validated_against_the_model_and_hashed_only_when_given(workdir):
    grid = parse_grid(
        """
        protocols = "ft-2"
        checkpoint = "dense.pt"
        [[adapters]]
        name = "l1-norm"
        layouts = ["block-internal", "hrankplus"]
        [[adapters]]
        name = "l1-norm"
        ratios = [0.4]
        """,
        source=workdir / "inline.toml",
    )
    assert [r.label for r in grid.runs] == [
        "l1-norm ratio0.5 layout=block-internal resnet20/digits ft-2",
        "l1-norm ratio0.5 layout=hrankplus resnet20/digits ft-2",
        "l1-norm ratio0.4 resnet20/digits ft-2",
    ]
    assert grid.runs[0].config["layout"] == "block-internal" and grid.runs[2].config["layout"] is None
    assert len({r.hash for r in grid.runs}) == 3
    jobs = make_jobs(grid, list(grid.runs), workdir / "out", workdir / "runs")
    assert [j.spec["layout"] for j in jobs] == ["block-internal", "hrankplus", None]
    assert RunSpec.from_dict(jobs[1].spec) == grid.runs[1].spec  # the worker gets the very run the grid planned
    with pytest.raises(BenchError, match="no pruning layout 'bogus'"):
        parse_grid('protocols = "ft-2"\n[[adapters]]\nname = "l1-norm"\nlayouts = ["bogus"]\n', source=workdir / "g.toml")


def test_hash_covers_what_determines_the_record_and_nothing_else(workdir, tmp_path):
    base = """
    seeds = [1, 0]
    protocols = "ft-2"
    checkpoint = "{ckpt}"
    [[adapters]]
    name = "hrankplus"
    {hp}
    """
    hashes = lambda text, where=workdir, threads=1: [r.hash for r in parse_grid(text, source=where / "g.toml").with_threads(threads).runs]
    reference = hashes(base.format(ckpt="dense.pt", hp=""))
    # The same run spelled differently: defaults written out, seeds as a count, the checkpoint moved.
    assert hashes(base.format(ckpt="dense.pt", hp="hp = { calibration_batches = 5 }")) == reference
    assert hashes(base.format(ckpt="dense.pt", hp="").replace("seeds = [1, 0]", "seeds = 2")) == reference
    (tmp_path / "copy.pt").write_bytes((workdir / "dense.pt").read_bytes())
    assert hashes(base.format(ckpt="copy.pt", hp=""), tmp_path) == reference
    # Anything that changes the record changes the hash.
    assert hashes(base.format(ckpt="dense.pt", hp="hp = { calibration_batches = 4 }")) != reference
    assert hashes(base.format(ckpt="dense.pt", hp="").replace("seeds = [1, 0]", "seeds = 3")) != reference
    assert hashes(base.format(ckpt="dense.pt", hp="").replace('"ft-2"', '"ft-3"')) != reference
    assert hashes("random_control = false\n" + base.format(ckpt="dense.pt", hp="")) != reference
    assert hashes(base.format(ckpt="dense.pt", hp=""), threads=2) != reference  # CPU threads change the numbers
    fixed = "threads = 1\n" + base.format(ckpt="dense.pt", hp="")
    assert hashes(fixed, threads=2) == hashes(fixed, threads=3) == reference  # a grid's own thread count stays
    torch.manual_seed(1)
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), tmp_path / "other.pt")
    assert hashes(base.format(ckpt="other.pt", hp=""), tmp_path) != reference


BAD_GRIDS = {
    "unknown adapter": ('[[adapters]]\nname = "hrank"\n', "adapters[0] (hrank): unknown adapter 'hrank'; did you mean 'hrankplus'"),
    "unknown model": ('models = ["resnet21"]\n[[adapters]]\nname = "l1-norm"\n', "unknown model 'resnet21'"),
    "unknown protocol": ('protocols = ["clr"]\n[[adapters]]\nname = "l1-norm"\n', "protocols: unknown protocol 'clr'"),
    "unknown dataset": ('datasets = ["mnist"]\n[[adapters]]\nname = "l1-norm"\n', "unknown dataset 'mnist'"),
    "unknown key": ('seed = 1\n[[adapters]]\nname = "l1-norm"\n', "unknown key 'seed'; did you mean 'seeds'?"),
    "unknown adapter key": ('[[adapters]]\nname = "l1-norm"\nratio = 0.5\n', "adapters[0] (l1-norm): unknown key 'ratio'; did you mean 'ratios'?"),
    "bad hp": ('[[adapters]]\nname = "hrankplus"\nhp = { batches = 3 }\n', "adapters[0] (hrankplus): bad --hp 'batches=3'"),
    "bad ratio": ('[[adapters]]\nname = "l1-norm"\nratios = [1.5]\n', "must be in (0, 1), got 1.5"),
    "config of another model": ('[[adapters]]\nname = "l1-norm"\nconfigs = "resnet56-A"\n', "adapters[0] (l1-norm): config=resnet56-A on resnet20"),
    "missing checkpoint": ('checkpoint = "nope.pt"\n[[adapters]]\nname = "l1-norm"\n', "nope.pt does not exist"),
    "bad seeds": ('seeds = [0, 0]\n[[adapters]]\nname = "l1-norm"\n', "seeds: need distinct non-negative integers"),
    "wrong type": ('protocols = 3\n[[adapters]]\nname = "l1-norm"\n', "protocols must be a protocol name or a list of them, got 3"),
    "bad device": ('device = "gpu"\n[[adapters]]\nname = "l1-norm"\n', "unknown device 'gpu'"),
    "bad memory format": ('memory_format = "nhwc"\n[[adapters]]\nname = "l1-norm"\n', "memory_format: must be one of channels_last, contiguous, got 'nhwc'"),
    "adapter protocol": ('[[adapters]]\nname = "l1-norm"\nprotocols = ["ft-x"]\n', "adapters[0] (l1-norm): unknown protocol 'ft-x'"),
    "no adapters": ('models = ["resnet20"]\n', "no [[adapters]] entries"),
    "not toml": ("models = [\n", "invalid TOML"),
}


def test_a_grid_fixes_the_memory_format_of_its_runs(tmp_path):
    """Runs train in channels_last unless the grid says otherwise (the reference sweep pins contiguous,
    the format its records were trained in): part of every run's identity."""
    plain = load_grid(write(tmp_path, '[[adapters]]\nname = "l1-norm"\n', "plain.toml"))
    pinned = load_grid(write(tmp_path, 'memory_format = "contiguous"\n[[adapters]]\nname = "l1-norm"\n', "pinned.toml"))
    assert [r.spec.memory_format for r in plain.runs] == ["channels_last"]
    assert [r.spec.memory_format for r in pinned.runs] == ["contiguous"]
    assert plain.runs[0].hash != pinned.runs[0].hash


@pytest.mark.parametrize("case", list(BAD_GRIDS))
def test_invalid_grids_are_one_line_errors_with_exit_2(case, tmp_path, capsys):
    text, expected = BAD_GRIDS[case]
    grid = write(tmp_path, text)
    assert main(["sweep", str(grid), "--dry-run", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"bench: error: {grid}: ") and expected in err, err
    assert not (tmp_path / "out").exists()


# --- real sweeps ---------------------------------------------------------------------------------


def test_an_evaluate_record_and_a_sweep_record_are_the_same_file(tmp_path, dense_weights):
    """`bench evaluate --out OUT` and `bench sweep --out OUT` of the same run agree on its path."""
    from bench.sweep.grid import parse_grid

    grid = parse_grid(
        f'protocols = "ft-1"\nseeds = [0]\ncheckpoint = "{dense_weights}"\n[[adapters]]\nname = "l1-norm"\nratios = [0.7]\n',
        source=tmp_path / "g.toml",
    ).with_threads(1)
    torch.set_num_threads(1)
    spec = specify(torch.device("cpu"), adapter="l1-norm", protocol="ft-1", seeds=(0,), checkpoint=str(dense_weights), target=Target(ratio=0.7))
    (run,) = grid.runs
    assert run.spec == spec and run.record == spec.record_path


def test_a_grid_with_too_many_seeds_or_epochs_is_refused(tmp_path):
    from bench.errors import BenchError
    from bench.sweep.grid import parse_grid

    with pytest.raises(BenchError, match="seeds: at most 1000 seeds"):
        parse_grid('seeds = 100000000\n[[adapters]]\nname = "l1-norm"\n', source=tmp_path / "g.toml")
    with pytest.raises(BenchError, match="epochs must be between"):
        parse_grid('protocols = ["clr-99999999999"]\n[[adapters]]\nname = "l1-norm"\n', source=tmp_path / "g.toml")


def test_sweep_grids_take_speedups_a_checkpoint_per_adapter_and_the_allocation_control(tmp_path):
    from bench.sweep.grid import parse_grid

    shared = shipped.for_run("resnet20", "digits", "l1-norm").path
    own = shipped.for_run("resnet20", "digits", "slimming").path
    grid = parse_grid(
        f"""
protocols = ["ft-40"]
seeds = 2
threads = 1
allocation_control = true
checkpoint = "{shared}"
[[adapters]]
name = "taylor"
speedups = [3, 5]
[[adapters]]
name = "slimming"
speedups = [3]
checkpoint = "{own}"
[[adapters]]
name = "global-magnitude"
ratios = [0.9]
""",
        source=tmp_path / "grid.toml",
    )
    by = {(r.adapter, r.target.describe()): r for r in grid.runs}
    assert set(by) == {("taylor", "speedup=3"), ("taylor", "speedup=5"), ("slimming", "speedup=3"),
                       ("global-magnitude", "ratio=0.9")}
    assert by[("slimming", "speedup=3")].spec.checkpoint_sha256 == file_digest(own)
    assert by[("taylor", "speedup=3")].spec.checkpoint_sha256 == file_digest(shared)
    assert by[("taylor", "speedup=3")].spec.allocation_control and by[("taylor", "speedup=3")].arms == 3
    assert not by[("global-magnitude", "ratio=0.9")].spec.allocation_control  # structured only
    assert json.loads(json.dumps(by[("taylor", "speedup=5")].spec.to_dict()))["target"]["speedup"] == 5


def test_a_grid_with_an_unreachable_speedup_is_refused_before_anything_runs(tmp_path):
    from bench.errors import BenchError
    from bench.sweep.grid import parse_grid

    with pytest.raises(BenchError, match="out of reach"):
        parse_grid('[[adapters]]\nname = "l1-norm"\nspeedups = [500]\n', source=tmp_path / "g.toml")


def test_a_grid_over_the_run_cap_is_refused_before_any_run_is_built(tmp_path, monkeypatch):
    from bench.sweep import grid as grid_module

    monkeypatch.setattr(grid_module, "MAX_RUNS", 5)
    text = 'seeds = 1\n[[adapters]]\nname = "l1-norm"\nratios = [0.1, 0.2, 0.3]\nprotocols = ["ft-1", "ft-2"]\n'
    with pytest.raises(BenchError, match="expands to more than 5 runs"):
        parse_grid(text, source=tmp_path / "g.toml")
    assert len(parse_grid(text.replace(", 0.3", ""), source=tmp_path / "g.toml").runs) == 4
