"""Online data streams: samples with elastic distortions and scenario transforms.

Every sample is drawn (with replacement) from a split, elastically distorted (Simard et
al. 2003: a random displacement field smoothed by a Gaussian), and, in the distribution
shift scenario, transformed by the current segment's shift. Images are (H, W, C): one
field or transform per sample, applied to every channel. Flat inputs (F,) have no geometry:
they pass unchanged, except for the additive noise of the shift scenario. Deterministic by
seed.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

# segments of the distribution-shift scenario, cycled in this order (the LRT paper, Gural et al. 2020)
SHIFTS = ("none", "spatial", "background", "noise", "spatial+noise", "background+noise",
          "spatial+background")


def _remap(img: np.ndarray, coords: list[np.ndarray]) -> np.ndarray:
    """Bilinear resampling of every channel of an (H, W, C) image at the same coordinates."""
    return np.stack([map_coordinates(img[..., c], coords, order=1, mode="constant")
                     for c in range(img.shape[-1])], axis=-1).astype(np.float32)


def elastic(img: np.ndarray, alpha: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Displace pixels by a smooth random field (Gaussian-filtered, std alpha pixels)."""
    if alpha <= 0 or img.ndim != 3:
        return img
    h, w = img.shape[:2]
    dx, dy = (gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma) for _ in range(2))
    norm = alpha / max(float(np.sqrt((dx ** 2 + dy ** 2).mean() / 2)), 1e-9)   # std = alpha px
    dx, dy = dx * norm, dy * norm
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return _remap(img, [yy + dy, xx + dx])


def spatial(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotation ~10 deg, shift ~2 px (at 28 px; scaled to the image), scale 0.9-1.1."""
    if img.ndim != 3:
        return img
    h, w = img.shape[:2]
    ang = np.deg2rad(rng.normal(0, 10))
    scale = rng.uniform(0.9, 1.1)
    shift = rng.normal(0, 2 * h / 28, 2)
    c, s = np.cos(ang) / scale, np.sin(ang) / scale
    yy, xx = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    sy = c * yy - s * xx + (h - 1) / 2 - shift[0]
    sx = s * yy + c * xx + (w - 1) / 2 - shift[1]
    return _remap(img, [sy, sx])


def background(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A linear gradient background with random direction, contrast and offset."""
    if img.ndim != 3:
        return img
    h, w = img.shape[:2]
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    ang = rng.uniform(0, 2 * np.pi)
    grad = (np.cos(ang) * yy + np.sin(ang) * xx) * rng.uniform(0.1, 0.4) + rng.uniform(0.0, 0.3)
    contrast = rng.uniform(0.6, 1.0)
    return np.clip(img * contrast + grad[..., None], 0, None).astype(np.float32)


def noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img + rng.normal(0, rng.uniform(0.03, 0.3), img.shape), 0, None).astype(np.float32)


def apply_shift(img: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    for part in kind.split("+"):
        if part == "spatial":
            img = spatial(img, rng)
        elif part == "background":
            img = background(img, rng)
        elif part == "noise":
            img = noise(img, rng)
    return img


def make_stream(x: np.ndarray, y: np.ndarray, n: int, sc: Any, segment_of: Callable[[int], str],
                seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """n samples (n, H, W, C), labels, and each sample's segment name (segment_of(t), the
    scenario's: 'none' or transforms joined by '+'); `sc`: the scenario's params (its
    elastic_alpha_px, elastic_sigma_px)."""
    rng = np.random.default_rng([seed, 7])
    idx = rng.integers(0, len(x), n)
    out = np.empty((n,) + x.shape[1:], np.float32)
    segs = []
    for t in range(n):
        img = elastic(x[idx[t]], sc.elastic_alpha_px, sc.elastic_sigma_px, rng)
        seg = segment_of(t)
        out[t] = apply_shift(img, seg, rng)
        segs.append(seg)
    return out, y[idx], segs
