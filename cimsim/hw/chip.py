"""The chip: its tile and device models, per-tile SRAM buffers, digital unit and mesh NoC.

Every per-action energy and latency of the simulator is owned by one of these
components (the tile's and device's in hw/tile.py and device/), computed from the
arch spec; the energy and timing models only multiply trace counts by them.
Energies are in pJ, times in clock cycles (integers, rounded up).
"""
from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from .. import plugins
from ..config import Loaded
from ..config.arch import ArchSpec
from ..config.nonideal import NonIdeality
from ..config.schema import Source, build
from ..device.base import DeviceModel, ModelError
from . import technology
from .noc import Flow, Mesh
from .tile import TileModel

# tile area components whose leakage another energy component carries ("": none); other
# names carry their own
LEAK_TARGET = {"crossbar": "", "sample_hold": "adc"}


class ChipPart:
    """A component of the chip outside the tiles, as an estimator (the way Accelergy's
    component models are): its per-action energies, its area and its peak power, all from
    the arch spec; its leakage follows from its area. Each kind (the SRAM buffers, the
    vector unit, the NoC, the off-chip interface) is a registered part named in the arch
    file (`sram_buffer.class`, `digital.class`, `chip.noc.class`, `offchip.class`); a part of
    your own subclasses the built-in one of its kind (plugins.BASES) and overrides what it
    changes, so the energy and timing models call it unchanged."""

    components: ClassVar[tuple[str, ...]] = ()     # the energy components it reports

    def __init__(self, arch: ArchSpec) -> None:
        self.arch = arch

    def action_energies_pj(self) -> dict[tuple[str, str], float]:
        """(component, action) -> pJ of one action: its rows of the open cost table."""
        return {}

    def area_mm2(self) -> dict[str, float]:
        """Area by name (mm2), the whole chip's worth of this part."""
        return {}

    def peak_power_mw(self) -> dict[str, float]:
        """Peak power by energy component (mW), the whole chip's worth of this part."""
        return {}

    def leak_to(self, area_name: str) -> tuple[str, ...]:
        """The energy components that carry the leakage of one of its areas (split evenly)."""
        return (area_name,)

    def static_mw(self) -> dict[str, float]:
        """Power it draws whenever the chip runs, gated or not, by energy component (mW)."""
        return {}


class SramBuffer(ChipPart):
    """The SRAM buffers, one per `tiles_per_buffer` tiles: activations and training state.
    Each tile owns 1/tiles_per_buffer of its buffer. A node's data is striped over its home
    tiles' shares (hw/noc.py), which serve it together: `ports` ports, each
    bytes_per_cycle x tiles / tiles_per_buffer wide."""

    components = ("sram_read", "sram_write")

    def read_pj(self, nbytes: float) -> float:
        return nbytes * 8 * self.bit_pj("read")

    def write_pj(self, nbytes: float) -> float:
        return nbytes * 8 * self.bit_pj("write")

    def bit_pj(self, op: str) -> float:
        """One bit read or written: the array's access and the bus to the tiles."""
        s = self.arch.sram_buffer
        return (s.read_pj_per_bit if op == "read" else s.write_pj_per_bit) + s.bus_pj_per_bit

    def action_energies_pj(self) -> dict[tuple[str, str], float]:
        return {("sram_read", "bit"): self.bit_pj("read"), ("sram_write", "bit"): self.bit_pj("write")}

    def area_mm2(self) -> dict[str, float]:
        s = self.arch.sram_buffer
        return {"sram": self.buffers * s.capacity_kib * s.area_um2_per_kib * 1e-6,
                "sram_buses": self.buffers * s.bus_area_um2 * 1e-6}

    def peak_power_mw(self) -> dict[str, float]:
        """Every buffer's ports at full bandwidth, half reading, half writing."""
        s = self.arch.sram_buffer
        port_bits = s.bytes_per_cycle * 8 * self.arch.clock_ghz                  # bits per ns
        reads, writes = max(s.ports // 2, 1), max(s.ports - s.ports // 2, 1)
        return {"sram_read": self.buffers * reads * port_bits * self.bit_pj("read"),
                "sram_write": self.buffers * writes * port_bits * self.bit_pj("write")}

    def leak_to(self, area_name: str) -> tuple[str, ...]:
        return ("sram_read", "sram_write")

    def access_cycles(self, nbytes: float, tiles: int = 1) -> int:
        """One port of `tiles` tiles' buffer shares moving nbytes."""
        s = self.arch.sram_buffer
        return math.ceil(nbytes * s.tiles_per_buffer / (s.bytes_per_cycle * tiles))

    def capacity_bytes(self, tiles: int = 1) -> int:
        """What `tiles` tiles' shares of their buffers hold."""
        s = self.arch.sram_buffer
        return int(s.capacity_kib * 1024 * tiles / s.tiles_per_buffer)

    @property
    def buffers(self) -> int:
        """Buffers on the chip."""
        return math.ceil(self.arch.chip.tiles / self.arch.sram_buffer.tiles_per_buffer)


class DigitalUnit(ChipPart):
    """Vector unit for BN, ReLU, residual adds, pooling and biases."""

    components = ("digital",)

    def op_pj(self) -> float:
        return self.arch.digital.op_energy_pj

    def action_energies_pj(self) -> dict[tuple[str, str], float]:
        return {("digital", "op"): self.op_pj()}

    def area_mm2(self) -> dict[str, float]:
        return {"digital": self.arch.digital.lanes * self.arch.digital.lane_area_um2 * 1e-6}

    def peak_power_mw(self) -> dict[str, float]:
        """Every lane every cycle."""
        d = self.arch.digital
        return {"digital": d.lanes * self.arch.clock_ghz * d.op_energy_pj}

    def op_cycles(self, ops: float) -> int:
        return math.ceil(ops / self.arch.digital.lanes)


class Noc(ChipPart):
    """The mesh network (hw/noc.py): per-bit router energy, link width and router count."""

    components = ("noc",)

    def __init__(self, arch: ArchSpec) -> None:
        super().__init__(arch)
        self.mesh = Mesh(arch.chip.tiles, arch.chip.noc.tiles_per_router)

    def flow_pj(self, flow: Flow, images: int) -> float:
        return self.router_bits(flow, images) * self.arch.chip.noc.energy_pj_per_bit

    @staticmethod
    def router_bits(flow: Flow, images: int) -> int:
        """Bits x routers traversed (the source's and destination's included)."""
        return flow.bytes_per_image * images * 8 * (flow.hops + 1)

    def action_energies_pj(self) -> dict[tuple[str, str], float]:
        return {("noc", "router_bit"): self.arch.chip.noc.energy_pj_per_bit}

    def area_mm2(self) -> dict[str, float]:
        return {"noc_routers": self.mesh.routers * self.arch.chip.noc.router_area_um2 * 1e-6}

    def peak_power_mw(self) -> dict[str, float]:
        """Every port of every router moving a flit per cycle (how the per-bit figure was derived
        from its power)."""
        noc = self.arch.chip.noc
        ghz = self.arch.clock_ghz
        return {"noc": self.mesh.routers * noc.ports * noc.bytes_per_cycle * 8 * ghz * noc.energy_pj_per_bit}

    def leak_to(self, area_name: str) -> tuple[str, ...]:
        return ("noc",)

    def flow_cycles(self, flow: Flow) -> int:
        return flow.cycles(self.arch.chip.noc.bytes_per_cycle)


class OffChip(ChipPart):
    """The off-chip interface and memory: every bit crossing it costs the link and the DRAM
    access; it moves bandwidth_gb_per_s."""

    components = ("offchip",)

    def transfer_pj(self, nbytes: float) -> float:
        o = self.arch.offchip
        return nbytes * 8 * (o.link_pj_per_bit + o.dram_pj_per_bit)

    def action_energies_pj(self) -> dict[tuple[str, str], float]:
        o = self.arch.offchip
        return {("offchip", "bit"): o.link_pj_per_bit + o.dram_pj_per_bit}

    def area_mm2(self) -> dict[str, float]:
        return {"offchip_interface": self.arch.offchip.area_mm2}

    def peak_power_mw(self) -> dict[str, float]:
        """The interface on the chip at full bandwidth (the DRAM is off the chip: per access only)."""
        o = self.arch.offchip
        return {"offchip": o.bandwidth_gb_per_s * 8 * o.link_pj_per_bit}     # Gb/s x pJ = mW

    def leak_to(self, area_name: str) -> tuple[str, ...]:
        return ("offchip",)

    def static_mw(self) -> dict[str, float]:
        """The interface's lanes, powered while the chip runs (offchip.static_mw)."""
        return {"offchip": self.arch.offchip.static_mw}

    def transfer_cycles(self, nbytes: float) -> int:
        return math.ceil(nbytes * self.arch.clock_ghz / self.arch.offchip.bandwidth_gb_per_s)


# the chip's part kinds, in the order of their energy components, with the arch key path of
# the section that names each one's class
PART_KINDS = {"digital": ("digital",), "sram": ("sram_buffer",), "noc": ("chip", "noc"),
              "offchip": ("offchip",)}
AREA_ORDER = ("sram", "noc", "digital", "offchip")     # area and peak-power tables' order


class Chip:
    """The whole chip: one instance of each component model. Made by build_chip, which
    resolves the device and tile models the arch names; the chip is passed to whatever
    needs its models (never looked up by a global)."""

    def __init__(self, arch: ArchSpec, device: DeviceModel, tile: TileModel,
                 parts: dict[str, ChipPart] | None = None) -> None:
        self.arch = arch
        self.device, self.tile = device, tile
        parts = parts or {}
        self.sram: SramBuffer = parts.get("sram") or SramBuffer(arch)
        self.digital: DigitalUnit = parts.get("digital") or DigitalUnit(arch)
        self.noc: Noc = parts.get("noc") or Noc(arch)
        self.offchip: OffChip = parts.get("offchip") or OffChip(arch)
        self.technology: list[dict] = []      # per section: its node and the scaling applied (build_chip)

    @property
    def parts(self) -> dict[str, ChipPart]:
        """The chip's parts outside the tiles, in the order of their energy components."""
        return {"digital": self.digital, "sram": self.sram, "noc": self.noc, "offchip": self.offchip}

    def area(self) -> dict:
        """Chip area by component (mm2): every tile's components (the tile model's own list),
        then each part's (the SRAM buffers and their buses, the mesh's routers, the vector
        unit, the off-chip interface), at the chip's node (`node_scaling`: per section, the
        node its constants were quoted at and the factors that scaled them)."""
        a = self.arch
        per_tile = {k: v * 1e-6 for k, v in self.tile.costs.area_um2().items()}
        comp = {k: v * a.chip.tiles for k, v in per_tile.items()}
        for kind in AREA_ORDER:
            comp.update(self.parts[kind].area_mm2())
        return {"total_mm2": sum(comp.values()), "per_component_mm2": comp,
                "tile_mm2": sum(per_tile.values()), "tiles": a.chip.tiles,
                "technology_nm": a.technology_nm, "node_scaling": self.technology}

    def peak_power_mw(self) -> dict[str, float]:
        """Chip-wide peak power by energy component (mW): every tile's units (the tile model's
        own figures), then each part's at full use, with its static power."""
        out = {k: v * self.arch.chip.tiles for k, v in self.tile.costs.peak_power_mw().items()}
        for kind in AREA_ORDER:
            out.update(self.parts[kind].peak_power_mw())
        for comp, mw in self.static_mw().items():
            if mw > 0:
                out[comp] = out.get(comp, 0.0) + mw
        return out

    def leakage_mw(self) -> dict[str, float]:
        """Leakage power by energy component (mW): chip.power_gating.leakage_mw_per_mm2 x the
        CMOS area behind the component (tile area names mapped onto energy names, each part's
        areas onto its components by `leak_to`, split evenly; NVM arrays hold their state
        unpowered and do not leak)."""
        dens = self.arch.chip.power_gating.leakage_mw_per_mm2
        owner = {name: part for part in self.parts.values() for name in part.area_mm2()}
        out: dict[str, float] = {}
        for comp, mm2 in self.area()["per_component_mm2"].items():
            if comp in owner:
                targets = owner[comp].leak_to(comp)
            else:
                target = LEAK_TARGET.get(comp, comp)
                targets = (target,) if target else ()
            for t in targets:
                out[t] = out.get(t, 0.0) + dens * mm2 / len(targets)
        return out

    def static_mw(self) -> dict[str, float]:
        """Power drawn whenever the chip runs, gated or not, by energy component (mW): each
        part's own (the off-chip interface's SerDes lanes stay trained)."""
        out: dict[str, float] = {}
        for part in self.parts.values():
            for comp, mw in part.static_mw().items():
                out[comp] = out.get(comp, 0.0) + mw
        return out

    def idle_energy_pj(self, dynamic_pj: dict[str, float], seconds: float, used_tiles: int | None = None,
                       gated: bool | None = None) -> dict[str, float]:
        """Energy of idle units over `seconds` of chip time, per component (gated: the arch's
        chip.power_gating.gated unless given).

        The tile components are split into the `used_tiles` tiles the mapping uses (all when
        None) and the rest. Used units: a component's idle share is 1 - its busy part (dynamic
        energy / (peak power x time)); not gated, idle units draw their peak power; gated,
        their leakage (busy units' leakage is inside the per-action energies, which come from
        working units' power). Unused tiles hold no weights and do no work: they draw their
        leakage either way. The chip's other parts are shared by every tile and count as used.
        Static power (`static_mw`) is drawn all the time on top."""
        gated = self.arch.chip.power_gating.gated if gated is None else gated
        tiles = self.arch.chip.tiles
        used = tiles if used_tiles is None else min(used_tiles, tiles)
        tile_comps = set(self.tile.costs.peak_power_mw()) | {
            LEAK_TARGET.get(k, k) for k in self.tile.costs.area_um2()}
        static = self.static_mw()
        peak = {c: mw - static.get(c, 0.0) for c, mw in self.peak_power_mw().items()}   # working units
        leak = self.leakage_mw()
        out: dict[str, float] = {}
        for comp in dict.fromkeys([*peak, *leak]):
            frac = used / tiles if comp in tile_comps else 1.0
            full = peak.get(comp, 0.0) * frac * seconds * 1e9               # mW x s = 1e9 pJ
            share = max(full - dynamic_pj.get(comp, 0.0), 0.0) / full if full > 0 else 1.0
            draw = (leak.get(comp, 0.0) if gated else peak.get(comp, 0.0)) * frac
            unused = leak.get(comp, 0.0) * (1.0 - frac)
            if draw > 0 or unused > 0:
                out[comp] = (draw * share + unused) * seconds * 1e9
        for comp, mw in static.items():
            if mw > 0:
                out[comp] = out.get(comp, 0.0) + mw * seconds * 1e9
        return out

    def unused_tiles_pj(self, seconds: float, used_tiles: int) -> float:
        """The leakage of the tiles the mapping leaves empty over `seconds` (inside the idle
        energy; reported apart)."""
        tiles = self.arch.chip.tiles
        frac = 1.0 - min(used_tiles, tiles) / tiles
        comps = {LEAK_TARGET.get(k, k) for k in self.tile.costs.area_um2()}
        return sum(mw for c, mw in self.leakage_mw().items() if c in comps) * frac * seconds * 1e9

    def action_energies_pj(self, adc_bits: tuple[int, ...] = ()) -> dict[tuple[str, str], float]:
        """The open cost table: (component, action) -> pJ of one action, from the tile and
        the chip's other components (writes and verify reads included); `adc_bits`: the
        per-layer ADC resolutions a workload uses besides the arch's."""
        per_layer = {k: v for b in adc_bits for k, v in self.tile.costs.layer_action_energies_pj(b).items()}
        parts = {k: v for part in self.parts.values() for k, v in part.action_energies_pj().items()}
        return {**self.tile.costs.action_energies_pj(), **per_layer, **parts,
                ("write_pulses", "cell_pulse"): self.tile.costs.write_pulse_pj(),
                ("write_drivers", "op"): self.tile.costs.driver_op_pj(),
                ("verify_reads", "cell_read"): self.tile.costs.verify_read_pj()}

    def nonidealities(self) -> list[NonIdeality]:
        """Every non-ideality the device and tile models say the chip has (explain.py)."""
        return [*self.device.nonidealities(), *self.tile.nonidealities()]

    def seconds(self, n_cycles: float) -> float:
        return n_cycles / (self.arch.clock_mhz * 1e6)


def build_chip(arch: ArchSpec | Loaded) -> Chip:
    """The chip an arch spec describes: its device and tile classes resolved (built-in names,
    entry points or 'package.module:Class'), their `params` built into the classes' Params
    dataclasses and checked against the rest of the arch. Errors name the file, key path
    and line when given a Loaded file. The chip's spec holds the built params, and its CMOS
    constants scaled from each section's node_nm to technology_nm (hw/technology.py)."""
    loaded = arch if isinstance(arch, Loaded) else None
    spec = loaded.spec if loaded else arch
    src = (loaded.source if loaded and loaded.source else None) or Source(loaded.path if loaded else "arch")
    classes, params = {}, {}
    for kind, section in (("device", spec.device), ("tile", spec.tile)):
        try:
            classes[kind] = plugins.load(kind, section.model)
        except plugins.PluginError as e:
            raise src.error((kind, "class"), e.expected, section.model, e.note) from None
        raw = section.params
        if dataclasses.is_dataclass(raw) or raw is None and not dataclasses.fields(classes[kind].Params):
            params[kind] = raw
            continue
        built = build(classes[kind].Params, raw or {}, src, (kind, "params"))
        params[kind] = built if dataclasses.fields(built) else None     # a model without parameters
    spec = dataclasses.replace(spec, device=dataclasses.replace(spec.device, params=params["device"]),
                               tile=dataclasses.replace(spec.tile, params=params["tile"]))
    scaling = technology.table(spec)
    spec = technology.scaled(spec)
    device = classes["device"](spec, params["device"])
    tile = classes["tile"](spec, params["tile"], device)
    try:
        device.validate()
        tile.validate()
    except ModelError as e:
        raise src.error(e.path, e.expected, e.got) from None
    parts = {}
    for kind, path in PART_KINDS.items():
        section = spec
        for key in path:
            section = getattr(section, key)
        try:
            parts[kind] = plugins.load(kind, section.model)(spec)
        except plugins.PluginError as e:
            raise src.error((*path, "class"), e.expected, section.model, e.note) from None
    chip = Chip(spec, device, tile, parts)
    chip.technology = scaling
    return chip
