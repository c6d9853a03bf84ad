"""Deployment: map a trained network onto a chip, program it once (one-shot), then let the
deployment policy (policies.py, a registered part) verify or add to it.

Random streams: a chip's one-shot draws depend only on (seed, chip), never on the policy,
so every policy is compared on the same chips (common random numbers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import plugins
from .device.conductance import quantise_weights, row_chunk_max
from .energy import programming_energy_pj
from .errors import FitError
from .functional import SEED_STREAM_PROGRAM, SEED_STREAM_READ, AnalogLayer, input_codes, input_scale
from .hw.chip import Chip
from .hw.tile import TileModel
from .learning.tsb import FinetuneStats
from .mapping import ChipMap, LayerMap, map_layers
from .nn.data import Dataset
from .nn.layers import BatchNorm, BlockApply, Net, softmax_xent
from .timing import simulate_programming

if TYPE_CHECKING:
    from .session import Session

SEED_STREAM_VERIFY = 3


@dataclass
class Deployment:
    """A network programmed onto one chip instance."""

    net: Net                               # the network the chip runs (with TSB blocks if any)
    cmap: ChipMap
    engines: dict[str, AnalogLayer]        # weight layers and shared blocks, by name
    policy: str = "none"
    weights_total: int = 0                 # backbone + blocks
    weights_verified: int = 0
    readback_cells: int = 0                # TSB: backbone cells read back once
    finetune: FinetuneStats | None = None


def calibrate(net: Net, data: Dataset, images: int) -> dict[str, float]:
    """Largest input seen by each weight layer (and shared block, over all its insertion
    points) on training images: its DAC full scale."""
    taps: dict[str, np.ndarray] = {}
    owner = {n.name: n.block.name for n in net.nodes if isinstance(n, BlockApply)}
    x = data.x_train[:images]
    maxima: dict[str, float] = {}
    for i in range(0, len(x), 128):
        net.forward(x[i:i + 128], taps=taps)
        for k, v in taps.items():
            key = owner.get(k, k)
            maxima[key] = max(maxima.get(key, 0.0), float(np.abs(v).max()))
    return maxima


PROBE_ROWS = 8192      # input rows per ADC-calibration block


class _PeakProbe:
    """Stands in for one weight layer's analog engine during ADC calibration: computes the
    float product (the calibration runs the float network) and keeps the running maximum of
    the tile's column-sum peaks for the codes the chip's DACs would apply (both passes of
    signed inputs, as AnalogLayer runs them)."""

    def __init__(self, w: np.ndarray, tile: TileModel, lmap: LayerMap, x_max: float) -> None:
        self.w, self.tile, self.lmap = w, tile, lmap
        self.w_int = quantise_weights(w, tile.arch.crossbar.weight_bits)[0]
        self.x_scale = input_scale(x_max, tile.arch)
        self.peaks: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        signed = bool((x < 0).any())
        for r0 in range(0, len(x), PROBE_ROWS):             # the codes of a conv layer's rows in blocks
            rows = x[r0:r0 + PROBE_ROWS]
            for part in [np.maximum(rows, 0)] + ([np.maximum(-rows, 0)] if signed else []):
                codes = input_codes(part, self.x_scale, self.tile.arch, self.lmap)
                p = self.tile.adc_peaks(self.w_int, self.lmap, codes)
                if p is not None:
                    self.peaks = p if self.peaks is None else np.maximum(self.peaks, p)
        return x @ self.w


def calibrate_adc(net: Net, data: Dataset, images: int, x_max: dict[str, float], tile: TileModel,
                  cmap: ChipMap, only: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray | None]:
    """Each weight layer's (and shared block's) calibrated ADC peaks (TileModel.adc_peaks) over
    the calibration images, run through the float network with the DAC codes the chip would
    apply; None for a tile that calibrates nothing. Made from the target weights when a matrix
    is programmed, then fixed (online updates do not recalibrate). `only`: calibrate just
    these layers, with these weights (a TSB block fine-tuned for one chip)."""
    probe_net = net.copy()
    nodes = [n for n in [*probe_net.weight_layers(), *probe_net.blocks()] if only is None or n.name in only]
    probes = {n.name: _PeakProbe(n.W if only is None else only[n.name], tile, cmap.layer(n.name),
                                 x_max[n.name]) for n in nodes}
    for n in nodes:
        n.engine = probes[n.name]
    x = data.x_train[:images]
    for i in range(0, len(x), 128):
        probe_net.forward(x[i:i + 128])
    return {k: p.peaks for k, p in probes.items()}


def fisher_diagonal(net: Net, data: Dataset, images: int) -> dict[str, np.ndarray]:
    """Empirical Fisher diagonal E[(dL/dW)^2] per weight, one training image at a time,
    batch norms at their running statistics (as deployed)."""
    net = net.copy()                                  # frozen batch norms on a copy only
    for b in net.nodes:
        if isinstance(b, BatchNorm):
            b.frozen = True
    out = {n.name: np.zeros_like(n.W, dtype=np.float64) for n in net.weight_layers()}
    for i in range(images):
        logits = net.forward(data.x_train[i:i + 1], train=True)
        _, g = softmax_xent(logits, data.y_train[i:i + 1])
        net.backward(g)
        for n in net.weight_layers():
            out[n.name] += n.dW.astype(np.float64) ** 2
    return {k: v / images for k, v in out.items()}


def deploy(s: Session, net: Net, policy: str | None = None, chip_index: int | None = None,
           fisher: dict[str, np.ndarray] | None = None) -> Deployment:
    """Program `net` onto one instance of the session's chip: chip `chip_index` among
    Monte-Carlo chips (its own random streams), None for the workload's single chip. The
    session's memo caches the chip-independent input calibration across calls."""
    w, hw = s.w, s.chip
    policy = policy or w.deploy.write_verify
    pol = plugins.load("policy", policy)()
    # the chip's own network: later steps (online learning) change it, never the caller's
    run_net = pol.network(net, s)
    layers = run_net.weight_layers()
    blocks = run_net.blocks()
    shapes = [(n.name, *n.W.shape) for n in layers] + [(b.name, *b.W.shape) for b in blocks]
    try:
        copies = w.deploy.layer_copies([x[0] for x in shapes])
        cmap = map_layers(shapes, hw, w.deploy.layer_adc_bits(), copies)
    except FitError as e:
        raise FitError(f"{s.arch_file}: chip.tiles: {e}") from None
    memo_key = ("x_max", pol.changes_network)
    if memo_key not in s.memo:
        s.memo[memo_key] = calibrate(run_net, s.data, w.deploy.calibration_images)
    x_max = s.memo[memo_key]
    calibrated = hw.arch.adc.range_mode != "per_layer"
    # the peaks depend on the network, the cells' encoding and the inputs' planes, not on the
    # non-idealities an ablation or a Monte-Carlo sigma changes
    a = hw.arch
    peaks_key = ("adc_peaks", pol.changes_network, a.crossbar, a.dac, a.device.bits_per_cell)
    if calibrated and peaks_key not in s.memo:         # the network as pretrained: the same on every chip
        s.memo[peaks_key] = calibrate_adc(run_net, s.data, w.deploy.calibration_images, x_max, hw.tile, cmap)
        s.memo[peaks_key, "weights"] = {n.name: n.W.copy() for n in [*layers, *blocks]}
    which = [] if chip_index is None else [chip_index]
    rng = s.rng(SEED_STREAM_PROGRAM, *which)
    verify_rng = s.rng(SEED_STREAM_PROGRAM, *which, SEED_STREAM_VERIFY)
    read_base = [w.seed, SEED_STREAM_READ, *which]

    def adc_peaks(name: str, weights: np.ndarray) -> np.ndarray | None:
        """The calibrated peaks of the matrix being programmed: the deployment's, unless a
        policy changed its weights for this chip (a fine-tuned TSB block: calibrated anew)."""
        if not calibrated:
            return None
        if np.array_equal(s.memo[peaks_key, "weights"].get(name), weights):
            return s.memo[peaks_key][name]
        return calibrate_adc(run_net, s.data, w.deploy.calibration_images, x_max, hw.tile, cmap,
                             only={name: weights})[name]

    def engine(i: int, name: str, weights: np.ndarray) -> AnalogLayer:
        key = int(np.random.SeedSequence(read_base + [i]).generate_state(1)[0])
        return AnalogLayer(name, weights, hw.tile, cmap.layer(name), x_max[name], rng, key,
                           adc_peaks(name, weights))

    engines = {n.name: engine(i, n.name, n.W) for i, n in enumerate(layers)}
    dep = Deployment(run_net, cmap, engines, policy,
                     weights_total=sum(n.W.size for n in layers) + sum(b.W.size for b in blocks))
    from .policies import Programming

    pol.program(Programming(s, dep, net, verify_rng, engine, chip_index, fisher))
    return dep


def programming_report(dep: Deployment, chip: Chip) -> dict:
    """What programming this chip cost: pulses, verify reads, energy and time (SimPy: each
    tile's write drivers take row-chunk jobs of parallel_cells cells; tiles in parallel)."""
    a = chip.arch
    par = a.write_driver.parallel_cells
    jobs: dict[str, list[int]] = {}
    pulses = reads = driver_ops = stuck = cells = one_shot = 0
    for e in dep.engines.values():
        lm = e.lmap
        c = lm.copies                 # each copy is programmed as the one the functional model runs
        p = e.cells.pulses_per_cell
        r = e.cells.reads_per_cell
        pulses += c * int(p.sum(dtype=np.int64))
        one_shot += c * e.one_shot_pulses
        reads += c * int(r.sum(dtype=np.int64))
        stuck += c * int(np.count_nonzero(e.cells.stuck))
        cells += c * p.size
        # rows of the matrix (K) x their cells, cut into driver chunks of parallel_cells
        pk, rk = row_chunk_max(p, par), row_chunk_max(r, par)
        driver_ops += c * int(pk.sum())
        dur = np.tile(chip.tile.timing.program_job_cycles(pk.astype(np.int64), rk.astype(np.int64)), c)
        for t in range(lm.tiles):                 # the copies' row chunks dealt over the layer's tiles
            jobs.setdefault(str(lm.first_tile + t), []).extend(dur[t::lm.tiles].tolist())
    tr = simulate_programming(jobs, a.write_driver.per_tile)
    energy = programming_energy_pj(pulses, driver_ops, chip)
    energy["verify_reads_pj"] = reads * chip.tile.costs.verify_read_pj()
    energy["readback_pj"] = dep.readback_cells * chip.tile.costs.verify_read_pj()
    energy["total_pj"] += energy["verify_reads_pj"] + energy["readback_pj"]
    out = {
        "policy": dep.policy, "cells": cells, "pulses": pulses, "one_shot_pulses": one_shot,
        "verify_pulses": pulses - one_shot, "verify_reads": reads,
        "readback_cells": dep.readback_cells, "stuck_cells": stuck,
        "weights_total": dep.weights_total, "weights_verified": dep.weights_verified,
        "fraction_verified": dep.weights_verified / dep.weights_total if dep.weights_total else 0.0,
        "energy": energy, "time_cycles": tr.makespan_cycles, "time_s": chip.seconds(tr.makespan_cycles),
        "driver_jobs": tr.events,
    }
    if dep.finetune is not None:
        out["finetune"] = {"images": dep.finetune.images, "steps": dep.finetune.steps,
                           "macs": dep.finetune.macs}
    ranges = adc_ranges(dep, chip)
    if ranges:
        out["adc_ranges"] = ranges
    return out


def adc_ranges(dep: Deployment, chip: Chip) -> list[dict]:
    """Calibrated ADC ranges (adc.range per_slice / per_array), per layer and weight slice:
    the full scale as a fraction of the largest possible column sum of a crossbar (what
    range_fraction states for one range per layer); per_array: the largest crossbar's."""
    a = chip.arch
    full_scales = getattr(chip.tile, "col_full_scales", None)      # tiles with calibrated ranges
    if a.adc.range_mode == "per_layer" or full_scales is None:
        return []
    plane_max = 1 if a.dac.bit_serial else 2 ** a.dac.input_bits - 1
    worst = a.crossbar.rows * a.device.levels * plane_max
    out = []
    for name, e in dep.engines.items():
        fs = full_scales(e)
        if fs is not None:
            fs = fs.reshape(e.lmap.row_chunks, e.cells.g.shape[1], e.n).max(axis=(0, 2))
            out.append({"layer": name, "full_scale_fraction": [round(float(f) / worst, 6) for f in fs]})
    return out
