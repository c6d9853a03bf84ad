"""When a tile's work happens: the cycles of one image's MVMs on a layer's tiles (closed
form), their busy time per stage, the SimPy process that holds the tiles while they run,
and the cycles of programming cells. All in clock cycles (integers, rounded up)."""
from __future__ import annotations

import abc
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..mapping import LayerMap

if TYPE_CHECKING:
    import simpy

    from .tile import TileModel


def cycles(ns: float, clock_ghz: float) -> int:
    """Whole cycles needed for ns nanoseconds (rounded up; 1e-9 guards float noise)."""
    return max(0, math.ceil(ns * clock_ghz - 1e-9))


class TileTiming(abc.ABC):
    """A tile's timing model."""

    def __init__(self, tile: TileModel) -> None:
        self.tile, self.arch, self.device = tile, tile.arch, tile.device

    @abc.abstractmethod
    def mvm_cycles(self, lm: LayerMap, vector_planes: int) -> int:
        """Cycles the layer's tiles are busy for `vector_planes` input planes (one image)."""

    def busy_cycles(self, lm: LayerMap, vector_planes: int) -> tuple[int, int]:
        """(array, converter) busy cycles of those planes, for utilisation."""
        return self.mvm_cycles(lm, vector_planes), 0

    def mvm_process(self, env: simpy.Environment, lm: LayerMap, vector_planes: int) -> Iterator:
        """The SimPy process that runs one image's MVMs while the timing model holds the
        layer's tiles (default: busy for mvm_cycles)."""
        yield env.timeout(self.mvm_cycles(lm, vector_planes))

    def pulse_cycles(self) -> int:
        """One write-driver operation: one pulse on up to parallel_cells cells of a row."""
        return cycles(self.device.pulse_ns(), self.arch.clock_ghz)

    @abc.abstractmethod
    def verify_read_cycles(self) -> int:
        """Reading one row chunk (parallel_cells cells) back."""

    def program_job_cycles(self, pulses, reads):
        """A driver job on one row chunk: `pulses` pulse operations and `reads` verify reads
        (integers, or integer arrays of many jobs)."""
        return pulses * self.pulse_cycles() + reads * self.verify_read_cycles()

    def program_cycles(self, cells_per_tile: int) -> int:
        """Writing cells_per_tile cells of one tile through its drivers, one pulse each."""
        wd = self.arch.write_driver
        return math.ceil(cells_per_tile / (wd.per_tile * wd.parallel_cells)) * self.pulse_cycles()


class CrossbarTiming(TileTiming):
    """The built-in crossbar tile: a two-stage pipeline per input plane, the array read
    (drive rows, settle, sample-and-hold) and the column conversions."""

    def read_cycles(self) -> int:
        """One input plane: drive rows, settle the array, sample-and-hold the columns."""
        return max(1, cycles(self.arch.crossbar.read_latency_ns, self.arch.clock_ghz))

    def conversions_per_plane(self, lm: LayerMap) -> int:
        """Conversions each ADC does per plane on the busiest crossbar of the layer."""
        pair = self.tile.encoding.polarities
        return math.ceil(lm.max_cols_per_crossbar // pair / self.arch.adc.per_crossbar)

    def adc_cycles(self, lm: LayerMap) -> int:
        conv_ns = self.tile.costs.parts["adc"].conversion_ns(lm.adc_bits)
        return max(1, cycles(self.conversions_per_plane(lm) * conv_ns, self.arch.clock_ghz))

    def mvm_cycles(self, lm: LayerMap, vector_planes: int) -> int:
        """Closed form of a two-stage pipeline (array read -> ADC conversions, with S&H
        between them) over vector_planes items: fill + (n - 1) x the slower stage."""
        if vector_planes <= 0:
            return 0
        r, a = self.read_cycles(), self.adc_cycles(lm)
        return r + a + (vector_planes - 1) * max(r, a)

    def busy_cycles(self, lm: LayerMap, vector_planes: int) -> tuple[int, int]:
        return vector_planes * self.read_cycles(), vector_planes * self.adc_cycles(lm)

    def verify_read_cycles(self) -> int:
        """Read one row's parallel_cells cells back: array read, then their conversions."""
        a = self.arch
        conv = math.ceil(a.write_driver.parallel_cells / a.adc.per_crossbar)
        return cycles(a.crossbar.read_latency_ns + conv * self.tile.costs.parts["adc"].conversion_ns(),
                      a.clock_ghz)
