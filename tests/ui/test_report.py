"""Terminal tables (bench/ui/report.py): an evaluation's result as a paired interval and a verdict in words,
and `bench prune`'s report of its layout and identity routes."""

from __future__ import annotations

import json
import re

import pytest

from bench.ui.cli import main
from bench.ui.report import evaluation_table, result_lines


pytestmark = pytest.mark.usefixtures("work_in_tmp")


def _record(example_record, method, control):
    r = json.loads(json.dumps(example_record))
    for arm, values in ((r["method"], method), (r["random_control"], control)):
        arm["runs"] = [dict(arm["runs"][0], seed=i, top1=v) for i, v in enumerate(values)]
    r["seeds"] = list(range(len(method)))
    return r


def test_the_result_is_a_paired_interval_and_a_verdict_in_words(example_record):
    tied = result_lines(_record(example_record, [99.0, 98.5, 99.2], [98.9, 98.8, 99.0]))
    assert re.match(r"hrankplus minus its random control: \+0\.00 points, paired 95% interval \[-\d\.\d\d, \+\d\.\d\d\] "
                    r"over 3 seeds: tied", tied[0])
    assert tied[1] == "One test example of digits is worth 0.28 points of top-1 (360 test images)."
    beats = result_lines(_record(example_record, [99.0, 98.9, 99.2], [97.0, 96.8, 97.1]))
    assert "the method beats its random control" in beats[0]
    table = evaluation_table(_record(example_record, [99.0, 98.9, 99.2], [97.0, 96.8, 97.1]))
    assert "the retraining schedule, its version, and the epochs it trains" in table and "best-validation epoch" in table


def test_bench_prune_prints_the_layout_and_identity_routes(capsys):
    assert main(["prune", "--adapter", "l1-norm", "--model", "resnet20"]) == 0
    out = capsys.readouterr().out
    assert "layout block-internal: PFEC" in out and "identity routes kept: 100.0%" in out
    assert main(["prune", "--adapter", "l1-norm", "--model", "resnet20", "--layout", "hrankplus", "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["layout"]["name"] == report["structure"]["layout"] == "hrankplus"
    assert report["identity_routes"] < 1
    assert main(["prune", "--adapter", "l1-norm", "--model", "resnet20", "--layout", "nope"]) == 2
    assert "no pruning layout 'nope'" in capsys.readouterr().err
