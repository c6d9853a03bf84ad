"""Write-verify programming: read a cell, pulse it towards its target, repeat.

The loop (per cell, all cells of a matrix in parallel, vectorised):

    for it in 1..max_iterations:
        r = g + N(0, read_sigma L)                 # verify read (the array's read noise)
        if |r - target| <= tolerance L: done
        g += (target - r) + N(0, program_sigma |target - r|)   # correction pulse

A correction pulse asked to move a cell by d levels lands with relative precision
program_sigma (a full-range pulse, d = L, has the one-shot error program_sigma L), so
the error contracts by about program_sigma per iteration until the read noise and the
tolerance band set the floor. The residual error, the number of pulses and of reads
all follow from the loop. Stuck cells cannot move: they take every iteration. Cells
still outside tolerance after max_iterations keep their last conductance.
"""
from __future__ import annotations

import numpy as np

from ..config.arch import ArchSpec
from .conductance import ProgrammedArray


def write_verify(cells: ProgrammedArray, mask: np.ndarray, arch: ArchSpec, rng: np.random.Generator) -> None:
    """Run the verify loop (in place) on the cells where `mask` is true (shape of the cells).

    The cells have already had their one-shot pulse (program()); pulses and reads are added
    to the per-cell counters."""
    dev = arch.device
    wv = dev.write_verify
    L = float(dev.levels)
    idx = np.flatnonzero(mask)
    g = cells.g.reshape(-1)
    target = cells.levels.reshape(-1).astype(np.float32)
    movable = cells.stuck.reshape(-1) == 0
    pulses = cells.pulses_per_cell.reshape(-1)
    reads = cells.reads_per_cell.reshape(-1)
    tol = wv.tolerance * L
    for _ in range(wv.max_iterations):
        if idx.size == 0:
            break
        r = g[idx] + rng.standard_normal(idx.size).astype(np.float32) * np.float32(dev.read_sigma * L)
        reads[idx] += 1
        off = np.abs(r - target[idx]) > tol
        idx, r = idx[off], r[off]
        if idx.size == 0:
            break
        d = target[idx] - r
        pulses[idx] += 1
        err = rng.standard_normal(idx.size).astype(np.float32) * np.float32(dev.program_sigma)
        step = d + err * np.abs(d)
        g[idx] += np.where(movable[idx], step, np.float32(0.0))
