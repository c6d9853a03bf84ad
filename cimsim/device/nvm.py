"""Built-in NVM devices: static Gaussian programming error, Gaussian read noise, stuck-at
faults, incremental writes with wear-out, random-walk drift and bit flips.

The physics lives in conductance.py (programming), verify.py (program-and-verify) and
write.py (writes, wear-out, drift); these classes put it behind the device API. RRAM and
PCM share this model at programming time and differ in the arch file's numbers (range, levels,
sigmas, endurance, pulse cost); PCM adds its drift and 1/f noise over time (pcm.py). RRAM
has no time model: its retention loss over the times studied here is not modelled.
"""
from __future__ import annotations

import numpy as np

from .base import DeviceModel
from .conductance import ProgrammedArray, program
from .update import pulsed_write
from .write import WriteResult, analog_drift, digital_drift, write_levels


class RramDevice(DeviceModel):
    """RRAM cell: Gaussian programming error and read noise, stuck-at faults, wear-out."""

    def program(self, levels: np.ndarray, rng: np.random.Generator) -> ProgrammedArray:
        return program(levels, self.arch, rng)

    def read(self, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return g + rng.standard_normal(g.shape).astype(np.float32) * np.float32(self.read_sigma_levels)

    @property
    def read_sigma_levels(self) -> float:
        return self.spec.read_sigma * self.levels

    @property
    def program_sigma_levels(self) -> float:
        return self.spec.program_sigma * self.levels

    def correction_pulse(self, d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A pulse asked for d levels lands with relative error program_sigma (verify.py)."""
        err = rng.standard_normal(d.shape).astype(np.float32) * np.float32(self.spec.program_sigma)
        return d + err * np.abs(d)

    def write(self, cells: ProgrammedArray, writes: np.ndarray, new_levels: np.ndarray,
              rng: np.random.Generator | None = None) -> WriteResult:
        """Incremental write to new levels: exact moves (update model `ideal`), or pulse trains
        of the arch's update model (device/update.py; rng draws their cycle-to-cycle noise)."""
        if self.spec.update.model == "ideal":
            return write_levels(cells, writes, new_levels, self.endurance_cycles())
        if rng is None:
            raise ValueError("a pulsed update model draws its noise from the written matrix's own stream: "
                             "pass rng (the tile passes AnalogLayer.update_rng)")
        return pulsed_write(cells, writes, new_levels, self.spec, self.endurance_cycles(),
                            self.arch.write_driver.parallel_cells, rng)

    def drift(self, cells: ProgrammedArray, sigma_levels: float, rng: np.random.Generator) -> None:
        analog_drift(cells, sigma_levels, self.levels, rng)

    def bit_flips(self, cells: ProgrammedArray, rate: float, rng: np.random.Generator) -> int:
        return digital_drift(cells, rate, self.spec.bits_per_cell, rng)

