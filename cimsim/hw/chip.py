"""The chip: its tile and device models, SRAM buffer, digital unit and NoC.

Every per-action energy and latency of the simulator is owned by one of these
components (the tile's and device's in hw/tile.py and device/), computed from the
arch spec; the energy and timing models only multiply trace counts by them.
Energies are in pJ, times in clock cycles (integers, rounded up).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from .. import plugins
from ..config.arch import ArchSpec
from ..device.base import DeviceModel
from .tile import TileModel


@dataclass(frozen=True)
class SramBuffer:
    arch: ArchSpec

    def read_pj(self, nbytes: float) -> float:
        return nbytes * 8 * self.arch.sram_buffer.read_pj_per_bit

    def write_pj(self, nbytes: float) -> float:
        return nbytes * 8 * self.arch.sram_buffer.write_pj_per_bit

    def action_energies_pj(self) -> dict[tuple[str, str], float]:
        s = self.arch.sram_buffer
        return {("sram_read", "bit"): s.read_pj_per_bit, ("sram_write", "bit"): s.write_pj_per_bit}

    def access_cycles(self, nbytes: float) -> int:
        """One port moving nbytes."""
        return math.ceil(nbytes / self.arch.sram_buffer.bytes_per_cycle)

    @property
    def capacity_bytes(self) -> int:
        return int(self.arch.sram_buffer.capacity_kib * 1024)


@dataclass(frozen=True)
class DigitalUnit:
    """Vector unit for BN, ReLU, residual adds, pooling and biases."""

    arch: ArchSpec

    def op_pj(self) -> float:
        return self.arch.digital.op_energy_pj

    def action_energies_pj(self) -> dict[tuple[str, str], float]:
        return {("digital", "op"): self.op_pj()}

    def op_cycles(self, ops: float) -> int:
        return math.ceil(ops / self.arch.digital.lanes)


@dataclass(frozen=True)
class Noc:
    arch: ArchSpec

    def transfer_pj(self, nbytes: float) -> float:
        return nbytes * 8 * self.arch.chip.noc.energy_pj_per_bit

    def action_energies_pj(self) -> dict[tuple[str, str], float]:
        return {("noc", "bit"): self.arch.chip.noc.energy_pj_per_bit}

    def transfer_cycles(self, nbytes: float) -> int:
        return math.ceil(nbytes / self.arch.chip.noc.bytes_per_cycle)


@functools.lru_cache(maxsize=64)
def models(arch: ArchSpec) -> tuple[DeviceModel, TileModel]:
    """The device and tile models the arch names (`device.class`, `tile.class`)."""
    dev_cls = plugins.load("device", arch.device.model)
    tile_cls = plugins.load("tile", arch.tile.model)
    device = dev_cls(arch, arch.device.params)
    return device, tile_cls(arch, arch.tile.params, device)


class Chip:
    """The whole chip: one instance of each component model, built from the arch spec."""

    def __init__(self, arch: ArchSpec) -> None:
        self.arch = arch
        self.device, self.tile = models(arch)
        self.sram = SramBuffer(arch)
        self.digital = DigitalUnit(arch)
        self.noc = Noc(arch)

    def area(self) -> dict:
        """Chip area by component (mm2): every tile's components (the tile model's own list),
        the SRAM buffer, the routers and the vector unit."""
        a = self.arch
        per_tile = {k: v * 1e-6 for k, v in self.tile.area_um2().items()}
        comp = {k: v * a.chip.tiles for k, v in per_tile.items()}
        comp["sram"] = a.sram_buffer.capacity_kib * a.sram_buffer.area_um2_per_kib * 1e-6
        routers = math.ceil(a.chip.tiles / a.chip.noc.tiles_per_router)
        comp["noc_routers"] = routers * a.chip.noc.router_area_um2 * 1e-6
        comp["digital"] = a.digital.lanes * a.digital.lane_area_um2 * 1e-6
        return {"total_mm2": sum(comp.values()), "per_component_mm2": comp,
                "tile_mm2": sum(per_tile.values()), "tiles": a.chip.tiles}

    def peak_power_mw(self) -> dict[str, float]:
        """Chip-wide peak power by energy component (mW): every tile's units (the tile model's
        own figures), the SRAM ports at full bandwidth (half reading, half writing), the NoC
        link and the vector unit every cycle."""
        a = self.arch
        ghz = a.clock_ghz
        out = {k: v * a.chip.tiles for k, v in self.tile.peak_power_mw().items()}
        s = a.sram_buffer
        port_bits = s.bytes_per_cycle * 8 * ghz                       # bits per ns
        out["sram_read"] = max(s.ports // 2, 1) * port_bits * s.read_pj_per_bit
        out["sram_write"] = max(s.ports - s.ports // 2, 1) * port_bits * s.write_pj_per_bit
        out["noc"] = a.chip.noc.bytes_per_cycle * 8 * ghz * a.chip.noc.energy_pj_per_bit
        out["digital"] = a.digital.lanes * ghz * a.digital.op_energy_pj
        return out

    def idle_energy_pj(self, dynamic_pj: dict[str, float], seconds: float) -> dict[str, float]:
        """Energy of idle units over `seconds` of chip time: per component, its idle share of
        peak power x time (peak x time - the busy part, which the dynamic energy already is),
        at full peak power if not gated, else at idle_fraction of it."""
        pg = self.arch.chip.power_gating
        f = 1.0 if not pg.gated else pg.idle_fraction
        if f == 0.0:
            return {}
        out = {}
        for comp, mw in self.peak_power_mw().items():
            idle = mw * seconds * 1e9 - dynamic_pj.get(comp, 0.0)        # mW x s = 1e9 pJ
            out[comp] = f * max(idle, 0.0)
        return out

    def action_energies_pj(self) -> dict[tuple[str, str], float]:
        """The open cost table: (component, action) -> pJ of one action, from the tile and
        the chip's other components (writes and verify reads included)."""
        return {**self.tile.action_energies_pj(), **self.digital.action_energies_pj(),
                **self.sram.action_energies_pj(), **self.noc.action_energies_pj(),
                ("write_pulses", "cell_pulse"): self.tile.write_pulse_pj(),
                ("write_drivers", "op"): self.tile.driver_op_pj(),
                ("verify_reads", "cell_read"): self.tile.verify_read_pj()}

    def seconds(self, n_cycles: float) -> float:
        return n_cycles / (self.arch.clock_mhz * 1e6)
