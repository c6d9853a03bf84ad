"""Train phase: online learning on the chip (batch 1, predict then learn) over a stream;
accuracy over time, writes per cell, endurance, auxiliary memory and the cost of learning."""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import plugins
from ..cluster import Pool
from ..config.arch import ArchSpec
from ..config.schema import spec
from ..config.workload import AlgorithmSpec, PhaseSpec, ScenarioSpec, WorkloadSpec
from ..energy import phase_energy, programming_energy_pj
from ..functional import AnalogLayer, run
from ..learning.online import run_online
from ..nn.data import Dataset
from ..nn.layers import Net
from ..report.units import duration, si
from ..results import AccuracySummary, Energy, PhaseResult, Result, RunReport, optional
from ..session import Session
from ..timing import simulate, simulate_online
from .base import Headline, PhaseKind
from .costs import add_idle, cost_tables, timeline


@dataclass(frozen=True)
class TrainParams:
    """A train phase's own keys: the rule and the scenario (each with its own keys beside its
    name), the accuracy series and the deployment rate for the lifetime."""

    algorithm: AlgorithmSpec = spec(AlgorithmSpec())
    scenario: ScenarioSpec = spec(ScenarioSpec())
    ema: float = spec(0.99, lo=0.0, hi=1.0, lo_open=True, doc="online accuracy EMA factor")
    baseline: bool = spec(True, doc="also run the `none` rule (no learning) on the same stream from the "
                                    "same chip state, a copy; report and figure show both")
    window_samples: int = spec(200, lo=1, doc="accuracy window for the time series")
    seeds: int = spec(1, lo=1, hi=100, doc="streams the rule runs, each from the same chip as it is when the "
                                          "phase starts (stream, drift events and rule randomness of its "
                                          "own): the online accuracy's mean and 95% interval over them; "
                                          "the first stream is the one that changes the chip")
    test_after: bool = spec(True, doc="also test the chip after the stream on the test split, and the "
                                      "no-learning baseline's chip too (what learning did to the test "
                                      "accuracy, beside the online accuracy)")
    sample_rate_hz: float = spec(10.0, lo=0.0, lo_open=True,
                                 doc="samples per second in deployment, for lifetime in years")


@dataclass(frozen=True)
class Window(Result):
    start: int
    end: int
    accuracy: float
    segment: str


@dataclass(frozen=True)
class Baseline(Result):
    """The `none` rule on the same stream from a copy of the chip (no_learning_baseline)."""

    algorithm: str
    online_ema_final: float
    online_mean: float
    last_window: float
    windows: list[float]
    ema_values: list[float]
    test_after_stream: float | None = optional()    # its chip on the test split after the stream


@dataclass(frozen=True)
class OverSeeds(Result):
    """The online accuracy over the phase's streams (`seeds`): stream 0 is the phase's own."""

    streams: int
    online_ema_final: AccuracySummary
    online_mean: AccuracySummary
    per_stream_ema_final: list[float]
    per_stream_mean: list[float]


@dataclass(frozen=True)
class OnlineAccuracy(Result):
    online_ema_final: float
    online_mean: float
    last_window: float
    windows: list[Window]
    segment_boundaries: list[int]
    baseline: Baseline | None = optional()
    test_after_stream: float | None = optional()    # the learned chip on the test split after the stream
    over_seeds: OverSeeds | None = optional()       # with seeds > 1


@dataclass(frozen=True)
class Histogram(Result):
    """Cells per power-of-two bin of writes per cell (histogram)."""

    bin_lo: list[int]
    bin_hi_exclusive: list[int]
    cells: list[int]


@dataclass(frozen=True)
class Heatmap(Result):
    """Writes per cell of one matrix on a small grid (write_heatmap)."""

    rows_per_bin: int
    cells_per_bin: int
    matrix_rows: int
    cells_per_row: int
    max: list[list[int]]


@dataclass(frozen=True)
class LayerWrites(Result):
    cells: int
    writes: int
    max_per_cell: int
    mean_per_cell: float
    cells_worn_total: int


@dataclass(frozen=True)
class Writes(Result):
    total_cell_writes: int
    max_per_cell: int
    mean_per_cell: float
    density: float
    histogram: Histogram
    per_layer: dict[str, LayerWrites]
    write_events: int
    cells_worn: int
    # updates with a non-zero unquantised value, per weight (a write per non-zero update,
    # whether or not it moves a level: the LRT paper's SGD counting)
    requests_max_per_weight: int
    requests_total: int
    heatmap: dict[str, Heatmap]


@dataclass(frozen=True)
class Endurance(Result):
    budget_cycles: float | None                    # None: the storage never wears out
    samples_to_first_wear_out: float | None
    years_to_first_wear_out: float | None
    at_sample_rate_hz: float


@dataclass(frozen=True)
class AuxMemory(Result):
    peak_bytes: int
    dense_accumulator_bytes: int
    sram_capacity_bytes: int                       # the mapped tiles' shares of their buffers


@dataclass(frozen=True)
class OnlineLatency(Result):
    """The stream on the chip (SimPy): forward, learning and writes of every sample."""

    total_cycles: int
    total_s: float
    per_sample_mean_cycles: float
    forward_cycles: int
    busy_cycles: dict[str, int]
    simpy_events: int
    timeline: list[dict[str, Any]]


@dataclass(frozen=True)
class EmaSeries(Result):
    every: int
    values: list[float]


@dataclass(frozen=True, kw_only=True)
class TrainResult(PhaseResult):
    """Online learning on the chip: accuracy over the stream, writes, endurance, memory, costs."""

    samples: int
    algorithm: str
    scenario: str
    accuracy: OnlineAccuracy
    writes: Writes
    endurance: Endurance
    aux_memory: AuxMemory
    lrt: dict[str, Any]                  # the rule's own counters (Rule.report)
    drift_events: int
    energy: Energy
    latency: OnlineLatency
    ema_series: EmaSeries

    @property
    def count(self) -> int:
        return self.samples

    @property
    def unit(self) -> str:
        return "sample"


def histogram(counts: np.ndarray) -> Histogram:
    """Writes per cell in power-of-two bins: [0], [1], [2, 3], [4, 7], ..., the last one
    ending at the busiest cell (no empty bins past it)."""
    top = int(counts.max()) if counts.size else 0
    edges = [0] + [2 ** k for k in range(int(np.log2(max(top, 1))) + 1)] + [top + 1]
    edges = sorted(set(edges))
    hist, _ = np.histogram(counts, bins=edges)
    return Histogram(edges[:-1], edges[1:], hist.tolist())




def write_heatmap(counts: np.ndarray, max_rows: int = 32, max_cols: int = 64) -> Heatmap:
    """Writes per cell of one matrix as a small grid: rows = weight rows (K, the crossbar
    rows), columns = the cells of a row (polarity, slice, output), each grid entry the
    maximum over the cells it covers (so the worst cell is never averaged away)."""
    k = counts.shape[2]
    m = np.moveaxis(counts, 2, 0).reshape(k, -1)
    rb = -(-m.shape[0] // max_rows)
    cb = -(-m.shape[1] // max_cols)
    pad = np.zeros((-(-m.shape[0] // rb) * rb, -(-m.shape[1] // cb) * cb), m.dtype)
    pad[: m.shape[0], : m.shape[1]] = m
    grid = pad.reshape(pad.shape[0] // rb, rb, pad.shape[1] // cb, cb).max(axis=(1, 3))
    return Heatmap(rb, cb, int(m.shape[0]), int(m.shape[1]), grid.astype(int).tolist())




YEAR_S = 365.25 * 86400
EMA_POINTS = 500           # the report keeps about this many points of the EMA series


def ema_stride(samples: int) -> int:
    return max(1, samples // EMA_POINTS)


def online_accuracy(correct: np.ndarray, p: TrainParams) -> tuple[list[float], list[float]]:
    """EMA of online accuracy from zero, bias-corrected (as Adam's moments), so its early
    values are the mean so far instead of a ramp from the first sample's 0 or 1; and the
    accuracy of each window of window_samples."""
    ema, acc = [], 0.0
    for i, c in enumerate(correct):
        acc = p.ema * acc + (1 - p.ema) * float(c)
        ema.append(acc / (1 - p.ema ** (i + 1)))
    win = p.window_samples
    return ema, [float(correct[s:s + win].mean()) for s in range(0, len(correct), win)]


@dataclass
class ChipCopyJob:
    """What a job (cluster.py) that runs a stream needs: the phase, the chip's network and cells
    (copies, for a job that may run while the phase's own stream changes the chip), the data."""

    ph: PhaseSpec
    net: Net
    engines: dict[str, AnalogLayer]
    data: Dataset
    arch: ArchSpec
    seed: int
    arch_file: str


@dataclass
class BaselineJob(ChipCopyJob):
    """The `none` rule on the phase's stream, from the copies."""

    def __call__(self, _: Any = None) -> Baseline:
        res = run_online(self.net, self.engines, self.data, self.ph, self.arch, self.seed, self.arch_file)
        ema, windows = online_accuracy(res.correct, self.ph.params)
        every = ema_stride(self.ph.samples)
        test = (test_accuracy(self.net, self.engines, self.data, self.arch)
                if self.ph.params.test_after else None)
        return Baseline("none", ema[-1], float(res.correct.mean()), windows[-1], windows, ema[::every], test)


def test_accuracy(net: Net, engines: dict[str, AnalogLayer], data: Dataset, arch: ArchSpec,
                  pool: Pool | None = None) -> float:
    """The chip's accuracy on the test split, read through views of its layers (their read
    counters, hence the read noise of the phases after, stay as they were); on a `pool`, in
    image shards (functional.run)."""
    x, y = data.split("test")
    views = {k: e.at_time(e.t_s, False) for k, e in engines.items()}
    return float((run(net, views, x, arch, desc="test after the stream", pool=pool)[0].argmax(1) == y).mean())


SEED_STREAM_STREAMS = 43     # under the workload seed: the seeds of a train phase's further streams


def stream_seed(seed: int, k: int) -> int:
    """The seed of stream k of a train phase: the workload's for stream 0 (the phase's own)."""
    if k == 0:
        return seed
    return int(np.random.SeedSequence([seed, SEED_STREAM_STREAMS, k]).generate_state(1)[0])


@dataclass
class StreamJob(ChipCopyJob):
    """The phase's rule on stream k (k >= 1); each call copies the chip first, so streams never
    see each other's writes. Returns (final EMA, mean online accuracy)."""

    def __call__(self, k: int) -> tuple[float, float]:
        engines = {name: e.clone() for name, e in self.engines.items()}
        res = run_online(self.net.copy(), engines, self.data, self.ph, self.arch,
                         stream_seed(self.seed, k), self.arch_file)
        ema, _ = online_accuracy(res.correct, self.ph.params)
        return ema[-1], float(res.correct.mean())


def more_streams(ph: PhaseSpec, ctx: Session) -> list[tuple[float, float]]:
    """Streams 1 .. seeds-1 of the phase's rule, each from a copy of the chip as it is now."""
    if ph.params.seeds <= 1:
        return []
    dep = ctx.dep
    t0 = time.perf_counter()
    # map returns when every stream is done, before the phase's own stream changes the chip, and
    # each call copies the chip itself: the job may hold the chip as it is
    job = StreamJob(ph, dep.net, dep.engines, ctx.data, ctx.chip.arch, ctx.w.seed, ctx.arch_file)
    got = ctx.pool().map(job, list(range(1, ph.params.seeds)), "streams", "stream")
    ctx.wall.add("streams", t0)
    return got


def over_seeds(first: tuple[float, float], more: list[tuple[float, float]]) -> OverSeeds | None:
    from ..montecarlo import summarise

    if not more:
        return None
    emas, means = [first[0], *(m[0] for m in more)], [first[1], *(m[1] for m in more)]
    return OverSeeds(len(emas), summarise(emas), summarise(means), emas, means)


def no_learning_baseline(ph: PhaseSpec, ctx: Session) -> Callable[[], Baseline | None]:
    """The `none` rule on the same stream, from a copy of the chip as it is now (its drift
    scenario included), so a rule's online accuracy reads against doing nothing. Started on
    the session's pool (beside the learning run, on another worker); the returned function
    waits for it."""
    if not ph.params.baseline or not plugins.load("rule", ph.params.algorithm.name).learns:
        return lambda: None
    dep = ctx.dep
    t0 = time.perf_counter()
    none = dataclasses.replace(ph, params=dataclasses.replace(
        ph.params, algorithm=dataclasses.replace(ph.params.algorithm, name="none")))
    job = BaselineJob(none, dep.net.copy(), {k: e.clone() for k, e in dep.engines.items()}, ctx.data,
                      ctx.chip.arch, ctx.w.seed, ctx.arch_file)
    wait = ctx.pool().submit(job, None)
    ctx.wall.add("baseline", t0)

    def result() -> Baseline:
        t1 = time.perf_counter()
        got = wait()
        ctx.wall.add("baseline", t1)
        return got
    return result


def writes_made(engines: dict, before: dict[str, np.ndarray], rule: Any, n: int, events: int) -> Writes:
    """Cell writes of the phase (each layer's counters now minus `before`, over `n` samples and
    `events` write events): totals, histogram, per layer, heat maps and the rule's write
    requests."""
    per_layer, all_counts, heat = {}, [], {}
    engines = {**engines, **(rule.aux_engines if rule else {})}   # a rule's own arrays start at 0
    for k, e in engines.items():
        d = e.writes - before[k] if k in before else e.writes
        heat[k] = write_heatmap(d)
        d = d.ravel()
        all_counts.append(d)
        per_layer[k] = LayerWrites(int(d.size), int(d.sum()), int(d.max()), float(d.mean()),
                                   int((e.cells.stuck == 2).sum()))
    counts = np.concatenate(all_counts)
    pulses = int(counts.sum())
    requests = list(rule.requests.values()) if rule else []
    return Writes(
        total_cell_writes=pulses,
        max_per_cell=int(counts.max()) if counts.size else 0,
        mean_per_cell=float(counts.mean()) if counts.size else 0.0,
        density=pulses / (counts.size * n) if counts.size and n else 0.0,
        histogram=histogram(counts),
        per_layer=per_layer,
        write_events=events,
        cells_worn=int(rule.cells_worn) if rule else 0,
        requests_max_per_weight=max((int(r.max()) for r in requests if r.size), default=0),
        requests_total=sum(int(r.sum()) for r in requests),
        heatmap=heat)


def endurance_of(wmax: int, n: int, budget: float, rate_hz: float) -> Endurance:
    """Projected first wear-out: the busiest cell's writes per sample against the budget
    (math.inf: the storage never wears out)."""
    life = budget * n / wmax if wmax and math.isfinite(budget) else None
    return Endurance(budget_cycles=budget if math.isfinite(budget) else None, samples_to_first_wear_out=life,
                     years_to_first_wear_out=life / rate_hz / (365.25 * 86400) if life else None,
                     at_sample_rate_hz=rate_hz)


def add_line_reads(comp: dict[str, float], fwd: dict, trace: Any, layer: str, reads: int) -> None:
    """A rule's reads of a second array of `layer` (Tiki-Taka's transfers), one input line each:
    each costs, component by component, what one input vector of the layer costs in the forward."""
    for n in trace.nodes:
        if n.layer == layer and n.vectors and reads:
            for c, pj in fwd["per_node_component_pj"].get(n.name, {}).items():
                comp[c] = comp.get(c, 0.0) + pj / n.vectors * reads


def online_costs(ph: PhaseSpec, ctx: Session, res: Any, pulses: int) -> tuple[Energy, OnlineLatency]:
    """Energy (the forward of one sample, identical for every sample, x samples, plus the
    learning arithmetic, SRAM traffic and write pulses; idle draw over the stream) and the
    SimPy latency of the stream."""
    dep, chip, n = ctx.dep, ctx.chip, ph.samples
    x1 = ctx.data.split(ph.split)[0][:1]
    _, tr1 = run(dep.net, dep.engines, x1, chip.arch)
    fwd = phase_energy(tr1, chip, dep.cmap)
    comp = {k: v * n for k, v in fwd["per_component_pj"].items()}
    comp["digital"] += res.digital_ops * chip.digital.op_pj()
    comp["sram_read"] += chip.sram.read_pj(res.sram_read_bytes)
    comp["sram_write"] += chip.sram.write_pj(res.sram_write_bytes)
    comp["write_pulses"] = programming_energy_pj(pulses, 0, chip)["total_pj"]
    for layer, reads in getattr(res.rule, "reads_per_layer", {}).items():
        add_line_reads(comp, fwd, tr1, layer, reads)
    t1 = time.perf_counter()
    fwd_t = simulate(tr1, chip, dep.cmap, images=1)
    learn = [chip.digital.op_cycles(ops) for ops in res.ops_per_sample]
    on = simulate_online(fwd_t.makespan_cycles, learn, res.writes_per_sample, chip, dep.cmap,
                         res.row_ops_per_sample)
    ctx.wall.add("timing", t1)
    energy = add_idle({"total_pj": sum(comp.values()), "per_component_pj": comp}, chip,
                      chip.seconds(on.makespan_cycles), n, per="sample", used_tiles=dep.cmap.tiles_used)
    return energy, OnlineLatency(
        total_cycles=on.makespan_cycles, total_s=chip.seconds(on.makespan_cycles),
        per_sample_mean_cycles=float(np.mean(on.image_latency_cycles)), forward_cycles=fwd_t.makespan_cycles,
        busy_cycles=on.busy_cycles, simpy_events=on.events, timeline=timeline(on.intervals))


def run_train_phase(ph: PhaseSpec, ctx: Session) -> TrainResult:
    """Online learning on the chip: accuracy over time, writes, endurance, aux memory, cost."""
    dep, chip = ctx.dep, ctx.chip
    baseline = no_learning_baseline(ph, ctx)
    more = more_streams(ph, ctx)
    before = {k: e.writes.copy() for k, e in dep.engines.items()}
    t0 = time.perf_counter()
    res = run_online(dep.net, dep.engines, ctx.data, ph, chip.arch, ctx.w.seed, ctx.arch_file)
    ctx.wall.add("functional", t0)
    ctx.chip_changed = True
    n, win, rule = ph.samples, ph.params.window_samples, res.rule
    ema, accs = online_accuracy(res.correct, ph.params)
    windows = [Window(s, min(n, s + win), accs[i], res.segments[s]) for i, s in enumerate(range(0, n, win))]
    boundaries = [i for i in range(1, n) if res.segments[i] != res.segments[i - 1]]
    writes = writes_made(dep.engines, before, rule, n, int(sum(len(d) for d in res.writes_per_sample)))
    energy, latency = online_costs(ph, ctx, res, writes.total_cell_writes)
    base = baseline()            # waited for first: the pool is free for the test's image shards
    t2 = time.perf_counter()
    test_after = (test_accuracy(dep.net, dep.engines, ctx.data, chip.arch, ctx.pool())
                  if ph.params.test_after else None)
    ctx.wall.add("functional", t2)
    return TrainResult(
        name=ph.name, kind=ph.kind, split=ph.split, samples=n,
        algorithm=ph.params.algorithm.name, scenario=ph.params.scenario.kind,
        accuracy=OnlineAccuracy(
            online_ema_final=ema[-1], online_mean=float(res.correct.mean()), last_window=windows[-1].accuracy,
            windows=windows, segment_boundaries=boundaries, baseline=base, test_after_stream=test_after,
            over_seeds=over_seeds((ema[-1], float(res.correct.mean())), more)),
        writes=writes,
        endurance=endurance_of(writes.max_per_cell, n, chip.tile.endurance_cycles(),
                               ph.params.sample_rate_hz),
        aux_memory=AuxMemory(
            peak_bytes=rule.aux_bytes if rule else 0,
            dense_accumulator_bytes=getattr(rule, "dense_bytes", 0),
            sram_capacity_bytes=chip.sram.capacity_bytes(dep.cmap.tiles_used)),
        lrt=rule.report() if rule else {},
        drift_events=res.drift_events,
        energy=energy,
        latency=latency,
        ema_series=EmaSeries(ema_stride(n), ema[:: ema_stride(n)]),
    )


class OnlinePhase(PhaseKind):
    """A stream of samples, predict then learn on the chip: online accuracy, writes, endurance and costs."""

    kind = "train"
    result_type = TrainResult
    Params = TrainParams

    def check(self, ph: PhaseSpec, w: WorkloadSpec, src: Any, path: tuple) -> None:
        super().check(ph, w, src, path)
        if ph.samples <= 0:
            raise src.error(path + ("samples",), "a stream length > 0 for a train phase", ph.samples)

    def resolve(self, ph: PhaseSpec, src: Any, path: tuple) -> PhaseSpec:
        """The rule and the scenario loaded, their own Params built (plugins.part_params)."""
        p = ph.params
        alg, sc = p.algorithm, p.scenario
        rule = plugins.load_located("rule", alg.name, src, path + ("algorithm", "name"))
        world = plugins.load_located("scenario", sc.kind, src, path + ("scenario", "kind"))
        p = dataclasses.replace(
            p, algorithm=dataclasses.replace(alg, params=plugins.part_params(
                "rule", rule, alg.params, src, path + ("algorithm",), ("name",))),
            scenario=dataclasses.replace(sc, params=plugins.part_params(
                "scenario", world, sc.params, src, path + ("scenario",), ("kind",))))
        return dataclasses.replace(ph, params=p)
    table_names = ("online_windows", "online_ema", "writes_per_layer", "writes_histogram")

    def announce(self, ph: PhaseSpec, ctx: Session) -> str:
        return (f"phase {ph.name}: online {ph.params.algorithm.name} on a {ph.params.scenario.kind} stream "
                f"of {ph.samples} samples")

    def run(self, ph: PhaseSpec, ctx: Session) -> TrainResult:
        return run_train_phase(ph, ctx)

    def summary(self, r: TrainResult) -> list[str]:
        acc, wr, en, end = r.accuracy, r.writes, r.energy, r.endurance
        years = end.years_to_first_wear_out
        rate = f"at {end.at_sample_rate_hz:g} samples/s"
        life = (f"{duration(years * YEAR_S)} ({years:.3g} years) {rate}" if years
                else "unlimited (no wear-out)" if end.budget_cycles is None else "no writes")
        base = acc.baseline
        heads = ", ".join(h.text() for h in self.headlines(r))
        windows = f"last window {acc.last_window:.4f}" + (f" (no learning {base.last_window:.4f})"
                                                          if base else "")
        return [f"phase {r.name} ({r.algorithm}, {r.scenario}, {r.samples} samples): {heads}; {windows} | "
                f"max writes/cell {wr.max_per_cell}, density {wr.density:.2e}, "
                f"aux memory {r.aux_memory.peak_bytes} B | "
                f"energy {si(en.per_sample_pj * 1e-12, 'J')}/sample | lifetime {life}"]

    def tables(self, r: TrainResult) -> dict[str, list[dict]]:
        acc, wr, es, h = r.accuracy, r.writes, r.ema_series, r.writes.histogram
        base = acc.baseline
        return {
            **cost_tables(r.name, r.energy, r.latency),
            "online_windows": [{"phase": r.name, **dict(sorted(win.to_json().items())),
                                **({"baseline_accuracy": base.windows[i]} if base else {})}
                               for i, win in enumerate(acc.windows)],
            "online_ema": [{"phase": r.name, "sample": i * es.every, "ema_accuracy": v,
                            **({"baseline_ema_accuracy": base.ema_values[i]} if base else {})}
                           for i, v in enumerate(es.values)],
            "writes_per_layer": [{"phase": r.name, "layer": layer, **dict(sorted(d.to_json().items()))}
                                 for layer, d in wr.per_layer.items()],
            "writes_histogram": [{"phase": r.name, "writes_from": lo, "writes_to_exclusive": hi, "cells": c}
                                 for lo, hi, c in zip(h.bin_lo, h.bin_hi_exclusive, h.cells)],
        }

    def figures(self, r: TrainResult, report: RunReport) -> dict:
        from ..report import plots

        order = [lay["name"] for lay in report.mapping.get("layers", [])]
        return {f"latency_{r.name}": plots.latency_figure(r.name, r.latency, report.clock_mhz, item=r.unit),
                f"online_{r.name}": plots.online_figure(r),
                f"writes_{r.name}": plots.writes_figure(r),
                f"writes_heatmap_{r.name}": plots.heatmap_figure(r, order)}

    def compare_figures(self, reports: list[tuple[str, list[TrainResult]]]) -> dict:
        from ..report import plots

        trains = [(n, r) for n, rs in reports for r in rs]
        return {"compare_online_writes": plots.online_writes_overlay(trains)}

    def headlines(self, r: TrainResult) -> list[Headline]:
        acc, base = r.accuracy, r.accuracy.baseline
        heads = []
        if acc.over_seeds:
            o = acc.over_seeds.online_ema_final
            heads.append(Headline("online_ema_mean_over_seeds", f"online accuracy (EMA), mean over "
                                  f"{acc.over_seeds.streams} streams", o.mean, tuple(o.ci95)))
        heads.append(Headline("online_ema", "online accuracy (EMA)" + (", stream 0" if heads else ""),
                              acc.online_ema_final))
        if base:
            heads.append(Headline("online_ema_no_learning", "online accuracy (EMA) without learning, "
                                  "stream 0", base.online_ema_final))
        if acc.test_after_stream is not None:
            heads.append(Headline("test_accuracy_after_stream", "test accuracy after the stream",
                                  acc.test_after_stream))
            if base and base.test_after_stream is not None:
                heads.append(Headline("test_accuracy_after_stream_no_learning",
                                      "test accuracy after the stream without learning",
                                      base.test_after_stream))
        return heads

    def headline(self, results: list[TrainResult]) -> dict:
        last = results[-1]
        years = [r.endurance.years_to_first_wear_out for r in results if r.endurance.years_to_first_wear_out]
        return {"online time per sample (s)": last.latency.total_s / last.samples,
                "max writes per cell": max(r.writes.max_per_cell for r in results),
                "aux memory (B)": max(r.aux_memory.peak_bytes for r in results),
                "lifetime (years)": min(years) if years else None}
