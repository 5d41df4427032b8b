"""The cells of every table (bench/leaderboard/table.py), formatted once for markdown and HTML alike."""

from __future__ import annotations

from bench.leaderboard import generate, table
from bench.leaderboard.stats import Interval

from tests.leaderboard.builders import make, put


def test_mean_and_std_are_shown_as_in_the_record(subs, example_record):
    put(subs, "a.json", make(example_record, top1=91.234, std=0.567))
    generate(subs, subs.parent / "lb")
    out = subs.parent / "lb"
    assert "91.23 ± 0.57" in (out / "README.md").read_text()
    (page,) = (out / "groups").glob("*.html")
    assert "91.23 ± 0.57" in page.read_text()


def test_module_outside_bench_adapters_is_not_linked(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="mine", module="mypkg.pruner"))
    out = subs.parent / "lb"
    generate(subs, out)
    (page,) = (out / "groups").glob("*.html")
    assert "<td>mine<br>" in page.read_text()


def test_speedup_column_appears_for_records_with_latency(subs, example_record, tmp_path, cli):
    record = make(example_record)
    record["method"]["latency"] = {
        "batch1_ms": 1.0, "large_batch": 256, "large_batch_ms": 20.0, "throughput_images_per_s": 12800.0,
        "speedup": {"measured_speedup": 1.62, "flops_speedup": 3.07, "measured_over_flops": 0.5277},
    }
    put(subs, "a.json", record)
    put(subs, "b.json", make(example_record, adapter="l1-norm"))  # an older record without latency
    code, _, _ = cli("leaderboard", "--submissions", str(subs), "--out", str(tmp_path / "site"))
    text = (tmp_path / "site" / "README.md").read_text()
    assert code == 0 and "speedup measured / FLOPs" in text and "1.62× / 3.07×" in text and "| —" in text


def test_numbers_are_formatted_once_for_both_renderers():
    assert table.acc(91.234) == "91.23" and table.delta(0.5) == "+0.50" and table.delta(-1.0) == "-1.00"
    assert table.mean_std(91.234, 0.567) == "91.23 ± 0.57" and table.mean_std(91.234, None) == "91.23"
    assert table.interval(None) == "—" and table.interval(Interval(-0.25, 1.5), signed=True) == "[-0.25, +1.50]"
    assert table.NONE.sort == ""  # no value sorts last either way
    assert table.tau_text(None) == "n/a"


def test_links_point_at_the_repository_or_at_a_local_builds_files():
    links = table.Links.repository("https://github.com/prunebench/prunebench/blob/main/")
    assert links.records == "https://github.com/prunebench/prunebench/blob/main/submissions/"
