"""Inference phase: test images through the programmed chip (or, in a cost-only run, the
trace from the layer shapes, weight-reload rounds included); accuracy and costs."""
from __future__ import annotations

import time

import numpy as np

from ..config.workload import PhaseSpec
from ..deploy import Deployment, deploy
from ..functional import run
from ..hw.chip import Chip
from ..montecarlo import summarise
from ..report.units import duration, si
from ..shape_trace import shape_trace
from .base import Context, PhaseKind
from .costs import phase_costs, reload_costs


def at_time(engines: dict, t_s: float, compensate: bool) -> dict:
    """Views of the chip's layers read t_s seconds after programming (functional.AnalogLayer)."""
    return {k: e.at_time(t_s, compensate) for k, e in engines.items()}


def accuracy(dep: Deployment, x: np.ndarray, y: np.ndarray, chip: Chip, t_s: float = 0.0,
             compensate: bool = False) -> float:
    """Test accuracy of one programmed chip read t_s seconds after programming, through views
    of its layers (at_time), so its own read counters, hence the read noise of later phases,
    are untouched and every call sees the same noise stream."""
    return float((run(dep.net, at_time(dep.engines, t_s, compensate), x, chip.arch)[0].argmax(1) == y).mean())


class InferencePhase(PhaseKind):
    """Test images through the programmed chip (cost-only: the trace from layer shapes): accuracy, costs."""

    kind = "inference"
    table_names = ("accuracy_vs_time", "inference_chips")

    def announce(self, ph: PhaseSpec, ctx: Context) -> str:
        how = "" if ctx.dep is not None else "cost-only "
        return f"phase {ph.name}: {how}{ph.kind} on {ph.split}"

    def run(self, ph: PhaseSpec, ctx: Context) -> dict:
        return self._functional(ph, ctx) if ctx.dep is not None else self._cost_only(ph, ctx)

    def _functional(self, ph: PhaseSpec, ctx: Context) -> dict:
        dep, chip, data = ctx.dep, ctx.chip, ctx.data
        x, y = data.split(ph.split)
        if ph.samples:
            x, y = x[: ph.samples], y[: ph.samples]
        timed = ph.time_after_programming_s > 0 or ph.drift_compensation
        engines = (at_time(dep.engines, ph.time_after_programming_s, ph.drift_compensation) if timed
                   else dep.engines)
        t0 = time.perf_counter()
        logits, trace = run(dep.net, engines, x, chip.arch)
        ctx.wall.add("functional", t0)
        acc = float((logits.argmax(1) == y).mean())
        conv = trace.total("adc_conversions")
        block = {
            "name": ph.name, "kind": ph.kind, "split": ph.split, "images": int(len(x)),
            "accuracy": acc,
            **phase_costs(trace, chip, dep.cmap, dep.net, data.input_shape, len(x), ctx.wall),
            "adc_clip_fraction": trace.total("adc_clipped") / conv if conv else 0.0,
            "nodes": trace.to_rows(),
        }
        if timed:
            block["time_after_programming_s"] = ph.time_after_programming_s
            block["drift_compensation"] = ph.drift_compensation
        deps = [dep]
        if ph.ci_chips > 1 and not ctx.chip_changed:
            t0 = time.perf_counter()
            deps += [deploy(ctx.net, data, chip, ctx.w, ctx.arch_file, ctx.workload_file, chip=c,
                            memo=ctx.memo) for c in range(1, ph.ci_chips)]
            accs = [acc] + [accuracy(d, x, y, chip, ph.time_after_programming_s, ph.drift_compensation)
                            for d in deps[1:]]
            block["accuracy_over_chips"] = {"chips": len(accs), **summarise(accs), "per_chip": accs}
            ctx.wall.add("chips", t0)
        if ph.accuracy_vs_time_s:
            t0 = time.perf_counter()
            block["accuracy_vs_time"] = [
                {"t_s": t, "chips": len(deps),
                 **{key: float(np.mean([accuracy(d, x, y, chip, t, comp) for d in deps]))
                    for key, comp in (("accuracy", False), ("accuracy_compensated", True))}}
                for t in ph.accuracy_vs_time_s]
            ctx.wall.add("accuracy_vs_time", t0)
        return block

    def _cost_only(self, ph: PhaseSpec, ctx: Context) -> dict:
        """The trace from layer shapes, then the same timing and energy models as a functional
        run; no accuracy, no ADC clipping. With reload rounds, the network runs in them."""
        chip, data, net, cmap = ctx.chip, ctx.data, ctx.net, ctx.cmap
        x, _ = data.split(ph.split)
        images = min(ph.samples, len(x)) if ph.samples else len(x)
        t0 = time.perf_counter()
        trace = shape_trace(net, data.input_shape, data.nonneg, images, chip.arch, chip.tile, cmap)
        ctx.wall.add("shapes", t0)
        costs = (phase_costs(trace, chip, cmap, net, data.input_shape, images, ctx.wall) if ctx.rounds is None
                 else reload_costs(trace, chip, ctx.rounds, net, data.input_shape, images, ctx.wall))
        return {
            "name": ph.name, "kind": ph.kind, "split": ph.split, "images": images,
            "accuracy": None,
            **costs,
            "adc_clip_fraction": None,
            "nodes": trace.to_rows(),
        }

    def summary(self, block: dict) -> list[str]:
        lat, en = block["latency"], block["energy"]
        comp = {**en["per_component_pj"], **({"idle": en["idle_pj"]} if en.get("idle_pj") else {})}
        top = sorted(comp, key=lambda k: -comp[k])[:3]
        share = ", ".join(f"{k} {comp[k] / en['total_pj']:.0%}" for k in top) if en["total_pj"] else ""
        acc = f"accuracy {block['accuracy']:.4f}" if block["accuracy"] is not None else "cost only"
        oc = block.get("accuracy_over_chips")
        if oc:
            acc += (f" (over {oc['chips']} chips: mean {oc['mean']:.4f}, 95% CI "
                    f"[{oc['ci95'][0]:.3f}, {oc['ci95'][1]:.3f}])")
        eff = block.get("efficiency") or {}
        effs = (f" | {eff['tops_per_w']:.3g} TOPS/W, {eff['pj_per_mac']:.3g} pJ/MAC, "
                f"{eff['tops_per_mm2']:.3g} TOPS/mm2"
                if eff.get("tops_per_w") and eff.get("tops_per_mm2") else "")
        when = ""
        if block.get("time_after_programming_s") or block.get("drift_compensation"):
            when = (f" at {duration(block['time_after_programming_s'])} after programming"
                    + (", drift-compensated" if block["drift_compensation"] else ""))
        curve = [f"  accuracy {duration(r['t_s']):>8} after programming: {r['accuracy']:.4f}, "
                 f"compensated {r['accuracy_compensated']:.4f} (mean of {r['chips']} chips)"
                 for r in block.get("accuracy_vs_time", [])]
        return [f"phase {block['name']} ({block['images']} images){when}: {acc} | "
                f"energy {si(en['per_image_pj'] * 1e-12, 'J')}/image ({share}) | "
                f"latency {si(lat['first_image_latency_s'], 's')}/image, "
                f"throughput {lat['throughput_images_per_s']:.4g} images/s{effs}", *curve]

    def tables(self, block: dict) -> dict[str, list[dict]]:
        rows = block.get("accuracy_vs_time", [])
        over = block.get("accuracy_over_chips", {}).get("per_chip", [])
        return {"accuracy_vs_time": [{"phase": block["name"], **r} for r in rows],
                "inference_chips": [{"phase": block["name"], "chip": c, "accuracy": a}
                                    for c, a in enumerate(over)]}

    def headline(self, blocks: list[dict]) -> dict:
        last = blocks[-1]
        over = last.get("accuracy_over_chips")
        return {"inference accuracy (last)": last["accuracy"],
                **({"inference accuracy, mean over chips (last)": over["mean"]} if over else {}),
                "energy per image (J)": last["energy"]["per_image_pj"] * 1e-12,
                "latency per image (s)": last["latency"]["first_image_latency_s"]}
