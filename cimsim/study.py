"""One study end to end: config -> model -> mapping -> program -> phases -> report."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from .config import Loaded, to_dict
from .config.arch import ArchSpec
from .config.workload import PhaseSpec, WorkloadSpec
from .energy import phase_energy, programming_energy_pj
from .errors import FitError
from .functional import SEED_STREAM_PROGRAM, SEED_STREAM_READ, AnalogLayer, run
from .hw.chip import Chip
from .mapping import ChipMap, map_layers
from .nn.data import Dataset, load_dataset
from .nn.layers import Net
from .nn.train import pretrain_key, pretrained_model
from .progress import say
from .timing import simulate, stage_times
from .trace import Trace


@dataclass
class WallClock:
    """Where the wall time went (printed, never written to the deterministic report)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, t0: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0


@dataclass
class Deployment:
    """A network programmed onto one chip instance."""

    net: Net
    cmap: ChipMap
    engines: dict[str, AnalogLayer]


def calibrate(net: Net, data: Dataset, images: int) -> dict[str, float]:
    """Largest input seen by each weight layer on training images: its DAC full scale."""
    taps: dict[str, np.ndarray] = {}
    x = data.x_train[:images]
    maxima: dict[str, float] = {}
    for i in range(0, len(x), 128):
        net.forward(x[i:i + 128], taps=taps)
        for k, v in taps.items():
            maxima[k] = max(maxima.get(k, 0.0), float(np.abs(v).max()))
    return maxima


def deploy(net: Net, data: Dataset, arch: ArchSpec, w: WorkloadSpec, arch_file: str) -> Deployment:
    shapes = [(n.name, *n.W.shape) for n in net.weight_layers()]
    try:
        cmap = map_layers(shapes, arch)
    except FitError as e:
        raise FitError(f"{arch_file}: chip.tiles: {e}") from None
    x_max = calibrate(net, data, w.deploy.calibration_images)
    rng = np.random.default_rng([w.seed, SEED_STREAM_PROGRAM])
    engines = {}
    for i, n in enumerate(net.weight_layers()):
        key = int(np.random.SeedSequence([w.seed, SEED_STREAM_READ, i]).generate_state(1)[0])
        engines[n.name] = AnalogLayer(n.name, n.W, arch, cmap.layer(n.name), x_max[n.name], rng, key)
    return Deployment(net, cmap, engines)


def programming_report(dep: Deployment, chip: Chip) -> dict:
    """One-shot programming: pulses, stuck cells, energy and time (tiles program in parallel)."""
    wd = chip.arch.write_driver
    pulses = driver_ops = worst = 0
    stuck = cells = 0
    for e in dep.engines.values():
        lm = e.lmap
        p = e.cells.pulses
        pulses += p
        per_tile = -(-p // lm.tiles)
        driver_ops += lm.tiles * -(-per_tile // (wd.per_tile * wd.parallel_cells))
        worst = max(worst, chip.tile.program_cycles(per_tile))
        stuck += int(np.count_nonzero(e.cells.stuck))
        cells += e.cells.g.size
    return {"policy": "one_shot", "cells": cells, "pulses": pulses, "stuck_cells": stuck,
            "energy": programming_energy_pj(pulses, driver_ops, chip),
            "time_cycles": worst, "time_s": chip.seconds(worst)}


def latency_report(trace: Trace, chip: Chip, dep: Deployment, wall: WallClock) -> dict:
    t0 = time.perf_counter()
    tr = simulate(trace, chip, dep.cmap)
    wall.add("timing", t0)
    images = len(tr.image_latency_cycles)
    util = {k: tr.busy_cycles[k] / (tr.makespan_cycles * tr.capacity[k]) if tr.makespan_cycles else 0.0
            for k in sorted(tr.busy_cycles)}
    xbar_busy = adc_busy = 0
    for n in trace.nodes:
        st = stage_times(n, chip, dep.cmap)
        xbar_busy += st.crossbar_busy * images
        adc_busy += st.adc_busy * images
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
    }


def run_phase(ph: PhaseSpec, dep: Deployment, data: Dataset, chip: Chip, wall: WallClock) -> dict:
    x, y = data.split(ph.split)
    if ph.samples:
        x, y = x[: ph.samples], y[: ph.samples]
    t0 = time.perf_counter()
    logits, trace = run(dep.net, dep.engines, x, chip.arch)
    wall.add("functional", t0)
    acc = float((logits.argmax(1) == y).mean())
    conv = trace.total("adc_conversions")
    energy = phase_energy(trace, chip)
    return {
        "name": ph.name, "kind": ph.kind, "split": ph.split, "images": int(len(x)),
        "accuracy": acc,
        "latency": latency_report(trace, chip, dep, wall),
        "energy": energy,
        "adc_clip_fraction": trace.total("adc_clipped") / conv if conv else 0.0,
        "nodes": trace.to_rows(),
    }


def run_study(arch: Loaded, workload: Loaded, wall: WallClock | None = None) -> dict:
    """Run every phase of the workload on the chip; return the report (plain JSON data)."""
    wall = wall or WallClock()
    a: ArchSpec = arch.spec
    w: WorkloadSpec = workload.spec
    t0 = time.perf_counter()
    data = load_dataset(w.dataset, w.seed)
    net, cached = pretrained_model(w, data)
    float_acc = float((net.predict(data.x_test) == data.y_test).mean())
    wall.add("pretrain" if not cached else "load_model", t0)
    say(f"float model: test accuracy {float_acc:.4f}{' (cached)' if cached else ''}")
    chip = Chip(a)
    t0 = time.perf_counter()
    dep = deploy(net, data, a, w, arch.path)
    wall.add("program", t0)
    phases = []
    for ph in w.phases:
        say(f"phase {ph.name}: {ph.kind} on {ph.split}")
        phases.append(run_phase(ph, dep, data, chip, wall))
    return {
        "cimsim_version": __version__,
        "inputs": {
            "arch": {"path": arch.path, "sha256": arch.sha256, "spec": to_dict(a)},
            "workload": {"path": workload.path, "sha256": workload.sha256, "spec": to_dict(w)},
        },
        "model": {
            "name": f"{w.model.name}-{w.model.depth}",
            "parameters": int(sum(v.size for k, v in net.state().items()
                                  if k.endswith((".W", ".b", ".gamma", ".beta")))),
            "float_test_accuracy": float_acc,
            "pretrain_key": pretrain_key(w),
        },
        "mapping": dep.cmap.summary(),
        "deploy": programming_report(dep, chip),
        "phases": phases,
    }
