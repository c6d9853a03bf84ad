"""What a phase's trace costs: SimPy latency, energy (dynamic + idle), efficiency, and the
same for a network run in weight-reload rounds. Shared by the inference and online phases."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..energy import components, phase_energy
from ..functional import act_bytes
from ..hw.chip import Chip
from ..hw.noc import homes
from ..mapping import ChipMap
from ..nn.layers import AvgPool, Conv2d, MaxPool, Net
from ..reload import Round, programming_per_cell, round_overhead, split_trace
from ..results import Efficiency, Energy, Latency, Reload
from ..session import WallClock
from ..shape_trace import macs_per_sample
from ..timing import RowPlan, simulate
from ..trace import Trace


@dataclass(frozen=True)
class Costs:
    """What a phase's trace costs: the parts a costed phase result is composed of."""

    latency: Latency
    energy: Energy
    efficiency: Efficiency
    reload: Reload | None = None


WINDOWS = (Conv2d, MaxPool, AvgPool)      # nodes that read a k x k window of their input rows


def row_plan(net: Net, input_shape: tuple[int, ...]) -> dict[str, RowPlan]:
    """Each node's row steps (its output rows; 1 without a spatial output) and, per input,
    how many of the input's steps each step needs: a window (conv, pooling) its rows
    j x stride + k - pad (clipped), a same-height node row j, anything else (flatten,
    global pooling, linear) all of them. The network input arrives whole."""
    shapes = net.shapes(input_shape)
    rows = {name: (s[0] if len(s) == 3 else 1) for name, s in shapes.items()}
    plan = {}
    for n in net.nodes:
        r = rows[n.name]
        need = {}
        for i in n.inputs:
            if i == "input":
                continue
            h = rows[i]
            if isinstance(n, WINDOWS) and r > 1:
                need[i] = tuple(min(max(j * n.stride + n.k - n.pad, 1), h) for j in range(r))
            elif h == r:
                need[i] = tuple(range(1, r + 1))
            else:
                need[i] = (h,) * r
        plan[n.name] = RowPlan(r, need)
    return plan


def line_buffers(net: Net, input_shape: tuple[int, ...], trace: Trace, chip: Chip,
                 cmap: ChipMap) -> list[dict]:
    """Row pipelining keeps, per window (conv, pooling), k + stride - 1 of its input's rows
    in its home's buffers: bytes needed against its home tiles' share."""
    shapes, home = net.shapes(input_shape), homes(trace, cmap)
    nb = act_bytes(chip.arch)
    out = []
    for n in net.nodes:
        if not isinstance(n, WINDOWS) or len(shapes[n.name]) != 3:
            continue
        h, w, c = shapes[n.inputs[0]]
        need = min(n.k + n.stride - 1, h) * w * c * nb
        cap = chip.sram.capacity_bytes(home[n.name].tiles)
        out.append({"node": n.name, "bytes": need, "capacity_bytes": cap, "fits": need <= cap})
    return out


def latency_report(trace: Trace, chip: Chip, cmap: ChipMap, wall: WallClock,
                   rows: dict[str, RowPlan] | None = None, buffers: list[dict] | None = None) -> Latency:
    t0 = time.perf_counter()
    tr = simulate(trace, chip, cmap, rows=rows)
    wall.add("timing", t0)
    images = len(tr.image_latency_cycles)
    util = {k: tr.busy_cycles[k] / (tr.makespan_cycles * tr.capacity[k]) if tr.makespan_cycles else 0.0
            for k in sorted(tr.busy_cycles)}
    xbar_busy = adc_busy = 0
    per_node = {}
    times = tr.stages                       # the stage times the replay used
    for n in trace.nodes:
        st = times[n.name]
        xbar_busy += st.crossbar_busy * images
        adc_busy += st.adc_busy * images
        per_node[n.name] = {"compute_cycles": st.compute, "sram_cycles": st.sram, "noc_cycles": st.noc,
                            "resource": st.resource}
    tiles = [k for k in tr.busy_cycles if k.startswith("tiles:")]
    span = tr.makespan_cycles * max(len(tiles), 1)
    return Latency(
        images=images,
        makespan_cycles=tr.makespan_cycles,
        makespan_s=chip.seconds(tr.makespan_cycles),
        first_image_latency_cycles=tr.image_latency_cycles[0] if images else 0,
        first_image_latency_s=chip.seconds(tr.image_latency_cycles[0]) if images else 0.0,
        mean_image_latency_cycles=float(np.mean(tr.image_latency_cycles)) if images else 0.0,
        throughput_images_per_s=images / chip.seconds(tr.makespan_cycles) if tr.makespan_cycles else 0.0,
        utilisation={
            **util,
            "crossbar_arrays_mean": xbar_busy / span if span else 0.0,
            "adcs_mean": adc_busy / span if span else 0.0,
        },
        simpy_events=tr.events,
        timeline=timeline(tr.intervals),
        per_node_cycles_per_image=per_node,
        line_buffers=buffers,
    )


def add_idle(energy: dict, chip: Chip, seconds: float, count: int, per: str = "image",
             used_tiles: int | None = None) -> Energy:
    """The phase's energy (a dynamic energy dict of energy.phase_energy, or its totals) with
    its idle units' draw over `seconds` (chip.power_gating): the dynamic total stays as
    `dynamic_pj`, `idle_per_component_pj` is added, and the total and per-image (or, with
    per="sample", per-sample) figures include both. The total under the other gating choice,
    the static draw and the unused tiles' leakage are reported beside it."""
    idle = chip.idle_energy_pj(energy["per_component_pj"], seconds, used_tiles)
    dynamic = energy["total_pj"]
    total = dynamic + sum(idle.values())
    each = total / count if count else 0.0
    gated = chip.arch.chip.power_gating.gated
    other = dynamic + sum(chip.idle_energy_pj(energy["per_component_pj"], seconds, used_tiles,
                                              gated=not gated).values())
    return Energy(total_pj=total, per_component_pj=energy["per_component_pj"], dynamic_pj=dynamic,
                  idle_pj=sum(idle.values()), idle_per_component_pj=idle,
                  gated_total_pj=total if gated else other, ungated_total_pj=other if gated else total,
                  static_pj=sum(chip.static_mw().values()) * seconds * 1e9,
                  unused_tiles_pj=chip.unused_tiles_pj(seconds, chip.arch.chip.tiles if used_tiles is None
                                                       else used_tiles),
                  per_image_pj=each if per == "image" else None,
                  per_sample_pj=each if per == "sample" else None,
                  per_node_pj=energy.get("per_node_pj"),
                  per_node_component_pj=energy.get("per_node_component_pj"),
                  action_counts=energy.get("action_counts"))


def efficiency(macs_per_image: int, energy: Energy, latency: Latency, area: dict) -> Efficiency:
    """The figures CIM papers quote: MACs, pJ per MAC, TOPS/W (2 ops per MAC), TOPS at the
    phase's throughput and TOPS/mm2 of the whole chip (null when the tile model lists no
    area of its own: the chip's area would be its periphery only)."""
    area_mm2 = area["total_mm2"] if area["tile_mm2"] > 0 else 0.0
    e = energy.per_image_pj
    tops = 2.0 * macs_per_image * latency.throughput_images_per_s / 1e12
    return Efficiency(macs_per_image=macs_per_image,
                      pj_per_mac=e / macs_per_image if macs_per_image else None,
                      tops_per_w=2.0 * macs_per_image / e if e else None,
                      tops=tops,
                      tops_per_mm2=tops / area_mm2 if area_mm2 else None)


def timeline(intervals: list[tuple[str, int, int, int]]) -> list[dict]:
    """Busy intervals of every resource for the first images (SimPy record), in time order."""
    rows = sorted(intervals, key=lambda r: (r[2], r[0], r[1]))
    return [{"resource": r, "image": i, "start_cycle": int(a), "end_cycle": int(b)} for r, i, a, b in rows]


def phase_costs(trace: Trace, chip: Chip, cmap: ChipMap, net: Net, input_shape: tuple[int, ...],
                images: int, wall: WallClock, pipeline: str = "image") -> Costs:
    """latency (SimPy), energy (dynamic + idle over the makespan) and efficiency of a trace
    (`pipeline`: deploy.pipeline, image or row steps)."""
    rows = row_plan(net, input_shape) if pipeline == "row" else None
    buffers = line_buffers(net, input_shape, trace, chip, cmap) if rows else None
    latency = latency_report(trace, chip, cmap, wall, rows, buffers)
    energy = add_idle(phase_energy(trace, chip, cmap), chip, latency.makespan_s, images,
                      used_tiles=cmap.tiles_used)
    macs = sum(macs_per_sample(net, input_shape).values())
    return Costs(latency, energy, efficiency(macs, energy, latency, chip.area()))


def reload_costs(trace: Trace, chip: Chip, rounds: list[Round], net: Net, input_shape: tuple[int, ...],
                 images: int, wall: WallClock, verify: bool = False) -> Costs:
    """Latency, energy and efficiency of a phase run in weight-reload rounds: per round, load
    and program its weights (`verify`: deploy.write_verify all), then run every image through
    its nodes (reload.py)."""
    parts = []
    prog = programming_per_cell(chip, verify)
    for rnd, sub in zip(rounds, split_trace(trace, rounds)):
        lat = latency_report(sub, chip, rnd.cmap, wall)
        over = round_overhead(rnd, chip, prog)
        over["run_cycles"] = lat.makespan_cycles
        over["offchip_activation_bytes"] = sum(sub.offchip_bytes().values())
        parts.append((over, lat, phase_energy(sub, chip, rnd.cmap)))
    totals = [o["load_cycles"] + o["program_cycles"] + o["run_cycles"] for o, _, _ in parts]
    span = sum(totals)
    before_last = span - totals[-1] + parts[-1][0]["load_cycles"] + parts[-1][0]["program_cycles"]
    last = parts[-1][1]
    util: dict[str, float] = {}
    for _, lat, _ in parts:                  # time-weighted: loading and programming idle them
        for k, u in lat.utilisation.items():
            util[k] = util.get(k, 0.0) + u * lat.makespan_cycles / span
    latency = Latency(
        images=images, makespan_cycles=span, makespan_s=chip.seconds(span),
        # every image waits for the earlier rounds of the whole batch
        first_image_latency_cycles=before_last + last.first_image_latency_cycles,
        first_image_latency_s=chip.seconds(before_last + last.first_image_latency_cycles),
        mean_image_latency_cycles=before_last + last.mean_image_latency_cycles,
        throughput_images_per_s=images / chip.seconds(span) if span else 0.0,
        utilisation=dict(sorted(util.items())),
        simpy_events=sum(lat.simpy_events for _, lat, _ in parts),
        timeline=parts[0][1].timeline,
        per_node_cycles_per_image={k: v for _, lat, _ in parts
                                   for k, v in lat.per_node_cycles_per_image.items()},
    )
    comp = dict.fromkeys((*components(chip), "write_pulses", "write_drivers"), 0.0)
    per_node, per_node_comp, counts = {}, {}, {}
    for over, _, e in parts:
        for k, v in e["per_component_pj"].items():
            comp[k] += v
        for k, v in over["energy_pj"].items():
            comp[k] = comp.get(k, 0.0) + v
        per_node.update(e["per_node_pj"])
        per_node_comp.update(e["per_node_component_pj"])
        for k, v in e["action_counts"].items():
            counts[k] = counts.get(k, 0) + v
    total = sum(comp.values())
    energy = add_idle({"total_pj": total, "per_image_pj": total / images if images else 0.0,
                       "per_component_pj": comp, "per_node_pj": per_node,
                       "per_node_component_pj": per_node_comp, "action_counts": dict(sorted(counts.items()))},
                      chip, latency.makespan_s, images)
    macs = sum(macs_per_sample(net, input_shape).values())
    endurance = chip.tile.endurance_cycles()
    reload = Reload(
        rounds=[o for o, _, _ in parts],
        weight_bytes_per_phase=sum(o["weight_bytes"] for o, _, _ in parts),
        cells_programmed_per_phase=sum(o["cells_programmed"] for o, _, _ in parts),
        images_per_reload=images,
        # every used cell is rewritten once per phase (batch of `images`), the busiest with
        # the most pulses a sampled cell took
        images_to_first_wear_out=(endurance / max(prog.max_pulses, 1) * images
                                  if math.isfinite(endurance) else None),
    )
    return Costs(latency, energy, efficiency(macs, energy, latency, chip.area()), reload)


def cost_tables(name: str, energy: Energy | None, latency: Any = None, efficiency: Efficiency | None = None,
                images: int = 1, nodes: list[dict] | None = None) -> dict[str, list[dict]]:
    """The rows a costed phase adds to the shared tables (energy, energy_nodes, layers,
    efficiency, utilisation, timeline, nodes); `latency` is a Latency or an online latency
    (busy cycles instead of utilisation). Columns that come from a mapping in the report are
    in sorted order, as report.json holds them."""
    out: dict[str, list[dict]] = {k: [] for k in ("energy", "energy_nodes", "layers", "efficiency",
                                                  "utilisation", "timeline", "nodes")}
    if energy is not None:
        out.update(_energy_rows(name, energy))
    if efficiency is not None:
        out["efficiency"] = [{"phase": name, **dict(sorted(efficiency.to_json().items()))}]
    if latency is not None:
        out.update(_latency_rows(name, latency, energy, images))
    out["nodes"] = [{"phase": name, **{k: v for k, v in node.items() if k != "inputs"},
                     "inputs": " ".join(node["inputs"]),
                     "in_bytes": " ".join(str(b) for b in node.get("in_bytes", []))} for node in nodes or []]
    return out


def _energy_rows(name: str, energy: Energy) -> dict[str, list[dict]]:
    return {"energy": ([{"phase": name, "component": c, "kind": "dynamic", "energy_pj": v}
                        for c, v in energy.per_component_pj.items()]
                       + [{"phase": name, "component": c, "kind": "idle", "energy_pj": v}
                          for c, v in energy.idle_per_component_pj.items()]),
            "energy_nodes": [{"phase": name, "node": node, "component": c, "energy_pj": v}
                             for node, comps in (energy.per_node_component_pj or {}).items()
                             for c, v in comps.items()]}


def _latency_rows(name: str, latency: Any, energy: Energy | None, images: int) -> dict[str, list[dict]]:
    node_pj = (energy.per_node_pj if energy is not None else None) or {}
    return {"layers": [{"phase": name, "node": node, **c,
                        "energy_pj_per_image": node_pj[node] / images if node in node_pj else None}
                       for node, c in getattr(latency, "per_node_cycles_per_image", {}).items()],
            "utilisation": ([{"phase": name, "resource": r, "utilisation": u}
                             for r, u in getattr(latency, "utilisation", {}).items()]
                            + [{"phase": name, "resource": r, "busy_cycles": b}
                               for r, b in getattr(latency, "busy_cycles", {}).items()]),
            "timeline": [{"phase": name, **iv} for iv in latency.timeline]}
