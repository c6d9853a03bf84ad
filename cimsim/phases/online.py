"""Train phase: online learning on the chip (batch 1, predict then learn) over a stream;
accuracy over time, writes per cell, endurance, auxiliary memory and the cost of learning."""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from .. import plugins
from ..config.workload import PhaseSpec
from ..energy import phase_energy, programming_energy_pj
from ..functional import run
from ..report.units import si
from ..timing import simulate, simulate_online
from ..train.online import run_online
from .base import Context, PhaseKind
from .costs import add_idle, timeline


def histogram(counts: np.ndarray) -> dict:
    """Writes per cell in power-of-two bins: [0], [1], [2, 3], [4, 7], ..., the last one
    ending at the busiest cell (no empty bins past it)."""
    top = int(counts.max()) if counts.size else 0
    edges = [0] + [2 ** k for k in range(int(np.log2(max(top, 1))) + 1)] + [top + 1]
    edges = sorted(set(edges))
    hist, _ = np.histogram(counts, bins=edges)
    return {"bin_lo": edges[:-1], "bin_hi_exclusive": edges[1:], "cells": hist.tolist()}




def write_heatmap(counts: np.ndarray, max_rows: int = 32, max_cols: int = 64) -> dict:
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
    return {"rows_per_bin": rb, "cells_per_bin": cb, "matrix_rows": int(m.shape[0]),
            "cells_per_row": int(m.shape[1]), "max": grid.astype(int).tolist()}




EMA_POINTS = 500           # the report keeps about this many points of the EMA series


def ema_stride(samples: int) -> int:
    return max(1, samples // EMA_POINTS)


def online_accuracy(correct: np.ndarray, ph: PhaseSpec) -> tuple[list[float], list[float]]:
    """EMA of online accuracy from zero, bias-corrected (as Adam's moments), so its early
    values are the mean so far instead of a ramp from the first sample's 0 or 1; and the
    accuracy of each window of window_samples."""
    ema, acc = [], 0.0
    for i, c in enumerate(correct):
        acc = ph.ema * acc + (1 - ph.ema) * float(c)
        ema.append(acc / (1 - ph.ema ** (i + 1)))
    win = ph.window_samples
    return ema, [float(correct[s:s + win].mean()) for s in range(0, len(correct), win)]


def no_learning_baseline(ph: PhaseSpec, ctx: Context) -> dict | None:
    """The `none` rule on the same stream, from a copy of the chip as it is now (its drift
    scenario included), so a rule's online accuracy reads against doing nothing."""
    if not ph.baseline or not plugins.load("rule", ph.algorithm.name).learns:
        return None
    dep = ctx.dep
    t0 = time.perf_counter()
    copies = {k: e.clone() for k, e in dep.engines.items()}
    none = dataclasses.replace(ph, algorithm=dataclasses.replace(ph.algorithm, name="none"))
    res = run_online(dep.net.copy(), copies, ctx.data, none, ctx.chip.arch, ctx.w.seed, ctx.arch_file)
    ctx.wall.add("baseline", t0)
    ema, windows = online_accuracy(res.correct, ph)
    every = ema_stride(ph.samples)
    return {"algorithm": "none", "online_ema_final": ema[-1], "online_mean": float(res.correct.mean()),
            "last_window": windows[-1], "windows": windows, "ema_values": ema[::every]}


def run_train_phase(ph: PhaseSpec, ctx: Context) -> dict:
    """Online learning on the chip: accuracy over time, writes, endurance, aux memory, cost."""
    dep, data, chip, w, wall = ctx.dep, ctx.data, ctx.chip, ctx.w, ctx.wall
    arch_file = ctx.arch_file
    a = chip.arch
    baseline = no_learning_baseline(ph, ctx)
    before = {k: e.writes.copy() for k, e in dep.engines.items()}
    t0 = time.perf_counter()
    res = run_online(dep.net, dep.engines, data, ph, a, w.seed, arch_file)
    wall.add("functional", t0)
    ctx.chip_changed = True
    n = ph.samples
    ema, accs = online_accuracy(res.correct, ph)
    win = ph.window_samples
    windows = [{"start": s, "end": min(n, s + win), "accuracy": accs[i], "segment": res.segments[s]}
               for i, s in enumerate(range(0, n, win))]
    boundaries = [i for i in range(1, n) if res.segments[i] != res.segments[i - 1]]
    # writes and endurance
    per_layer, all_counts, heat = {}, [], {}
    for k, e in dep.engines.items():
        heat[k] = write_heatmap(e.writes - before[k])
        d = (e.writes - before[k]).ravel()
        all_counts.append(d)
        per_layer[k] = {"cells": int(d.size), "writes": int(d.sum()), "max_per_cell": int(d.max()),
                        "mean_per_cell": float(d.mean()), "cells_worn_total": int((e.cells.stuck == 2).sum())}
    counts = np.concatenate(all_counts)
    wmax = int(counts.max()) if counts.size else 0
    endurance = chip.tile.endurance_cycles()           # math.inf: the storage never wears out
    life_samples = endurance * n / wmax if wmax and math.isfinite(endurance) else None
    rule = res.rule
    requests = list(rule.requests.values()) if rule else []
    # cost: forward of one sample (identical for every sample) x samples, plus learning
    x1 = data.split(ph.split)[0][:1]
    _, tr1 = run(dep.net, dep.engines, x1, a)
    fwd = phase_energy(tr1, chip, dep.cmap)
    pulses = int(counts.sum())
    comp = {k: v * n for k, v in fwd["per_component_pj"].items()}
    comp["digital"] += res.digital_ops * chip.digital.op_pj()
    comp["sram_read"] += chip.sram.read_pj(res.sram_read_bytes)
    comp["sram_write"] += chip.sram.write_pj(res.sram_write_bytes)
    prog = programming_energy_pj(pulses, 0, chip)
    comp["write_pulses"] = prog["total_pj"]
    total = sum(comp.values())
    t1 = time.perf_counter()
    fwd_t = simulate(tr1, chip, dep.cmap, images=1)
    learn = [chip.digital.op_cycles(ops) for ops in res.ops_per_sample]
    on = simulate_online(fwd_t.makespan_cycles, learn, res.writes_per_sample, chip, dep.cmap)
    wall.add("timing", t1)
    lrt = {}
    if rule is not None and hasattr(rule, "state"):
        lrt = {"terms_total": int(sum(st.terms for st in rule.state.values())),
               "terms_skipped_by_kappa": rule.skipped, "write_attempts": rule.attempts,
               "attempts_below_rho_min": rule.rejected}
    return {
        "name": ph.name, "kind": ph.kind, "split": ph.split, "samples": n,
        "algorithm": ph.algorithm.name, "scenario": ph.scenario.kind,
        "accuracy": {
            "online_ema_final": ema[-1],
            "online_mean": float(res.correct.mean()),
            "last_window": windows[-1]["accuracy"],
            "windows": windows,
            "segment_boundaries": boundaries,
            **({"baseline": baseline} if baseline else {}),
        },
        "writes": {
            "total_cell_writes": pulses,
            "max_per_cell": wmax,
            "mean_per_cell": float(counts.mean()) if counts.size else 0.0,
            "density": pulses / (counts.size * n) if counts.size and n else 0.0,
            "histogram": histogram(counts),
            "per_layer": per_layer,
            "write_events": int(sum(len(d) for d in res.writes_per_sample)),
            "cells_worn": int(rule.cells_worn) if rule else 0,
            # updates with a non-zero unquantised value, per weight (a write per non-zero
            # update, whether or not it moves a level: the LRT paper's SGD counting)
            "requests_max_per_weight": max((int(r.max()) for r in requests if r.size), default=0),
            "requests_total": sum(int(r.sum()) for r in requests),
            "heatmap": heat,
        },
        "endurance": {
            "budget_cycles": endurance if math.isfinite(endurance) else None,
            "samples_to_first_wear_out": life_samples,
            "years_to_first_wear_out": (life_samples / ph.sample_rate_hz / (365.25 * 86400)
                                        if life_samples else None),
            "at_sample_rate_hz": ph.sample_rate_hz,
        },
        "aux_memory": {
            "peak_bytes": rule.aux_bytes if rule else 0,
            "dense_accumulator_bytes": getattr(rule, "dense_bytes", 0),
            "sram_capacity_bytes": chip.sram.capacity_bytes(dep.cmap.tiles_used),   # the mapped tiles' shares
        },
        "lrt": lrt,
        "drift_events": res.drift_events,
        "energy": add_idle({"total_pj": total, "per_sample_pj": total / n, "per_component_pj": comp},
                           chip, chip.seconds(on.makespan_cycles), n),
        "latency": {
            "total_cycles": on.makespan_cycles, "total_s": chip.seconds(on.makespan_cycles),
            "per_sample_mean_cycles": float(np.mean(on.image_latency_cycles)),
            "forward_cycles": fwd_t.makespan_cycles,
            "busy_cycles": on.busy_cycles, "simpy_events": on.events,
            "timeline": timeline(on.intervals),
        },
        "ema_series": {"every": ema_stride(n), "values": ema[:: ema_stride(n)]},
    }


class OnlinePhase(PhaseKind):
    """A stream of samples, predict then learn on the chip: online accuracy, writes, endurance and costs."""

    kind = "train"
    table_names = ("online_windows", "online_ema", "writes_per_layer", "writes_histogram")

    def announce(self, ph: PhaseSpec, ctx: Context) -> str:
        return (f"phase {ph.name}: online {ph.algorithm.name} on a {ph.scenario.kind} stream "
                f"of {ph.samples} samples")

    def run(self, ph: PhaseSpec, ctx: Context) -> dict:
        return run_train_phase(ph, ctx)

    def summary(self, block: dict) -> list[str]:
        acc, wr, en, end = block["accuracy"], block["writes"], block["energy"], block["endurance"]
        years = end["years_to_first_wear_out"]
        life = (f"{years:.3g} years at {end['at_sample_rate_hz']:g} samples/s" if years
                else "unlimited (no wear-out)" if end["budget_cycles"] is None else "no writes")
        b = block
        base = acc.get("baseline")
        vs = (f" (no learning on the same stream: {base['online_ema_final']:.4f}, last window "
              f"{base['last_window']:.4f})" if base else "")
        return [f"phase {b['name']} ({b['algorithm']}, {b['scenario']}, {b['samples']} samples): "
                f"online accuracy {acc['online_ema_final']:.4f} (EMA), "
                f"last window {acc['last_window']:.4f}{vs} | "
                f"max writes/cell {wr['max_per_cell']}, density {wr['density']:.2e}, "
                f"aux memory {block['aux_memory']['peak_bytes']} B | "
                f"energy {si(en['per_sample_pj'] * 1e-12, 'J')}/sample | lifetime {life}"]

    def tables(self, block: dict) -> dict[str, list[dict]]:
        name, acc, wr = block["name"], block["accuracy"], block["writes"]
        es, h = block["ema_series"], wr["histogram"]
        base = acc.get("baseline")
        return {
            "online_windows": [{"phase": name, **win,
                                **({"baseline_accuracy": base["windows"][i]} if base else {})}
                               for i, win in enumerate(acc["windows"])],
            "online_ema": [{"phase": name, "sample": i * es["every"], "ema_accuracy": v,
                            **({"baseline_ema_accuracy": base["ema_values"][i]} if base else {})}
                           for i, v in enumerate(es["values"])],
            "writes_per_layer": [{"phase": name, "layer": layer, **d}
                                 for layer, d in wr["per_layer"].items()],
            "writes_histogram": [{"phase": name, "writes_from": lo, "writes_to_exclusive": hi, "cells": c}
                                 for lo, hi, c in zip(h["bin_lo"], h["bin_hi_exclusive"], h["cells"])],
        }

    def headline(self, blocks: list[dict]) -> dict:
        last = blocks[-1]
        years = [b["endurance"]["years_to_first_wear_out"] for b in blocks
                 if b["endurance"]["years_to_first_wear_out"]]
        base = last["accuracy"].get("baseline")
        none = {"online accuracy EMA, no learning (last train)": base["online_ema_final"]} if base else {}
        return {"online accuracy EMA (last train)": last["accuracy"]["online_ema_final"], **none,
                "online time per sample (s)": last["latency"]["total_s"] / last["samples"],
                "max writes per cell": max(b["writes"]["max_per_cell"] for b in blocks),
                "aux memory (B)": max(b["aux_memory"]["peak_bytes"] for b in blocks),
                "lifetime (years)": min(years) if years else None}
