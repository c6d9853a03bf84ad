"""Weights to crossbars and tiles.

A weight matrix (K rows = k*k*Cin, N columns = Cout) is cut into row chunks of
`crossbar.rows` and column groups of as many output channels as fit a crossbar's
columns (each channel takes the tile model's `columns_per_weight()`: for the NVM
crossbar, `slices` columns, x2 for differential pairs). Each
layer gets whole tiles of its own (as ISAAC and NeuroSim place layers), so
layers never contend for a crossbar and run as a pipeline. A replicated layer
(deploy.copies / deploy.replicate) holds `copies` copies of its crossbars on its tiles;
its input vectors are dealt over them.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import FitError

if TYPE_CHECKING:
    from .hw.chip import Chip


@dataclass(frozen=True)
class LayerMap:
    name: str
    rows: int              # K
    cols: int              # N (weights per row)
    row_chunks: int        # crossbars stacked along K
    col_groups: int        # crossbars side by side along N
    first_tile: int
    tiles: int
    rows_used: tuple[int, ...]   # rows used in each row chunk
    cols_used: tuple[int, ...]   # physical columns used in each column group
    adc_bits: int = 0            # bits of this layer's conversions (0: the arch's adc.bits)
    copies: int = 1              # copies of its crossbars (weight replication), all on its tiles

    @property
    def crossbars(self) -> int:
        """Crossbars of one copy (the ones one input vector passes)."""
        return self.row_chunks * self.col_groups

    @property
    def cells_used(self) -> int:
        return sum(self.rows_used) * sum(self.cols_used)

    @property
    def max_cols_per_crossbar(self) -> int:
        return max(self.cols_used)

    def split_outputs(self, per_tile: int, weights_per_group: int) -> int:
        """Outputs per vector whose partial sums cross tiles. A copy's crossbars sit column
        group by column group (a group's row chunks together, so its partial sums stay on as
        few tiles as they can) on consecutive crossbars of its tiles; a column group whose
        row chunks lie on t tiles sends t - 1 partial sums of each of its outputs to the tile
        that adds them."""
        return _split_outputs(self.row_chunks, self.col_groups, self.cols, per_tile, weights_per_group)


@functools.cache
def _split_outputs(row_chunks: int, col_groups: int, cols: int, per_tile: int, weights_per_group: int) -> int:
    out = 0
    for g in range(col_groups):
        first, last = g * row_chunks // per_tile, (g * row_chunks + row_chunks - 1) // per_tile
        out += (last - first) * min(weights_per_group, cols - g * weights_per_group)
    return out


@dataclass(frozen=True)
class ChipMap:
    layers: tuple[LayerMap, ...]
    tiles_used: int
    tiles_total: int
    cells_per_tile: int
    rounds: int = 1        # weight-reload rounds the layers run in (reload.py); 1: all resident

    def layer(self, name: str) -> LayerMap:
        return next(lm for lm in self.layers if lm.name == name)

    @property
    def cells_used(self) -> int:
        return sum(lm.cells_used * lm.copies for lm in self.layers)

    @property
    def crossbars_used(self) -> int:
        return sum(lm.crossbars * lm.copies for lm in self.layers)

    def summary(self) -> dict:
        allocated = self.tiles_used * self.cells_per_tile
        return {
            "tiles_used": self.tiles_used,
            "tiles_total": self.tiles_total,
            "crossbars_used": self.crossbars_used,
            "cells_used": self.cells_used,
            "utilisation_of_allocated_tiles": self.cells_used / allocated if allocated else 0.0,
            "utilisation_of_chip": self.cells_used / (self.tiles_total * self.cells_per_tile),
            "reload_rounds": self.rounds,
            "layers": [{"name": lm.name, "rows": lm.rows, "cols": lm.cols,
                        "crossbars": lm.crossbars, "row_chunks": lm.row_chunks,
                        "col_groups": lm.col_groups, "tiles": lm.tiles,
                        "first_tile": lm.first_tile, "cells_used": lm.cells_used,
                        **({"adc_bits": lm.adc_bits} if lm.adc_bits else {}),
                        **({"copies": lm.copies} if lm.copies > 1 else {})}
                       for lm in self.layers],
        }


def _split(total: int, size: int) -> tuple[int, ...]:
    n = math.ceil(total / size)
    return tuple(min(size, total - i * size) for i in range(n))


def place(shapes: list[tuple[str, int, int]], chip: Chip,
          copies: dict[str, int] | None = None) -> list[LayerMap]:
    """Each (name, K, N) matrix on whole tiles of its own (with its `copies`), in order from
    tile 0 (the tile model decides how many columns a weight takes); no check against the
    chip's size."""
    arch, tile_model = chip.arch, chip.tile
    xb, per_tile = arch.crossbar, arch.tile.crossbars
    group, cpw = tile_model.weights_per_column_group(), tile_model.columns_per_weight()
    layers, tile = [], 0
    for name, k, n in shapes:
        rows_used = _split(k, xb.rows)
        cols_used = tuple(w * cpw for w in _split(n, group))
        crossbars = len(rows_used) * len(cols_used)
        c = (copies or {}).get(name, 1)
        tiles = math.ceil(crossbars * c / per_tile)
        layers.append(LayerMap(name, k, n, len(rows_used), len(cols_used), tile, tiles,
                               rows_used, cols_used, copies=c))
        tile += tiles
    return layers


def map_layers(shapes: list[tuple[str, int, int]], chip: Chip,
               adc_bits: dict[str, int] | None = None, copies: dict[str, int] | None = None) -> ChipMap:
    """Place (name, K, N) weight matrices on the chip; FitError if the chip is too small.
    `adc_bits`: layers whose conversions resolve other than the arch's adc.bits; `copies`:
    replicated layers' copies."""
    arch = chip.arch
    xb, per_tile = arch.crossbar, arch.tile.crossbars
    layers = place(shapes, chip, copies)
    if adc_bits:
        layers = [dataclasses.replace(lm, adc_bits=adc_bits[lm.name])
                  if adc_bits.get(lm.name, arch.adc.bits) != arch.adc.bits else lm for lm in layers]
    tile = sum(lm.tiles for lm in layers)
    if tile > arch.chip.tiles:
        worst = sorted(layers, key=lambda lm: -lm.tiles)[:3]
        detail = ", ".join(f"{lm.name}: {lm.tiles}" + (f" ({lm.copies} copies)" if lm.copies > 1 else "")
                           for lm in worst)
        fewer = ", fewer copies (deploy.copies / deploy.replicate)" if any(lm.copies > 1 for lm in layers) \
            else ""
        raise FitError(
            f"the network does not fit the chip: it needs {tile} tiles of {per_tile} "
            f"{xb.rows}x{xb.cols} crossbars (largest layers: {detail}) but chip.tiles is "
            f"{arch.chip.tiles}; raise chip.tiles in the arch file to at least {tile}{fewer}, "
            f"or shrink model.width / model.depth in the workload")
    return ChipMap(tuple(layers), tile, arch.chip.tiles, per_tile * xb.rows * xb.cols)
