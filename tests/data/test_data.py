"""bench.data: splits, seeded batches, augmentation, and the on-disk readers (tiny fixtures, no network)."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.data import (
    DATASETS,
    DEFAULT_DATASET,
    DataBundle,
    FolderDataBundle,
    TensorDataBundle,
    default_data_root,
    load_dataset,
    stratified_split,
)
from bench.data.augment import crop_flip, draw_params, pad_images
from bench.data.base import seeded_generator
from bench.data.cifar import CIFAR100_FORMAT, read_batch
from bench.data.digits import DIGITS_PAD, DIGITS_RECIPE, DIGITS_SIZE, digits_arrays
from bench.errors import BenchError, UnknownNameError

from tests.helpers.fakedata import write_cifar


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def digits() -> TensorDataBundle:
    bundle = load_dataset("digits")
    assert isinstance(bundle, TensorDataBundle)
    return bundle


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


# ---------------------------------------------------------------- registry and API


def test_registry_lists_datasets_and_default():
    assert {"digits", "cifar10", "cifar100", "imagenet"} <= set(DATASETS)
    assert DEFAULT_DATASET == "digits"
    spec = DATASETS.get("digits")
    assert (spec.num_classes, spec.in_channels, spec.input_size) == (10, 1, DIGITS_SIZE)
    assert spec.recipe == DIGITS_RECIPE
    assert DATASETS.get("cifar10").recipe.epochs == 160
    assert DATASETS.get("imagenet").recipe.batch_size == 256


def test_unknown_dataset_name_suggests_close_match():
    with pytest.raises(UnknownNameError, match="did you mean 'cifar10'"):
        load_dataset("cifar-1O")


def test_default_data_root_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("BENCH_DATA")
    assert default_data_root() == Path.cwd() / "data"


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


# ---------------------------------------------------------------- digits


def test_digits_sizes_shapes_and_labels(digits):
    s = digits.sizes
    assert s["train"] + s["val"] + s["test"] == 1797
    assert s["test"] == 360  # 20%, stratified
    assert s["val"] == round(0.1 * (s["train"] + s["val"]))
    for split in ("val", "test"):
        x, y = collect(digits.eval_batches(split, 100))
        assert x.shape == (s[split], 1, DIGITS_SIZE, DIGITS_SIZE) and x.dtype == torch.float32
        assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    assert digits.example_inputs(3).shape == (3, 1, DIGITS_SIZE, DIGITS_SIZE)
    assert digits.steps_per_epoch(64) == -(-s["train"] // 64)


def test_digits_splits_partition_the_dataset_and_follow_split_seed(digits):
    images, _ = digits_arrays()
    parts = {split: raw(digits, collect(digits.eval_batches(split, 256))[0]) for split in ("train", "val", "test")}
    assert rows(torch.cat(list(parts.values()))) == rows(images)  # disjoint and complete
    same = load_dataset("digits", split_seed=0)
    other = load_dataset("digits", split_seed=1)
    val = lambda b: collect(b.eval_batches("val", 256))[0]  # noqa: E731
    assert torch.equal(val(same), val(digits))
    assert not torch.equal(val(other), val(digits))
    assert torch.equal(collect(other.eval_batches("test", 256))[0], collect(digits.eval_batches("test", 256))[0])


def test_train_batches_are_a_function_of_seed_and_epoch(digits):
    def epoch(seed, ep):
        return collect(digits.train_batches(64, seed=seed, epoch=ep))

    a, b = epoch(0, 0), epoch(0, 0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(epoch(0, 1)[1], a[1])
    assert not torch.equal(epoch(1, 0)[1], a[1])


def test_an_epoch_visits_every_training_sample_once(digits):
    batches = list(digits.train_batches(100, seed=5, epoch=2, augment=False))
    n = digits.sizes["train"]
    assert len(batches) == digits.steps_per_epoch(100)
    assert [len(y) for _, y in batches] == [100] * (n // 100) + [n % 100]
    x, y = collect(batches)
    train_x, train_y = collect(digits.eval_batches("train", 512))
    assert rows(raw(digits, x)) == rows(raw(digits, train_x))
    assert sorted(y.tolist()) == sorted(train_y.tolist())


def test_digits_augmentation_shifts_by_at_most_pad_and_never_flips(digits):
    aug, y_aug = collect(digits.train_batches(64, seed=1, epoch=0))
    orig, y = collect(digits.train_batches(64, seed=1, epoch=0, augment=False))
    assert torch.equal(y, y_aug)  # augmentation does not change the order
    shifts = match_shifts(raw(digits, orig), raw(digits, aug), DIGITS_PAD, flip=False)
    assert (shifts[:, 2] == 0).all(), "every sample is an unmirrored shift of at most DIGITS_PAD pixels"
    changed = (raw(digits, orig) != raw(digits, aug)).flatten(1).any(1).float().mean()
    assert changed > 0.5


def test_normalized_digits_are_roughly_standardized(digits):
    x, _ = collect(digits.train_batches(256, seed=0, epoch=0, augment=False))
    assert abs(x.mean().item()) < 0.05 and 0.9 < x.std().item() < 1.1
    x, _ = collect(digits.train_batches(256, seed=0, epoch=0))
    assert abs(x.mean().item()) < 0.15


def test_calibration_batches_are_seeded_unaugmented_training_samples(digits):
    a = digits.calibration_batches(3, 32, seed=7)
    b = digits.calibration_batches(3, 32, seed=7)
    c = digits.calibration_batches(3, 32, seed=8)
    assert len(a) == 3 and all(x.shape == (32, 1, DIGITS_SIZE, DIGITS_SIZE) for x, _ in a)
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, b))
    assert not torch.equal(a[0][0], c[0][0])
    train = set(rows(raw(digits, collect(digits.eval_batches("train", 512))[0])))
    assert set(rows(raw(digits, collect(a)[0]))) <= train
    assert digits.calibration_batches(0, 32, seed=0) == []


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


def test_batch_size_must_be_positive(digits):
    with pytest.raises(BenchError):
        digits.train_batches(0, seed=0, epoch=0)
    with pytest.raises(BenchError, match="unknown split"):
        digits.eval_batches("dev", 8)


# ---------------------------------------------------------------- CIFAR fixtures in the real format


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


# ---------------------------------------------------------------- ImageNet as a tiny ImageFolder


def write_image_folder(root: Path, per_class: dict[str, int]) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in per_class.items():
        for cls in ("n01440764", "n01443537"):
            folder = root / "imagenet" / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_imagenet_from_image_folder(tmp_path):
    write_image_folder(tmp_path, {"train": 5, "val": 2})
    bundle = load_dataset("imagenet", data_root=tmp_path)
    assert isinstance(bundle, FolderDataBundle) and isinstance(bundle, DataBundle)
    assert bundle.sizes == {"train": 9, "val": 1, "test": 4}
    batches = list(bundle.train_batches(4, seed=0, epoch=0))
    assert [x.shape for x, _ in batches] == [(4, 3, 224, 224)] * 2 + [(1, 3, 224, 224)]
    again = list(bundle.train_batches(4, seed=0, epoch=0))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(batches, again))
    other = collect(bundle.train_batches(4, seed=0, epoch=1))
    assert not torch.equal(other[0], collect(batches)[0])
    x, y = collect(bundle.eval_batches("test", 3))
    assert x.shape == (4, 3, 224, 224) and y.tolist() == [0, 0, 1, 1]
    calib = bundle.calibration_batches(2, 2, seed=0)
    assert len(calib) == 2 and calib[0][0].shape == (2, 3, 224, 224)
    assert bundle.example_inputs(2).shape == (2, 3, 224, 224)


def test_imagenet_worker_count_does_not_change_augmentation(tmp_path):
    write_image_folder(tmp_path, {"train": 4, "val": 1})
    bundle = load_dataset("imagenet", data_root=tmp_path)
    assert isinstance(bundle, FolderDataBundle)
    state = torch.get_rng_state()
    bundle.num_workers = 0
    a = collect(bundle.train_batches(3, seed=2, epoch=0))
    assert torch.equal(state, torch.get_rng_state()), "the caller's global RNG is left alone"
    bundle.num_workers = 2
    b = collect(bundle.train_batches(3, seed=2, epoch=0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_imagenet_missing_names_the_layout(tmp_path):
    with pytest.raises(BenchError, match="one folder per class") as err:
        load_dataset("imagenet", data_root=tmp_path)
    assert str(tmp_path / "imagenet" / "train") in str(err.value)
    write_image_folder(tmp_path, {"train": 2})
    with pytest.raises(BenchError, match=str(tmp_path / "imagenet" / "val")):
        load_dataset("imagenet", data_root=tmp_path)


def test_seeded_generator_mixes_its_parts():
    draw = lambda *p: torch.randint(0, 2**31, (4,), generator=seeded_generator(*p)).tolist()  # noqa: E731
    assert draw(0, 1, 2) == draw(0, 1, 2)
    assert draw(0, 1, 2) != draw(0, 2, 1)
    assert draw(0, -1) != draw(0, 1)
