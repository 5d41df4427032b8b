"""What every dataset shares (bench/data/base.py): the stratified val split and the seeded generators."""

from __future__ import annotations

import numpy as np
import torch

from bench.data import stratified_split
from bench.data.base import seeded_generator


def test_stratified_split_is_exact_disjoint_stratified_and_seeded():
    labels = np.repeat(np.arange(5), [100, 50, 30, 19, 1])
    keep, held = stratified_split(labels, 0.1, seed=3)
    assert len(held) == 20 and len(keep) == 180
    assert np.array_equal(np.sort(np.concatenate([keep, held])), np.arange(200))
    assert np.bincount(labels[held], minlength=5)[:3].tolist() == [10, 5, 3]
    again = stratified_split(labels, 0.1, seed=3)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(stratified_split(labels, 0.1, seed=4)[1], held)
    # Tiny inputs still leave both sides non-empty.
    keep, held = stratified_split(np.array([0, 1, 2]), 0.1, seed=0)
    assert len(held) == 1 and len(keep) == 2


def test_seeded_generator_mixes_its_parts():
    draw = lambda *p: torch.randint(0, 2**31, (4,), generator=seeded_generator(*p)).tolist()  # noqa: E731
    assert draw(0, 1, 2) == draw(0, 1, 2)
    assert draw(0, 1, 2) != draw(0, 2, 1)
    assert draw(0, -1) != draw(0, 1)
