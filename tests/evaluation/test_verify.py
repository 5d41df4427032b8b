"""`bench verify`: re-run a record's seeds from its own specification, classify, write the file beside it."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from bench.models import build_model

from tests.helpers.paths import REPO
from tests.helpers.processes import run_bench


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, dense_state_file):
    """A one-seed ft-1 record from fixed dense weights, on one thread."""
    folder = tmp_path_factory.mktemp("verify")
    shutil.copyfile(dense_state_file, folder / "dense.pt")
    done = run_bench(
        "evaluate", "--adapter", "l1-norm", "--protocol", "ft-1", "--seeds", "1", "--ratio", "0.6", "--threads", "1",
        "--checkpoint", str(folder / "dense.pt"), "--runs-dir", str(folder / "runs"), "--out", str(folder / "out"), cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    (record,) = (folder / "out").rglob("*.json")
    return folder, record


@pytest.mark.slow
def test_a_record_reruns_bitwise_here_and_the_leaderboard_marks_it(evaluated):
    folder, record = evaluated
    missing = run_bench("verify", str(record), cwd=folder)
    assert missing.returncode == 2 and missing.stderr.strip().startswith("bench: error:") and "--checkpoint" in missing.stderr
    wrong = folder / "other.pt"
    torch.manual_seed(1)  # other weights than dense.pt's (seed 0)
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), wrong)
    refused = run_bench("verify", str(record), "--checkpoint", str(wrong), cwd=folder)
    assert refused.returncode == 2 and "does not hold the record's dense weights" in refused.stderr

    done = run_bench("verify", str(record), "--checkpoint", str(folder / "dense.pt"), "--by", "tester", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "seed 0: identical" in done.stdout and "the dense weights were given" in done.stdout
    result = json.loads(record.with_name(record.stem + ".verification.json").read_text())
    assert result["status"] == "identical" and result["same_environment"] is None and result["seeds"] == [0]
    assert result["verifier"] == "tester" and result["dense"]["source"] == "the user's weights"
    original = json.loads(record.read_text())
    assert result["rerun"]["method"]["structure"] == original["method"]["structure"]  # the network, recomputed
    assert result["rerun"]["method"]["runs"][0]["curve"] == original["method"]["runs"][0]["curve"]  # every number
    assert not (folder / "runs" / "verify").exists()  # reran in a scratch folder: no cache consulted or left

    site = folder / "site"
    shown = run_bench("leaderboard", "--submissions", str(folder / "out"), "--out", str(site), cwd=folder)
    assert shown.returncode == 0, shown.stderr  # the verification file is not taken for a record
    assert "✓ identical" in (site / "README.md").read_text()
    assert any("verified: identical (seed 0 re-run by tester on cpu" in page.read_text() for page in site.rglob("*.html"))


@pytest.mark.slow
def test_a_record_whose_numbers_do_not_come_back_is_not_reproduced(evaluated, tmp_path):
    folder, record = evaluated
    data = json.loads(record.read_text())
    run = data["method"]["runs"][0]
    shifted = run["top1"] - 2.0  # a consistent edit: the record stays valid, its number is not the real one
    data["method"]["runs"][0] = {**run, "top1": shifted}
    data["method"]["top1_mean"] = shifted
    forged = tmp_path / record.name
    forged.write_text(json.dumps(data))
    done = run_bench("verify", str(forged), "--checkpoint", str(folder / "dense.pt"), cwd=folder)
    assert done.returncode == 1, done.stderr
    assert "not reproduced" in done.stdout
    assert json.loads(forged.with_name(forged.stem + ".verification.json").read_text())["status"] == "not reproduced"


def test_a_record_without_its_specification_cannot_be_verified(example_record, tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(example_record))  # written before records carried their spec
    done = run_bench("verify", str(path), cwd=tmp_path)
    assert done.returncode == 2 and "has no run specification" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_ci_verifies_a_committed_reference_record(tmp_path):
    """One seed of the cheapest committed reference record, dense baseline retrained: bitwise where the
    environment is the record's, else within its seed spread (other CPUs round differently)."""
    committed = sorted((REPO / "submissions").rglob("*.json"), key=lambda p: (json.loads(p.read_text()).get("protocol", {}).get("epochs", 1e9), p.name))
    references = [p for p in committed if p.name != "schema.json" and not p.name.endswith(".verification.json") and ".sweep" not in p.parts]
    if not references:
        pytest.skip("no committed reference records yet")
    record = references[0]
    data = json.loads(record.read_text())
    if data["spec"]["device"] != "cpu":
        pytest.skip("the cheapest reference record was made on a GPU")
    copy = tmp_path / record.name  # verified as a copy: the committed tree stays as it is
    copy.write_text(record.read_text())
    done = run_bench("verify", str(copy), "--seeds", "1", cwd=tmp_path)  # seed 0
    result = json.loads(copy.with_name(copy.stem + ".verification.json").read_text())
    print(done.stdout)
    assert result["same_environment"] is None  # from the shipped checkpoint: held to the spread
    assert result["status"] in ("identical", "within spread"), done.stdout


def test_bad_verification_inputs_are_refused_before_anything_runs(tmp_path):
    """A checkpoint that is not a regular file (reading /dev/zero never ends), a verifier name that is not
    one line, a seed the record lacks: one-line errors, nothing trained, nothing written."""
    from bench.errors import BenchError
    from bench.evaluation.verify import verify

    committed = sorted(p for p in (REPO / "submissions" / "digits" / "resnet20").glob("l1-norm_speedup4_ft-40_*.json")
                       if not p.name.endswith(".verification.json"))
    if not committed:
        pytest.skip("no committed reference record")
    record = tmp_path / committed[0].name
    shutil.copyfile(committed[0], record)
    cases = [
        ({"checkpoint": "/dev/zero"}, "--checkpoint: not a regular file"),
        ({"checkpoint": str(tmp_path)}, "--checkpoint: not a regular file"),
        ({"verifier": "a\nb"}, "--by: a name of 1 to 100 printable characters"),
        ({"verifier": "x" * 101}, "--by: a name of 1 to 100 printable characters"),
        ({"seeds": (99,)}, "--seeds names seeds the record does not have"),
    ]
    for kwargs, message in cases:
        with pytest.raises(BenchError, match=message.replace("(", r"\(")):
            verify(record, runs_dir=tmp_path / "runs", **kwargs)
    assert not list(tmp_path.glob("*.verification.json")) and not (tmp_path / "runs").exists()


def test_only_a_dense_baseline_retrained_from_the_spec_is_named_retrained(tmp_path, dense_weights):
    """The verification's dense source decides whether the rerun can tell its environment: given weights
    (the user's, even for a record whose spec trains its own, or a shipped checkpoint) never can."""
    from bench.core.checkpoint import weights_digest
    from bench.core.verification import RETRAINED
    from bench.evaluation.spec import RunSpec
    from bench.evaluation.verify import _dense_source

    record = {"dense": {"weights_sha256": weights_digest(torch.load(dense_weights, weights_only=True))}}
    trained_from_spec = RunSpec(adapter="l1-norm", threads=1)
    assert _dense_source(trained_from_spec, record, None) == ({}, RETRAINED)
    fields, named = _dense_source(trained_from_spec, record, str(dense_weights))
    assert fields["checkpoint"] == str(dense_weights) and named == "the user's weights"
    reference = json.loads(next((REPO / "submissions" / "digits" / "resnet20").glob("l1-norm_speedup4_ft-40_*.json")).read_text())
    from_shipped = RunSpec.from_dict(reference["spec"], check_checkpoint=False)
    assert _dense_source(from_shipped, reference, None)[1] == "the shipped checkpoint"
