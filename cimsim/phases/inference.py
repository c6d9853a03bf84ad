"""Inference phase: test images through the programmed chip (or, in a cost-only run, the
trace from the layer shapes, weight-reload rounds included); accuracy and costs."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config.schema import spec
from ..config.workload import PhaseSpec, WorkloadSpec
from ..deploy import Deployment, deploy
from ..device.base import DeviceModel
from ..functional import run
from ..hw.chip import Chip
from ..montecarlo import summarise
from ..progress import warn
from ..report.units import duration, si, top_shares
from ..results import (
    AccuracyOverChips,
    Efficiency,
    Energy,
    Latency,
    PhaseResult,
    Reload,
    Result,
    RunReport,
    optional,
)
from ..session import Session
from ..shape_trace import shape_trace
from .base import Headline, PhaseKind
from .costs import cost_tables, phase_costs, reload_costs


@dataclass(frozen=True)
class InferenceParams:
    """An inference phase's own keys."""

    ci_chips: int = spec(5, lo=1, hi=1000, doc="chips programmed and tested for the accuracy's mean and "
                                               "95% CI (the first is the run's own chip, which the costs and "
                                               "later phases use); only before a train phase has changed "
                                               "the chip; 1: the run's chip alone")
    time_after_programming_s: float = spec(0.0, lo=0.0, hi=1e10,
                                           doc="the chip is read this long after programming (the device's "
                                               "time model, e.g. PCM drift and 1/f noise; 0: as programmed)")
    drift_compensation: bool = spec(False, doc="global drift compensation (one digital gain per layer from "
                                               "a read after programming and one at the read "
                                               "time)")
    drift_compensation_readout: str = spec("ones", choices=("ones", "one_hot"),
                                           doc="the compensation's reads: ones (one all-ones input: the "
                                               "mean |column sum|) or one_hot (every row alone: the mean "
                                               "|weight|, aihwkit's GlobalDriftCompensation)")
    accuracy_vs_time_s: list[float] = spec([], doc="also measure accuracy at these times after programming, "
                                                   "with and without compensation (table accuracy_vs_time, "
                                                   "figure)")

    def validate(self, src: Any, path: tuple) -> None:
        for i, t in enumerate(self.accuracy_vs_time_s):
            if not 0.0 <= t <= 1e10:
                raise src.error(path + ("accuracy_vs_time_s", i), "seconds in [0, 1e10]", t)

    @property
    def timed(self) -> bool:
        return self.time_after_programming_s > 0 or self.drift_compensation or bool(self.accuracy_vs_time_s)


@dataclass(frozen=True)
class TimePoint(Result):
    """Accuracy t_s seconds after programming, mean over `chips` chips, without and with
    global drift compensation."""

    t_s: float
    chips: int
    accuracy: float
    accuracy_compensated: float


@dataclass(frozen=True, kw_only=True)
class InferenceResult(PhaseResult):
    """Test images through the chip: accuracy (None: cost-only) and costs."""

    images: int
    accuracy: float | None
    latency: Latency
    energy: Energy
    efficiency: Efficiency
    adc_clip_fraction: float | None
    nodes: list[dict[str, Any]]                        # the trace, one row per node
    reload: Reload | None = optional()                 # weight-reload rounds (cost-only runs)
    time_after_programming_s: float | None = optional()
    drift_compensation: bool | None = optional()
    accuracy_over_chips: AccuracyOverChips | None = optional()
    accuracy_vs_time: list[TimePoint] | None = optional()
    notes: list[str] | None = optional()              # settings that change nothing in this phase

    @property
    def count(self) -> int:
        return self.images


def idle_time_model(dep: Deployment, chip: Chip) -> bool:
    """The device has a model of time after programming (DeviceModel.at_time), yet a read at
    t = 0 sees every cell as programmed: at t = 0 that model changes nothing."""
    device = chip.tile.device
    if type(device).at_time is DeviceModel.at_time:
        return False
    return all(device.at_time(e.cells, 0.0, e.read_key) is e.cells.g for e in dep.engines.values())


def at_time(engines: dict, t_s: float, compensate: bool, readout: str = "ones") -> dict:
    """Views of the chip's layers read t_s seconds after programming (functional.AnalogLayer)."""
    return {k: e.at_time(t_s, compensate, readout) for k, e in engines.items()}


def accuracy(dep: Deployment, x: np.ndarray, y: np.ndarray, chip: Chip, t_s: float = 0.0,
             compensate: bool = False, readout: str = "ones", desc: str = "inference") -> float:
    """Test accuracy of one programmed chip read t_s seconds after programming, through views
    of its layers (at_time), so its own read counters, hence the read noise of later phases,
    are untouched and every call sees the same noise stream."""
    views = at_time(dep.engines, t_s, compensate, readout)
    return float((run(dep.net, views, x, chip.arch, desc=desc)[0].argmax(1) == y).mean())


@dataclass
class ChipAccuracy:
    """A job (cluster.py): one chip's test accuracy at the phase's read time, and its accuracy at
    each time of the accuracy-vs-time curve, without and with drift compensation. Called on a
    chip index (the chip is programmed from the session: its own seeds, the same chip wherever
    it runs) or on chip 0's deployment (its accuracy is the phase's own run: None here)."""

    x: np.ndarray
    y: np.ndarray
    chip: Chip
    t_s: float
    compensate: bool
    times_s: tuple[float, ...]
    session: Session | None = None
    readout: str = "ones"

    def __call__(self, which: Deployment | int) -> tuple[float | None, list[tuple[float, float]]]:
        own = isinstance(which, Deployment)
        dep = which if own else deploy(self.session, self.session.net, chip_index=which)
        name = f"chip {0 if own else which}"
        acc = (None if own else
               accuracy(dep, self.x, self.y, self.chip, self.t_s, self.compensate, self.readout, name))
        return acc, [(accuracy(dep, self.x, self.y, self.chip, t, False, desc=f"{name}, {duration(t)}"),
                      accuracy(dep, self.x, self.y, self.chip, t, True, self.readout,
                               f"{name}, {duration(t)}, compensated"))
                     for t in self.times_s]


class InferencePhase(PhaseKind):
    """Test images through the programmed chip (cost-only: the trace from layer shapes): accuracy, costs."""

    kind = "inference"
    result_type = InferenceResult
    Params = InferenceParams
    cost_only = True

    def check(self, ph: PhaseSpec, w: WorkloadSpec, src: Any, path: tuple) -> None:
        p = ph.params
        if not w.deploy.functional and p.timed:
            raise src.error(path + ("time_after_programming_s",), "no read times in a cost-only run "
                            "(deploy.functional: false programs no cells)", p.time_after_programming_s)
    table_names = ("accuracy_vs_time", "inference_chips")

    def announce(self, ph: PhaseSpec, ctx: Session) -> str:
        how = "" if ctx.dep is not None else "cost-only "
        return f"phase {ph.name}: {how}{ph.kind} on {ph.split}"

    def run(self, ph: PhaseSpec, ctx: Session) -> InferenceResult:
        return self._functional(ph, ctx) if ctx.dep is not None else self._cost_only(ph, ctx)

    def _functional(self, ph: PhaseSpec, ctx: Session) -> InferenceResult:
        dep, chip, data = ctx.dep, ctx.chip, ctx.data
        x, y = data.split(ph.split)
        if ph.samples:
            x, y = x[: ph.samples], y[: ph.samples]
        p = ph.params
        timed = p.time_after_programming_s > 0 or p.drift_compensation
        readout = p.drift_compensation_readout
        engines = (at_time(dep.engines, p.time_after_programming_s, p.drift_compensation, readout) if timed
                   else dep.engines)
        t0 = time.perf_counter()
        logits, trace = run(dep.net, engines, x, chip.arch, desc="chip 0" if p.ci_chips > 1 else "inference",
                            pool=ctx.pool())
        ctx.wall.add("functional", t0)
        acc = float((logits.argmax(1) == y).mean())
        conv = trace.total("adc_conversions")
        costs = phase_costs(trace, chip, dep.cmap, dep.net, data.input_shape, len(x), ctx.wall,
                            ctx.w.deploy.pipeline)
        over = curve = None
        job = ChipAccuracy(x, y, chip, p.time_after_programming_s, p.drift_compensation,
                           tuple(p.accuracy_vs_time_s), dataclasses.replace(ctx, dep=None), readout)
        t0 = time.perf_counter()
        chips = [job(dep)]
        if p.ci_chips > 1 and not ctx.chip_changed:
            chips += ctx.pool().map(job, list(range(1, p.ci_chips)), "chips", "chip")
            accs = [acc] + [a for a, _ in chips[1:]]
            over = AccuracyOverChips(**summarise(accs).to_json(), chips=len(accs), per_chip=accs)
        if len(chips) > 1 or p.accuracy_vs_time_s:
            ctx.wall.add("chips", t0)
        notes = None
        if not timed and not p.accuracy_vs_time_s and idle_time_model(dep, chip):
            notes = [f"the {chip.arch.device.model} device's time model changes nothing: the phase reads the "
                     "chip as programmed (time_after_programming_s 0); set time_after_programming_s or "
                     "accuracy_vs_time_s to see it"]
            warn(f"phase {ph.name}: {notes[0]}")
        if p.accuracy_vs_time_s:
            curve = [TimePoint(t, len(chips), *(float(np.mean([c[1][i][k] for c in chips])) for k in (0, 1)))
                     for i, t in enumerate(p.accuracy_vs_time_s)]
        return InferenceResult(
            name=ph.name, kind=ph.kind, split=ph.split, images=int(len(x)), accuracy=acc,
            latency=costs.latency, energy=costs.energy, efficiency=costs.efficiency,
            adc_clip_fraction=trace.total("adc_clipped") / conv if conv else 0.0, nodes=trace.to_rows(),
            time_after_programming_s=p.time_after_programming_s if timed else None,
            drift_compensation=p.drift_compensation if timed else None,
            accuracy_over_chips=over, accuracy_vs_time=curve, notes=notes)

    def _cost_only(self, ph: PhaseSpec, ctx: Session) -> InferenceResult:
        """The trace from layer shapes, then the same timing and energy models as a functional
        run; no accuracy, no ADC clipping. With reload rounds, the network runs in them."""
        chip, data, net, cmap = ctx.chip, ctx.data, ctx.net, ctx.cmap
        x, _ = data.split(ph.split)
        images = min(ph.samples, len(x)) if ph.samples else len(x)
        t0 = time.perf_counter()
        trace = shape_trace(net, data.input_shape, data.nonneg, images, chip.arch, chip.tile, cmap)
        ctx.wall.add("shapes", t0)
        pipeline = ctx.w.deploy.pipeline
        costs = (phase_costs(trace, chip, cmap, net, data.input_shape, images, ctx.wall, pipeline)
                 if ctx.rounds is None
                 else reload_costs(trace, chip, ctx.rounds, net, data.input_shape, images, ctx.wall,
                                   ctx.w.deploy.write_verify == "all"))
        return InferenceResult(
            name=ph.name, kind=ph.kind, split=ph.split, images=images, accuracy=None,
            latency=costs.latency, energy=costs.energy, efficiency=costs.efficiency, reload=costs.reload,
            adc_clip_fraction=None, nodes=trace.to_rows())

    def summary(self, r: InferenceResult) -> list[str]:
        lat, en = r.latency, r.energy
        comp = {**en.per_component_pj, **({"idle": en.idle_pj} if en.idle_pj else {})}
        share = top_shares(comp, en.total_pj)
        heads = self.headlines(r)
        acc = ", ".join(h.text() for h in heads) if heads else "cost only"
        eff = r.efficiency
        effs = (f" | {eff.tops_per_w:.3g} TOPS/W, {eff.pj_per_mac:.3g} pJ/MAC, "
                f"{eff.tops_per_mm2:.3g} TOPS/mm2"
                if eff.tops_per_w and eff.tops_per_mm2 else "")
        when = ""
        if r.time_after_programming_s or r.drift_compensation:
            when = (f" at {duration(r.time_after_programming_s)} after programming"
                    + (", drift-compensated" if r.drift_compensation else ""))
        curve = [f"  accuracy {duration(p.t_s):>8} after programming: {p.accuracy:.4f}, "
                 f"compensated {p.accuracy_compensated:.4f} (mean of {p.chips} chips)"
                 for p in r.accuracy_vs_time or []]
        gated = en.total_pj == en.gated_total_pj
        other = en.ungated_total_pj if gated else en.gated_total_pj
        alt = (f"; {'ungated' if gated else 'gated'} {si(other / (r.images or 1) * 1e-12, 'J')}"
               if other != en.total_pj else "")
        over_lb = [b for b in lat.line_buffers or [] if not b["fits"]]
        if over_lb:
            worst = max(over_lb, key=lambda b: b["bytes"] / b["capacity_bytes"])
            curve.append(f"  line buffers: {len(over_lb)} windows need more than their home's buffer share "
                         f"(worst {worst['node']}: {worst['bytes']} B of {worst['capacity_bytes']} B)")
        return [f"phase {r.name} ({r.images} images){when}: {acc} | "
                f"energy {si(en.per_image_pj * 1e-12, 'J')}/image ({share}{alt}) | "
                f"latency {si(lat.first_image_latency_s, 's')}/image, "
                f"throughput {lat.throughput_images_per_s:.4g} images/s{effs}", *curve,
                *(f"  note: {n}" for n in r.notes or [])]

    def tables(self, r: InferenceResult) -> dict[str, list[dict]]:
        over = r.accuracy_over_chips.per_chip if r.accuracy_over_chips else []
        return {**cost_tables(r.name, r.energy, r.latency, r.efficiency, r.images or 1, r.nodes),
                "accuracy_vs_time": [{"phase": r.name, **dict(sorted(p.to_json().items()))}
                                     for p in r.accuracy_vs_time or []],
                "inference_chips": [{"phase": r.name, "chip": c, "accuracy": a} for c, a in enumerate(over)]}

    def figures(self, r: InferenceResult, report: RunReport) -> dict:
        from ..report import plots

        return {f"latency_{r.name}": plots.latency_figure(r.name, r.latency, report.clock_mhz),
                f"layers_{r.name}": plots.layers_figure(r.name, r.energy, r.latency, r.images,
                                                         report.clock_mhz),
                f"accuracy_vs_time_{r.name}": plots.accuracy_time_figure(r)}

    def compare_figures(self, reports: list[tuple[str, list[InferenceResult]]]) -> dict:
        from ..report import plots

        last = [(n, [r for r in rs if r.accuracy is not None][-1]) for n, rs in reports
                if any(r.accuracy is not None for r in rs)]
        return {"compare_accuracy_cost": plots.accuracy_cost_overlay(last)}

    def headlines(self, r: InferenceResult) -> list[Headline]:
        if r.accuracy is None:
            return []
        oc = r.accuracy_over_chips
        if not oc:
            return [Headline("accuracy", f"accuracy on {r.split} (one chip)", r.accuracy)]
        return [Headline("accuracy_mean_over_chips", f"accuracy on {r.split}, mean over {oc.chips} chips",
                         oc.mean, tuple(oc.ci95)),
                Headline("accuracy_chip0", f"accuracy on {r.split}, chip 0", r.accuracy)]

    def headline(self, results: list[InferenceResult]) -> dict:
        last = results[-1]
        return {"energy per image (pJ)": last.energy.per_image_pj,
                "latency per image (s)": last.latency.first_image_latency_s}
