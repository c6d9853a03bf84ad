"""Networks larger than the chip (deploy.weight_reload, cost-only runs): weights reloaded.

The weight layers are cut, in mapping order, into rounds of whole layers that fit the chip
together (greedy). A phase runs round by round, each over every image of the phase (the
largest batch, so the fewest reloads):
  1. the round's weights come over the off-chip interface (weight_bits per weight);
  2. the round's cells are programmed as `deploy.write_verify` says (none: one-shot; all:
     program and verify every cell), tiles in parallel, each through its write drivers. The
     pulses, verify reads and driver-job time per cell are the device's own, measured once on
     a crossbar of the stated weights (hw/activity.py: normal, full scale at 4 sigma) by
     its programming and verify loop (`programming_per_cell`); a cell's wear per reload is
     the most pulses any sampled cell took;
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

import numpy as np

from .config.arch import ArchSpec
from .device.conductance import quantise_weights, row_chunk_max
from .device.verify import verify_loop
from .errors import FitError
from .hw.activity import FULL_SCALE_SIGMAS
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


@dataclass(frozen=True)
class CellProgramming:
    """What programming one cell costs on average, and the most pulses a cell took."""

    pulses: float
    max_pulses: int
    reads: float
    job_cycles: float          # mean driver-job time per row chunk of parallel_cells cells


def programming_per_cell(chip: Chip, verify: bool, seed: int = 0) -> CellProgramming:
    """The device's programming (and, with `verify`, its verify loop) on one crossbar's worth
    of weights drawn from the stated distribution (seeded: the same figures every run)."""
    a = chip.arch
    rng = np.random.default_rng(seed)
    weights = max(a.crossbar.cols // chip.tile.columns_per_weight(), 1)
    w = np.clip(rng.standard_normal((a.crossbar.rows, weights)), -FULL_SCALE_SIGMAS, FULL_SCALE_SIGMAS)
    w[0, 0] = FULL_SCALE_SIGMAS                      # the quantiser's full scale
    cells = chip.tile.program(quantise_weights(w, a.crossbar.weight_bits)[0], rng)
    if verify:
        verify_loop(cells, np.ones(cells.levels.shape, bool), chip.device, rng)
    p, r = cells.pulses_per_cell, cells.reads_per_cell
    par = a.write_driver.parallel_cells
    pk, rk = row_chunk_max(p, par), row_chunk_max(r, par)
    jobs = chip.tile.timing.program_job_cycles(pk.astype(np.int64), rk.astype(np.int64))
    return CellProgramming(float(p.mean()), int(p.max()), float(r.mean()), float(np.mean(jobs)))


def round_overhead(rnd: Round, chip: Chip, prog: CellProgramming) -> dict:
    """Loading and programming one round's weights: bytes, cells, pulses, verify reads,
    cycles and pJ (`prog`: what a cell's programming costs, programming_per_cell)."""
    a = chip.arch
    weight_bytes = sum(math.ceil(lm.rows * lm.cols * a.crossbar.weight_bits / 8) for lm in rnd.cmap.layers)
    cells = sum(lm.cells_used for lm in rnd.cmap.layers)
    parallel = a.write_driver.parallel_cells
    chunks = {lm.name: sum(r * math.ceil(c / parallel) for r in lm.rows_used for c in lm.cols_used)
              for lm in rnd.cmap.layers}                                # a row chunk per driver job
    program = max((math.ceil(math.ceil(chunks[lm.name] / lm.tiles) / a.write_driver.per_tile
                             * prog.job_cycles) for lm in rnd.cmap.layers), default=0)
    pulses = cells * prog.pulses
    reads = cells * prog.reads
    energy = {"offchip": chip.offchip.transfer_pj(weight_bytes),
              "write_pulses": pulses * chip.tile.costs.write_pulse_pj(),
              "write_drivers": sum(chunks.values()) * prog.pulses * chip.tile.costs.driver_op_pj()}
    if reads:
        energy["verify_reads"] = reads * chip.tile.costs.verify_read_pj()
    return {"layers": list(rnd.layers), "tiles": rnd.cmap.tiles_used, "weight_bytes": weight_bytes,
            "cells_programmed": cells, "pulses": pulses, "verify_reads": reads,
            "load_cycles": chip.offchip.transfer_cycles(weight_bytes), "program_cycles": program,
            "energy_pj": energy}
