"""Networks larger than the chip (deploy.weight_reload, cost-only runs): weights reloaded.

The weight layers are cut, in mapping order, into rounds of whole layers that fit the chip
together (greedy). A phase runs round by round, each over every image of the phase (the
largest batch, so the fewest reloads):
  1. the round's weights come over the off-chip interface (weight_bits per weight);
  2. the round's cells are programmed: one write pulse per used cell, no verify (an upper
     bound on pulses: a functional run skips cells left at g_min), tiles in parallel, each
     through its write drivers (TileModel.program_cycles);
  3. every image passes the round's nodes on the SimPy model (timing.simulate), reading
     activations of earlier rounds from off-chip memory and writing those later rounds need
     back to it (the nodes whose outputs leave, Trace.outputs).
The steps run one after the other (a stated, conservative choice: no overlap of loading,
programming and computing). A digital node runs in the round of its first input. A single
layer larger than the chip is refused (rounds hold whole layers).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .config.arch import ArchSpec
from .errors import FitError
from .hw.chip import Chip
from .mapping import ChipMap, map_layers, place
from .trace import Trace


@dataclass(frozen=True)
class Round:
    layers: tuple[str, ...]
    cmap: ChipMap          # the round's layers placed from tile 0


def plan_rounds(shapes: list[tuple[str, int, int]], chip: Chip, arch_file: str,
                adc_bits: dict[str, int] | None = None) -> list[Round]:
    """Greedy rounds of consecutive whole layers; FitError if one layer alone does not fit."""
    arch = chip.arch
    rounds: list[list[tuple[str, int, int]]] = [[]]
    used = 0
    for shape in shapes:
        tiles = place([shape], chip)[0].tiles
        if tiles > arch.chip.tiles:
            raise FitError(
                f"{arch_file}: chip.tiles: layer '{shape[0]}' alone needs {tiles} tiles but chip.tiles "
                f"is {arch.chip.tiles}; deploy.weight_reload reloads whole layers, so raise chip.tiles "
                f"to at least {tiles} or shrink the layer")
        if used + tiles > arch.chip.tiles and rounds[-1]:
            rounds.append([])
            used = 0
        rounds[-1].append(shape)
        used += tiles
    return [Round(tuple(s[0] for s in r), map_layers(r, chip, adc_bits)) for r in rounds]


def combined_map(rounds: list[Round], arch: ArchSpec) -> ChipMap:
    """Every layer with its placement in its own round (for counting and the report);
    tiles_used is what the network needs over all rounds."""
    layers = tuple(lm for r in rounds for lm in r.cmap.layers)
    return ChipMap(layers, sum(r.cmap.tiles_used for r in rounds), arch.chip.tiles,
                   rounds[0].cmap.cells_per_tile, len(rounds))


def split_trace(trace: Trace, rounds: list[Round]) -> list[Trace]:
    """One trace per round: its nodes, inputs from other rounds read as "input" (off-chip),
    and as outputs the nodes later rounds read (and the network's output)."""
    where = {name: i for i, r in enumerate(rounds) for name in r.layers}
    rnd: dict[str, int] = {"input": 0}
    for n in trace.nodes:
        rnd[n.name] = where[n.layer] if n.layer else (rnd[n.inputs[0]] if n.inputs else 0)
    read_later = {i for n in trace.nodes for i in n.inputs if i != "input" and rnd[i] != rnd[n.name]}
    last = trace.nodes[-1].name
    out = []
    for r in range(len(rounds)):
        nodes = [dataclasses.replace(n, inputs=tuple(i if i != "input" and rnd[i] == r else "input"
                                                     for i in n.inputs))
                 for n in trace.nodes if rnd[n.name] == r]
        leaving = tuple(n.name for n in nodes if n.name in read_later or n.name == last)
        out.append(Trace(nodes, leaving))
    return out


def round_overhead(rnd: Round, chip: Chip) -> dict:
    """Loading and programming one round's weights: bytes, cells, cycles and pJ."""
    a = chip.arch
    weight_bytes = sum(math.ceil(lm.rows * lm.cols * a.crossbar.weight_bits / 8) for lm in rnd.cmap.layers)
    cells = sum(lm.cells_used for lm in rnd.cmap.layers)
    parallel = a.write_driver.parallel_cells
    driver_ops = sum(r * math.ceil(c / parallel) for lm in rnd.cmap.layers
                     for r in lm.rows_used for c in lm.cols_used)      # a row chunk per operation
    program = max((chip.tile.timing.program_cycles(math.ceil(lm.cells_used / lm.tiles))
                   for lm in rnd.cmap.layers), default=0)
    return {"layers": list(rnd.layers), "tiles": rnd.cmap.tiles_used, "weight_bytes": weight_bytes,
            "cells_programmed": cells, "load_cycles": chip.offchip.transfer_cycles(weight_bytes),
            "program_cycles": program,
            "energy_pj": {"offchip": chip.offchip.transfer_pj(weight_bytes),
                          "write_pulses": cells * chip.tile.costs.write_pulse_pj(),
                          "write_drivers": driver_ops * chip.tile.costs.driver_op_pj()}}
