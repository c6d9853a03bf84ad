"""Datasets: scikit-learn's bundled handwritten digits (real data, fully offline)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config.workload import DatasetSpec


@dataclass(frozen=True)
class Dataset:
    """Images (N, H, W, 1) float32 in [0, 1], labels int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return (self.x_test, self.y_test) if name == "test" else (self.x_train, self.y_train)


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


def load_dataset(spec: DatasetSpec, seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = d.images.astype(np.float32) / 16.0
    if spec.image_size != imgs.shape[1]:
        imgs = resize_bilinear(imgs, spec.image_size)
    x = imgs[..., None].astype(np.float32)
    y = d.target.astype(np.int64)
    tr, te = stratified_split(y, spec.test_fraction, seed)
    return Dataset(x[tr], y[tr], x[te], y[te], 10)
