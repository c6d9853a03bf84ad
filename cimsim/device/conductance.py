"""Weights -> cell levels -> programmed conductances (variation, stuck-at faults).

Conductances are kept in level units: level l of a b-bit cell is
g = g_min + l * (g_max - g_min) / L with L = 2**b - 1, and the column periphery
removes the g_min offset (reference column / differential pair), so a cell
contributes l (plus its error) to the column sum. Programming variation is
additive Gaussian with std program_sigma * L per cell, drawn once when the chip is
programmed and kept (it is static); it is not clipped, following the device model of
the TSB authors (PAPERS.md). Stuck cells sit at level 0 (g_min) or L (g_max).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config.arch import ArchSpec


def quantise_weights(w: np.ndarray, weight_bits: int) -> tuple[np.ndarray, float]:
    """Symmetric per-layer quantisation: integers in [-(2**(B-1)-1), 2**(B-1)-1] and the scale."""
    qmax = 2 ** (weight_bits - 1) - 1
    scale = float(np.abs(w).max()) / qmax if np.any(w) else 1.0
    return np.clip(np.rint(w / scale), -qmax, qmax).astype(np.int32), scale


def encode_levels(w_int: np.ndarray, arch: ArchSpec) -> np.ndarray:
    """Integer weights (K, N) -> cell levels (polarities, S, K, N), slice 0 least significant.

    Differential: polarity 0 holds |w| of positive weights, polarity 1 of negative ones.
    Offset: one polarity holding w + 2**(B-1) (the periphery subtracts the offset digitally).
    """
    b, s_count = arch.device.bits_per_cell, arch.slices
    mask = 2 ** b - 1
    if arch.crossbar.differential:
        mags = np.stack([np.where(w_int > 0, w_int, 0), np.where(w_int < 0, -w_int, 0)])
    else:
        mags = (w_int + 2 ** (arch.crossbar.weight_bits - 1))[None]
    return np.stack([(mags >> (s * b)) & mask for s in range(s_count)], axis=1).astype(np.uint8)


@dataclass
class ProgrammedArray:
    """The cells of one weight matrix as programmed on one chip."""

    levels: np.ndarray     # (polarities, S, K, N) target levels
    g: np.ndarray          # (polarities, S, K, N) float32 actual conductance, level units
    stuck: np.ndarray      # (polarities, S, K, N) int8: 0 healthy, -1 stuck at g_min, +1 at g_max
    pulses: int            # write pulses spent programming

    def effective(self) -> np.ndarray:
        """(S, K, N) conductance the columns see: G+ - G- (differential) or G (offset)."""
        return self.g[0] - self.g[1] if self.g.shape[0] == 2 else self.g[0]


def program(levels: np.ndarray, arch: ArchSpec, rng: np.random.Generator) -> ProgrammedArray:
    """One-shot programming (no verify): one pulse per cell whose target is above g_min."""
    dev = arch.device
    L = dev.levels
    g = levels.astype(np.float32)
    if dev.program_sigma > 0:
        g += (rng.standard_normal(levels.shape) * (dev.program_sigma * L)).astype(np.float32)
    stuck = np.zeros(levels.shape, np.int8)
    if dev.stuck_at.low_rate > 0 or dev.stuck_at.high_rate > 0:
        u = rng.random(levels.shape)
        stuck[u < dev.stuck_at.low_rate] = -1
        stuck[(u >= dev.stuck_at.low_rate) & (u < dev.stuck_at.low_rate + dev.stuck_at.high_rate)] = 1
        g[stuck == -1] = 0.0
        g[stuck == 1] = float(L)
    return ProgrammedArray(levels, g, stuck, int(np.count_nonzero(levels)))
