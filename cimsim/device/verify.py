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

from typing import TYPE_CHECKING

import numpy as np

from ..config.arch import ArchSpec
from .conductance import ProgrammedArray

if TYPE_CHECKING:
    from .base import DeviceModel


def write_verify(cells: ProgrammedArray, mask: np.ndarray, arch: ArchSpec, rng: np.random.Generator) -> None:
    """The loop with the built-in RRAM device of `arch` (see verify_loop)."""
    from .nvm import RramDevice

    verify_loop(cells, mask, RramDevice(arch), rng)


def verify_loop(cells: ProgrammedArray, mask: np.ndarray, device: DeviceModel,
                rng: np.random.Generator) -> None:
    """Run the verify loop (in place) on the cells where `mask` is true (shape of the cells),
    with the device's reads and correction pulses and the arch's tolerance and iterations.

    The cells have already had their one-shot pulse (program()); pulses and reads are added
    to the per-cell counters."""
    wv = device.spec.write_verify
    idx = np.flatnonzero(mask)
    g = cells.g.reshape(-1)
    target = cells.levels.reshape(-1).astype(np.float32)
    movable = cells.stuck.reshape(-1) == 0
    pulses = cells.pulses_per_cell.reshape(-1)
    reads = cells.reads_per_cell.reshape(-1)
    tol = wv.tolerance * device.levels
    clip = device.spec.clip_to_range
    for _ in range(wv.max_iterations):
        if idx.size == 0:
            break
        r = device.read(g[idx], rng)
        reads[idx] += 1
        off = np.abs(r - target[idx]) > tol
        idx, r = idx[off], r[off]
        if idx.size == 0:
            break
        pulses[idx] += 1
        step = device.correction_pulse(target[idx] - r, rng)
        g[idx] += np.where(movable[idx], step, np.float32(0.0))
        if clip:
            g[idx] = np.clip(g[idx], 0.0, float(device.levels))
