"""Timing model: a SimPy discrete-event replay of a phase's trace on the chip.

Resources: each weight layer's tiles (its crossbars, exclusive to it), the SRAM
buffers of each home (hw/noc.py: a layer's tiles, ports wide), the digital vector
unit, and the mesh's router ports and links. Images flow through the network's nodes
in order; a node starts on an image when that image's inputs are ready and, while it
runs, streams its data: it holds its compute resource (tiles or digital unit), a port
of its home's buffers, the off-chip interface if it reads images or writes outputs,
and, for each flow that brings an input from another home, that
flow's ports and links, concurrently, each for the closed-form time of its share of the
work, and finishes when all have. Events are coarse: one per resource per node per
image, never one per cycle. Shared resources serve the oldest image first (priority =
image index), non-preemptively.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from .hw.chip import Chip
from .hw.noc import PORT, Flow, Home, homes, node_flows
from .mapping import ChipMap, LayerMap
from .trace import NodeTrace, Trace


@dataclass
class StageTimes:
    """Closed-form busy cycles of one node on one image, per resource."""

    compute: int
    sram: int
    noc: int                 # the longest of its flows
    resource: str            # which compute resource: a layer's tiles or the digital unit
    crossbar_busy: int = 0   # array-read busy cycles (for utilisation)
    adc_busy: int = 0        # ADC busy cycles
    lmap: LayerMap | None = None   # weight layers: the layer's map and planes, for the tile's
    vector_planes: int = 0         # own SimPy process (TileModel.mvm_process)
    sram_resource: str = "sram:port"   # the home tiles' buffers
    flows: list[Flow] = field(default_factory=list)   # mesh transfers of its inputs
    offchip: int = 0         # cycles on the off-chip interface (images in, outputs out)


def stage_times(n: NodeTrace, chip: Chip, cmap: ChipMap, home: Home | None = None,
                flows: list[Flow] | None = None, offchip_bytes: int = 0) -> StageTimes:
    """Per-image cycles of node n on each resource it uses (its home and flows: hw/noc.py)."""
    home = home or PORT
    flows = flows or []
    off = chip.offchip.transfer_cycles(offchip_bytes / n.images) if n.images else 0
    sram = chip.sram.access_cycles(n.per_image("sram_read_bytes") + n.per_image("sram_write_bytes")
                                   + 2 * n.per_image("partial_sum_bytes"), home.tiles)
    noc = max((chip.noc.flow_cycles(f) for f in flows), default=0)
    sres = f"sram:{home.name}"
    if n.layer:
        lm = cmap.layer(n.layer)
        vp = math.ceil(round(n.per_image("vectors")) / lm.copies) * n.planes    # copies run in parallel
        timing = chip.tile.timing
        arr, conv = timing.busy_cycles(lm, vp)
        return StageTimes(timing.mvm_cycles(lm, vp), sram, noc, f"tiles:{n.layer}", arr, conv, lm, vp,
                          sres, flows, off)
    return StageTimes(chip.digital.op_cycles(n.per_image("digital_ops")), sram, noc, "digital",
                      sram_resource=sres, flows=flows, offchip=off)


def phase_stage_times(trace: Trace, chip: Chip, cmap: ChipMap) -> dict[str, StageTimes]:
    home = homes(trace, cmap)
    flows = node_flows(trace, cmap, chip.noc.mesh)
    off = trace.offchip_bytes()
    return {n.name: stage_times(n, chip, cmap, home[n.name], flows[n.name], off[n.name])
            for n in trace.nodes}


@dataclass(frozen=True)
class RowPlan:
    """Row-granularity pipelining of one node (deploy.pipeline: row): its work on an image in
    `rows` equal steps (its output rows), step j starting once each input has completed
    `need[input][j]` of its own steps."""

    rows: int
    need: dict[str, tuple[int, ...]]


def _share(total: int, j: int, parts: int) -> int:
    """Step j's whole-cycle share of `total` over `parts` steps (the shares sum to total)."""
    return total * (j + 1) // parts - total * j // parts


@dataclass
class TimingResult:
    makespan_cycles: int
    image_latency_cycles: list[int]
    busy_cycles: dict[str, int]
    capacity: dict[str, int]
    intervals: list[tuple[str, int, int, int]] = field(default_factory=list)  # (res, image, t0, t1)
    events: int = 0
    stages: dict[str, StageTimes] = field(default_factory=dict)   # per node, what was replayed


def simulate(trace: Trace, chip: Chip, cmap: ChipMap, images: int | None = None,
             record_images: int = 4, rows: dict[str, RowPlan] | None = None) -> TimingResult:
    """Replay `images` images (default: the phase's count) through the chip; with `rows`
    (deploy.pipeline: row), each node's work on an image in row steps that start as soon as
    the input rows they need are done."""
    env = simpy.Environment()
    arch = chip.arch
    n_img = trace.nodes[0].images if images is None else images
    times = phase_stage_times(trace, chip, cmap)
    flow_cycles = {f: chip.noc.flow_cycles(f) for st in times.values() for f in st.flows}
    res: dict[str, simpy.PriorityResource] = {"digital": simpy.PriorityResource(env, capacity=1),
                                              "offchip": simpy.PriorityResource(env, capacity=1)}
    for st in times.values():
        names = [st.resource, st.sram_resource, *(r for f in st.flows for r in f.resources)]
        for name in names:
            if name not in res:
                ports = arch.sram_buffer.ports if name.startswith("sram:") else 1
                res[name] = simpy.PriorityResource(env, capacity=ports)
    busy = {k: 0 for k in res}
    intervals: list[tuple[str, int, int, int]] = []
    counter = [0]
    first_start = [0] * n_img

    def hold(name: str, dur: int, img: int, mark: bool = False, st: StageTimes | None = None,
             planes: int = 0):
        """Hold resource `name` for dur cycles, or (weight layers) while the tile model's
        own SimPy process runs the image's MVMs (`planes` of them: a row step's share)."""
        with res[name].request(priority=img) as req:
            yield req
            t0 = env.now
            if mark:
                first_start[img] = int(t0)
            if st is not None and st.lmap is not None:      # in this process: no extra event
                yield from chip.tile.timing.mvm_process(env, st.lmap, planes or st.vector_planes)
            else:
                yield env.timeout(dur)
            busy[name] += int(env.now - t0)
            counter[0] += 1
            if img < record_images:
                intervals.append((name, img, t0, env.now))

    def transfer(f: Flow, img: int, dur: int | None = None):
        """A flow holds its ports and links together (taken in one global order: no deadlock)."""
        reqs = []
        for name in sorted(f.resources):
            r = res[name].request(priority=img)
            yield r
            reqs.append((name, r))
        t0 = env.now
        dur = flow_cycles[f] if dur is None else dur
        yield env.timeout(dur)
        for name, r in reqs:
            res[name].release(r)
            busy[name] += dur
        counter[0] += 1
        if img < record_images:
            intervals.append(("noc", img, t0, env.now))

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
            parts.append(env.process(hold(st.sram_resource, st.sram, img)))
        parts += [env.process(transfer(f, img)) for f in st.flows]
        if st.offchip:
            parts.append(env.process(hold("offchip", st.offchip, img)))
        yield simpy.AllOf(env, parts)
        if n.name == out:
            end[img] = int(env.now)

    # row pipelining: steps_done[img][node] counts a node's finished row steps; row_event
    # wakes the steps waiting on it
    names = [n.name for n in trace.nodes] if rows else []
    steps_done: list[dict[str, int]] = [dict.fromkeys(names, 0) for _ in range(n_img)]
    row_event: list[dict[str, simpy.Event]] = [{k: env.event() for k in names} for _ in range(n_img)]

    def row_stage(img: int, n: NodeTrace):
        plan = rows[n.name]
        st = times[n.name]
        if img:                     # a node works on one image at a time, in order
            yield done[img - 1][n.name]
        for j in range(plan.rows):
            for i, need in plan.need.items():
                while steps_done[img][i] < need[j]:
                    yield row_event[img][i]
            comp = _share(st.compute, j, plan.rows)
            planes = _share(st.vector_planes, j, plan.rows) if st.lmap is not None else 0
            parts = []
            if st.lmap is None or planes:
                parts.append(env.process(hold(st.resource, comp, img, n is first and j == 0, st, planes)))
            if st.sram:
                parts.append(env.process(hold(st.sram_resource, _share(st.sram, j, plan.rows), img)))
            parts += [env.process(transfer(f, img, _share(flow_cycles[f], j, plan.rows))) for f in st.flows]
            if st.offchip:
                parts.append(env.process(hold("offchip", _share(st.offchip, j, plan.rows), img)))
            yield simpy.AllOf(env, parts)
            steps_done[img][n.name] += 1
            ev, row_event[img][n.name] = row_event[img][n.name], env.event()
            ev.succeed()
        if n.name == out:
            end[img] = int(env.now)

    for img in range(n_img):
        for n in trace.nodes:
            done[img][n.name] = env.process(row_stage(img, n) if rows else stage(img, n))
    env.run()
    lat = [end[i] - first_start[i] for i in range(n_img)]
    b, c = _fold(busy, {k: r.capacity for k, r in res.items()})
    mesh = chip.noc.mesh
    c.update({k: v for k, v in (("noc_links", mesh.links()), ("noc_ports", 2 * mesh.routers)) if k in c})
    return TimingResult(int(env.now), lat, b, c, intervals, counter[0], times)


def _fold(busy: dict[str, int], cap: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """Per-link, per-port and per-buffer busy cycles summed into noc_links, noc_ports and
    sram (capacity: the ports of the buffers in use; the caller sets the mesh's links and
    ports); compute resources stay one entry each."""
    groups = {"link": "noc_links", "inj": "noc_ports", "ej": "noc_ports", "sram:": "sram"}
    b_out: dict[str, int] = {}
    c_out: dict[str, int] = {}
    for k in busy:
        g = next((v for p, v in groups.items() if k.startswith(p)), k)
        b_out[g] = b_out.get(g, 0) + busy[k]
        c_out[g] = c_out.get(g, 0) + cap[k]
    return b_out, c_out


def simulate_online(forward_cycles: int, learn_cycles: list[int], writes: list[dict[str, int]],
                    chip: Chip, cmap: ChipMap, row_ops: list[dict[str, int]] | None = None,
                    record_samples: int = 40) -> TimingResult:
    """Batch-1 online training: per sample, a forward pass (its isolated latency), the
    digital learning step on the vector unit, then the sample's writes: each written layer
    holds its tiles while its write drivers pulse its cells, one operation per row chunk
    with a written cell (`row_ops`; a tile that does not count them: its cells packed into
    full chunks), tiles of a layer in parallel, layers in parallel. The next sample starts
    when all of this is done. Busy intervals of the first `record_samples` samples are kept
    for the activity timeline."""
    env = simpy.Environment()
    wd = chip.arch.write_driver
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
                ops = (row_ops[i].get(name, 0) if row_ops else 0) or -(-cells // wd.parallel_cells)
                dur = -(-ops // (lm.tiles * wd.per_tile)) * chip.tile.timing.pulse_cycles()
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
