"""Multi-process data-parallel training under torchrun: the process group, and rank 0 deciding for all.

`torchrun --nproc-per-node N -m bench evaluate ...` starts N copies of one command. They run the same
code path in lockstep and train with DistributedDataParallel: every rank draws the same global batch
(same seed, order and augmentation as a single process), trains on its strided slice of it, and the
loss is scaled so that DDP's gradient average is exactly the global batch's mean-loss gradient.
BatchNorm statistics are per rank (rank 0's are kept), so results equal a single process's in
expectation, not bit for bit. Rank 0 alone reads caches and checkpoints (what it finds is broadcast)
and alone writes results, caches and checkpoints. In a single process every helper here is a no-op.
"""

from __future__ import annotations

import itertools
import os
from typing import Callable, TypeVar

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn

from bench.errors import BenchError

T = TypeVar("T")


def launched() -> bool:
    """Whether this process is one of several started by torchrun (which sets WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> torch.device:
    """Join torchrun's process group (once: gloo on CPU, NCCL on CUDA); returns this rank's device."""
    if not launched():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        try:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        except (RuntimeError, ValueError) as exc:
            raise BenchError(f"cannot join the torchrun process group: {str(exc).splitlines()[0]}") from None
    return device


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    """This process's rank; before `setup`, the one torchrun gave it."""
    return dist.get_rank() if dist.is_initialized() else int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def local_processes() -> int:
    """Processes sharing this machine (torchrun's LOCAL_WORLD_SIZE): they split its cores."""
    return max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1)


def shard() -> tuple[int, int]:
    """(rank, world size): this process's part of every batch is samples rank, rank + world, ..."""
    return rank(), world_size()


def from_main(fn: Callable[[], T]) -> T:
    """`fn()` run on rank 0 only, its result (or exception) broadcast to every rank."""
    if world_size() == 1:
        return fn()
    box: list = [None]
    if is_main():
        try:
            box = [(True, fn())]
        except Exception as exc:  # re-raised on every rank, so none waits forever
            box = [(False, exc)]
    dist.broadcast_object_list(box, src=0)
    ok, value = box[0]
    if not ok:
        raise value
    return value


def gather(value: T) -> list[T]:
    """Every rank's `value`, in rank order (on every rank)."""
    if world_size() == 1:
        return [value]
    out: list = [None] * world_size()
    dist.all_gather_object(out, value)
    return out


def broadcast_state(module: nn.Module, buffers_only: bool = False) -> None:
    """Rank 0's parameters and buffers (BatchNorm statistics) copied into every rank's `module`."""
    if world_size() == 1:
        return
    tensors = module.buffers() if buffers_only else itertools.chain(module.parameters(), module.buffers())
    with torch.no_grad():
        for tensor in tensors:
            dist.broadcast(tensor.data, src=0)


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` summed over ranks, in place."""
    if world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool, device: torch.device) -> bool:
    """Whether `flag` is set on any rank (a stop request must stop every rank at the same step)."""
    if world_size() == 1:
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def rank_seed(seed: int) -> int:
    """The seed of this rank's global RNG (dropout and other stochastic layers): `seed` on rank 0, as in
    a single process; an independent stream on the others, so shards do not share dropout masks."""
    if rank() == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank()]).generate_state(1, np.uint64)[0] % 2**63)


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` for the training forward: DistributedDataParallel when several ranks train."""
    if world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def check_divisible(n_train: int, batch_size: int) -> None:
    """Every rank needs samples in every batch: the batch, and the epoch's last partial one, must
    hold at least one sample per rank."""
    world = world_size()
    last = n_train % batch_size
    if world > 1 and (batch_size < world or 0 < last < world):
        small = batch_size if batch_size < world else last
        raise BenchError(f"a batch of {small} samples cannot be split over {world} processes (batch {batch_size}, {n_train} training samples)")
