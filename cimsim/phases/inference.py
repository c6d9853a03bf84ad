"""Inference phase: test images through the programmed chip (or, in a cost-only run, the
trace from the layer shapes, weight-reload rounds included); accuracy and costs."""
from __future__ import annotations

import time

from ..config.workload import PhaseSpec
from ..functional import run
from ..report.units import si
from ..shape_trace import shape_trace
from .base import Context, PhaseKind
from .costs import phase_costs, reload_costs


class InferencePhase(PhaseKind):
    kind = "inference"

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
        t0 = time.perf_counter()
        logits, trace = run(dep.net, dep.engines, x, chip.arch)
        ctx.wall.add("functional", t0)
        acc = float((logits.argmax(1) == y).mean())
        conv = trace.total("adc_conversions")
        return {
            "name": ph.name, "kind": ph.kind, "split": ph.split, "images": int(len(x)),
            "accuracy": acc,
            **phase_costs(trace, chip, dep.cmap, dep.net, data.input_shape, len(x), ctx.wall),
            "adc_clip_fraction": trace.total("adc_clipped") / conv if conv else 0.0,
            "nodes": trace.to_rows(),
        }

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
        eff = block.get("efficiency") or {}
        effs = (f" | {eff['tops_per_w']:.3g} TOPS/W, {eff['pj_per_mac']:.3g} pJ/MAC, "
                f"{eff['tops_per_mm2']:.3g} TOPS/mm2"
                if eff.get("tops_per_w") and eff.get("tops_per_mm2") else "")
        return [f"phase {block['name']} ({block['images']} images): {acc} | "
                f"energy {si(en['per_image_pj'] * 1e-12, 'J')}/image ({share}) | "
                f"latency {si(lat['first_image_latency_s'], 's')}/image, "
                f"throughput {lat['throughput_images_per_s']:.4g} images/s{effs}"]

    def headline(self, blocks: list[dict]) -> dict:
        last = blocks[-1]
        return {"inference accuracy (last)": last["accuracy"],
                "energy per image (J)": last["energy"]["per_image_pj"] * 1e-12,
                "latency per image (s)": last["latency"]["first_image_latency_s"]}
