"""The chip: tiles (crossbars, DACs, ADCs, write drivers), SRAM buffer, digital unit, NoC.

Every per-action energy and latency of the simulator is computed here, from the
arch spec; the energy and timing models only multiply trace counts by them.
Energies are in pJ, times in clock cycles (integers, rounded up).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..config.arch import ArchSpec
from ..mapping import LayerMap


def cycles(ns: float, clock_ghz: float) -> int:
    """Whole cycles needed for ns nanoseconds (rounded up; 1e-9 guards float noise)."""
    return max(0, math.ceil(ns * clock_ghz - 1e-9))


@dataclass(frozen=True)
class Tile:
    """Crossbars with their DACs, column ADCs (time-shared), shift-add and write driver."""

    arch: ArchSpec

    # --- energy per action (pJ)
    def cell_read_pj(self) -> float:
        return self.arch.crossbar.cell_read_energy_fj * 1e-3

    def dac_drive_pj(self) -> float:
        return self.arch.dac.energy_pj

    def adc_conversion_pj(self) -> float:
        return self.arch.adc.energy_pj

    def shift_add_pj(self) -> float:
        return self.arch.digital.shift_add_energy_pj

    def write_pulse_pj(self) -> float:
        return self.arch.device.write.pulse_energy_pj

    def driver_op_pj(self) -> float:
        return self.arch.write_driver.energy_pj

    def verify_read_pj(self) -> float:
        """Reading back one cell (verify or read-back): its cell read and one column conversion."""
        return self.cell_read_pj() + self.adc_conversion_pj()

    # --- latency (cycles)
    def read_cycles(self) -> int:
        """One input plane: drive rows, settle the array, sample-and-hold the columns."""
        return max(1, cycles(self.arch.crossbar.read_latency_ns, self.arch.clock_ghz))

    def conversions_per_plane(self, lm: LayerMap) -> int:
        """Conversions each ADC does per plane on the busiest crossbar of the layer."""
        pair = 2 if self.arch.crossbar.differential else 1
        return math.ceil(lm.max_cols_per_crossbar // pair / self.arch.adc.per_crossbar)

    def adc_cycles(self, lm: LayerMap) -> int:
        return max(1, cycles(self.conversions_per_plane(lm) * self.arch.adc.latency_ns,
                             self.arch.clock_ghz))

    def mvm_cycles(self, lm: LayerMap, vector_planes: int) -> int:
        """Closed form of a two-stage pipeline (array read -> ADC conversions, with S&H
        between them) over vector_planes items: fill + (n - 1) x the slower stage."""
        if vector_planes <= 0:
            return 0
        r, a = self.read_cycles(), self.adc_cycles(lm)
        return r + a + (vector_planes - 1) * max(r, a)

    def pulse_cycles(self) -> int:
        """One write-driver operation: one pulse on up to parallel_cells cells of a row."""
        return cycles(self.arch.device.write.pulse_ns, self.arch.clock_ghz)

    def verify_read_cycles(self) -> int:
        """Read one row's parallel_cells cells back: array read, then their conversions."""
        a = self.arch
        conv = math.ceil(a.write_driver.parallel_cells / a.adc.per_crossbar)
        return cycles(a.crossbar.read_latency_ns + conv * a.adc.latency_ns, a.clock_ghz)

    def program_job_cycles(self, pulses, reads):
        """A driver job on one row chunk: `pulses` pulse operations and `reads` verify reads
        (integers, or integer arrays of many jobs)."""
        return pulses * self.pulse_cycles() + reads * self.verify_read_cycles()

    def program_cycles(self, pulses_per_tile: int) -> int:
        """Write pulses of one tile through its drivers, parallel_cells cells per pulse."""
        wd = self.arch.write_driver
        ops = math.ceil(pulses_per_tile / (wd.per_tile * wd.parallel_cells))
        return ops * cycles(self.arch.device.write.pulse_ns, self.arch.clock_ghz)


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


class Chip:
    """The whole chip: one instance of each component model, built from the arch spec."""

    def __init__(self, arch: ArchSpec) -> None:
        self.arch = arch
        self.tile = Tile(arch)
        self.sram = SramBuffer(arch)
        self.digital = DigitalUnit(arch)
        self.noc = Noc(arch)

    def seconds(self, n_cycles: float) -> float:
        return n_cycles / (self.arch.clock_mhz * 1e6)
