"""Small datasets held entirely as uint8 tensors on the training device (digits, CIFAR).

Batches are sliced and augmented on that device, so there are no worker processes and no PIL, and
an epoch's order and augmentation come from one generator seeded by (seed, epoch): a resumed run
replays exactly the epoch it stopped in.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch import Tensor

from bench.core.dataset import NO_SHARD, Batch, DataBundle, DatasetSpec, Shard, check_batch_size
from bench.data.augment import Normalizer, crop_flip, draw_params, pad_images
from bench.data.base import CALIBRATION_STREAM, TRAIN_STREAM, calibration_indices, seeded_generator
from bench.errors import BenchError


class TensorDataBundle(DataBundle):
    def __init__(
        self,
        spec: DatasetSpec,
        splits: dict[str, tuple[Tensor, Tensor]],
        *,
        mean: Sequence[float],
        std: Sequence[float],
        pad: int,
        flip: bool,
        device: str | torch.device = "cpu",
    ):
        """`splits` maps "train"/"val"/"test" to (uint8 images (N, C, H, W), labels (N,))."""
        self.spec = spec
        self.device = torch.device(device)
        self.pad, self.flip = pad, flip
        self.normalize = Normalizer(mean, std, self.device)
        self._images: dict[str, Tensor] = {}
        self._labels: dict[str, Tensor] = {}
        for name, (images, labels) in splits.items():
            if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1:] != spec.input_shape:
                got = f"{images.dtype} {tuple(images.shape)}"
                raise ValueError(f"{spec.name} {name}: expected uint8 (N, *{spec.input_shape}), got {got}")
            if len(images) != len(labels):
                raise ValueError(f"{spec.name} {name}: {len(images)} images but {len(labels)} labels")
            self._images[name] = images.to(self.device)
            self._labels[name] = labels.to(self.device, torch.int64)
        if "train" not in self._images:
            raise ValueError(f"{spec.name}: no train split")
        # Train is padded once; the un-augmented view is its centre, so it is not stored twice.
        self._train_padded = pad_images(self._images["train"], pad)
        h, w = spec.input_size, spec.input_size
        self._images["train"] = self._train_padded[:, :, pad : pad + h, pad : pad + w]
        self.sizes = {name: len(labels) for name, labels in self._labels.items()}

    def train_batches(
        self, batch_size: int, *, seed: int, epoch: int, augment: bool = True, shard: Shard = NO_SHARD
    ) -> Iterator[Batch]:
        check_batch_size(batch_size)
        n = self.sizes["train"]
        g = seeded_generator(TRAIN_STREAM, seed, epoch)
        # Order first, then augmentation parameters: augment=False visits the same order.
        perm = torch.randperm(n, generator=g)
        offsets, flips = draw_params(n, self.pad, self.flip, g)
        if not augment:
            offsets.fill_(self.pad)
            flips.zero_()
        perm, offsets, flips = (t.to(self.device) for t in (perm, offsets, flips))
        return self._train_iter(batch_size, perm, offsets, flips, shard)

    def _train_iter(self, batch_size: int, perm: Tensor, offsets: Tensor, flips: Tensor, shard: Shard) -> Iterator[Batch]:
        size = (self.spec.input_size, self.spec.input_size)
        labels = self._labels["train"]
        rank, world = shard
        for start in range(0, len(perm), batch_size):
            part = slice(start + rank, start + batch_size, world)  # this rank's slice of the global batch
            idx = perm[part]
            images = crop_flip(self._train_padded, idx, offsets[part], flips[part], size)
            yield self.normalize(images), labels[idx]

    def eval_batches(self, split: str, batch_size: int, shard: Shard = NO_SHARD) -> Iterator[Batch]:
        self._check_split(split)
        check_batch_size(batch_size)
        rank, world = shard
        images, labels = self._images[split][rank::world], self._labels[split][rank::world]
        return (
            (self.normalize(images[s : s + batch_size]), labels[s : s + batch_size])
            for s in range(0, len(labels), batch_size)
        )

    def calibration_batches(self, n_batches: int, batch_size: int, *, seed: int) -> list[Batch]:
        check_batch_size(batch_size)
        if n_batches < 0:
            raise BenchError(f"number of calibration batches must be >= 0, got {n_batches}")
        g = seeded_generator(CALIBRATION_STREAM, seed)
        idx = calibration_indices(self.sizes["train"], n_batches * batch_size, g).to(self.device)
        images, labels = self._images["train"], self._labels["train"]
        return [(self.normalize(images[i]), labels[i]) for i in idx.split(batch_size)] if n_batches else []

    def example_inputs(self, batch_size: int = 1) -> Tensor:
        """Real validation images (cycled if the split is smaller than `batch_size`)."""
        check_batch_size(batch_size)
        split = "val" if self.sizes.get("val") else "train"
        images = self._images[split]
        idx = torch.arange(batch_size, device=self.device) % len(images)
        return self.normalize(images[idx])
