"""Timing model: a SimPy discrete-event replay of a phase's trace on the chip.

Resources: each weight layer's tiles (its crossbars, exclusive to it), the SRAM
buffer (ports), the digital vector unit and the NoC. Images flow through the
network's nodes in order; a node starts on an image when that image's inputs are
ready and, while it runs, streams its data: it holds its compute resource (tiles or
digital unit), an SRAM port and (weight layers) the NoC concurrently, each for the
closed-form time of its share of the work, and finishes when all three have. Events
are coarse: one per resource per node per image, never one per cycle. Shared
resources serve the oldest image first (priority = image index), non-preemptively.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from .hw.chip import Chip
from .mapping import ChipMap, LayerMap
from .trace import NodeTrace, Trace


@dataclass
class StageTimes:
    """Closed-form busy cycles of one node on one image, per resource."""

    compute: int
    sram: int
    noc: int
    resource: str            # which compute resource: a layer's tiles or the digital unit
    crossbar_busy: int = 0   # array-read busy cycles (for utilisation)
    adc_busy: int = 0        # ADC busy cycles
    lmap: LayerMap | None = None   # weight layers: the layer's map and planes, for the tile's
    vector_planes: int = 0         # own SimPy process (TileModel.mvm_process)


def stage_times(n: NodeTrace, chip: Chip, cmap: ChipMap) -> StageTimes:
    """Per-image cycles of node n on each resource it uses."""
    sram = chip.sram.access_cycles(n.per_image("sram_read_bytes") + n.per_image("sram_write_bytes"))
    if n.layer:
        lm = cmap.layer(n.layer)
        vp = round(n.per_image("vectors")) * n.planes
        arr, conv = chip.tile.busy_cycles(lm, vp)
        noc = chip.noc.transfer_cycles(n.per_image("noc_bytes"))
        return StageTimes(chip.tile.mvm_cycles(lm, vp), sram, noc, f"tiles:{n.layer}", arr, conv, lm, vp)
    return StageTimes(chip.digital.op_cycles(n.per_image("digital_ops")), sram, 0, "digital")


@dataclass
class TimingResult:
    makespan_cycles: int
    image_latency_cycles: list[int]
    busy_cycles: dict[str, int]
    capacity: dict[str, int]
    intervals: list[tuple[str, int, int, int]] = field(default_factory=list)  # (res, image, t0, t1)
    events: int = 0


def simulate(trace: Trace, chip: Chip, cmap: ChipMap, images: int | None = None,
             record_images: int = 4) -> TimingResult:
    """Replay `images` images (default: the phase's count) through the chip."""
    env = simpy.Environment()
    arch = chip.arch
    n_img = trace.nodes[0].images if images is None else images
    times = {n.name: stage_times(n, chip, cmap) for n in trace.nodes}
    res: dict[str, simpy.PriorityResource] = {
        "sram": simpy.PriorityResource(env, capacity=arch.sram_buffer.ports),
        "noc": simpy.PriorityResource(env, capacity=1),
        "digital": simpy.PriorityResource(env, capacity=1),
    }
    for st in times.values():
        if st.resource not in res:
            res[st.resource] = simpy.PriorityResource(env, capacity=1)
    busy = {k: 0 for k in res}
    intervals: list[tuple[str, int, int, int]] = []
    counter = [0]
    first_start = [0] * n_img

    def hold(name: str, dur: int, img: int, mark: bool = False, st: StageTimes | None = None):
        """Hold resource `name` for dur cycles, or (weight layers) while the tile model's
        own SimPy process runs the image's MVMs."""
        with res[name].request(priority=img) as req:
            yield req
            t0 = env.now
            if mark:
                first_start[img] = int(t0)
            if st is not None and st.lmap is not None:      # in this process: no extra event
                yield from chip.tile.mvm_process(env, st.lmap, st.vector_planes)
            else:
                yield env.timeout(dur)
            busy[name] += int(env.now - t0)
            counter[0] += 1
            if img < record_images:
                intervals.append((name, img, t0, env.now))

    end = [0] * n_img
    first, out = trace.nodes[0], trace.nodes[-1].name
    done: list[dict[str, simpy.Process]] = [{} for _ in range(n_img)]

    def stage(img: int, n: NodeTrace):
        deps = [done[img][i] for i in n.inputs if i != "input"]
        if deps:
            yield simpy.AllOf(env, deps)
        st = times[n.name]
        parts = [env.process(hold(st.resource, st.compute, img, n is first, st))]
        if st.sram:
            parts.append(env.process(hold("sram", st.sram, img)))
        if st.noc:
            parts.append(env.process(hold("noc", st.noc, img)))
        yield simpy.AllOf(env, parts)
        if n.name == out:
            end[img] = int(env.now)

    for img in range(n_img):
        for n in trace.nodes:
            done[img][n.name] = env.process(stage(img, n))
    env.run()
    cap = {k: (arch.sram_buffer.ports if k == "sram" else 1) for k in res}
    lat = [end[i] - first_start[i] for i in range(n_img)]
    return TimingResult(int(env.now), lat, busy, cap, intervals, counter[0])


def simulate_online(forward_cycles: int, learn_cycles: list[int], writes: list[dict[str, int]],
                    chip: Chip, cmap: ChipMap, record_samples: int = 40) -> TimingResult:
    """Batch-1 online training: per sample, a forward pass (its isolated latency), the
    digital learning step on the vector unit, then the sample's writes: each written layer
    holds its tiles while its write drivers pulse its cells (tiles of a layer in parallel,
    layers in parallel). The next sample starts when all of this is done. Busy intervals of
    the first `record_samples` samples are kept for the activity timeline."""
    env = simpy.Environment()
    res = {"digital": simpy.Resource(env, 1)}
    for lm in cmap.layers:
        res[f"tiles:{lm.name}"] = simpy.Resource(env, 1)
    busy = {k: 0 for k in res}
    busy["forward"] = 0
    counter = [0]
    lat: list[int] = []
    intervals: list[tuple[str, int, int, int]] = []

    def hold(name: str, dur: int, i: int, label: str):
        with res[name].request() as req:
            yield req
            t0 = env.now
            yield env.timeout(dur)
            busy[name] += dur
            counter[0] += 1
            if i < record_samples:
                intervals.append((label, i, int(t0), int(env.now)))

    def program(t: int):
        for i in range(len(writes)):
            t0 = env.now
            yield env.timeout(forward_cycles)
            busy["forward"] += forward_cycles
            if i < record_samples:
                intervals.append(("forward", i, int(t0), int(env.now)))
            if learn_cycles[i]:
                yield env.process(hold("digital", learn_cycles[i], i, "digital"))
            parts = []
            for name, cells in writes[i].items():
                lm = cmap.layer(name)
                dur = chip.tile.program_cycles(-(-cells // lm.tiles))
                parts.append(env.process(hold(f"tiles:{name}", dur, i, f"write_drivers:{name}")))
            if parts:
                yield simpy.AllOf(env, parts)
            lat.append(int(env.now - t0))

    env.process(program(0))
    env.run()
    cap = {k: 1 for k in busy}
    return TimingResult(int(env.now), lat, busy, cap, intervals, counter[0])


def simulate_programming(jobs: dict[str, list[int]], drivers: int) -> TimingResult:
    """Programming a chip: every tile's write drivers (`drivers` per tile, each a SimPy
    process) take the tile's row-chunk jobs (durations in cycles) in order, each driver the
    next job as soon as it is free; tiles program in parallel. Makespan = the slowest tile."""
    env = simpy.Environment()
    busy = {k: 0 for k in jobs}
    counter = [0]

    def driver(tile: str, queue: list[int]):
        while queue:
            d = queue.pop()
            yield env.timeout(d)
            busy[tile] += d
            counter[0] += 1

    for tile, durs in jobs.items():
        queue = [d for d in reversed(durs) if d]       # pop() from the end = first job first
        for _ in range(drivers):
            env.process(driver(tile, queue))
    env.run()
    return TimingResult(int(env.now), [], busy, {k: drivers for k in jobs}, [], counter[0])
