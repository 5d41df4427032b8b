"""Batched augmentation of uint8 images (bench/data/augment.py): pad, crop and mirror as the reference does."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.data.augment import crop_flip, draw_params, pad_images


def test_crop_flip_matches_pad_crop_mirror_reference():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (20, 3, 8, 8), generator=g, dtype=torch.uint8)
    pad = 2
    offsets, flips = draw_params(20, pad, True, g)
    idx = torch.randperm(20, generator=g)[:12]
    out = crop_flip(pad_images(images, pad), idx, offsets[:12], flips[:12], (8, 8))
    padded = F.pad(images, (pad,) * 4)
    for k, i in enumerate(idx.tolist()):
        oy, ox = offsets[k].tolist()
        ref = padded[i, :, oy : oy + 8, ox : ox + 8]
        ref = ref.flip(-1) if flips[k] else ref
        assert torch.equal(out[k], ref)
    assert 0 < flips.sum() < 20
    assert not draw_params(100, pad, False, g)[1].any()
