"""`cifar10` / `cifar100` from torchvision's on-disk python format, read by a restricted unpickler.

Why not torchvision.datasets.CIFAR10 for reading: it verifies md5 sums of the files, which real
downloads pass but the tiny fixtures of our tests cannot, and it uses plain `pickle.load`, which
would let a tampered file run arbitrary code. torchvision is used only to *download* (download=True).
"""

from __future__ import annotations

import codecs
import functools
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.core.config import Recipe
from bench.core.dataset import DatasetSpec
from bench.data.base import DATASETS, VAL_FRACTION, stratified_split
from bench.data.tensor_bundle import TensorDataBundle
from bench.errors import BenchError

CIFAR_RECIPE = Recipe(
    epochs=160, lr=0.1, milestones=(0.5, 0.75), gamma=0.1, batch_size=64, momentum=0.9, nesterov=True, weight_decay=1e-4
)
CIFAR_PAD = 4
CIFAR_SIZE = 32


@dataclass(frozen=True)
class CifarFormat:
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    torchvision_class: str


CIFAR10_FORMAT = CifarFormat(
    title="CIFAR-10",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_files=("test_batch",),
    label_key="labels",
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    torchvision_class="CIFAR10",
)
CIFAR100_FORMAT = CifarFormat(
    title="CIFAR-100",
    folder="cifar-100-python",
    train_files=("train",),
    test_files=("test",),
    label_key="fine_labels",
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
    torchvision_class="CIFAR100",
)

# The only globals a CIFAR batch file needs: numpy's array/scalar rebuilders (under their numpy 1
# and numpy 2 module names) and `_codecs.encode`, which python 3 uses for bytes in protocol <= 2.
# Dicts, lists, str and int are pickle opcodes, not globals. Anything else (os.system, eval,
# subprocess...) is refused, so a malicious file cannot run code while being read.
_reconstruct = np.zeros(1).__reduce__()[0]
_scalar = np.float64(0).__reduce__()[0]
_frombuffer = np.zeros(1).__reduce_ex__(5)[0]
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _reconstruct for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "scalar"): _scalar for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): _frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def read_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as uint8 (N, 3, 32, 32) images and int64 labels; BenchError if it is not one."""
    try:
        with open(path, "rb") as f:
            # latin1: the real files are python 2 pickles whose array bytes were written as str.
            obj = ArrayUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise BenchError(f"CIFAR file missing: {path} (incomplete dataset folder; pass --download to refetch)") from None
    except Exception as e:  # any decoding failure means a corrupt or hostile file
        raise BenchError(f"corrupt CIFAR file {path}: {_one_line(e)}") from None
    data = obj.get("data") if isinstance(obj, dict) else None
    labels = obj.get(label_key) if isinstance(obj, dict) else None
    row = 3 * CIFAR_SIZE**2
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != row:
        raise BenchError(f"corrupt CIFAR file {path}: expected a dict with 'data' as a uint8 (N, 3072) array")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        y = None
    if y is None or y.shape != (len(data),) or (y.size and (y.min() < 0 or y.max() >= num_classes)):
        raise BenchError(f"corrupt CIFAR file {path}: expected {len(data)} {label_key!r} in 0..{num_classes - 1}")
    return data.reshape(-1, 3, CIFAR_SIZE, CIFAR_SIZE), y


def read_split(folder: Path, files: tuple[str, ...], label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [read_batch(folder / name, label_key, num_classes) for name in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _download(fmt: CifarFormat, root: Path) -> None:
    import torchvision.datasets

    try:
        # Fetches and extracts the whole archive (train and test), verifying its md5.
        getattr(torchvision.datasets, fmt.torchvision_class)(str(root), train=True, download=True)
    except Exception as e:  # network, disk or checksum failure: report it, no traceback
        raise BenchError(f"could not download {fmt.title} into {root}: {_one_line(e)}") from None


def _load(
    fmt: CifarFormat, spec: DatasetSpec, data_root: Path, *, download: bool, device: torch.device, split_seed: int
) -> TensorDataBundle:
    folder = data_root / fmt.folder
    if download:
        _download(fmt, data_root)
    if not folder.is_dir():
        raise BenchError(
            f"{fmt.title} not found: expected torchvision's format at {folder} "
            "(set --data-root or BENCH_DATA, or pass --download)"
        )
    train_x, train_y = read_split(folder, fmt.train_files, fmt.label_key, spec.num_classes)
    test_x, test_y = read_split(folder, fmt.test_files, fmt.label_key, spec.num_classes)
    keep, val = stratified_split(train_y, VAL_FRACTION, split_seed)

    def pair(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

    splits = {
        "train": pair(train_x[keep], train_y[keep]),
        "val": pair(train_x[val], train_y[val]),
        "test": pair(test_x, test_y),
    }
    return TensorDataBundle(spec, splits, mean=fmt.mean, std=fmt.std, pad=CIFAR_PAD, flip=True, device=device)


def _spec(name: str, fmt: CifarFormat, num_classes: int) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        num_classes=num_classes,
        in_channels=3,
        input_size=CIFAR_SIZE,
        recipe=CIFAR_RECIPE,
        description=f"{fmt.title}: 32x32 colour images, {num_classes} classes (torchvision's python format)",
        loader=functools.partial(_load, fmt),
    )


CIFAR10 = _spec("cifar10", CIFAR10_FORMAT, 10)
CIFAR100 = _spec("cifar100", CIFAR100_FORMAT, 100)
DATASETS.add(CIFAR10.name, CIFAR10)
DATASETS.add(CIFAR100.name, CIFAR100)
