"""The 1-cycle learning-rate schedule (Smith & Topin 2019) of the CLR protocols, in closed form per step.

Written by hand rather than stepping torch's `OneCycleLR`: a protocol's LR must be known for any
step without replaying the steps before it (resuming, plotting, hashing a schedule as a stream).
"""

from __future__ import annotations

import math


def one_cycle_lr(step: int, total: int, lr_max: float, lr_min: float, pct_start: float) -> float:
    """Closed form of torch's OneCycleLR (cos anneal, two phases, initial_lr = min_lr = lr_min).

    Mirrors its phase boundaries, including phase 1 ending at the float step `pct_start*total - 1`,
    so records made with either implementation agree step for step.
    """
    end1 = float(pct_start * total) - 1
    if step <= end1:  # phase 1: lr_min -> lr_max
        start, end, lr_from, lr_to = 0.0, end1, lr_min, lr_max
    else:  # phase 2 starts where torch's phase 1 ends, even when that is negative
        start, end, lr_from, lr_to = end1, float(total - 1), lr_max, lr_min
    if end == start:
        # torch divides by zero here (pct_start*total == 1): the warmup is a single step that
        # already sits at the peak.
        return lr_to
    pct = (step - start) / (end - start)
    return lr_to + (lr_from - lr_to) / 2.0 * (math.cos(math.pi * pct) + 1)
