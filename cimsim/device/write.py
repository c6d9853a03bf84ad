"""Writing cells after deployment: weight updates, wear-out, and drift of stored states.

Writes are incremental, as NVM updates are applied with SET/RESET pulses: a cell whose
target level changes by d levels moves its conductance by exactly d levels (one pulse
event, counted once per cell), so any drift a cell has accumulated persists. A cell whose
write count reaches the endurance budget wears out and stays stuck at its last
conductance (state 2); later writes to it are dropped but the controller's target moves on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conductance import ProgrammedArray

WORN = 2   # stuck code of a worn-out cell (stuck at its last conductance)


@dataclass
class WriteResult:
    cells_written: int
    cells_worn: int          # cells that wore out with this write
    row_ops: int = 0         # write-driver operations: row chunks of parallel_cells cells with a
                             # written cell (0: not counted by the tile; the timing packs the cells)
    written: np.ndarray | None = None   # the cells pulsed (bool, the cells' shape), for row_ops


def write_levels(cells: ProgrammedArray, writes: np.ndarray, new: np.ndarray,
                 endurance: float) -> WriteResult:
    """Move cells to target levels `new` (in place).

    writes: per-cell write counters (same shape as the cells), incremented in place.
    """
    delta = new.astype(np.int16) - cells.levels.astype(np.int16)
    hit = (delta != 0) & (cells.stuck == 0)
    cells.g[hit] += delta[hit].astype(np.float32)
    writes[hit] += 1
    worn = hit & (writes >= endurance)
    cells.stuck[worn] = WORN
    cells.levels[...] = new
    return WriteResult(int(hit.sum()), int(worn.sum()), written=hit)


def analog_drift(cells: ProgrammedArray, sigma_levels: float, levels: int, rng: np.random.Generator) -> None:
    """Gaussian random walk of every working cell's conductance, clipped to [g_min, g_max]."""
    ok = cells.stuck == 0
    step = rng.standard_normal(cells.g.shape).astype(np.float32) * sigma_levels
    cells.g[ok] = np.clip(cells.g[ok] + step[ok], 0.0, float(levels))


def digital_drift(cells: ProgrammedArray, rate: float, bits: int, rng: np.random.Generator) -> int:
    """Flip one random bit of the stored level of a `rate` share of working cells."""
    ok = cells.stuck == 0
    flip = (rng.random(cells.g.shape) < rate) & ok
    n = int(flip.sum())
    if n:
        lvl = np.clip(np.rint(cells.g[flip]), 0, 2 ** bits - 1).astype(np.int64)
        bit = rng.integers(0, bits, n)
        cells.g[flip] += ((lvl ^ (1 << bit)) - lvl).astype(np.float32)
    return n
