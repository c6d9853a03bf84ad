"""One study end to end: config -> model -> mapping -> program -> phases -> report."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from .config import Loaded, to_dict
from .config.arch import ArchSpec
from .config.workload import PhaseSpec, WorkloadSpec
from .deploy import Deployment, deploy, programming_report
from .energy import COMPONENTS, cost_table, phase_energy, programming_energy_pj
from .errors import FitError
from .functional import run
from .hw.chip import Chip, build_chip
from .mapping import ChipMap, map_layers
from .montecarlo import run_monte_carlo
from .nn.data import Dataset
from .nn.layers import Net
from .nn.models import model_label
from .nn.network import untrained_net, workload_data, workload_net
from .nn.train import pretrain_key
from .progress import say
from .reload import Round, combined_map, plan_rounds, round_overhead, split_trace
from .shape_trace import macs_per_sample, shape_trace
from .timing import phase_stage_times, simulate, simulate_online
from .trace import Trace
from .train.online import run_online
from .train.tsb import insert_blocks


@dataclass
class WallClock:
    """Where the wall time went (printed, never written to the deterministic report)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, t0: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0


def latency_report(trace: Trace, chip: Chip, cmap: ChipMap, wall: WallClock) -> dict:
    t0 = time.perf_counter()
    tr = simulate(trace, chip, cmap)
    wall.add("timing", t0)
    images = len(tr.image_latency_cycles)
    util = {k: tr.busy_cycles[k] / (tr.makespan_cycles * tr.capacity[k]) if tr.makespan_cycles else 0.0
            for k in sorted(tr.busy_cycles)}
    xbar_busy = adc_busy = 0
    per_node = {}
    times = phase_stage_times(trace, chip, cmap)
    for n in trace.nodes:
        st = times[n.name]
        xbar_busy += st.crossbar_busy * images
        adc_busy += st.adc_busy * images
        per_node[n.name] = {"compute_cycles": st.compute, "sram_cycles": st.sram, "noc_cycles": st.noc,
                            "resource": st.resource}
    tiles = [k for k in tr.busy_cycles if k.startswith("tiles:")]
    span = tr.makespan_cycles * max(len(tiles), 1)
    return {
        "images": images,
        "makespan_cycles": tr.makespan_cycles,
        "makespan_s": chip.seconds(tr.makespan_cycles),
        "first_image_latency_cycles": tr.image_latency_cycles[0] if images else 0,
        "first_image_latency_s": chip.seconds(tr.image_latency_cycles[0]) if images else 0.0,
        "mean_image_latency_cycles": float(np.mean(tr.image_latency_cycles)) if images else 0.0,
        "throughput_images_per_s": images / chip.seconds(tr.makespan_cycles) if tr.makespan_cycles else 0.0,
        "utilisation": {
            **util,
            "crossbar_arrays_mean": xbar_busy / span if span else 0.0,
            "adcs_mean": adc_busy / span if span else 0.0,
        },
        "simpy_events": tr.events,
        "timeline": _timeline(tr.intervals),
        "per_node_cycles_per_image": per_node,
    }


def add_idle(energy: dict, chip: Chip, seconds: float, count: int) -> dict:
    """The phase's energy with its idle units' draw over `seconds` (chip.power_gating): the
    dynamic total stays as `dynamic_pj`, `idle_per_component_pj` is added, and the total and
    per-image (or per-sample) figures include both."""
    idle = chip.idle_energy_pj(energy["per_component_pj"], seconds)
    dynamic = energy["total_pj"]
    total = dynamic + sum(idle.values())
    out = {**energy, "dynamic_pj": dynamic, "idle_pj": sum(idle.values()),
           "idle_per_component_pj": idle, "total_pj": total}
    key = "per_sample_pj" if "per_sample_pj" in energy else "per_image_pj"
    out[key] = total / count if count else 0.0
    return out


def efficiency(macs_per_image: int, energy: dict, latency: dict, area: dict) -> dict:
    """The figures CIM papers quote: MACs, pJ per MAC, TOPS/W (2 ops per MAC), TOPS at the
    phase's throughput and TOPS/mm2 of the whole chip (null when the tile model lists no
    area of its own: the chip's area would be its periphery only)."""
    area_mm2 = area["total_mm2"] if area["tile_mm2"] > 0 else 0.0
    e = energy["per_image_pj"]
    tops = 2.0 * macs_per_image * latency["throughput_images_per_s"] / 1e12
    return {"macs_per_image": macs_per_image,
            "pj_per_mac": e / macs_per_image if macs_per_image else None,
            "tops_per_w": 2.0 * macs_per_image / e if e else None,
            "tops": tops,
            "tops_per_mm2": tops / area_mm2 if area_mm2 else None}


def _timeline(intervals: list[tuple[str, int, int, int]]) -> list[dict]:
    """Busy intervals of every resource for the first images (SimPy record), in time order."""
    rows = sorted(intervals, key=lambda r: (r[2], r[0], r[1]))
    return [{"resource": r, "image": i, "start_cycle": int(a), "end_cycle": int(b)} for r, i, a, b in rows]


def run_phase(ph: PhaseSpec, dep: Deployment, data: Dataset, chip: Chip, wall: WallClock) -> dict:
    x, y = data.split(ph.split)
    if ph.samples:
        x, y = x[: ph.samples], y[: ph.samples]
    t0 = time.perf_counter()
    logits, trace = run(dep.net, dep.engines, x, chip.arch)
    wall.add("functional", t0)
    acc = float((logits.argmax(1) == y).mean())
    conv = trace.total("adc_conversions")
    return {
        "name": ph.name, "kind": ph.kind, "split": ph.split, "images": int(len(x)),
        "accuracy": acc,
        **phase_costs(trace, chip, dep.cmap, dep.net, data.input_shape, len(x), wall),
        "adc_clip_fraction": trace.total("adc_clipped") / conv if conv else 0.0,
        "nodes": trace.to_rows(),
    }


def phase_costs(trace: Trace, chip: Chip, cmap: ChipMap, net: Net, input_shape: tuple[int, ...],
                images: int, wall: WallClock) -> dict:
    """latency (SimPy), energy (dynamic + idle over the makespan) and efficiency of a trace."""
    latency = latency_report(trace, chip, cmap, wall)
    energy = add_idle(phase_energy(trace, chip, cmap), chip, latency["makespan_s"], images)
    macs = sum(macs_per_sample(net, input_shape).values())
    return {"latency": latency, "energy": energy,
            "efficiency": efficiency(macs, energy, latency, chip.area())}


def run_cost_phase(ph: PhaseSpec, net: Net, data: Dataset, chip: Chip, cmap: ChipMap,
                   wall: WallClock, rounds: list[Round] | None = None) -> dict:
    """An inference phase of a cost-only run: the trace from layer shapes, then the same
    timing and energy models as a functional run; no accuracy, no ADC clipping. With
    `rounds`, the network runs in weight-reload rounds (reload.py)."""
    x, _ = data.split(ph.split)
    images = min(ph.samples, len(x)) if ph.samples else len(x)
    t0 = time.perf_counter()
    trace = shape_trace(net, data.input_shape, data.nonneg, images, chip.arch, chip.tile, cmap)
    wall.add("shapes", t0)
    costs = (phase_costs(trace, chip, cmap, net, data.input_shape, images, wall) if rounds is None
             else reload_costs(trace, chip, rounds, net, data.input_shape, images, wall))
    return {
        "name": ph.name, "kind": ph.kind, "split": ph.split, "images": images,
        "accuracy": None,
        **costs,
        "adc_clip_fraction": None,
        "nodes": trace.to_rows(),
    }


def reload_costs(trace: Trace, chip: Chip, rounds: list[Round], net: Net, input_shape: tuple[int, ...],
                 images: int, wall: WallClock) -> dict:
    """Latency, energy and efficiency of a phase run in weight-reload rounds: per round, load
    and program its weights, then run every image through its nodes (reload.py)."""
    parts = []
    for rnd, sub in zip(rounds, split_trace(trace, rounds)):
        lat = latency_report(sub, chip, rnd.cmap, wall)
        over = round_overhead(rnd, chip)
        over["run_cycles"] = lat["makespan_cycles"]
        over["offchip_activation_bytes"] = sum(sub.offchip_bytes().values())
        parts.append((over, lat, phase_energy(sub, chip, rnd.cmap)))
    totals = [o["load_cycles"] + o["program_cycles"] + o["run_cycles"] for o, _, _ in parts]
    span = sum(totals)
    before_last = span - totals[-1] + parts[-1][0]["load_cycles"] + parts[-1][0]["program_cycles"]
    last = parts[-1][1]
    util: dict[str, float] = {}
    for _, lat, _ in parts:                  # time-weighted: loading and programming idle them
        for k, u in lat["utilisation"].items():
            util[k] = util.get(k, 0.0) + u * lat["makespan_cycles"] / span
    latency = {
        "images": images, "makespan_cycles": span, "makespan_s": chip.seconds(span),
        # every image waits for the earlier rounds of the whole batch
        "first_image_latency_cycles": before_last + last["first_image_latency_cycles"],
        "first_image_latency_s": chip.seconds(before_last + last["first_image_latency_cycles"]),
        "mean_image_latency_cycles": before_last + last["mean_image_latency_cycles"],
        "throughput_images_per_s": images / chip.seconds(span) if span else 0.0,
        "utilisation": dict(sorted(util.items())),
        "simpy_events": sum(lat["simpy_events"] for _, lat, _ in parts),
        "timeline": parts[0][1]["timeline"],
        "per_node_cycles_per_image": {k: v for _, lat, _ in parts
                                      for k, v in lat["per_node_cycles_per_image"].items()},
    }
    comp = dict.fromkeys((*COMPONENTS, "write_pulses", "write_drivers"), 0.0)
    per_node, per_node_comp, counts = {}, {}, {}
    for over, _, e in parts:
        for k, v in e["per_component_pj"].items():
            comp[k] += v
        for k, v in over["energy_pj"].items():
            comp[k] += v
        per_node.update(e["per_node_pj"])
        per_node_comp.update(e["per_node_component_pj"])
        for k, v in e["action_counts"].items():
            counts[k] = counts.get(k, 0) + v
    total = sum(comp.values())
    energy = add_idle({"total_pj": total, "per_image_pj": total / images if images else 0.0,
                       "per_component_pj": comp, "per_node_pj": per_node,
                       "per_node_component_pj": per_node_comp, "action_counts": dict(sorted(counts.items()))},
                      chip, latency["makespan_s"], images)
    macs = sum(macs_per_sample(net, input_shape).values())
    endurance = chip.tile.endurance_cycles()
    reload = {
        "rounds": [o for o, _, _ in parts],
        "weight_bytes_per_phase": sum(o["weight_bytes"] for o, _, _ in parts),
        "cells_programmed_per_phase": sum(o["cells_programmed"] for o, _, _ in parts),
        "images_per_reload": images,
        # every used cell is rewritten once per phase (batch of `images`)
        "images_to_first_wear_out": endurance * images if math.isfinite(endurance) else None,
    }
    return {"latency": latency, "energy": energy,
            "efficiency": efficiency(macs, energy, latency, chip.area()), "reload": reload}


def _weight_shapes(net: Net) -> list[tuple[str, int, int]]:
    return ([(n.name, *n.W.shape) for n in net.weight_layers()]
            + [(b.name, *b.W.shape) for b in net.blocks()])


def fit_check(net: Net, w: WorkloadSpec, chip: Chip, arch_file: str, workload_file: str) -> ChipMap:
    """Map the network (and its TSB blocks where a policy inserts them) before any training:
    a network that does not fit fails here, in seconds, with the tiles it needs (with
    deploy.weight_reload: its layers in rounds, unless one layer alone is too large)."""
    policies = {w.deploy.write_verify} | {p for ph in w.phases if ph.kind == "monte_carlo"
                                          for p in ph.policies}
    nets = [net]
    if "tsb" in policies and w.deploy.functional:
        nets.append(insert_blocks(net, w.deploy.tsb, workload_file))
    cmap = None
    for n in nets:
        try:
            m = map_layers(_weight_shapes(n), chip)
        except FitError as e:
            if not w.deploy.weight_reload:
                hint = "; or reload weights in rounds: deploy.weight_reload: true (cost-only runs)"
                raise FitError(f"{arch_file}: chip.tiles: {e}{hint}") from None
            m = combined_map(plan_rounds(_weight_shapes(n), chip, arch_file), chip.arch)
        cmap = cmap or m
    return cmap


def _histogram(counts: np.ndarray) -> dict:
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


def run_train_phase(ph: PhaseSpec, dep: Deployment, data: Dataset, chip: Chip, w: WorkloadSpec,
                    arch_file: str, wall: WallClock) -> dict:
    """Online learning on the chip: accuracy over time, writes, endurance, aux memory, cost."""
    a = chip.arch
    before = {k: e.writes.copy() for k, e in dep.engines.items()}
    t0 = time.perf_counter()
    res = run_online(dep.net, dep.engines, data, ph, a, w.seed, arch_file)
    wall.add("functional", t0)
    n = ph.samples
    # online accuracy: EMA from zero, bias-corrected (as Adam's moments), so its early values
    # are the mean so far instead of a ramp from the first sample's 0 or 1
    ema, acc = [], 0.0
    for i, c in enumerate(res.correct):
        acc = ph.ema * acc + (1 - ph.ema) * float(c)
        ema.append(acc / (1 - ph.ema ** (i + 1)))
    win = ph.window_samples
    windows = [{"start": s, "end": min(n, s + win), "accuracy": float(res.correct[s:s + win].mean()),
                "segment": res.segments[s]} for s in range(0, n, win)]
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
        },
        "writes": {
            "total_cell_writes": pulses,
            "max_per_cell": wmax,
            "mean_per_cell": float(counts.mean()) if counts.size else 0.0,
            "density": pulses / (counts.size * n) if counts.size and n else 0.0,
            "histogram": _histogram(counts),
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
            "timeline": _timeline(on.intervals),
        },
        "ema_series": {"every": max(1, n // 500), "values": ema[:: max(1, n // 500)]},
    }


def run_study(arch: Loaded, workload: Loaded, wall: WallClock | None = None, workers: int = 1) -> dict:
    """Run every phase of the workload on the chip; return the report (plain JSON data).
    `workers` > 1 runs Monte-Carlo chips in that many processes (same report bytes)."""
    wall = wall or WallClock()
    t0 = time.perf_counter()
    chip = build_chip(arch)                       # the device and tile models, located errors
    a: ArchSpec = chip.arch
    w: WorkloadSpec = workload.spec
    data = workload_data(w, workload.path)
    net0 = untrained_net(w, data, workload.path)
    cmap = fit_check(net0, w, chip, arch.path, workload.path)
    wall.add("load", t0)
    if not w.deploy.functional:
        return cost_only_study(arch, workload, chip, data, net0, cmap, wall)
    t0 = time.perf_counter()
    net, origin = workload_net(w, data, a, workload.path, untrained=net0)
    del net0
    float_acc = float((net.predict(data.x_test) == data.y_test).mean())
    wall.add({"pretrained": "pretrain", "cached": "load_model"}.get(origin, "load_model"), t0)
    note = {"cached": " (cached)", "onnx": " (ONNX weights)"}.get(origin, "")
    say(f"float model: test accuracy {float_acc:.4f}{note}")
    t0 = time.perf_counter()
    dep = deploy(net, data, chip, w, arch.path, workload.path)
    programming = programming_report(dep, chip)     # now: the phases change levels and faults
    wall.add("program", t0)
    phases = []
    for ph in w.phases:
        if ph.kind == "monte_carlo":
            say(f"phase {ph.name}: Monte-Carlo over {ph.chips} chips x {len(ph.policies)} policies"
                f" x {max(1, len(ph.sigmas))} sigmas ({ph.evaluate})")
            t1 = time.perf_counter()
            phases.append(run_monte_carlo(ph, net, data, a, w, arch.path, workload.path, float_acc,
                                          workers))
            wall.add("monte_carlo", t1)
        elif ph.kind == "train":
            say(f"phase {ph.name}: online {ph.algorithm.name} on a {ph.scenario.kind} stream "
                f"of {ph.samples} samples")
            phases.append(run_train_phase(ph, dep, data, chip, w, arch.path, wall))
        else:
            say(f"phase {ph.name}: {ph.kind} on {ph.split}")
            phases.append(run_phase(ph, dep, data, chip, wall))
    return {
        **_inputs(arch, workload, a),
        "model": {
            "name": model_label(w.model),
            "parameters": _parameters(net),
            "float_test_accuracy": float_acc,
            "pretrain_key": pretrain_key(w, a) if origin in ("pretrained", "cached") else None,
        },
        "mapping": dep.cmap.summary(),
        "area": chip.area(),
        "cost_table": cost_table(chip),
        "deploy": programming,
        "phases": phases,
    }


def _inputs(arch: Loaded, workload: Loaded, spec: ArchSpec) -> dict:
    """The inputs' paths and hashes, and the specs as run (the arch with its models' params)."""
    return {
        "cimsim_version": __version__,
        "inputs": {
            "arch": {"path": arch.path, "sha256": arch.sha256, "spec": to_dict(spec)},
            "workload": {"path": workload.path, "sha256": workload.sha256, "spec": to_dict(workload.spec)},
        },
    }


def _parameters(net: Net) -> int:
    return int(sum(v.size for k, v in net.state().items() if k.endswith((".W", ".b", ".gamma", ".beta"))))


def cost_only_study(arch: Loaded, workload: Loaded, chip: Chip, data: Dataset, net: Net, cmap: ChipMap,
                    wall: WallClock) -> dict:
    """deploy.functional: false: energy, latency and utilisation of every inference phase from
    the layer shapes (no pretraining, no programming, no analog model, no accuracy)."""
    a: ArchSpec = chip.arch
    w: WorkloadSpec = workload.spec
    rounds = None
    if cmap.rounds > 1:                           # only with deploy.weight_reload (fit_check)
        rounds = plan_rounds(_weight_shapes(net), chip, arch.path)
        say(f"weight reload: the network needs {cmap.tiles_used} tiles, the chip has {a.chip.tiles}: "
            f"{len(rounds)} rounds of whole layers")
    phases = []
    for ph in w.phases:
        say(f"phase {ph.name}: cost-only {ph.kind} on {ph.split}")
        phases.append(run_cost_phase(ph, net, data, chip, cmap, wall, rounds))
    return {
        **_inputs(arch, workload, a),
        "model": {"name": model_label(w.model), "parameters": _parameters(net),
                  "float_test_accuracy": None, "pretrain_key": None},
        "mapping": cmap.summary(),
        "area": chip.area(),
        "cost_table": cost_table(chip),
        "deploy": {"functional": False, "policy": None,
                   "note": "cost-only run: no weights are programmed (programming cost needs the "
                           "programmed levels of a functional run)"},
        "phases": phases,
    }
