"""Weights -> cell levels -> programmed conductances (variation, stuck-at faults).

Conductances are kept in level units: level l of a b-bit cell is
g = g_min + l * (g_max - g_min) / L with L = 2**b - 1, and the column periphery
removes the g_min offset (reference column / differential pair), so a cell
contributes l (plus its error) to the column sum. Programming variation is
additive Gaussian with std program_sigma * L on every cell that is pulsed (target
level > 0), drawn once when the chip is programmed and kept (it is static); by default it is not
clipped, following the device model of the TSB authors (Qin et al.); `device.clip_to_range`
clips it to [g_min, g_max] (a cell cannot be programmed past its rails). A cell whose target
is g_min is left in its reset state and gets no pulse, hence no programming error (the
absolute spread of the high-resistance state is ~1% of the range, below the read
noise). Stuck cells sit at level 0 (g_min) or L (g_max).

`device.program_error` selects the peers' conventions instead (docs/models.md): CrossSim's
(the same Gaussian on every cell, both devices of a pair, always clipped to the range: a cell
at g_min can only move up, which shrinks a weight by 0.40 sigma on average) and aihwkit's
(PCMLikeNoiseModel: a conductance-dependent std from its fitted polynomial, on every cell,
clamped at 0 uS). Under both, every cell is programmed, so every cell counts one pulse.
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


@dataclass
class ProgrammedArray:
    """The cells of one weight matrix as programmed on one chip."""

    levels: np.ndarray     # (polarities, S, K, N) target levels
    g: np.ndarray          # (polarities, S, K, N) float32 actual conductance, level units
    stuck: np.ndarray      # (polarities, S, K, N) int8: 0 healthy, -1 stuck at g_min, +1 at g_max
    pulses_per_cell: np.ndarray   # (polarities, S, K, N) uint16 programming pulses (incl. verify)
    reads_per_cell: np.ndarray    # (polarities, S, K, N) uint16 verify reads

    @property
    def pulses(self) -> int:
        return int(self.pulses_per_cell.sum(dtype=np.int64))

    @property
    def verify_reads(self) -> int:
        return int(self.reads_per_cell.sum(dtype=np.int64))

    def effective(self) -> np.ndarray:
        """(S, K, N) conductance the columns see: G+ - G- of a pair, or G of a single cell."""
        return self.g[0] - self.g[1] if self.g.shape[0] == 2 else self.g[0]


def row_chunk_max(per_cell: np.ndarray, parallel: int) -> np.ndarray:
    """Per driver operation, the largest of its cells' counts: a (polarities, S, K, N) per-cell
    array cut, matrix row by matrix row (K), into chunks of `parallel` cells (one write
    driver's row-parallel operation), flattened in row order."""
    rows = np.moveaxis(per_cell, 2, 0).reshape(per_cell.shape[2], -1)
    rows = np.pad(rows, ((0, 0), (0, (-rows.shape[1]) % parallel)))
    return rows.reshape(rows.shape[0], -1, parallel).max(2).ravel()


def row_chunks_hit(hit: np.ndarray, parallel: int) -> int:
    """How many of row_chunk_max's chunks hold a True cell of a (polarities, S, K, N) mask:
    the driver operations a sparse write takes (from the hits alone, no copy of the mask)."""
    _, S, K, N = hit.shape
    i = np.flatnonzero(hit)
    n = i % N
    k = (i // N) % K
    ps = i // (N * K)                            # p * S + s
    chunks = -(-hit.shape[0] * S * N // parallel)
    col = ps * N + n                             # the cell's place in its row, as row_chunk_max
    return int(np.unique(k * chunks + col // parallel).size)


AIHWKIT_PROG_COEFF_US = (0.26348, 1.9650, -1.1731)   # aihwkit PCMLikeNoiseModel.prog_coeff, uS
AIHWKIT_PROG_G_MAX_US = 25.0                         # the g_max its coefficients were fitted at


def aihwkit_program_sigma_us(g_target_us: np.ndarray, g_max_us: float) -> np.ndarray:
    """aihwkit's programming-noise std (uS) of cells at target conductance g_target_us: its
    polynomial in g/g_max, rescaled from the fit's 25 uS to g_max."""
    x = np.asarray(g_target_us, np.float64) / g_max_us
    c0, c1, c2 = AIHWKIT_PROG_COEFF_US
    return (c0 + c1 * x + c2 * x * x) * (g_max_us / AIHWKIT_PROG_G_MAX_US)


def program_error_variance(levels: np.ndarray, arch: ArchSpec) -> np.ndarray:
    """Per-cell variance (level units squared) of the one-shot programming error before any
    clipping, under the arch's convention."""
    dev = arch.device
    if dev.program_error == "aihwkit":
        return (aihwkit_program_sigma_us(dev.g_min_us + levels * dev.g_step_us, dev.g_max_us)
                / dev.g_step_us) ** 2
    var = (dev.program_sigma * dev.levels) ** 2
    if dev.program_error == "crosssim":
        return np.full(levels.shape, var)
    return np.where(levels > 0, var, 0.0)


def program(levels: np.ndarray, arch: ArchSpec, rng: np.random.Generator) -> ProgrammedArray:
    """One-shot programming (no verify): one pulse per cell whose target is above g_min
    (program_error cimsim), or per cell (the peers' conventions)."""
    dev = arch.device
    L = dev.levels
    g = levels.astype(np.float32)
    if dev.program_error != "cimsim":
        return _program_everywhere(levels, g, arch, rng)
    pulsed = levels > 0
    if dev.program_sigma > 0:
        err = rng.standard_normal(levels.shape).astype(np.float32) * np.float32(dev.program_sigma * L)
        g += np.where(pulsed, err, np.float32(0.0))
        if dev.clip_to_range:
            np.clip(g, 0.0, float(L), out=g)
    stuck = stuck_cells(g, arch, rng)
    return ProgrammedArray(levels, g, stuck, pulsed.astype(np.uint16), np.zeros(levels.shape, np.uint16))


def stuck_cells(g: np.ndarray, arch: ArchSpec, rng: np.random.Generator) -> np.ndarray:
    """Draw the stuck-at faults (int8: -1 at g_min, +1 at g_max, 0 healthy) and put the stuck
    cells of g (level units, in place) at their rail."""
    dev = arch.device
    stuck = np.zeros(g.shape, np.int8)
    if dev.stuck_at.low_rate > 0 or dev.stuck_at.high_rate > 0:
        u = rng.random(g.shape)
        stuck[u < dev.stuck_at.low_rate] = -1
        stuck[(u >= dev.stuck_at.low_rate) & (u < dev.stuck_at.low_rate + dev.stuck_at.high_rate)] = 1
        g[stuck == -1] = 0.0
        g[stuck == 1] = float(dev.levels)
    return stuck


def _program_everywhere(levels: np.ndarray, g: np.ndarray, arch: ArchSpec,
                        rng: np.random.Generator) -> ProgrammedArray:
    """The peers' conventions: every cell programmed with its error. CrossSim: N(0, sigma L),
    clipped to [0, L]; aihwkit: N(0, its polynomial std), clamped at 0 uS."""
    dev = arch.device
    L = dev.levels
    z = rng.standard_normal(levels.shape)
    if dev.program_error == "crosssim":
        g = np.clip(g + (z * (dev.program_sigma * L)).astype(np.float32), 0.0, float(L)).astype(np.float32)
    else:
        g_us = dev.g_min_us + levels * dev.g_step_us
        g_us = np.maximum(g_us + aihwkit_program_sigma_us(g_us, dev.g_max_us) * z, 0.0)
        g = ((g_us - dev.g_min_us) / dev.g_step_us).astype(np.float32)
    stuck = stuck_cells(g, arch, rng)
    every = np.ones(levels.shape, np.uint16)
    return ProgrammedArray(levels, g, stuck, every, np.zeros(levels.shape, np.uint16))
