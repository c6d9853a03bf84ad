"""Energy = trace counts x per-action costs owned by the chip's components.

Dynamic energy per action here; idle (leakage) energy over a phase's makespan is the
chip's (Chip.idle_energy_pj, under its power-gating choice).
"""
from __future__ import annotations

from .errors import CimsimError
from .hw.chip import Chip
from .hw.noc import Flow, node_flows
from .mapping import ChipMap
from .trace import NodeTrace, Trace

CHIP_COMPONENTS = ("digital", "sram_read", "sram_write", "noc", "offchip")   # after the tile's own


def components(chip: Chip) -> tuple[str, ...]:
    """Every energy component of a phase on this chip: the tile's, then the chip's."""
    return (*chip.tile.components, *CHIP_COMPONENTS)


def node_energy_pj(n: NodeTrace, chip: Chip, flows: list[Flow], offchip_bytes: int = 0) -> dict[str, float]:
    """Energy of one node's work, per component, in pJ (the tile model prices its MVMs;
    `flows` are the mesh transfers that bring its inputs, hw/noc.py; `offchip_bytes` what
    it moves across the chip boundary, Trace.offchip_bytes)."""
    sram, noc, dig = chip.sram, chip.noc, chip.digital
    tile = dict.fromkeys(chip.tile.components, 0.0)
    if n.layer:
        for k, v in chip.tile.costs.mvm_energy_pj(n).items():
            if k not in tile:
                raise CimsimError(f"{type(chip.tile).__name__}.mvm_energy_pj returned component "
                                  f"'{k}'; expected keys among its `components`: "
                                  f"{', '.join(chip.tile.components)}")
            tile[k] = float(v)
    return {
        **tile,
        "digital": n.digital_ops * dig.op_pj(),
        "sram_read": sram.read_pj(n.sram_read_bytes + n.partial_sum_bytes),
        "sram_write": sram.write_pj(n.sram_write_bytes + n.partial_sum_bytes),
        "noc": sum(noc.flow_pj(f, n.images) for f in flows),
        "offchip": chip.offchip.transfer_pj(offchip_bytes),
    }


def node_action_counts(n: NodeTrace, chip: Chip, flows: list[Flow],
                       offchip_bytes: int = 0) -> dict[tuple[str, str], int]:
    """(component, action) -> count of one node's work (the tile's actions where it lists them)."""
    out = dict(chip.tile.costs.action_counts(n)) if n.layer else {}
    router_bits = sum(chip.noc.router_bits(f, n.images) for f in flows)
    psum = n.partial_sum_bytes
    for key, v in ((("digital", "op"), n.digital_ops),
                   (("sram_read", "bit"), (n.sram_read_bytes + psum) * 8),
                   (("sram_write", "bit"), (n.sram_write_bytes + psum) * 8),
                   (("noc", "router_bit"), router_bits), (("offchip", "bit"), offchip_bytes * 8)):
        out[key] = out.get(key, 0) + v
    return out


def cost_table(chip: Chip, cmap: ChipMap | None = None) -> list[dict]:
    """The open (component, action) -> pJ table of the report, in a stable order (with the
    per-layer ADC resolutions of `cmap`'s layers)."""
    bits = tuple(sorted({lm.adc_bits for lm in cmap.layers if lm.adc_bits})) if cmap else ()
    return [{"component": c, "action": a, "energy_pj": float(e)}
            for (c, a), e in sorted(chip.action_energies_pj(bits).items())]


def phase_energy(trace: Trace, chip: Chip, cmap: ChipMap) -> dict:
    """Totals per component and per node (pJ), per image, per node and component, and the
    (component.action) counts that, times the cost table, give these energies."""
    flows = node_flows(trace, cmap, chip.noc.mesh)
    off = trace.offchip_bytes()
    per_node = {n.name: node_energy_pj(n, chip, flows[n.name], off[n.name]) for n in trace.nodes}
    per_comp = {c: sum(e[c] for e in per_node.values()) for c in components(chip)}
    total = sum(per_comp.values())
    images = trace.nodes[0].images if trace.nodes else 0
    counts: dict[str, int] = {}
    for n in trace.nodes:
        for (c, a), v in node_action_counts(n, chip, flows[n.name], off[n.name]).items():
            counts[f"{c}.{a}"] = counts.get(f"{c}.{a}", 0) + int(v)
    return {
        "total_pj": total,
        "per_image_pj": total / images if images else 0.0,
        "per_component_pj": per_comp,
        "per_node_pj": {k: sum(v.values()) for k, v in per_node.items()},
        "per_node_component_pj": {k: {c: v for c, v in e.items() if v} for k, e in per_node.items()},
        "action_counts": dict(sorted(counts.items())),
    }


def programming_energy_pj(pulses: int, driver_ops: int, chip: Chip) -> dict[str, float]:
    tile = chip.tile
    cells = pulses * tile.costs.write_pulse_pj()
    drivers = driver_ops * tile.costs.driver_op_pj()
    return {"total_pj": cells + drivers, "cell_pulses_pj": cells, "write_drivers_pj": drivers}
