"""leaderboard/leaderboard.json (bench/leaderboard/export.py): everything the pages show, for machines."""

from __future__ import annotations

import json

from bench.leaderboard import export
from bench.leaderboard.table import Links

from tests.leaderboard.builders import board_of, make, put


def test_the_export_has_every_group_entry_and_the_method_with_its_links(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a", runs=[95.0, 96.0, 94.0], control_runs=[90.0, 91.5, 88.5],
                             module="bench.adapters.l1_norm"))
    put(subs, "b.json", make(example_record, adapter="b", protocol="ft-3", schedule="ft"))
    b = board_of(subs)
    doc = json.loads(export.render(b, Links.repository("https://example.org/repo/")))
    assert doc["format"] == export.FORMAT == "prunebench-leaderboard/3"
    assert doc["records_url"] == "https://example.org/repo/submissions/"
    assert doc["method"]["flops_tolerance"] == 0.01 and doc["summary"] == b.summary
    assert [g["slug"] for g in doc["groups"]] == [g.slug for g in b.groups]
    (entry,) = [e for g in doc["groups"] for e in g["ranked"] if e["adapter"] == "a"]
    assert entry["delta_random"] == 5.0 and entry["source_url"] == "https://example.org/repo/adapters/l1_norm.py"
    assert entry["record_url"] == "https://example.org/repo/submissions/a.json"
    assert export.render(b, Links.repository("https://example.org/repo/")) == json.dumps(doc, indent=2, sort_keys=True,
                                                                                         ensure_ascii=False) + "\n"
