"""Technology scaling: the CMOS constants of an arch file, each quoted at the node of its
source (a section's `node_nm`), brought to the chip's `technology_nm` at `supply_v`.

Scaling equations: Stillmaker and Baas, "Scaling equations for the accurate prediction of
CMOS device performance from 180 nm to 7 nm", Integration 58 (2017), as tabulated for
130-7 nm by Accelergy's hwcomponents (scaling/techscaling.py):
- area: the relative area of each node (Stillmaker and Baas's factors from 45 nm);
- energy: each node's fitted energy polynomial a V^2 + b V + c, at the chip's supply V;
- delay: proportional to the node (the linear rule Accelergy applies);
- leakage power density: the energy factor over the area factor.
Between tabulated nodes the factors are interpolated linearly in nm.

What scales: the row DACs, ADCs (energy, area, conversion time), sample-and-holds, the
input/output registers, the shift-and-add units and vector lanes, the SRAM buffers and
their buses, the routers and the leakage density. What does not: the NVM arrays (device
physics: V^2 G t, cell area, write pulses), the clock (the user's), the off-chip interface
and DRAM (off the die).
"""
from __future__ import annotations

import dataclasses

from ..config.arch import ArchSpec

NODES_NM = (130.0, 90.0, 65.0, 45.0, 32.0, 20.0, 16.0, 14.0, 10.0, 7.0)
# area relative to 45 nm (Stillmaker and Baas 2017; hwcomponents' AREA_SCALING row for 45 nm)
AREA_REL_45 = (6.4, 2.8, 1.5, 1.0, 0.46, 0.21, 0.19, 0.17, 0.1, 0.059)
# energy polynomial (a, b, c) in the supply V: a V^2 + b V + c (same source)
ENERGY_POLY = ((7.171, -6.709, 2.904), (4.762, -4.781, 2.092), (3.755, -4.398, 1.975),
               (1.103, -0.362, 0.2767), (0.9559, -0.7823, 0.471), (0.373, -0.1582, 0.04104),
               (0.2958, -0.1241, 0.03024), (0.2363, -0.09675, 0.02239), (0.2068, -0.09311, 0.02375),
               (0.1776, -0.09097, 0.02447))
MIN_NM, MAX_NM = NODES_NM[-1], NODES_NM[0]


def _interp(node_nm: float, values: list[float]) -> float:
    """A per-node value at node_nm, linear in nm between the tabulated nodes."""
    for i in range(len(NODES_NM) - 1):
        hi, lo = NODES_NM[i], NODES_NM[i + 1]
        if lo <= node_nm <= hi:
            t = (node_nm - lo) / (hi - lo)
            return values[i + 1] + t * (values[i] - values[i + 1])
    raise ValueError(f"node {node_nm} nm outside {MIN_NM:g}-{MAX_NM:g} nm")


def area_factor(to_nm: float, from_nm: float) -> float:
    return _interp(to_nm, list(AREA_REL_45)) / _interp(from_nm, list(AREA_REL_45))


def energy_factor(to_nm: float, from_nm: float, supply_v: float) -> float:
    e = [a * supply_v ** 2 + b * supply_v + c for a, b, c in ENERGY_POLY]
    return _interp(to_nm, e) / _interp(from_nm, e)


def delay_factor(to_nm: float, from_nm: float) -> float:
    return to_nm / from_nm


# section path -> (its node key, {field: what kind of quantity it is})
SCALED = {
    ("dac",): ("node_nm", {"energy_pj": "energy", "area_um2": "area"}),
    ("adc",): ("node_nm", {"energy_pj": "energy", "area_um2": "area", "latency_ns": "delay"}),
    ("crossbar",): ("node_nm", {"sample_hold_area_um2": "area"}),
    ("registers",): ("node_nm", {"in_pj_per_bit": "energy", "out_pj_per_conversion": "energy",
                                 "area_um2": "area"}),
    ("digital",): ("node_nm", {"shift_add_energy_pj": "energy", "shift_add_area_um2": "area"}),
    ("digital", "vector"): ("vector_node_nm", {"op_energy_pj": "energy", "lane_area_um2": "area"}),
    ("sram_buffer",): ("node_nm", {"read_pj_per_bit": "energy", "write_pj_per_bit": "energy",
                                   "area_um2_per_kib": "area", "bus_area_um2": "area",
                                   "bus_pj_per_bit": "energy"}),
    ("chip", "noc"): ("node_nm", {"energy_pj_per_bit": "energy", "router_area_um2": "area"}),
    ("chip", "power_gating"): ("node_nm", {"leakage_mw_per_mm2": "leakage"}),
}


def factors(arch: ArchSpec, node_nm: float) -> dict[str, float]:
    """The factors that bring a constant quoted at node_nm to the chip's node."""
    to, v = arch.technology_nm, arch.supply_v
    e, a = energy_factor(to, node_nm, v), area_factor(to, node_nm)
    return {"energy": e, "area": a, "delay": delay_factor(to, node_nm), "leakage": e / a}


def _section(arch: ArchSpec, path: tuple[str, ...]):
    obj = arch
    for key in path:
        if key == "vector":
            break
        obj = getattr(obj, key)
    return obj


def scaled(arch: ArchSpec) -> ArchSpec:
    """The arch with every tagged CMOS constant at technology_nm (unchanged where a section's
    node is unset or equals it); a scaled section's node becomes technology_nm."""
    out = arch
    for path, (node_key, fields) in SCALED.items():
        sec = _section(out, path)
        node = getattr(sec, node_key)
        if node is None or node == arch.technology_nm:
            continue
        f = factors(arch, node)
        sec = dataclasses.replace(sec, **{k: getattr(sec, k) * f[kind] for k, kind in fields.items()},
                                  **{node_key: arch.technology_nm})      # scaled once, whatever calls it
        real = tuple(k for k in path if k != "vector")
        out = _replace(out, real, sec)
    return out


def _replace(obj, path: tuple[str, ...], value):
    if len(path) == 1:
        return dataclasses.replace(obj, **{path[0]: value})
    return dataclasses.replace(obj, **{path[0]: _replace(getattr(obj, path[0]), path[1:], value)})


def table(arch: ArchSpec) -> list[dict]:
    """Per tagged section: its node and the factors applied (the report's technology block)."""
    rows = []
    for path, (node_key, _) in SCALED.items():
        node = getattr(_section(arch, path), node_key)
        if node is None:
            continue
        f = factors(arch, node)
        rows.append({"section": ".".join(path), "node_nm": node, **{f"{k}_factor": v for k, v in f.items()}})
    return rows
