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

    def op_cycles(self, ops: float) -> int:
        return math.ceil(ops / self.arch.digital.lanes)


@dataclass(frozen=True)
class Noc:
    arch: ArchSpec

    def transfer_pj(self, nbytes: float) -> float:
        return nbytes * 8 * self.arch.chip.noc.energy_pj_per_bit

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

    def seconds(self, n_cycles: float) -> float:
        return n_cycles / (self.arch.clock_mhz * 1e6)
