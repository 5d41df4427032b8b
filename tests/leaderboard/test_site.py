"""The output folder as a whole (bench/leaderboard/site.py): byte-for-byte deterministic, written all or
nothing, stale generated files removed, other files left alone, compared for `--check`."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from bench.errors import BenchError
from bench.leaderboard import check, generate, site
from bench.leaderboard.table import Links

from tests.helpers.payloads import PAYLOADS
from tests.leaderboard.builders import make, put, put_mixed, tree


def test_generation_is_byte_for_byte_deterministic(subs, example_record):
    put_mixed(subs, example_record)
    put(subs, "bad.json", "{not json")
    one, two = subs.parent / "one", subs.parent / "two"
    generate(subs, one)
    generate(subs, two)
    a, b = tree(one), tree(two)
    assert a == b
    assert {"README.md", "index.html", "leaderboard.json", "static/sortable.js", "static/style.css"} <= set(a)
    groups = [name for name in a if name.startswith("groups/")]
    assert len(groups) == 4 and sum(name.endswith(".svg") for name in groups) == 2


def test_removed_submission_removes_its_group_page(subs, example_record, capsys):
    put(subs, "a.json", make(example_record))
    put(subs, "b.json", make(example_record, adapter="b", protocol="ft-3", schedule="ft"))
    out = subs.parent / "lb"
    generate(subs, out)
    assert len(list((out / "groups").iterdir())) == 4
    (subs / "b.json").unlink()
    assert check(subs, out) != []
    generate(subs, out)
    assert len(list((out / "groups").iterdir())) == 2 and check(subs, out) == []


def _site(subs, example_record):
    put_mixed(subs, example_record)
    return site.build(subs, Links.repository("https://example.org/"))


def test_a_write_that_fails_midway_leaves_every_old_page_and_no_temp_file(subs, example_record, monkeypatch):
    out = subs.parent / "lb"
    put(subs, "first.json", make(example_record, adapter="first"))
    site.write(site.build(subs, Links.repository("https://example.org/")), out)
    old = tree(out)
    new = _site(subs, example_record)
    staged = []
    real_stage = site.stage

    def stage(path, data):
        if len(staged) == 2:
            raise BenchError(f"cannot write {path}: No space left on device")
        staged.append(path)
        return real_stage(path, data)

    monkeypatch.setattr(site, "stage", stage)
    with pytest.raises(BenchError, match="No space left"):
        site.write(new, out)
    assert tree(out) == old and len(staged) == 2  # nothing published: the old site, whole


def test_only_generated_files_are_removed_and_compare_names_what_differs(subs, example_record):
    out = subs.parent / "lb"
    built = _site(subs, example_record)
    site.write(built, out)
    (out / "notes.txt").write_text("mine")  # not the generator's: left alone
    (out / "groups" / "gone-0123456789.html").write_text("old")
    (out / "README.md").write_text("edited")
    (out / "index.html").unlink()
    assert site.compare(built, out) == ["README.md", "index.html (missing)", "groups/gone-0123456789.html (no longer generated)"]
    site.write(built, out)
    assert site.compare(built, out) == [] and (out / "notes.txt").read_text() == "mine"
    assert not (out / "groups" / "gone-0123456789.html").exists()
    assert list(built.files) == sorted(built.files) and "static/style.css" in built.files


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_no_payload_in_a_record_or_its_file_name_becomes_markup_or_a_link(subs, example_record):
    """Each payload of the corpus as an adapter argument, a paper title (the strings a table shows) and a
    record's file name: the names are refused, the strings that are not markup are shown, and neither the
    README nor any HTML page holds a tag, an event handler or a link that the generator did not write."""
    from markdown_it import MarkdownIt

    for i, payload in enumerate(PAYLOADS):
        record = make(example_record, adapter=f"a{i}", paper=payload)
        record["adapter"]["args"] = {"note": payload}
        put(subs, f"r{i}.json", record)
        if "/" not in payload:
            put(subs, payload.replace("\n", " ")[:200] + ".json", make(example_record, adapter=f"n{i}"))
    out = subs.parent / "lb"
    generate(subs, out)
    rejected = json.loads((out / "leaderboard.json").read_text())["rejected"]
    named = [r for r in rejected if r["reasons"][0].startswith("(file name)")]
    assert len(named) == sum("/" not in p for p in PAYLOADS)

    readme = (out / "README.md").read_text()
    tokens = MarkdownIt("commonmark").enable("table").parse(readme)
    inline = [c for t in tokens for c in (t.children or [t])]
    assert not [t.content for t in inline if t.type in ("html_inline", "html_block")]
    images = [str(t.attrs.get("src", "")) for t in inline if t.type == "image"]
    assert not [src for src in images if ":" in src or "evil" in src]  # the generator's own plots only
    hrefs = [str(t.attrs.get("href", "")) for t in inline if t.type == "link_open"]
    assert hrefs and not [h for h in hrefs if "evil" in h or "javascript" in h.lower()]

    for page in [out / "index.html", *(out / "groups").glob("*.html")]:
        parser = _Tags()
        parser.feed(page.read_text())
        assert not [t for t, _ in parser.tags if t in ("svg", "b", "iframe")], page.name
        assert not [a for t, a in parser.tags if t == "img" and (":" in a.get("src", "") or "evil" in a.get("src", ""))]
        assert all(a.get("src", "").startswith("static/") or a.get("src", "").startswith("../static/")
                   for t, a in parser.tags if t == "script"), page.name
        attrs = [(k, v or "") for _, a in parser.tags for k, v in a.items()]
        assert not [k for k, _ in attrs if k.startswith("on")], page.name
        assert not [v for k, v in attrs if k in ("href", "src") and ("evil" in v or "javascript" in v.lower())], page.name
