"""The public API of a tile, and the built-in NVM crossbar tile.

A tile is the array and its encoding; what its work costs and how long it takes are its
two companion models, made with it (`tile.costs`, hw/tile_costs.py: one estimator per
energy component; `tile.timing`, hw/tile_timing.py). The tile itself owns:

- mapping: how many physical columns one weight takes (`columns_per_weight`);
- functional hooks: `encode`/`decode` weights to cell levels, `program` a matrix,
  `load` its read-out state, `mvm` on integer input codes, `apply_update` (a weight write),
  `verify`, `drift`, `bit_flips`, and `count` of the actions one MVM performs (into the
  node's trace), which the cost model prices and the timing model times.

Cells of a matrix are laid out (polarities, slices, K, N) — K the matrix rows, which
the write drivers program one row chunk at a time. The per-matrix state lives in a
`functional.AnalogLayer` (cells, write counters, integer weights and scale, and the
tile's read-out state); the tile is stateless beyond its arch, parameters and device
model, so one instance serves a whole chip.

To write a tile: subclass `TileModel` (or `CrossbarTile` to change a part of it),
declare a `Params` dataclass of its own parameters (`tile.params` in the arch file,
validated like the built-in keys), implement the abstract methods and name its `Costs`
and `Timing`; see docs/extending.md and examples/custom_tile/.
"""
from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..config.arch import ArchSpec
from ..config.nonideal import NonIdeality
from ..device.base import DeviceModel, ModelError, NoParams
from ..device.conductance import ProgrammedArray, program_error_variance, row_chunks_hit
from ..device.verify import verify_loop
from ..device.write import WriteResult
from ..kernels.mvm import analog_mvm, bit_planes
from ..mapping import LayerMap
from ..trace import NodeTrace
from .activity import input_activity, mean_cell_conductance_us
from .encoding import weight_encoding
from .irdrop import attenuation
from .tile_costs import CrossbarCosts, TileCosts
from .tile_timing import CrossbarTiming, TileTiming, cycles

__all__ = ["CrossbarTile", "TileModel", "cycles"]

if TYPE_CHECKING:

    from ..functional import AnalogLayer

TILE_COMPONENTS = ("crossbar", "dac", "adc", "shift_add")   # the built-in tile's energy components
IDEAL_ADC_BITS = 24            # the ideal chip's converter (explain.py): finer than any physics here
STREAM_ADC_OFFSET = 21          # random stream under a layer's read key: its ADCs' offsets
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)   # 1 bits of each byte


class TileModel(abc.ABC):
    """Base class of tiles (functional, cost and timing hooks); one instance per chip."""

    Params: ClassVar[type] = NoParams
    # energy components this tile reports (mvm_energy_pj keys): a tile may add its own (a TIA
    # stage, a digital adder tree); they reach every report, table and figure unchanged
    components: ClassVar[tuple[str, ...]] = TILE_COMPONENTS
    # its cost model (per-component estimators, hw/tile_costs.py) and timing model
    # (hw/tile_timing.py), made with the tile: `tile.costs`, `tile.timing`
    Costs: ClassVar[type[TileCosts]]
    Timing: ClassVar[type[TileTiming]]

    def __init__(self, arch: ArchSpec, params: object | None, device: DeviceModel) -> None:
        self.arch, self.device = arch, device
        self.params = params if params is not None else self.Params()
        self.costs: TileCosts = self.Costs(self)
        self.timing: TileTiming = self.Timing(self)

    def validate(self) -> None:
        """Raise device.base.ModelError if the parameters do not suit the arch."""
        if self.columns_per_weight() > self.arch.crossbar.cols:
            raise ModelError(("crossbar", "cols"),
                             f"at least {self.columns_per_weight()} columns (the columns of one weight)",
                             self.arch.crossbar.cols)
        if self.arch.adc.range_mode != "per_layer" and type(self).adc_peaks is TileModel.adc_peaks:
            raise ModelError(("adc", "range"), f"per_layer (tile {type(self).__name__} calibrates no "
                             "per-slice or per-array ADC ranges)", self.arch.adc.range_mode)

    def nonidealities(self) -> list[NonIdeality]:
        """What makes this tile's read-out imperfect, as arch settings that turn each off
        (explain.py; paths under tile.params for a tile's own parameters). None here."""
        return []

    # --- mapping
    @abc.abstractmethod
    def columns_per_weight(self) -> int:
        """Physical columns one weight occupies in a crossbar."""

    def weights_per_column_group(self) -> int:
        """Output channels one crossbar holds side by side."""
        return self.arch.crossbar.cols // self.columns_per_weight()

    def planes(self) -> int:
        """Input planes per vector (bit-serial: the input bits; else one)."""
        return self.arch.input_planes

    # --- functional hooks
    @abc.abstractmethod
    def encode(self, w_int: np.ndarray) -> np.ndarray:
        """Integer weights (K, N) -> target cell levels (P, S, K, N) uint8."""

    @abc.abstractmethod
    def decode(self, cells: ProgrammedArray) -> np.ndarray:
        """(K, N) float64 weights, in integer-code units, that the cells hold now."""

    def program(self, w_int: np.ndarray, rng: np.random.Generator) -> ProgrammedArray:
        """Program a matrix once (no verify): the device's one-shot programming."""
        return self.device.program(self.encode(w_int), rng)

    def adc_peaks(self, w_int: np.ndarray, lmap: LayerMap, codes: np.ndarray) -> np.ndarray | None:
        """Deployment calibration of the converters' ranges: the largest column sums of input
        codes (M, row chunks x rows) on the target cells of integer weights w_int, as this tile
        wants them kept (the layer holds the running maximum as `layer.adc_peaks`; `mvm` reads
        its ranges from them). Default: None (nothing to calibrate)."""
        return None

    def load(self, layer: AnalogLayer) -> Any:
        """What `mvm` needs from the layer's cells as they read now (after they changed): the
        tile's own read-out state, kept by the layer as `layer.state` and handed back through
        it (default: none). The tile never writes onto the layer."""
        return None

    def conductances(self, layer: AnalogLayer) -> np.ndarray:
        """(P, S, K, N) conductances (level units) the layer's reads see: the device's state
        `layer.t_s` seconds after programming."""
        return self.device.at_time(layer.cells, layer.t_s, layer.read_key)

    @abc.abstractmethod
    def mvm(self, layer: AnalogLayer, codes: np.ndarray, keys: Sequence[int]) -> tuple[np.ndarray, int]:
        """Unsigned input codes (M, K) int32 -> (M, N) float64 outputs in units of
        (weight code x input code), and the number of clipped conversions. keys: the read-noise
        key of each sample in codes (the rows split evenly among them); a sample's outputs must
        depend only on its rows and its key, so that samples batched into one call give what
        they give alone."""

    @abc.abstractmethod
    def count(self, t: NodeTrace, lm: LayerMap, vectors: int, clipped: int) -> None:
        """Add to trace t the actions of `vectors` input vectors through the layer."""

    def count_data(self, t: NodeTrace, layer: AnalogLayer, codes: np.ndarray) -> None:
        """Add to trace t the data-dependent counts of one pass of input codes (M, rows) through
        the layer (default: none)."""
        return None

    def estimate_data(self, t: NodeTrace, lm: LayerMap, vectors: int) -> None:
        """Cost-only runs: add the expected data-dependent counts of `vectors` input vectors
        whose values are unknown (default: none)."""
        return None

    def apply_update(self, layer: AnalogLayer, w_int_new: np.ndarray) -> WriteResult:
        """Write new integer weights into the layer's cells (counts writes, wears cells). A
        driver operation pulses the written cells of one row chunk of parallel_cells cells (as
        programming does, deploy.programming_report): sparse writes cost a row each."""
        res = self.device.write(layer.cells, layer.writes, self.encode(w_int_new), layer.update_rng)
        if res.written is None:                  # a device that does not say which cells it pulsed
            return res
        ops = row_chunks_hit(res.written, self.arch.write_driver.parallel_cells)
        return dataclasses.replace(res, row_ops=ops)

    def verify(self, layer: AnalogLayer, mask: np.ndarray, rng: np.random.Generator) -> None:
        """Program-and-verify the masked cells (device reads and correction pulses)."""
        verify_loop(layer.cells, mask, self.device, rng)

    def drift(self, layer: AnalogLayer, sigma_fraction: float, rng: np.random.Generator) -> None:
        """Analog drift event; sigma as a fraction of the conductance range."""
        self.device.drift(layer.cells, sigma_fraction * self.device.levels, rng)

    def bit_flips(self, layer: AnalogLayer, rate: float, rng: np.random.Generator) -> int:
        return self.device.bit_flips(layer.cells, rate, rng)

    def weight_variance(self, layer: AnalogLayer) -> np.ndarray:
        """(K, N) programming-error variance of each weight in integer-code units (zero: a
        tile whose storage is exact)."""
        return np.zeros(layer.w_int.shape)

    def endurance_cycles(self) -> float:
        return self.device.endurance_cycles()


@dataclass(frozen=True)
class CrossbarState:
    """What a crossbar tile's reads need from one layer's cells (CrossbarTile.load)."""

    g: np.ndarray                       # (row chunks, rows, S*N) effective conductances, level units
    adc_offset: np.ndarray | None       # (row chunks, S*N) static offset of each column's ADC
    adc_zero: np.ndarray | None         # (N,) what offset calibration subtracts per output
    row_g_us: np.ndarray | None         # (K,) each matrix row's total conductance (read energy)
    col_step: np.ndarray | None = None  # (row chunks, S*N) LSB of each column's conversions
                                        # (calibrated ranges; None: the layer's one range)


class CrossbarTile(TileModel):
    """NVM crossbars with DACs, time-shared column ADCs, shift-add, input/output registers
    and a write driver."""

    components = (*TILE_COMPONENTS, "registers")
    Costs = CrossbarCosts
    Timing = CrossbarTiming

    def __init__(self, arch: ArchSpec, params: object | None, device: DeviceModel) -> None:
        super().__init__(arch, params, device)
        self.encoding = weight_encoding(arch)
        self.step, self.code_lo, self.code_hi = self.adc_scale(arch.adc.bits)
        self.sigma_cell = device.read_sigma_levels * math.sqrt(self.encoding.polarities)

    def adc_scale(self, bits: int) -> tuple[float, float, float]:
        """(step, lowest code, highest code) of a `bits`-bit conversion: full scale is
        range_fraction x the largest possible column sum of one crossbar, whatever the bits."""
        arch = self.arch
        plane_max = 1 if arch.dac.bit_serial else 2 ** arch.dac.input_bits - 1
        full_scale = arch.adc.range_fraction * arch.crossbar.rows * arch.device.levels * plane_max
        if self.encoding.signed_columns:
            return full_scale / 2 ** (bits - 1), -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
        return full_scale / (2 ** bits - 1), 0.0, 2.0 ** bits - 1

    def col_full_scales(self, layer: AnalogLayer) -> np.ndarray | None:
        """(row chunks, S*N) full scale (level units) of each kernel column's conversions under
        calibrated ranges (adc.range per_slice / per_array), from the layer's calibrated peaks:
        calibration_margin x the largest peak its range covers (at least one level). None: one
        range for the layer (per_layer)."""
        adc = self.arch.adc
        if adc.range_mode == "per_layer" or layer.adc_peaks is None:
            return None
        c, s, n = layer.lmap.row_chunks, layer.cells.g.shape[1], layer.n
        peaks = np.asarray(layer.adc_peaks, np.float64).reshape(c, s, n)
        if adc.range_mode == "per_slice":
            fs = np.broadcast_to(peaks.max(axis=(0, 2))[None, :, None], peaks.shape)
        else:                                    # per_array: the crossbar of weight n is n // wpg
            group = np.arange(n) // self.weights_per_column_group()
            per_xb = np.zeros((c, group[-1] + 1))
            np.maximum.at(per_xb, (slice(None), group), peaks.max(axis=1))
            fs = np.broadcast_to(per_xb[:, None, group], peaks.shape)
        return (adc.calibration_margin * np.maximum(fs, 1.0)).reshape(c, s * n)

    def col_steps(self, layer: AnalogLayer) -> np.ndarray | None:
        """(row chunks, S*N) float32 LSB of each kernel column's conversions under calibrated
        ranges: its full scale on the highest code (signed: 2**(bits-1) - 1, two's complement).
        None: one range for the layer (per_layer)."""
        fs = self.col_full_scales(layer)
        if fs is None:
            return None
        bits = self.adc_bits(layer.lmap)
        span = max(2.0 ** (bits - 1) - 1, 1.0) if self.encoding.signed_columns else 2.0 ** bits - 1
        return np.ascontiguousarray(fs / span, dtype=np.float32)

    def adc_peaks(self, w_int: np.ndarray, lmap: LayerMap, codes: np.ndarray) -> np.ndarray | None:
        """(row chunks, S*N) largest |column sum| of each kernel column over input codes, on the
        target levels of w_int (no programming error, drift or IR drop: a chip-independent
        calibration made once per deployment), every input plane. None under per_layer."""
        if self.arch.adc.range_mode == "per_layer":
            return None
        levels = self.encode(w_int).astype(np.float32)            # (P, S, K, N)
        eff = levels[0] - levels[1] if levels.shape[0] == 2 else levels[0]
        g = self.kernel_layout(eff, lmap.row_chunks)
        planes = self.arch.input_planes
        # vectors in blocks whose planes and column sums take ~32 MiB (a conv layer's im2col
        # rows x planes x columns would take gigabytes at once)
        per_vector = 4 * planes * lmap.row_chunks * (g.shape[1] + g.shape[2])
        block = max(1, (32 << 20) // per_vector)
        peak = np.zeros((g.shape[0], g.shape[2]), np.float32)
        for m0 in range(0, codes.shape[0], block):
            xt, _ = bit_planes(codes[m0:m0 + block], planes, self.arch.dac.bit_serial, lmap.row_chunks)
            np.maximum(peak, np.abs(np.matmul(xt, g)).max(axis=1), out=peak)
        return peak

    def kernel_layout(self, eff: np.ndarray, chunks: int) -> np.ndarray:
        """(S, K, N) effective conductances -> the kernel's (row chunks, rows, S*N), rows past K
        at zero."""
        s, k, n = eff.shape
        rows = self.arch.crossbar.rows
        g = np.zeros((s, chunks * rows, n), np.float32)
        g[:, :k] = eff
        g = g.reshape(s, chunks, rows, n).transpose(1, 2, 0, 3)
        return np.ascontiguousarray(g.reshape(chunks, rows, s * n))

    def adc_bits(self, lm: LayerMap) -> int:
        """Bits of a layer's conversions (deploy.adc_bits, else the arch's)."""
        return lm.adc_bits or self.arch.adc.bits

    def columns_per_weight(self) -> int:
        return self.encoding.columns_per_weight

    def nonidealities(self) -> list[NonIdeality]:
        """The converters (resolution and range, offset and INL) and the bit lines' IR drop."""
        adc, ohm = self.arch.adc, self.arch.crossbar.wire_ohm_per_cell
        ideal: dict[str, Any] = {"adc.bits": IDEAL_ADC_BITS, "adc.range_fraction": 1.0}
        where = f"{adc.range_fraction:g} of the column range"
        if adc.range_mode != "per_layer":
            ideal.update({"adc.range_mode": "per_layer", "adc.calibration_margin": 1.0})
            where = f"calibrated {adc.range_mode.replace('_', '-')} ranges"
        return [NonIdeality(f"ADC: {adc.bits} bits over {where}", ideal),
                NonIdeality(f"ADC offset {adc.offset_sigma_lsb:g} LSB / INL {adc.inl_lsb:g} LSB",
                            {"adc.offset_sigma_lsb": 0.0, "adc.inl_lsb": 0.0}),
                NonIdeality(f"IR drop ({ohm:g} ohm per cell)", {"crossbar.wire_ohm_per_cell": 0.0})]

    # --- functional
    def encode(self, w_int: np.ndarray) -> np.ndarray:
        return self.encoding.encode(w_int)

    def decode(self, cells: ProgrammedArray) -> np.ndarray:
        return self.encoding.decode(cells.effective())

    def load(self, layer: AnalogLayer) -> CrossbarState:
        """The effective conductances laid out as (row chunks, rows, S*N) for the kernel, the
        ADCs' offsets and calibration, and with the conductance read energy each matrix row's
        total physical conductance (uS)."""
        chunks = layer.lmap.row_chunks
        g = self.conductances(layer)                            # (P, S, K, N) level units
        row_g_us = None
        if self.arch.crossbar.read_energy == "conductance":
            dev = self.arch.device
            row_g_us = (dev.g_min_us * g.shape[0] * g.shape[1] * g.shape[3]
                        + dev.g_step_us * g.sum(axis=(0, 1, 3), dtype=np.float64))
        if self.arch.crossbar.wire_ohm_per_cell > 0:
            g = self.ir_drop(g, chunks)
        adc = self.arch.adc
        col_step = self.col_steps(layer)
        offset = self.adc_offsets(layer, col_step) if adc.offset_sigma_lsb > 0 else None
        zero = (self.zero_codes(layer, offset, col_step) if adc.offset_calibration
                and (adc.offset_sigma_lsb > 0 or adc.inl_lsb != 0) else None)
        eff = g[0] - g[1] if g.shape[0] == 2 else g[0]          # (S, K, N)
        return CrossbarState(self.kernel_layout(eff, chunks), offset, zero, row_g_us, col_step)

    def ir_drop(self, g: np.ndarray, chunks: int) -> np.ndarray:
        """Conductances (P, S, K, N) in level units as the columns see them through bit-line IR
        drop (hw/irdrop.py, solved per column): per crossbar of `rows` rows, unused rows at
        g_min. The array read energy keeps the programmed conductances."""
        dev, rows = self.arch.device, self.arch.crossbar.rows
        p, s, k, n = g.shape
        full = np.zeros((p, s, chunks * rows, n), np.float64)
        full[:, :, :k] = g
        g_us = dev.g_min_us + full.reshape(p, s, chunks, rows, n) * dev.g_step_us
        seen = g_us * attenuation(g_us, self.arch.crossbar.wire_ohm_per_cell)
        out = (seen - dev.g_min_us) / dev.g_step_us
        return out.reshape(p, s, chunks * rows, n)[:, :, :k].astype(np.float32)

    def adc_offsets(self, layer: AnalogLayer, col_step: np.ndarray | None = None) -> np.ndarray:
        """(row chunks, S*N) static offsets (level units) of the ADC that converts each kernel
        column: each crossbar's `per_crossbar` ADCs take its conversions in turn, and each ADC
        has one offset drawn from the layer's read key (the same chip, the same offsets), in
        LSB of the range it converts (col_step: each column's own)."""
        lm, s, n = layer.lmap, layer.cells.g.shape[1], layer.n
        per_xb = self.arch.adc.per_crossbar
        wpg = self.weights_per_column_group()
        step = self.adc_scale(self.adc_bits(lm))[0]
        draws = np.random.default_rng([layer.read_key, STREAM_ADC_OFFSET]).standard_normal(
            (lm.row_chunks, lm.col_groups, per_xb)) * (self.arch.adc.offset_sigma_lsb * step)
        ns, ss = np.arange(n)[None, :], np.arange(s)[:, None]
        adc = ((ns % wpg) * s + ss) % per_xb                   # (S, N): the ADC of weight n, slice s
        out = draws[:, ns // wpg, adc].reshape(lm.row_chunks, s * n)
        if col_step is not None:
            out = out / step * col_step
        return out.astype(np.float32)

    def zero_codes(self, layer: AnalogLayer, offset: np.ndarray | None,
                   col_step: np.ndarray | None = None) -> np.ndarray:
        """(N,) what offset calibration subtracts from each output per MVM: every conversion's
        level at zero input (its offset and the INL there), shift-added as the conversions are.
        The periphery estimates it to sub-LSB precision by averaging many zero-input
        conversions, which the read noise dithers (a foreground calibration); the estimate is
        taken as exact. Rounding to the nearest code would leave the fractional part of every
        offset as a bias that the shift-add multiplies by up to 255 x 85."""
        arch = self.arch
        step, lo, hi = self.adc_scale(self.adc_bits(layer.lmap))
        s, n = layer.cells.g.shape[1], layer.n
        lsb = step if col_step is None else col_step.astype(np.float64)
        off = (offset if offset is not None
               else np.zeros((layer.lmap.row_chunks, s * n), np.float32)).astype(np.float64) / lsb
        d0 = np.clip((0.0 - 0.5 * (lo + hi)) / (0.5 * (hi - lo)), -1.0, 1.0)
        c0 = np.clip(off + arch.adc.inl_lsb * (1.0 - d0 * d0), lo, hi)   # (C, S*N), in LSB
        planes = sum(2.0 ** p for p in range(arch.input_planes)) if arch.dac.bit_serial else 1.0
        slices = np.array([2.0 ** (k * arch.device.bits_per_cell) for k in range(s)])
        if col_step is not None:               # each column's own LSB, before the columns are summed
            c0, step = c0 * lsb, 1.0
        return (c0.reshape(-1, s, n) * slices[None, :, None]).sum(axis=(0, 1)) * step * planes

    def mvm(self, layer: AnalogLayer, codes: np.ndarray, keys: Sequence[int]) -> tuple[np.ndarray, int]:
        arch = self.arch
        step, lo, hi = self.adc_scale(self.adc_bits(layer.lmap))
        st: CrossbarState = layer.state
        acc, clipped = analog_mvm(
            codes, st.g, n_out=layer.n, planes=arch.input_planes,
            bit_serial=arch.dac.bit_serial, bits_per_cell=arch.device.bits_per_cell,
            step=step, code_lo=lo, code_hi=hi,
            sigma_cell=self.sigma_cell, key=keys,
            offset=st.adc_offset, inl=arch.adc.inl_lsb, col_step=st.col_step)
        if st.adc_zero is not None:
            acc -= st.adc_zero
        if self.encoding.offset:                   # the stored offset times the input sum
            acc -= self.encoding.offset * codes.sum(1, keepdims=True)
        return acc, clipped

    def count(self, t: NodeTrace, lm: LayerMap, vectors: int, clipped: int) -> None:
        planes = self.planes()
        pair = self.encoding.polarities
        reads = vectors * planes
        t.vectors += vectors
        t.planes = planes
        t.crossbar_reads += reads * lm.crossbars
        t.cell_reads += reads * sum(lm.rows_used) * sum(lm.cols_used)
        t.register_bits += reads * sum(lm.rows_used) * lm.col_groups
        # partial sums between the tiles of a split layer: written to the buffer by the tile
        # that made them, read by the one that adds them (a shift-add each)
        split = vectors * lm.split_outputs(self.arch.tile.crossbars, self.weights_per_column_group())
        if split:
            t.partial_sum_bytes += split * math.ceil(self.arch.digital.partial_sum_bits / 8)
            t.shift_adds += split
        conversions = reads * lm.row_chunks * sum(lm.cols_used) // pair
        t.adc_conversions += conversions
        t.adc_bits = lm.adc_bits
        t.shift_adds += conversions
        t.adc_clipped += clipped

    def count_data(self, t: NodeTrace, layer: AnalogLayer, codes: np.ndarray) -> None:
        """The data-dependent counts. DAC drives: a row's DAC drives only for an applied 1 bit
        (bit-serial) or a nonzero pulse width (multi-bit), in each of the layer's column groups.
        Conductance read energy: per matrix row, the reads it is driven for (bit-serial: the 1
        bits of its codes; multi-bit: the codes as pulse widths), times its conductance."""
        x = codes[:, :layer.k]
        if self.arch.dac.bit_serial:          # 1 bits per row: byte popcounts (codes < 2**16)
            active = _POPCOUNT[x & 0xFF].sum(axis=0, dtype=np.int64)
            if self.arch.dac.input_bits > 8:
                active += _POPCOUNT[(x >> 8) & 0xFF].sum(axis=0, dtype=np.int64)
            t.dac_drives += int(active.sum()) * layer.lmap.col_groups
        else:
            active = x.sum(axis=0, dtype=np.int64)
            t.dac_drives += int(np.count_nonzero(x)) * layer.lmap.col_groups
        if self.arch.crossbar.read_energy == "conductance":
            t.active_conductance_us += float(active @ layer.state.row_g_us)

    def estimate_data(self, t: NodeTrace, lm: LayerMap, vectors: int) -> None:
        """Cost-only: the same counts under the stated input and weight distributions
        (hw/activity.py, docs/models.md)."""
        dac = self.arch.dac
        act = input_activity(dac.input_bits)
        per_code = act.ones if dac.bit_serial else act.nonzero           # DAC drives per row
        t.dac_drives += vectors * per_code * sum(lm.rows_used) * lm.col_groups
        if self.arch.crossbar.read_energy != "conductance":
            return
        per_read = act.ones if dac.bit_serial else act.mean_code          # reads a row is driven for
        t.active_conductance_us += (vectors * per_read * lm.rows * sum(lm.cols_used)
                                    * mean_cell_conductance_us(self.arch))

    def weight_variance(self, layer: AnalogLayer) -> np.ndarray:
        """Pulsed cells' programming errors, weighted by their slice's significance."""
        b = self.arch.device.bits_per_cell
        weight = np.array([4.0 ** (s * b) for s in range(layer.cells.levels.shape[1])])
        if self.arch.device.program_error != "cimsim":          # the peers' conventions: per cell
            var = program_error_variance(layer.cells.levels, self.arch)
            return np.einsum("pskn,s->kn", var, weight)
        pulsed = (layer.cells.levels > 0).astype(np.float64)           # (P, S, K, N)
        return np.einsum("pskn,s->kn", pulsed, weight) * self.device.program_sigma_levels ** 2
