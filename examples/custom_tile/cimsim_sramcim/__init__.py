"""A digital SRAM compute-in-memory tile for cimsim (an example plugin).

Physics, and how it differs from cimsim's NVM crossbar tile:

- storage: one bit per 6T/8T SRAM cell, weights in two's complement over `weight_bits`
  columns (no differential pair, no multi-level cells); programming and writes are exact
  (no variation, no stuck cells, no verify loop) and SRAM does not wear out;
- MVM: inputs bit-serial (one plane per input bit); each plane ANDs the input bits with
  the weight bits and an adder tree sums the column digitally, so the result is the
  exact integer dot product: no read noise, no ADC, no clipping;
- costs: energy per 1b x 1b product (bit-cell + adder-tree share), one array plane per
  `plane_ns`; writes cost an SRAM bit write.

Analog drift does not apply to SRAM (the cell holds a bit); the digital-drift scenario
flips stored bits (soft errors). Nothing here touches cimsim's source: the class
implements cimsim.hw.tile.TileModel and is selected from the arch file.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimsim.config.schema import spec
from cimsim.device.conductance import ProgrammedArray
from cimsim.device.write import WriteResult
from cimsim.hw.tile import TileModel
from cimsim.hw.tile_costs import TileCosts
from cimsim.hw.tile_timing import TileTiming, cycles
from cimsim.mapping import LayerMap
from cimsim.trace import NodeTrace


@dataclass(frozen=True)
class SramCimParams:
    """Parameters of the SRAM-CIM tile (`tile.params` in the arch file)."""

    bit_op_energy_fj: float = spec(0.778, lo=0.0,
                                   doc="energy per 1-bit input x 1-bit weight product, adder tree included")
    plane_ns: float = spec(0.7, lo=0.0, lo_open=True, doc="time per input bit plane of the whole array")
    write_energy_fj_per_bit: float = spec(67.0, lo=0.0, doc="energy to write one bit-cell")
    write_ns: float = spec(1.0, lo=0.0, lo_open=True, doc="one row write (parallel_cells bit-cells)")


class SramCimCosts(TileCosts):
    """All array energy is in the bit products (the macro figure includes the adder tree,
    input drivers and accumulators); it lists no per-component estimators (no area)."""

    def mvm_energy_pj(self, n: NodeTrace) -> dict[str, float]:
        return {"crossbar": n.cell_reads * self.tile.params.bit_op_energy_fj * 1e-3}

    def write_pulse_pj(self) -> float:
        return self.tile.params.write_energy_fj_per_bit * 1e-3

    def verify_read_pj(self) -> float:
        return self.tile.params.bit_op_energy_fj * 1e-3


class SramCimTiming(TileTiming):
    """Bit planes stream through the pipelined adder trees, one per plane_ns."""

    def mvm_cycles(self, lm: LayerMap, vector_planes: int) -> int:
        return cycles(vector_planes * self.tile.params.plane_ns, self.arch.clock_ghz)

    def pulse_cycles(self) -> int:
        return cycles(self.tile.params.write_ns, self.arch.clock_ghz)

    def verify_read_cycles(self) -> int:
        return cycles(self.tile.params.plane_ns, self.arch.clock_ghz)


class SramCimTile(TileModel):
    """Digital SRAM-CIM: exact bit-serial MACs in adder trees, no ADC, no variation, no wear."""

    Params = SramCimParams
    Costs = SramCimCosts
    Timing = SramCimTiming

    def columns_per_weight(self) -> int:
        return self.arch.crossbar.weight_bits            # one bit-cell column per weight bit

    # --- functional
    def encode(self, w_int: np.ndarray) -> np.ndarray:
        """Two's-complement bits (1, B, K, N): plane s holds bit s."""
        bits = self.arch.crossbar.weight_bits
        u = w_int.astype(np.int64) & (2 ** bits - 1)
        return np.stack([(u >> s) & 1 for s in range(bits)])[None].astype(np.uint8)

    def decode(self, cells: ProgrammedArray) -> np.ndarray:
        bits = self.arch.crossbar.weight_bits
        b = cells.g[0].astype(np.float64)
        w = sum(b[s] * 2.0 ** s for s in range(bits))
        return w - b[bits - 1] * 2.0 ** bits                # the sign bit weighs -2**(B-1)

    def program(self, w_int: np.ndarray, rng: np.random.Generator) -> ProgrammedArray:
        """Every bit-cell is written once, exactly."""
        lv = self.encode(w_int)
        ones = np.ones(lv.shape, np.uint16)
        return ProgrammedArray(lv, lv.astype(np.float32), np.zeros(lv.shape, np.int8), ones,
                               np.zeros(lv.shape, np.uint16))

    def load(self, layer) -> np.ndarray:
        """The read-out state: the weights the bit-cells hold, (K, N) float64 exact integers."""
        return self.decode(layer.cells)

    def mvm(self, layer, codes: np.ndarray, keys) -> tuple[np.ndarray, int]:
        """Exact: sum_k x_k w_k (float64 holds these integers exactly); no read noise, so the
        noise keys are not needed."""
        return codes[:, : layer.k].astype(np.float64) @ layer.state, 0

    def count(self, t: NodeTrace, lm: LayerMap, vectors: int, clipped: int) -> None:
        planes = self.planes()
        reads = vectors * planes
        t.vectors += vectors
        t.planes = planes
        t.crossbar_reads += reads * lm.crossbars
        t.cell_reads += reads * sum(lm.rows_used) * sum(lm.cols_used)   # 1b x 1b products
        t.dac_drives += reads * sum(lm.rows_used) * lm.col_groups

    def apply_update(self, layer, w_int_new: np.ndarray) -> WriteResult:
        """Rewrite the bits that change; SRAM never wears out."""
        new = self.encode(w_int_new)
        hit = new != layer.cells.levels
        layer.cells.levels[...] = new
        layer.cells.g[...] = new
        layer.writes[hit] += 1
        return WriteResult(int(hit.sum()), 0)

    def verify(self, layer, mask: np.ndarray, rng: np.random.Generator) -> None:
        """Writes are exact: nothing to verify."""

    def drift(self, layer, sigma_fraction: float, rng: np.random.Generator) -> None:
        """A bit-cell holds a bit: conductance drift does not apply."""

    def bit_flips(self, layer, rate: float, rng: np.random.Generator) -> int:
        flip = rng.random(layer.cells.g.shape) < rate
        layer.cells.g[flip] = 1.0 - layer.cells.g[flip]
        return int(flip.sum())

    def endurance_cycles(self) -> float:
        return float("inf")
