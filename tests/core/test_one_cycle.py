"""The 1-cycle learning-rate schedule of the CLR protocols (bench/core/one_cycle.py): torch's OneCycleLR in
closed form, step for step, including the warm-up of a single step that torch divides by zero on."""

from __future__ import annotations

import pytest

from bench.core.one_cycle import one_cycle_lr

LR_MAX, LR_MIN, WARMUP = 0.1, 0.001, 0.1  # the CLR protocols' on CIFAR


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-15)


def _torch_one_cycle(lr_max: float, lr_min: float, total: int, pct: float) -> list[float]:
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr_max)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr_max, total_steps=total, pct_start=pct, anneal_strategy="cos",
        cycle_momentum=False, div_factor=lr_max / lr_min, final_div_factor=1.0, three_phase=False,
    )
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("epochs,spe", [(40, 10), (80, 10), (33, 7), (3, 391), (5, 1), (90, 3)])
def test_matches_torch_one_cycle(epochs, spe):
    total = epochs * spe
    ours = [one_cycle_lr(step, total, LR_MAX, LR_MIN, WARMUP) for step in range(total)]
    theirs = _torch_one_cycle(LR_MAX, LR_MIN, total, WARMUP)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), f"step {step}"


def test_one_cycle_degenerate_warmup_of_one_step():
    # pct_start*T == 1 makes torch divide by zero; ours starts at the peak and anneals.
    assert one_cycle_lr(0, 10, 0.1, 0.001, 0.1) == 0.1
    assert one_cycle_lr(9, 10, 0.1, 0.001, 0.1) == approx(0.001)


def test_warms_up_to_the_peak_then_anneals_to_the_floor():
    total = 1000
    lrs = [one_cycle_lr(step, total, LR_MAX, LR_MIN, WARMUP) for step in range(total)]
    peak = int(WARMUP * total) - 1  # torch's phase 1 ends at pct_start*T - 1
    assert lrs[0] == approx(LR_MIN) and lrs[peak] == approx(LR_MAX) and lrs[-1] == approx(LR_MIN)
    assert all(a < b for a, b in zip(lrs[: peak], lrs[1 : peak + 1]))  # rising
    assert all(a > b for a, b in zip(lrs[peak:-1], lrs[peak + 1 :]))  # then falling
    assert max(lrs) == approx(LR_MAX) and min(lrs) == approx(LR_MIN)
    # each step's LR needs no earlier step: the same value asked for out of order
    assert one_cycle_lr(777, total, LR_MAX, LR_MIN, WARMUP) == lrs[777]
