"""Functional model: a trained network programmed onto crossbars, run image by image.

Weight layers (conv, linear) run through `AnalogLayer`, which holds the layer's
programmed cells and calls the chip's tile model (hw/tile.py); every other node runs
digitally. The run emits a `Trace` of counted operations; it knows nothing of time
or energy.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from .config.arch import ArchSpec
from .device.conductance import ProgrammedArray, quantise_weights
from .device.write import WriteResult
from .hw.tile import TileModel
from .mapping import LayerMap
from .nn.layers import BlockApply, Net
from .progress import progress
from .trace import NodeTrace, Trace

if TYPE_CHECKING:
    from .cluster import Pool

SEED_STREAM_PROGRAM = 1   # rng stream ids under the workload seed
SEED_STREAM_READ = 2
SEED_STREAM_UPDATE = 31   # under a layer's read key: the cycle-to-cycle noise of its write pulses


class AnalogLayer:
    """One weight matrix on its tiles: quantise inputs, MVM through the tile model, rescale,
    count. Holds the matrix's state (cells, write counters, integer weights); the tile model
    (hw/tile.py) does the physics and owns the costs."""

    def __init__(self, name: str, w: np.ndarray, tile: TileModel, lmap: LayerMap, x_max: float,
                 rng: np.random.Generator, read_key: int, adc_peaks: np.ndarray | None = None) -> None:
        arch = tile.arch
        self.name, self.arch, self.lmap, self.tile = name, arch, lmap, tile
        self.k, self.n = w.shape
        self.w_int, self.w_scale = quantise_weights(w, arch.crossbar.weight_bits)
        self.cells: ProgrammedArray = self.tile.program(self.w_int, rng)
        self.x_levels = 2 ** arch.dac.input_bits - 1
        self.x_scale = input_scale(x_max, arch)
        self.read_key = read_key
        self.update_rng = np.random.default_rng([read_key, SEED_STREAM_UPDATE])
        self.adc_peaks = adc_peaks     # calibrated column-sum peaks (TileModel.adc_peaks), fixed
        self.t_s = 0.0          # reads happen this long after programming (device time model)
        self.gain = 1.0         # digital output gain (global drift compensation)
        self.state = None       # the tile's read-out state of these cells (TileModel.load)
        self.calls = 0
        self.samples = 1        # samples in each call's rows (separate_samples)
        self.counts = NodeTrace(name, "", ())
        self.writes = self.cells.pulses_per_cell.astype(np.int32)   # per-cell writes (programming on)
        self.one_shot_pulses = self.cells.pulses                     # before any verify loop
        self.refresh()

    def effective_weights(self) -> np.ndarray:
        """(K, N) float weights the cells hold now (programming error, faults, drift included)."""
        return (self.tile.decode(self.cells) * self.w_scale).astype(np.float32)

    def refresh(self) -> None:
        """Re-read the cells after they changed (writes, drift)."""
        self.state = self.tile.load(self)
        self.w_eff = self.effective_weights()

    def clone(self) -> AnalogLayer:
        """An independent copy of this layer's cells and counters (the same chip, forked): what
        the copy's writes, drift and wear do stays in the copy."""
        c = copy.copy(self)
        cl = self.cells
        c.cells = ProgrammedArray(cl.levels.copy(), cl.g.copy(), cl.stuck.copy(), cl.pulses_per_cell.copy(),
                                  cl.reads_per_cell.copy())
        c.writes, c.w_int = self.writes.copy(), self.w_int.copy()
        c.update_rng = copy.deepcopy(self.update_rng)
        c.counts = NodeTrace(self.name, "", ())
        c.refresh()
        return c

    def second_array(self, name: str, rng: np.random.Generator, read_key: int) -> AnalogLayer:
        """A matrix of this one's shape, placement and weight scale that starts at zero on cells
        of its own (Tiki-Taka's A), read one input line at a time: its DAC's full code is 1.0 and,
        under calibrated ADC ranges, its ADCs span one line's largest column sum."""
        planes_max = 1 if self.arch.dac.bit_serial else 2 ** self.arch.dac.input_bits - 1
        peaks = (None if self.adc_peaks is None else
                 np.full(np.shape(self.adc_peaks), self.arch.device.levels * planes_max, np.float32))
        a = AnalogLayer(name, np.zeros((self.k, self.n), np.float32), self.tile, self.lmap, 1.0, rng,
                        read_key, peaks)
        a.w_scale = self.w_scale
        a.refresh()
        return a

    def at_time(self, t_s: float, compensate: bool, readout: str = "ones") -> AnalogLayer:
        """A view of this layer read t_s seconds after programming (its cells are shared, not
        changed). compensate: global drift compensation: the periphery reads the array once
        after programming and once at t_s and scales the outputs by the ratio of the mean
        absolute outputs, one digital gain per layer. readout `ones`: one all-ones input (the
        mean |column sum|); `one_hot`: each row alone (the mean |weight|, aihwkit's
        GlobalDriftCompensation, whose readout tensor is the identity). The calibration reads
        are taken as exact and are not costed."""
        view = copy.copy(self)
        view.gain = 1.0
        if float(t_s) != self.t_s:            # else the layer's own loaded state is the view's
            view.t_s = float(t_s)
            view.refresh()
        if compensate and t_s > 0:
            w_now = view.tile.decode(dataclasses.replace(self.cells, g=view.tile.conductances(view)))
            w_ref = self.tile.decode(self.cells)
            if readout == "one_hot":
                now, ref = np.abs(w_now).mean(), np.abs(w_ref).mean()
            else:
                now, ref = np.abs(w_now.sum(axis=0)).mean(), np.abs(w_ref.sum(axis=0)).mean()
            view.gain = float(ref / now) if now > 0 else 1.0
        return view

    def update(self, w_int_new: np.ndarray) -> WriteResult:
        """Write new integer weights through the tile (write counters, wear-out), re-read."""
        res = self.tile.apply_update(self, w_int_new)
        self.w_int = w_int_new
        self.refresh()
        return res

    def noise_key(self, call: int) -> int:
        """The read-noise key of the layer's call number `call` (counted from 1)."""
        return self.read_key * 1_000_003 + call

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x (M, K) float activations -> y (M, N) float32 through the tiles.

        x holds `self.samples` samples' rows, evenly (1 unless `separate_samples` says more: the
        online loop's batched stream). Each sample is one call of its own, in order: its
        read-noise key, its second pass for signed inputs, its counts, exactly as if it were
        run alone (tests/test_online_batch.py)."""
        m, samples = x.shape[0], self.samples
        rows = m // samples
        neg = (x < 0).reshape(samples, -1).any(axis=1)       # signed inputs: a negative pass too
        first = self.calls + 1 + np.concatenate([[0], np.cumsum(1 + neg)[:-1]])
        self.calls += int(samples + neg.sum())
        y = np.zeros((m, self.n), np.float64)
        pos = self._pass(x if not neg.any() else np.maximum(x, 0), first)
        y += pos[0]
        negs = np.flatnonzero(neg)
        if negs.size:
            sel = (negs[:, None] * rows + np.arange(rows)).ravel()
            acc = self._pass(np.maximum(-x[sel], 0), first[negs] + 1)
            y[sel] += -1.0 * acc[0]
        for i in range(samples):           # counts per sample and pass, in the order run alone
            self.tile.count_data(self.counts, self, pos[1][i * rows:(i + 1) * rows])
            if neg[i]:
                j = int(np.searchsorted(negs, i))
                self.tile.count_data(self.counts, self, acc[1][j * rows:(j + 1) * rows])
        if self.gain != 1.0:
            y *= self.gain
        return (y * (self.x_scale * self.w_scale)).astype(np.float32)

    def _pass(self, xp: np.ndarray, calls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One pass of non-negative inputs, one call number per sample: outputs and codes."""
        m = xp.shape[0]
        codes = input_codes(xp, self.x_scale, self.arch, self.lmap)
        acc, clipped = self.tile.mvm(self, codes, [self.noise_key(int(c)) for c in calls])
        self.tile.count(self.counts, self.lmap, m, clipped)
        return acc, codes


def input_scale(x_max: float, arch: ArchSpec) -> float:
    """A layer's DAC step: its calibrated largest input over the DAC's highest code."""
    return (x_max / (2 ** arch.dac.input_bits - 1)) if x_max > 0 else 1.0


def input_codes(xp: np.ndarray, x_scale: float, arch: ArchSpec, lmap: LayerMap) -> np.ndarray:
    """Non-negative inputs (M, K) -> the DAC codes (M, row chunks x rows) int32 the crossbars
    see, rows past K (padding to whole crossbars) at zero."""
    codes = np.zeros((xp.shape[0], lmap.row_chunks * arch.crossbar.rows), np.int32)
    codes[:, : xp.shape[1]] = np.clip(np.rint(xp / x_scale), 0, 2 ** arch.dac.input_bits - 1)
    return codes


@contextmanager
def separate_samples(engines: Iterable[AnalogLayer], samples: int) -> Iterator[None]:
    """Inside the block, each call of these layers holds `samples` samples, each run as if alone."""
    engines = list(engines)
    for e in engines:
        e.samples = samples
    try:
        yield
    finally:
        for e in engines:
            e.samples = 1


def act_bytes(arch: ArchSpec) -> int:
    """Bytes per stored activation (the DAC input precision, rounded up to bytes)."""
    return math.ceil(arch.dac.input_bits / 8)


SHARD_MIN_BATCHES = 8    # a pool gets image shards of at least this many batches (a worker's start
                         # and the chip's transfer cost seconds: smaller runs stay in this process)


def _owners(net: Net, engines: dict[str, AnalogLayer]) -> dict[str, str]:
    """Node name -> the name of the engine it runs on (a shared block's engine serves several)."""
    owner = {n.name: n.name for n in net.weight_layers()}
    owner.update({n.name: n.block.name for n in net.nodes if isinstance(n, BlockApply)})
    return owner


def run(net: Net, engines: dict[str, AnalogLayer], x: np.ndarray, arch: ArchSpec,
        batch: int = 64, desc: str = "inference", pool: Pool | None = None) -> tuple[np.ndarray, Trace]:
    """Run images x through the chip; return logits and the phase's trace. `desc` names the
    progress bar (a chip of many: its number).

    Batch b's read noise is keyed by its position: each engine's call count starts the batch at
    (its count before the run) + 2 x (its uses per batch) x b, room for every use's positive and
    negative pass, and ends the run there for nb batches. So any contiguous range of batches
    runs alone, anywhere, with the noise it has in the whole run: with a `pool` of several
    workers, the batches go out as image shards (`BatchRange`), and the per-batch counts come
    back to be added here in batch order, the same bytes as one process."""
    owner = _owners(net, engines)
    uses = {k: list(owner.values()).count(k) for k in set(owner.values())}
    job = BatchRange(net, engines, x, arch, batch, {k: engines[k].calls for k in uses}, uses)
    nb = -(-len(x) // batch)
    per = max(SHARD_MIN_BATCHES, -(-nb // (pool.shards if pool else 1)))
    ranges = [(b, min(b + per, nb)) for b in range(0, nb, per)]
    parts = pool.map(job, ranges, desc, "shard") if len(ranges) > 1 else [job(r, desc) for r in ranges]
    for k, u in uses.items():
        engines[k].calls = job.bases[k] + 2 * u * nb
    traces = {n.name: NodeTrace(n.name, n.kind, n.inputs, images=len(x)) for n in net.nodes}
    for _, batches in parts:
        for deltas in batches:
            for t, d in zip(traces.values(), deltas):
                t.add(d)
    return (np.concatenate([o for o, _ in parts]) if parts else np.zeros((0, 0), np.float32),
            Trace(list(traces.values())))


@dataclasses.dataclass
class BatchRange:
    """A job (cluster.py): batches [b0, b1) of `x` through the chip, each with the read-noise
    keys of its position in the whole run; -> (logits, per batch the counts of every node)."""

    net: Net
    engines: dict[str, AnalogLayer]
    x: np.ndarray
    arch: ArchSpec
    batch: int
    bases: dict[str, int]          # engine -> its call count before the run
    uses: dict[str, int]           # engine -> the nodes it runs per batch

    def __call__(self, span: tuple[int, int], desc: str | None = None
                 ) -> tuple[np.ndarray, list[list[NodeTrace]]]:
        """`desc`: this process's progress bar (none in a pool's worker)."""
        b0, b1 = span
        nb = act_bytes(self.arch)
        net = self.net.copy()                            # engines attached to a copy: nothing to undo
        owner = {k: self.engines[v] for k, v in _owners(net, self.engines).items()}
        for n in net.nodes:
            if n.name in owner:
                (n.block if isinstance(n, BlockApply) else n).engine = owner[n.name]
        outs, batches = [], []
        span_range = range(b0, b1)
        for b in progress(span_range, desc, unit="batch") if desc and len(span_range) > 4 else span_range:
            for k, u in self.uses.items():
                self.engines[k].calls = self.bases[k] + 2 * u * b
            xb = self.x[b * self.batch:(b + 1) * self.batch]
            acts = {"input": xb}
            deltas = []
            for n in net.nodes:
                xs = [acts[k] for k in n.inputs]
                e = owner.get(n.name)
                d = NodeTrace(n.name, n.kind, n.inputs)
                if e is not None:
                    e.counts = d                         # the tile counts this node's call into d
                out = n.forward(xs, train=False)
                acts[n.name] = out
                d.sram_read_bytes = sum(v.size for v in xs) * nb
                d.in_bytes = [v.size * nb for v in xs]
                d.sram_write_bytes = out.size * nb
                if e is not None:
                    d.layer = e.name
                d.digital_ops = n.digital_ops([v.size for v in xs], out.size)
                deltas.append(d)
            outs.append(acts[net.output])
            batches.append(deltas)
        return (np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)), batches
