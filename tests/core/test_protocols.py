"""Retraining protocols: shipped TOML files, validation errors, and the LR of every schedule."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from bench.core import protocols as P
from bench.core.config import Recipe
from bench.core.one_cycle import one_cycle_lr
from bench.core.protocols import (
    Protocol,
    ResolvedProtocol,
    list_protocols,
    load_protocol,
    parse_protocol,
    resolve,
    same_schedule,
)
from bench.core.schedule_plot import plot_schedule
from bench.data.digits import DIGITS_RECIPE
from bench.errors import BenchError

from tests.helpers import fuzzing
from tests.helpers.paths import REPO


if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

CIFAR = Recipe(epochs=160, lr=0.1, milestones=(0.5, 0.75), gamma=0.1, batch_size=64)
SPE = 10  # steps per epoch: small so that whole schedules are cheap to enumerate

EXPECTED_SHIPPED = [
    "clr-152", "clr-40", "clr-80", "clr-90", "ft-40", "ft-80", "lrw-40", "lrw-80",
    "scratch-b", "scratch-e", "slr-40", "slr-80",
]


def r(name: str, **kw) -> P.ResolvedProtocol:
    return resolve(load_protocol(name), CIFAR, **kw)


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-15)


# ----------------------------------------------------------------------------- shipped files


def test_list_protocols_is_the_shipped_set():
    assert list_protocols() == sorted(EXPECTED_SHIPPED)


@pytest.mark.parametrize("name", EXPECTED_SHIPPED)
def test_every_shipped_protocol_loads_and_resolves(name):
    proto = load_protocol(name)
    # version 2 of the Scratch protocols reinitializes with the model's own init (bench.models.init)
    assert proto.name == name and proto.version == (2 if proto.schedule == "scratch" else 1)
    assert proto.description.strip()
    res = resolve(proto, CIFAR, flops_ratio=2.0)
    sched = res.lr_schedule(SPE)
    assert len(sched) == res.total_steps(SPE) == res.epochs * SPE
    assert all(CIFAR.lr_min * (1 - 1e-9) <= lr <= CIFAR.lr_max * (1 + 1e-9) for lr in sched)
    json.dumps(res.to_dict())  # records must be JSON-able
    assert res.reinitialize == (proto.schedule == "scratch")
    assert res.warmup_fraction == (0.1 if proto.schedule in ("slr", "clr") else 0.0)


def test_shipped_files_fields():
    assert load_protocol("scratch-e").budget == "epochs" and load_protocol("scratch-e").extra_epochs == 40
    assert load_protocol("scratch-b").budget == "flops" and load_protocol("scratch-b").extra_epochs is None
    assert load_protocol("clr-152").epochs == 152
    assert load_protocol("CLR_80") == load_protocol("clr-80")  # names are normalized


def test_installed_protocols_match_the_repo_folder():
    # Whether installed as package data or read from a checkout, the shipped set is the repo's protocols/.
    repo = REPO / "protocols"
    assert sorted(p.stem for p in repo.glob("*.toml")) == sorted(EXPECTED_SHIPPED) == list_protocols()


def test_resolve_copies_recipe():
    res = r("clr-80")
    assert (res.batch_size, res.momentum, res.nesterov, res.weight_decay) == (64, 0.9, True, 1e-4)
    assert res.recipe_epochs == 160 and res.lr_max == 0.1 and res.lr_min == approx(0.001)
    d = res.to_dict()
    assert d["name"] == "clr-80" and d["version"] == 1 and d["epochs"] == 80 and d["milestones"] == [0.5, 0.75]


# -------------------------------------------------------------------------------- schedules


def test_ft_is_lr_min_everywhere():
    res = r("ft-40")
    assert set(res.lr_schedule(SPE)) == {CIFAR.lr_min}
    assert res.lr_at(0, SPE) == approx(0.001)


def test_lrw_40_replays_last_phase():
    # Original epochs 120..159 all lie after the 120 milestone.
    assert all(lr == approx(0.001) for lr in r("lrw-40").lr_schedule(SPE))


def test_lrw_80_replays_last_two_phases():
    res = r("lrw-80")
    s = res.lr_schedule(SPE)
    assert all(lr == approx(0.01) for lr in s[: 40 * SPE])
    assert all(lr == approx(0.001) for lr in s[40 * SPE :])
    assert res.lr_at(40 * SPE - 1, SPE) == approx(0.01) and res.lr_at(40 * SPE, SPE) == approx(0.001)


def test_lrw_longer_than_original_is_an_error():
    with pytest.raises(BenchError, match="lrw-200 rewinds 200 epochs but the original training has only 160"):
        r("lrw-200")
    assert r("lrw-160").lr_at(0, SPE) == 0.1  # the full original schedule is fine


def test_slr_80_warmup_then_compressed_steps():
    res = r("slr-80")
    warm = 8 * SPE  # 10% of 800 steps
    assert res.lr_at(0, SPE) == approx(0.001)
    # Cosine per iteration (paper, Sec. 2): halfway is the midpoint, a quarter is (1 - cos(pi/4)) / 2 of the way.
    assert res.lr_at(warm // 2, SPE) == approx((0.001 + 0.1) / 2)
    assert res.lr_at(warm // 4, SPE) == approx(0.001 + 0.099 * (1 - math.cos(math.pi / 4)) / 2)
    s = res.lr_schedule(SPE)
    assert all(a < b for a, b in zip(s[:warm], s[1:warm]))  # strictly increasing during warmup
    assert all(lr == approx(0.1) for lr in s[warm : 40 * SPE])
    assert all(lr == approx(0.01) for lr in s[40 * SPE : 60 * SPE])
    assert all(lr == approx(0.001) for lr in s[60 * SPE :])


def test_clr_shape():
    res = r("clr-80")
    total = res.total_steps(SPE)
    peak = int(0.1 * total) - 1  # torch's phase 1 ends at pct_start*T - 1
    assert res.lr_at(0, SPE) == approx(0.001)
    assert res.lr_at(peak, SPE) == approx(0.1)
    assert max(res.lr_schedule(SPE)) == approx(0.1)
    assert res.lr_at(total - 1, SPE) == approx(0.001)
    # the 1-cycle schedule (checked against torch's in tests/core/test_one_cycle.py) at the protocol's values
    assert res.lr_schedule(SPE) == [one_cycle_lr(s, total, res.lr_max, res.lr_min, res.warmup_fraction) for s in range(total)]


def test_scratch_e():
    res = r("scratch-e")
    assert res.epochs == 200 and res.reinitialize and res.flops_ratio is None
    s = res.lr_schedule(SPE)  # original milestones stretched to 200 epochs: 100, 150
    assert s[0] == 0.1 and s[100 * SPE - 1] == 0.1
    assert s[100 * SPE] == approx(0.01) and s[150 * SPE] == approx(0.001)


def test_scratch_b():
    res = r("scratch-b", flops_ratio=2.0)
    assert res.epochs == 320 and res.flops_ratio == 2.0 and res.reinitialize
    assert res.lr_at(160 * SPE - 1, SPE) == 0.1 and res.lr_at(160 * SPE, SPE) == approx(0.01)
    assert res.lr_at(240 * SPE, SPE) == approx(0.001)
    assert r("scratch-b", flops_ratio=1.5).epochs == 240


def test_the_original_schedule_is_the_dense_training_s_scaled_and_stretched_on_request():
    """The schedule of a pruner's own training (SFP's soft pruning)."""
    full = P.original_schedule(CIFAR, name="sfp-soft")
    assert full.epochs == 160 and not full.reinitialize
    assert full.lr_schedule(SPE) == [CIFAR.step_lr(s // SPE) for s in range(160 * SPE)]
    tenth = P.original_schedule(CIFAR, name="sfp-soft", lr_scale=0.1)
    assert tenth.lr_schedule(SPE) == pytest.approx([lr / 10 for lr in full.lr_schedule(SPE)], rel=1e-12)
    short = P.original_schedule(CIFAR, name="sfp-soft", epochs=40)  # milestones at the same fractions: 20, 30
    s = short.lr_schedule(SPE)
    assert len(s) == 40 * SPE and s[20 * SPE - 1] == 0.1 and s[20 * SPE] == approx(0.01) and s[30 * SPE] == approx(0.001)
    with pytest.raises(BenchError, match="positive LR scale"):
        P.original_schedule(CIFAR, name="x", lr_scale=0)


def test_scratch_b_needs_flops_ratio():
    with pytest.raises(BenchError, match="--flops-ratio"):
        r("scratch-b")
    with pytest.raises(BenchError, match=">= 1"):
        r("scratch-b", flops_ratio=0.5)
    with pytest.raises(BenchError, match="finite"):
        r("scratch-b", flops_ratio=math.inf)


def test_flops_ratio_only_recorded_for_scratch_b():
    # Otherwise passing it would change the run hash of protocols it does not affect.
    assert r("clr-80", flops_ratio=2.0) == r("clr-80")


def test_lr_at_range_checks():
    res = r("ft-40")
    with pytest.raises(ValueError):
        res.lr_at(400, SPE)
    with pytest.raises(ValueError):
        res.lr_at(-1, SPE)
    with pytest.raises(ValueError):
        res.lr_at(0, 0)


# ------------------------------------------------------------------------------ synthesized


def test_synthesized_clr_33():
    proto = load_protocol("clr-33")
    assert (proto.schedule, proto.epochs, proto.version, proto.warmup_fraction) == ("clr", 33, 1, 0.1)
    res = resolve(proto, CIFAR)
    assert res.epochs == 33 and res.total_steps(SPE) == 330
    assert load_protocol("ft-7").warmup_fraction == 0.0 and load_protocol("slr-12").warmup_fraction == 0.1


def test_synthesized_zero_epochs_is_an_error():
    with pytest.raises(BenchError, match="epochs must be between 1 and"):
        load_protocol("ft-0")


@pytest.mark.parametrize("name,suggestion", [("clr80", "clr-80"), ("scratch-x", "scratch-"), ("ftt-40", "ft-40")])
def test_unknown_name_did_you_mean(name, suggestion):
    with pytest.raises(BenchError, match="did you mean") as exc:
        load_protocol(name)
    assert suggestion in str(exc.value) and "\n" not in str(exc.value)


# ------------------------------------------------------------------------------- bad files

GOOD = """name = "x-1"
version = 1
schedule = "clr"
epochs = 10
warmup_fraction = 0.1
reinitialize = false
description = "A test protocol."
"""


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_file_by_path(tmp_path):
    proto = load_protocol(write(tmp_path, GOOD))
    assert proto == Protocol(name="x-1", version=1, schedule="clr", description="A test protocol.",
                             epochs=10, warmup_fraction=0.1)
    assert load_protocol(str(write(tmp_path, GOOD))) == proto


@pytest.mark.parametrize(
    "text,field",
    [
        (GOOD + "learning_rate = 0.2\n", "learning_rate"),  # unknown key
        (GOOD.replace("warmup_fraction", "warmup"), "warmup"),
        (GOOD.replace("epochs = 10", "epochs = -5"), "epochs"),
        (GOOD.replace("epochs = 10", "epochs = 0"), "epochs"),
        (GOOD.replace("epochs = 10", 'epochs = "ten"'), "epochs"),
        (GOOD.replace("epochs = 10", "epochs = 10.0"), "epochs"),
        (GOOD.replace("epochs = 10", "epochs = true"), "epochs"),
        (GOOD.replace("epochs = 10\n", ""), "epochs"),
        (GOOD.replace("version = 1", "version = 0"), "version"),
        (GOOD.replace("version = 1", 'version = "1"'), "version"),
        (GOOD.replace("warmup_fraction = 0.1", "warmup_fraction = 1.0"), "warmup_fraction"),
        (GOOD.replace("warmup_fraction = 0.1", "warmup_fraction = -0.1"), "warmup_fraction"),
        (GOOD.replace("warmup_fraction = 0.1", "warmup_fraction = nan"), "warmup_fraction"),
        (GOOD.replace('schedule = "clr"', 'schedule = "ft"'), "warmup_fraction"),  # ft never warms up
        (GOOD.replace('schedule = "clr"', 'schedule = "cosine"'), "schedule"),
        (GOOD.replace("reinitialize = false", 'reinitialize = "no"'), "reinitialize"),
        (GOOD.replace('description = "A test protocol."', 'description = ""'), "description"),
        (GOOD.replace('name = "x-1"', 'name = "Bad Name"'), "name"),
        (GOOD + 'budget = "flops"\n', "budget"),
    ],
)
def test_bad_file_names_file_and_field(tmp_path, text, field):
    path = write(tmp_path, text)
    with pytest.raises(BenchError) as exc:
        load_protocol(path)
    msg = str(exc.value)
    assert str(path) in msg and repr(field) in msg and "\n" not in msg


SCRATCH = """name = "s"
version = 1
schedule = "scratch"
budget = "epochs"
extra_epochs = 40
warmup_fraction = 0.0
reinitialize = true
description = "scratch"
"""


@pytest.mark.parametrize(
    "text,field",
    [
        (SCRATCH + "epochs = 10\n", "epochs"),
        (SCRATCH.replace('budget = "epochs"', 'budget = "time"'), "budget"),
        (SCRATCH.replace('budget = "epochs"\n', ""), "budget"),
        (SCRATCH.replace("extra_epochs = 40\n", ""), "extra_epochs"),
        (SCRATCH.replace("extra_epochs = 40", "extra_epochs = -1"), "extra_epochs"),
        (SCRATCH.replace('budget = "epochs"', 'budget = "flops"'), "extra_epochs"),
        (SCRATCH.replace("reinitialize = true", "reinitialize = false"), "reinitialize"),
    ],
)
def test_bad_scratch_file(tmp_path, text, field):
    with pytest.raises(BenchError, match=repr(field)):
        load_protocol(write(tmp_path, text))


def test_malformed_toml(tmp_path):
    path = write(tmp_path, GOOD.replace("epochs = 10", "epochs == 10"))
    with pytest.raises(BenchError, match="invalid TOML") as exc:
        load_protocol(path)
    assert str(path) in str(exc.value) and "line 4" in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(BenchError, match="not found"):
        load_protocol(tmp_path / "nope.toml")


# ---------------------------------------------------------------------------------- plotting


def test_plot_writes_png(tmp_path):
    out = tmp_path / "sub" / "clr.png"
    assert plot_schedule(r("slr-80"), SPE, out) == out
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    assert [p.name for p in out.parent.iterdir()] == ["clr.png"]  # no temp file left behind


def test_plot_svg_and_bad_extension(tmp_path):
    plot_schedule(r("scratch-b", flops_ratio=2.0), 5, tmp_path / "s.svg")
    assert b"<svg" in (tmp_path / "s.svg").read_bytes()
    with pytest.raises(BenchError, match="extension"):
        plot_schedule(r("ft-40"), SPE, tmp_path / "s.jpg")


def test_unknown_field_suggests_close_field(tmp_path):
    with pytest.raises(BenchError, match="did you mean 'warmup_fraction'"):
        load_protocol(write(tmp_path, GOOD.replace("warmup_fraction", "warmup")))


# ----------------------------------------------------------------------- budgets on digits


@pytest.mark.parametrize(
    "name, epochs",
    [("ft-40", 8), ("lrw-40", 8), ("slr-40", 8), ("clr-40", 8), ("ft-80", 15), ("lrw-80", 15), ("clr-90", 17),
     ("clr-152", 29), ("scratch-e", 38), ("ft-1", 1)],
)
def test_digits_budgets_are_the_cifar_fractions_of_its_original_training(name, epochs):
    from bench.data.digits import DIGITS_RECIPE

    res = resolve(load_protocol(name), DIGITS_RECIPE)
    assert res.epochs == epochs and res.recipe_epochs == 30
    assert res.budget_epochs == (None if name.startswith("scratch") else int(name.split("-")[1]))
    assert r(name).epochs == (200 if name == "scratch-e" else int(name.split("-")[1]))  # CIFAR: as named


def test_every_schedule_runs_on_digits_and_keeps_its_cifar_shape():
    from bench.data.digits import DIGITS_RECIPE

    digits = lambda name: resolve(load_protocol(name), DIGITS_RECIPE)  # noqa: E731
    # LRW-40 replays the last quarter of the original training, which on both is all at the smallest LR.
    assert set(digits("lrw-40").lr_schedule(SPE)) == set(digits("ft-40").lr_schedule(SPE)) == {DIGITS_RECIPE.lr_min}
    # LRW-80 replays the last half: two LR phases, as on CIFAR.
    assert sorted(set(digits("lrw-80").lr_schedule(SPE))) == pytest.approx([0.001, 0.01])
    with pytest.raises(BenchError, match=r"rewinds 32 epochs \(170 of 160 budget epochs\)"):
        digits("lrw-170")


def test_a_schedule_that_is_another_has_its_training_identity_and_so_its_runs():
    """Retraining runs are keyed by what a protocol does, not its name: LRW-40 is FT-40 on digits (its
    last 8 epochs all run at the smallest LR), so an lrw-40 evaluation reuses ft-40's runs."""
    from bench.data.digits import DIGITS_RECIPE

    ft, lrw, clr = (P.resolve(P.load_protocol(n), DIGITS_RECIPE) for n in ("ft-40", "lrw-40", "clr-40"))
    assert P.training_identity(ft, 21) == P.training_identity(lrw, 21) != P.training_identity(clr, 21)
    assert P.training_identity(ft, 21) != P.training_identity(ft, 20)  # other steps, other LRs
    assert ft.to_dict() != lrw.to_dict()  # the records still say which protocol was asked for


# ------------------------------------------------------------------- schedules that are another


def test_same_schedule_in_the_protocol_layer():
    recipe = DIGITS_RECIPE
    spe = math.ceil(1293 / recipe.batch_size)
    ft, lrw, clr = (resolve(name, recipe) for name in ("ft-40", "lrw-40", "clr-40"))
    assert same_schedule(lrw, ft, spe) and same_schedule(ft, lrw, spe)
    assert not same_schedule(clr, ft, spe) and not same_schedule(resolve("lrw-80", recipe), resolve("ft-80", recipe), spe)
    assert not same_schedule(ResolvedProtocol(**{**ft.__dict__, "batch_size": 128}), lrw, spe)
    assert ResolvedProtocol.from_dict({**lrw.to_dict(), "iterations": 2}) == lrw  # a record's protocol, back


# ----------------------------------------------------------------------------------- fuzzing

VALID_PROTOCOL = 'name = "clr-40"\nversion = 1\nschedule = "clr"\nepochs = 40\nwarmup_fraction = 0.1\ndescription = "x"\n'
toml_values = st.one_of(
    st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(lambda f: repr(f).replace("inf", "inf")),
    st.text(max_size=20).map(json.dumps), st.sampled_from(["true", "false", "[]", "{}", "[1, 2]", '"clr"', '"scratch"', "nan"]),
)
keys = st.sampled_from(["name", "version", "schedule", "epochs", "warmup_fraction", "description", "budget", "extra_epochs", "reinitialize", "bogus"])


@fuzzing.FUZZ
@given(st.one_of(st.text(max_size=200), st.lists(st.tuples(keys, toml_values), max_size=8).map(
    lambda pairs: VALID_PROTOCOL + "".join(f"{k} = {v}\n" for k, v in pairs)), st.lists(st.tuples(keys, toml_values), max_size=8).map(
    lambda pairs: "".join(f"{k} = {v}\n" for k, v in pairs))))
def fuzz_protocol(text):
    fuzzing.count("protocol_toml")
    try:
        proto = parse_protocol(text, source="fuzz.toml")
    except BenchError:
        return
    # What parsed is what the file says, and a protocol the rules allow.
    stated = tomllib.loads(text)
    assert {k: getattr(proto, k) for k in stated} == stated
    assert P._NAME_RE.match(proto.name) and proto.version >= 1 and proto.description.strip()
    assert proto.schedule in P.SCHEDULES and 0.0 <= proto.warmup_fraction < 1.0
    assert proto.warmup_fraction == 0.0 or proto.schedule in ("slr", "clr")
    if proto.schedule == "scratch":
        assert proto.epochs is None and proto.reinitialize and proto.budget in P.SCRATCH_BUDGETS
        assert (proto.extra_epochs is not None and proto.extra_epochs >= 0) == (proto.budget == "epochs")
    else:
        assert proto.epochs >= 1 and proto.budget is None and proto.extra_epochs is None
    try:
        res = resolve(proto, CIFAR, flops_ratio=2.0)
    except BenchError:
        return
    assert 1 <= res.epochs <= P.MAX_EPOCHS and CIFAR.lr_min * (1 - 1e-9) <= res.lr_at(0, SPE) <= CIFAR.lr_max * (1 + 1e-9)


def test_malformed_protocol_files_never_crash():
    fuzzing.run("protocol_toml", fuzz_protocol)


def test_schedules_are_streamed_and_hash_as_their_lists_did():
    """The LR of every step is produced one at a time: a run key hashes the stream to what the whole
    list hashed to (every cached run keeps its key), and a schedule too long to hold is never held."""
    from bench.core.config import config_hash
    from bench.core.protocols import training_identity

    for name in ("ft-40", "lrw-40", "slr-80", "clr-90"):
        resolved = r(name)
        assert training_identity(resolved, SPE)["lr"] == config_hash(resolved.lr_schedule(SPE), 32)
    huge = resolve(load_protocol("clr-10000"), CIFAR)
    steps = huge.lr_steps(5_000_000)  # 8e10 steps: a list would need terabytes
    assert next(steps) == pytest.approx(CIFAR.lr_min) and next(steps) > CIFAR.lr_min
    with pytest.raises(BenchError, match="steps per epoch: at most"):
        huge.total_steps(10**8)
