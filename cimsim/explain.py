"""Why a chip loses accuracy: a quick ablation (`cimsim run --explain`).

The first functional inference phase is re-run on chips that differ from the arch in one
way each: an ideal chip (no programming error, read noise, stuck cells, IR drop, ADC
offset or INL, a 24-bit ADC over the full column range, read as programmed), then that
ideal chip with each non-ideality of the arch put back alone. The non-ideality whose return
costs most is named as the dominant one. Every case is the mean over the same few chips
(the run's chip and chips 1.. of the inference phase's ci_chips, at most `chips`): where a
stuck cell lands depends on the draws each case makes, so one chip alone would mix the
physics with the draw. Costs are not recomputed (the arch's own phases carry them).
"""
from __future__ import annotations

import dataclasses
import time

from .config.arch import ArchSpec, StuckAtSpec
from .deploy import deploy
from .hw.chip import build_chip
from .phases.base import Context
from .phases.inference import accuracy as chip_accuracy

IDEAL_ADC_BITS = 24


def ideal(a: ArchSpec) -> ArchSpec:
    """The arch without any of the non-idealities `cases` lists."""
    dev = dataclasses.replace(a.device, program_sigma=0.0, read_sigma=0.0, stuck_at=StuckAtSpec(0.0, 0.0))
    adc = dataclasses.replace(a.adc, bits=IDEAL_ADC_BITS, range_fraction=1.0, offset_sigma_lsb=0.0,
                              inl_lsb=0.0)
    return dataclasses.replace(a, device=dev, adc=adc,
                               crossbar=dataclasses.replace(a.crossbar, wire_ohm_per_cell=0.0))


def cases(a: ArchSpec, t_s: float) -> dict[str, tuple[ArchSpec, float]]:
    """name -> (the ideal arch with that one non-ideality of `a` back, read time) for every
    non-ideality `a` (and the phase's read time t_s) has."""
    base = ideal(a)
    d, adc = a.device, a.adc

    def dev(**kw) -> ArchSpec:
        return dataclasses.replace(base, device=dataclasses.replace(base.device, **kw))

    out: dict[str, tuple[ArchSpec, float]] = {}
    if d.program_sigma > 0:
        out[f"programming error (sigma {d.program_sigma:g})"] = (dev(program_sigma=d.program_sigma), 0.0)
    if d.read_sigma > 0:
        out[f"read noise (sigma {d.read_sigma:g})"] = (dev(read_sigma=d.read_sigma), 0.0)
    lo, hi = d.stuck_at.low_rate, d.stuck_at.high_rate
    if lo > 0:
        out[f"cells stuck at g_min ({lo:g})"] = (dev(stuck_at=StuckAtSpec(lo, 0.0)), 0.0)
    if hi > 0:
        out[f"cells stuck at g_max ({hi:g})"] = (dev(stuck_at=StuckAtSpec(0.0, hi)), 0.0)
    if adc.bits < IDEAL_ADC_BITS or adc.range_fraction < 1.0:
        out[f"ADC: {adc.bits} bits over {adc.range_fraction:g} of the column range"] = (
            dataclasses.replace(base, adc=dataclasses.replace(base.adc, bits=adc.bits,
                                                              range_fraction=adc.range_fraction)), 0.0)
    if adc.offset_sigma_lsb > 0 or adc.inl_lsb != 0:
        out[f"ADC offset {adc.offset_sigma_lsb:g} LSB / INL {adc.inl_lsb:g} LSB"] = (
            dataclasses.replace(base, adc=dataclasses.replace(base.adc, offset_sigma_lsb=adc.offset_sigma_lsb,
                                                              inl_lsb=adc.inl_lsb)), 0.0)
    if a.crossbar.wire_ohm_per_cell > 0:
        ohm = a.crossbar.wire_ohm_per_cell
        wires = dataclasses.replace(base.crossbar, wire_ohm_per_cell=ohm)
        out[f"IR drop ({ohm:g} ohm per cell)"] = (dataclasses.replace(base, crossbar=wires), 0.0)
    if t_s > 0:
        out[f"time after programming ({t_s:g} s)"] = (base, t_s)
    return out


def explain(ctx: Context, images: int = 200, chips: int = 3) -> dict | None:
    """The ablation on the workload's first functional inference phase (None: there is none)."""
    ph = next((p for p in ctx.w.phases if p.kind == "inference"), None)
    if ph is None or ctx.dep is None:
        return None
    t0 = time.perf_counter()
    x, y = ctx.data.split(ph.split)
    n = min(images, ph.samples or len(x), len(x))
    x, y = x[:n], y[:n]

    k = max(1, min(chips, ph.ci_chips))

    def mean_accuracy(arch: ArchSpec, t_s: float) -> float:
        chip, accs = build_chip(arch), []
        for c in range(k):
            dep = deploy(ctx.net, ctx.data, chip, ctx.w, ctx.arch_file, ctx.workload_file, chip=c or None,
                         memo=ctx.memo)
            accs.append(chip_accuracy(dep, x, y, chip, t_s, ph.drift_compensation and t_s > 0))
        return sum(accs) / k

    a = ctx.chip.arch
    t_s = ph.time_after_programming_s
    full = mean_accuracy(a, t_s)
    clean = mean_accuracy(ideal(a), 0.0)
    alone = {name: mean_accuracy(arch, t) for name, (arch, t) in cases(a, t_s).items()}
    ctx.wall.add("explain", t0)
    worst = min(alone, key=lambda k: alone[k]) if alone else None
    return {"phase": ph.name, "images": n, "chips": k, "ideal_chip": clean, "this_chip": full,
            "each_alone": alone, "dominant": worst,
            "note": "mean accuracy over the same chips; each non-ideality alone on an otherwise ideal chip; "
                    "losses do not add up"}


def summary(block: dict) -> list[str]:
    """Terminal lines of an explain block."""
    out = [f"explain ({block['phase']}, {block['images']} images, mean of {block['chips']} chips): "
           f"ideal chip {block['ideal_chip']:.4f}, this arch {block['this_chip']:.4f}; "
           "each non-ideality alone:"]
    for name, acc in sorted(block["each_alone"].items(), key=lambda kv: kv[1]):
        out.append(f"  {acc:.4f} ({100 * (acc - block['ideal_chip']):+.1f} points)  {name}")
    if block["dominant"]:
        out.append(f"  dominant: {block['dominant']}")
    return out
