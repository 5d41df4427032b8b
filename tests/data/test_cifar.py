"""CIFAR-10/100 from torchvision's on-disk python format (bench/data/cifar.py), read by a restricted unpickler:
the real format as tiny fixtures, every broken or hostile file a one-line error, a download only when asked."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import load_dataset
from bench.data.cifar import CIFAR100_FORMAT, read_batch
from bench.errors import BenchError

from tests.data.batches import collect, match_shifts, raw
from tests.helpers.fakedata import write_cifar


def test_cifar10_loads_from_torchvision_format(tmp_path):
    written = write_cifar(tmp_path)
    bundle = load_dataset("cifar10", data_root=tmp_path)
    assert bundle.sizes == {"train": 54, "val": 6, "test": 12}
    x, y = collect(bundle.eval_batches("test", 5))
    assert x.shape == (12, 3, 32, 32)
    images, labels = written["test_batch"]
    assert torch.equal(raw(bundle, x), torch.from_numpy(images)) and y.tolist() == labels
    xb, yb = next(bundle.train_batches(16, seed=0, epoch=0))
    assert xb.shape == (16, 3, 32, 32) and xb.dtype == torch.float32 and yb.dtype == torch.int64


def test_cifar100_loads_fine_labels(tmp_path):
    written = write_cifar(tmp_path, CIFAR100_FORMAT, per_file=30, num_classes=100)
    bundle = load_dataset("cifar100", data_root=tmp_path)
    assert bundle.spec.num_classes == 100
    assert bundle.sizes == {"train": 27, "val": 3, "test": 30}
    _, y = collect(bundle.eval_batches("test", 64))
    assert y.tolist() == written["test"][1]


def test_cifar_augmentation_flips_about_half_and_shifts_at_most_4(tmp_path):
    write_cifar(tmp_path, per_file=20)
    bundle = load_dataset("cifar10", data_root=tmp_path)
    found = []
    for epoch in range(12):
        aug, _ = collect(bundle.train_batches(64, seed=0, epoch=epoch))
        orig, _ = collect(bundle.train_batches(64, seed=0, epoch=epoch, augment=False))
        found.append(match_shifts(raw(bundle, orig), raw(bundle, aug), 4, flip=True))
    found = torch.cat(found)
    assert (found[:, 2] >= 0).all(), "every sample is a (mirrored) shift of at most 4 pixels"
    assert 0.4 < found[:, 2].float().mean() < 0.6
    assert len(set(map(tuple, found[:, :2].tolist()))) > 40  # offsets spread over the 9x9 range


def test_cifar_missing_folder_names_the_expected_path(tmp_path):
    with pytest.raises(BenchError, match="CIFAR-10 not found") as err:
        load_dataset("cifar10", data_root=tmp_path)
    assert str(tmp_path / "cifar-10-batches-py") in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(BenchError, match="cifar-100-python"):
        load_dataset("cifar100", data_root=tmp_path)


def test_cifar_missing_batch_file_is_named(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(BenchError, match="data_batch_3"):
        load_dataset("cifar10", data_root=tmp_path)


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["reduce", "os.system"])
def test_pickle_that_imports_code_is_refused(tmp_path, how):
    write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    if how == "reduce":  # pickles as posix.system
        path.write_bytes(pickle.dumps({"data": _Evil(marker), "labels": []}, protocol=2))
    else:  # the classic hand-written payload importing os.system
        path.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(BenchError, match="refusing to load global .*system") as err:
        load_dataset("cifar10", data_root=tmp_path)
    assert "data_batch_1" in str(err.value)
    assert not marker.exists()


def test_garbage_and_wrong_shape_files_are_reported_as_corrupt(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(b"\x00not a pickle at all")
    with pytest.raises(BenchError, match="corrupt CIFAR file .*test_batch"):
        load_dataset("cifar10", data_root=tmp_path)
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}))
    with pytest.raises(BenchError, match="corrupt CIFAR file .*uint8 \\(N, 3072\\)"):
        load_dataset("cifar10", data_root=tmp_path)
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}))
    with pytest.raises(BenchError, match="0..9"):
        load_dataset("cifar10", data_root=tmp_path)


def _py2_str(data: bytes) -> bytes:
    return (b"U" + bytes([len(data)]) if len(data) < 256 else b"T" + struct.pack("<i", len(data))) + data


def _py2_int(v: int) -> bytes:
    return b"K" + bytes([v]) if 0 <= v < 256 else b"J" + struct.pack("<i", v)


def py2_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch file as python 2 + numpy 1 wrote it (the real CIFAR files): str opcodes, numpy.core names."""
    minus_one = b"J" + struct.pack("<i", -1)
    dtype = (
        b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R"  # dtype('u1', 0, 1)
        + b"(K\x03" + _py2_str(b"|") + b"NNN" + minus_one + minus_one + b"K\x00tb"  # its __setstate__
    )
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _py2_str(b"b") + b"\x87R"
        + b"(K\x01(" + b"".join(_py2_int(s) for s in data.shape) + b"t"  # (version, shape,
        + dtype + b"\x89" + _py2_str(data.tobytes()) + b"tb"  # dtype, fortran=False, raw bytes) -> BUILD
    )
    label_list = b"](" + b"".join(_py2_int(v) for v in labels) + b"e"
    return b"\x80\x02}(" + _py2_str(b"data") + array + _py2_str(b"labels") + label_list + b"u."


def test_reads_python2_era_pickles_like_the_real_files(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (3, 3072), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_pickle(data, [1, 2, 3]))
    images, labels = read_batch(path, "labels", 10)
    assert np.array_equal(images.reshape(3, -1), data) and labels.tolist() == [1, 2, 3]


def test_download_only_when_asked(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    class FakeCIFAR10:
        def __init__(self, root, train=True, download=False):
            calls.append((root, download))
            write_cifar(Path(root))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    with pytest.raises(BenchError, match="not found"):
        load_dataset("cifar10", data_root=tmp_path)
    assert calls == []
    bundle = load_dataset("cifar10", data_root=tmp_path, download=True)
    assert calls == [(str(tmp_path), True)] and bundle.sizes["test"] == 12

    class Offline:
        def __init__(self, *a, **k):
            raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    with pytest.raises(BenchError, match="could not download CIFAR-10 into .*name resolution"):
        load_dataset("cifar10", data_root=tmp_path / "elsewhere", download=True)
