"""Datasets: scikit-learn's bundled handwritten digits (real data, fully offline), the
user's own arrays (.npz), MNIST-format IDX sets (Fashion-MNIST and kin, nn/idx.py), or
seeded synthetic inputs for cost-only studies."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config.workload import SYNTHETIC_MAX_VALUES, DatasetSpec
from ..errors import ConfigError
from . import idx
from .files import read_npz

SEED_STREAM_SYNTHETIC = 17


@dataclass(frozen=True)
class Dataset:
    """Inputs (N, H, W, C) or (N, F) float32, labels int64 in 0..classes-1."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    known_nonneg: bool | None = None     # set where the inputs are views that were never drawn

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return (self.x_test, self.y_test) if name == "test" else (self.x_train, self.y_train)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One input's shape: (H, W, C) or (F,)."""
        return tuple(self.x_train.shape[1:])

    @property
    def nonneg(self) -> bool:
        """No input is negative (a crossbar then needs one pass per input vector)."""
        if self.known_nonneg is not None:
            return self.known_nonneg
        return bool(self.x_train.min(initial=0.0) >= 0 and self.x_test.min(initial=0.0) >= 0)


def resize_bilinear(x: np.ndarray, size: int) -> np.ndarray:
    """(N, h, w) -> (N, size, size), bilinear with half-pixel centres (align_corners=False)."""
    n, h, w = x.shape

    def axis(src: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(size) + 0.5) * src / size - 0.5, 0, src - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, src - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    r0, r1, fr = axis(h)
    c0, c1, fc = axis(w)
    rows = x[:, r0] * (1 - fr)[None, :, None] + x[:, r1] * fr[None, :, None]
    return rows[:, :, c0] * (1 - fc) + rows[:, :, c1] * fc


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test.extend(idx[: int(round(len(idx) * test_fraction))])
    test_idx = np.sort(np.array(test))
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    return train_idx, test_idx


def load_dataset(spec: DatasetSpec, seed: int, base: str | Path = ".",
                 input_shape: tuple[int, ...] = (), shapes_only: bool = False,
                 file: str = "workload") -> Dataset:
    """The workload's data. `base`: the workload file's folder (relative npz paths and IDX
    folders); `input_shape` (H, W, C) or (F,): model.input_shape, the synthetic data's shape
    when dataset.shape is empty; `shapes_only`: synthetic inputs are zero views, never drawn;
    `file`: the workload file, for located errors."""
    if spec.name == "synthetic":
        return synthetic(spec, seed, input_shape, shapes_only)
    if spec.name == "npz":
        return load_npz(spec, base)
    if spec.name in ("fashion_mnist", "idx"):
        return load_idx_dataset(spec, seed, Path(base), file)
    return load_digits_dataset(spec, seed)


def load_idx_dataset(spec: DatasetSpec, seed: int, base: Path, file: str) -> Dataset:
    """An MNIST-format set (nn/idx.py): images scaled to [0, 1] as (N, H, W, 1), seeded
    stratified subsets of `train_samples` / `test_samples` (0: the whole split)."""
    files = idx.find_files(spec.name, spec.dir, base, file)
    out = []
    for split, n, key in (("train", spec.train_samples, "train_samples"),
                          ("test", spec.test_samples, "test_samples")):
        x, y = idx.load_split(files, split, file)
        if n > len(y):
            raise ConfigError(file, f"dataset.{key}", f"at most the {split} split's {len(y):,} images", n)
        keep = idx.stratified_subset(y, n, seed + (split == "test")) if n else np.arange(len(y))
        out += [x[keep].astype(np.float32)[..., None] / np.float32(255.0), y[keep]]
    classes = int(max(out[1].max(), out[3].max())) + 1
    if classes < 2:
        raise ConfigError(file, "dataset.dir", "labels of at least two classes", classes)
    return Dataset(out[0], out[1], out[2], out[3], classes)


def synthetic(spec: DatasetSpec, seed: int, input_shape: tuple[int, ...] = (),
              shapes_only: bool = False) -> Dataset:
    """Uniform [0, 1) inputs and uniform labels from the workload seed: for cost-only runs,
    where only shapes matter (and for smoke tests of a functional run). `shapes_only`: the
    inputs are read-only zero views of the same shape (no memory; their values, uniform in
    [0, 1), are known to be >= 0), the labels drawn as always."""
    if spec.shape:
        c = spec.shape
        input_shape = (c[1], c[2], c[0]) if len(c) == 3 else (c[0],)
    values = math.prod(input_shape) * (spec.train_samples + spec.test_samples)
    if values > SYNTHETIC_MAX_VALUES:
        raise ConfigError("workload", "model.input_shape", f"at most {SYNTHETIC_MAX_VALUES:,} synthetic "
                          "input values in all (shape x (train_samples + test_samples))", f"{values:,}")
    rng = np.random.default_rng([seed, SEED_STREAM_SYNTHETIC])
    n_tr, n_te = spec.train_samples, spec.test_samples
    if shapes_only:
        x_tr = np.broadcast_to(np.float32(0), (n_tr, *input_shape))
        x_te = np.broadcast_to(np.float32(0), (n_te, *input_shape))
        y = rng.integers(0, spec.classes, n_tr + n_te).astype(np.int64)
        return Dataset(x_tr, y[:n_tr], x_te, y[n_tr:], spec.classes, known_nonneg=True)
    x = rng.random((n_tr + n_te, *input_shape), dtype=np.float32)
    y = rng.integers(0, spec.classes, n_tr + n_te).astype(np.int64)
    return Dataset(x[:n_tr], y[:n_tr], x[n_tr:], y[n_tr:], spec.classes)


ARRAYS = ("x_train", "y_train", "x_test", "y_test")
MAX_CLASSES = 100_000            # as dataset.classes of synthetic data


def _channels_last(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (N, H, W, C) -> NHWC: the axis of 1, 3 or 4 entries next to the batch is
    channels unless the last axis is (then the data is NHWC already); (N, H, W) gains C = 1."""
    if x.ndim == 3:
        return x[..., None]
    if x.ndim == 4 and x.shape[1] in (1, 3, 4) and x.shape[3] not in (1, 3, 4):
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x


def load_npz(spec: DatasetSpec, base: str | Path = ".") -> Dataset:
    """Arrays x_train, y_train, x_test, y_test from a .npz file: images NCHW or NHWC (or
    (N, H, W) grey, or flat (N, F)), uint8 (scaled to [0, 1]) or float; integer labels."""
    path = Path(spec.path)
    if not path.is_absolute():
        path = Path(base) / path
    file = str(path)
    arrays = read_npz(path, file, "dataset.path", spec.path, ARRAYS)
    xs = {}
    for k in ("x_train", "x_test"):
        x = arrays[k]
        if x.dtype.kind not in "uif" or x.ndim not in (2, 3, 4) or 0 in x.shape:
            raise ConfigError(file, k, "a non-empty real-valued array (N, F), (N, H, W), NCHW or NHWC",
                              f"{x.dtype} array of shape {x.shape}")
        xf = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        if not np.all(np.isfinite(xf)):
            raise ConfigError(file, k, "finite values", "NaN or inf")
        xs[k] = _channels_last(xf)
    if xs["x_train"].shape[1:] != xs["x_test"].shape[1:]:
        raise ConfigError(file, "x_test", f"inputs shaped as x_train's {arrays['x_train'].shape[1:]}",
                          arrays["x_test"].shape[1:])
    ys = {}
    for k, xk in (("y_train", "x_train"), ("y_test", "x_test")):
        y = arrays[k]
        if y.ndim != 1 or len(y) != len(arrays[xk]):
            raise ConfigError(file, k, f"one label per input of {xk} (shape ({len(arrays[xk])},))", y.shape)
        if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(np.isfinite(y))
                                             and np.all(y == np.round(y))):
            raise ConfigError(file, k, "integer class labels", str(y.dtype))
        lo, hi = (y.min().item(), y.max().item()) if y.size else (0, 0)   # Python numbers: no casts
        if lo < 0:
            raise ConfigError(file, k, "labels >= 0", int(lo))
        if hi >= MAX_CLASSES:                     # checked before the cast (uint64 2^64-1 would wrap)
            raise ConfigError(file, k, f"class indices below {MAX_CLASSES:,}", int(hi))
        ys[k] = y.astype(np.int64)
    classes = int(max(ys["y_train"].max(), ys["y_test"].max())) + 1
    if classes < 2:
        raise ConfigError(file, "y_train", "labels of at least two classes", classes)
    return Dataset(xs["x_train"], ys["y_train"], xs["x_test"], ys["y_test"], classes)


def load_digits_dataset(spec: DatasetSpec, seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = d.images.astype(np.float32) / 16.0
    if spec.image_size != imgs.shape[1]:
        imgs = resize_bilinear(imgs, spec.image_size)
    x = imgs[..., None].astype(np.float32)
    y = d.target.astype(np.int64)
    tr, te = stratified_split(y, spec.test_fraction, seed)
    return Dataset(x[tr], y[tr], x[te], y[te], 10)
