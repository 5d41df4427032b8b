"""Looking at what a bundle returns: raw pixels back from normalized batches, batches joined, image multisets,
and the shift (and mirror) that produced an augmented image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.data import TensorDataBundle


def raw(bundle: TensorDataBundle, x: torch.Tensor) -> torch.Tensor:
    """Normalized floats back to the uint8 pixels they came from."""
    return bundle.normalize.invert(x)


def collect(batches) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*batches)
    return torch.cat(xs), torch.cat(ys)


def rows(images: torch.Tensor) -> list[bytes]:
    """Sorted per-image byte strings: compares image multisets regardless of order."""
    return sorted(bytes(img.contiguous().numpy().tobytes()) for img in images)


def match_shifts(orig: torch.Tensor, aug: torch.Tensor, pad: int, flip: bool) -> torch.Tensor:
    """(B, 3) of (dy, dx, flipped) for the first zero-padded shift within `pad` (and optional mirror)
    of each original that reproduces the augmented image; (-99, -99, -1) where none does."""
    b, _, h, w = orig.shape
    padded = F.pad(orig, (pad,) * 4)
    found = torch.full((b, 3), -99, dtype=torch.long)
    found[:, 2] = -1
    for mirrored in ([False, True] if flip else [False]):
        src = padded.flip(-1) if mirrored else padded
        for oy in range(2 * pad + 1):
            for ox in range(2 * pad + 1):
                hit = (src[:, :, oy : oy + h, ox : ox + w] == aug).flatten(1).all(1) & (found[:, 2] < 0)
                dx = (pad - ox) if mirrored else (ox - pad)
                found[hit] = torch.tensor([oy - pad, dx, int(mirrored)])
    return found
