"""What makes two leaderboard entries comparable (bench/leaderboard/keys.py): one dense baseline (the same
dataset split, model, recipe and dense weights), one protocol (every field that changes what retraining
means), their family, and the stable, filesystem-safe slug named after it."""

from __future__ import annotations

import copy
import re

import pytest

from bench.leaderboard import keys
from bench.leaderboard.keys import baseline_key, family_key, family_name, key_hash, protocol_key, retraining_key, slug

from tests.leaderboard.builders import make


@pytest.fixture
def record(example_record) -> dict:
    return make(example_record, adapter="hrankplus")


def test_records_that_differ_only_in_the_method_share_their_family(example_record, record):
    other = make(example_record, adapter="l1-norm", top1=80.0, control=70.0, ratio=0.7, seeds=3)
    assert other["run_id"] != record["run_id"]
    assert baseline_key(other) == baseline_key(record) and family_key(other) == family_key(record)
    assert slug(family_key(other)) == slug(family_key(record))


def test_other_dense_weights_are_another_baseline(record):
    other = copy.deepcopy(record)
    other["dense"]["run_id"] = "0123456789ab"  # older records: the dense run stands for its weights
    assert baseline_key(other) != baseline_key(record) and family_key(other) != family_key(record)
    a, b = copy.deepcopy(record), copy.deepcopy(record)
    a["dense"]["weights_sha256"], b["dense"]["weights_sha256"] = "a" * 64, "b" * 64
    assert baseline_key(a)["dense_weights"] == "a" * 64 and "dense_run" not in baseline_key(a)
    assert baseline_key(a) != baseline_key(b)
    b["dense"]["weights_sha256"] = "a" * 64
    b["dense"]["run_id"] = "0123456789ab"  # the same weights from another run: the same baseline
    assert baseline_key(a) == baseline_key(b)


@pytest.mark.parametrize("change", [
    lambda r: r["dataset"].update(split_seed=1),
    lambda r: r["dataset"].update(name="cifar10"),
    lambda r: r.update(model="resnet32"),
    lambda r: r["dense"]["recipe"].update(epochs=60),
])
def test_another_dataset_split_model_or_recipe_is_another_baseline(record, change):
    other = copy.deepcopy(record)
    change(other)
    assert baseline_key(other) != baseline_key(record)


@pytest.mark.parametrize("field, value", [
    ("epochs", 4), ("lr_max", 0.2), ("lr_min", 0.0), ("warmup_fraction", 0.2), ("batch_size", 128),
    ("weight_decay", 5e-4), ("momentum", 0.8), ("nesterov", False), ("reinitialize", True), ("version", 2),
    ("name", "clr-3b"), ("schedule", "slr"),
])
def test_every_protocol_field_that_changes_retraining_makes_another_family(record, field, value):
    other = copy.deepcopy(record)
    other["protocol"][field] = value
    assert baseline_key(other) == baseline_key(record)
    assert protocol_key(other["protocol"]) != protocol_key(record["protocol"])
    assert family_key(other) != family_key(record)


def test_fields_that_do_not_change_retraining_are_not_in_the_key(record):
    other = copy.deepcopy(record)
    other["protocol"].update(recipe_epochs=160, description="shown, not compared")
    assert family_key(other) == family_key(record)
    assert set(protocol_key(record["protocol"])) == set(keys.PROTOCOL_FIELDS)


def test_iterative_runs_and_flops_budgets_are_keyed_as_such():
    base = {f: 1 for f in keys.PROTOCOL_FIELDS} | {"schedule": "clr", "name": "clr-3", "epochs": 3}
    assert "iterations" not in protocol_key({**base, "iterations": 1})
    assert protocol_key({**base, "iterations": 3})["iterations"] == 3  # never ranked with one-shot entries
    scratch_b = {**base, "schedule": "scratch", "name": "scratch-b", "flops_ratio": 2.0}
    assert protocol_key({**scratch_b, "epochs": 300}) == protocol_key({**scratch_b, "epochs": 500})
    assert protocol_key(scratch_b)["epochs"] == "flops budget"  # epochs follow each entry's FLOPs by design
    scratch_e = {**base, "schedule": "scratch", "name": "scratch-e", "flops_ratio": None}
    assert protocol_key({**scratch_e, "epochs": 300}) != protocol_key({**scratch_e, "epochs": 500})


def test_the_retraining_key_drops_the_schedule_and_optionally_the_budget(record):
    key = protocol_key(record["protocol"])
    same_budget = retraining_key(key)
    assert not set(keys.SCHEDULE_FIELDS) & set(same_budget) and same_budget["epochs"] == 3
    assert "epochs" not in retraining_key(key, budget=False)
    slr = protocol_key({**record["protocol"], "name": "slr-3", "schedule": "slr", "warmup_fraction": 0.0})
    assert retraining_key(slr) == same_budget  # the same budget and optimiser, another schedule: compared


def test_a_slug_is_readable_stable_and_keeps_hidden_differences_apart(record):
    key = family_key(record)
    assert family_name(key) == "digits-resnet20-clr-3"
    assert slug(key) == f"digits-resnet20-clr-3-{key_hash(key)}" and len(key_hash(key)) == 10
    assert slug(copy.deepcopy(key)) == slug(key)  # stable: a function of the key's content
    other = copy.deepcopy(key)
    other["protocol"]["lr_max"] = 0.2  # not in the readable part
    assert family_name(other) == family_name(key) and slug(other) != slug(key)
    rounds = copy.deepcopy(key)
    rounds["protocol"]["iterations"] = 3
    assert family_name(rounds) == "digits-resnet20-clr-3-x3"
    unsafe = slug(key, readable="../../Etc/Passwd <script>" + "x" * 100)
    assert re.fullmatch(r"[a-z0-9-]+", unsafe) and unsafe.startswith("etc-passwd-script-xxx")
    assert len(unsafe) <= 60 + 1 + 10


def test_args_text_lists_arguments_sorted_as_json():
    assert keys.args_text({"b": 2, "a": "x", "c": [1, 2]}) == 'a="x", b=2, c=[1, 2]'
