"""Architecture spec: the chip YAML maps 1:1 onto these frozen dataclasses.

Units are in the key names (us = microsiemens, pj, fj, ns, kib, mhz). Defaults
are those of the shipped default chip (arch/rram_64x64.yaml), whose comments
give the source of every number.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .schema import Source, spec


def node(default: float, what: str) -> float | None:
    """A section's technology node: where `what` (its CMOS constants) come from; build_chip
    scales them to the chip's technology_nm (hw/technology.py); unset: no scaling."""
    return spec(default, lo=7.0, hi=130.0, doc=f"the technology node of {what} (scaled to technology_nm, "
                                                "hw/technology.py); unset: no scaling")


@dataclass(frozen=True)
class StuckAtSpec:
    """Fractions of cells stuck at the low (g_min) or high (g_max) conductance."""

    low_rate: float = spec(0.001, lo=0.0, hi=1.0, doc="fraction of cells stuck at g_min")
    high_rate: float = spec(0.001, lo=0.0, hi=1.0, doc="fraction of cells stuck at g_max")

    def validate(self, src: Source, path: tuple) -> None:
        if self.low_rate + self.high_rate > 1.0:
            raise src.error(path, "low_rate + high_rate <= 1", self.low_rate + self.high_rate)


@dataclass(frozen=True)
class WritePulseSpec:
    """One programming pulse on one cell."""

    pulse_energy_pj: float = spec(10.9, lo=0.0, doc="energy of one write pulse on one cell")
    pulse_ns: float = spec(100.0, lo=0.0, lo_open=True, doc="duration of one write pulse")


@dataclass(frozen=True)
class WriteVerifySpec:
    """Program-and-verify loop: read the cell, pulse it towards its target, until within
    tolerance or out of iterations (device/verify.py)."""

    tolerance: float = spec(0.02, lo=0.0, lo_open=True, hi=1.0,
                            doc="accept when |read - target| <= tolerance x (g_max - g_min)")
    max_iterations: int = spec(20, lo=1, hi=1000, doc="verify reads per cell before giving up")


@dataclass(frozen=True)
class UpdateSpec:
    """How a cell answers the pulses of on-chip learning (device/update.py). The defaults of
    the step parameters are aihwkit's ReRamSBPresetDevice (a fit to Gong et al., Nat. Commun.
    9, 2102, 2018): dw_min 0.002 over its weight range 2.0, cycle-to-cycle std 3.75 steps."""

    model: str = spec("ideal", choices=("ideal", "linear_step", "soft_bounds", "pcm_set_only"),
                      doc="ideal: a write moves a cell exactly to its new level (one write per cell); "
                          "linear_step / soft_bounds: bidirectional pulse trains whose step depends on "
                          "direction and state; pcm_set_only: SET-only devices, RESET and pair refresh")
    step_fraction: float = spec(0.001, lo=0.0, lo_open=True, hi=1.0,
                                doc="nominal conductance change of one pulse / (g_max - g_min)")
    up_down: float = spec(0.0, lo=-0.99, hi=0.99,
                          doc="directional asymmetry beta: up steps are (1 + beta), down steps "
                              "(1 - beta) times the nominal step (aihwkit up_down)")
    gamma_up: float = spec(0.0, lo=0.0, hi=1.0, doc="linear_step and pcm_set_only: an up step shrinks by "
                                                    "gamma_up x the share of the range below the cell "
                                                    "(1: soft bound at g_max)")
    gamma_down: float = spec(0.0, lo=0.0, hi=1.0, doc="linear_step: a down step shrinks by gamma_down x "
                                                      "the share of the range above the cell")
    cycle_sigma: float = spec(0.0, lo=0.0, hi=100.0,
                              doc="cycle-to-cycle std of each pulse's step, in units of the nominal step "
                                  "(aihwkit dw_min_std, additive)")
    refresh_upper: float = spec(0.75, lo=0.0, hi=1.0, doc="pcm_set_only: refresh a pair whose larger device "
                                                          "is above this share of the range ...")
    refresh_lower: float = spec(0.25, lo=0.0, hi=1.0, doc="... and whose smaller device is above this one "
                                                          "(aihwkit OneSidedUnitCell's thresholds)")

    def validate(self, src: Source, path: tuple) -> None:
        if self.step_fraction * (1 + abs(self.up_down)) >= 1:
            raise src.error(path + ("step_fraction",), "a pulse smaller than the whole range: step_fraction "
                            f"x (1 + |up_down|) < 1 (up_down {self.up_down:g})", self.step_fraction)
        if self.refresh_lower > self.refresh_upper:
            raise src.error(path + ("refresh_lower",), f"<= refresh_upper = {self.refresh_upper:g}",
                            self.refresh_lower)


@dataclass(frozen=True)
class DeviceSpec:
    """NVM cell physics. Variation and noise are relative to the range g_max - g_min."""

    model: str = spec("rram", key="class",
                      doc="device model: a registered name (cimsim list devices) or 'package.module:Class'")
    g_min_us: float = spec(1.0, lo=0.0, doc="lowest programmable conductance")
    g_max_us: float = spec(40.0, lo=0.0, lo_open=True, doc="highest programmable conductance")
    bits_per_cell: int = spec(2, lo=1, hi=8, doc="levels per cell = 2**bits_per_cell")
    program_sigma: float = spec(0.02, lo=0.0, hi=1.0,
                                doc="std of programmed conductance / (g_max - g_min), per cell")
    read_sigma: float = spec(0.01, lo=0.0, hi=1.0,
                             doc="std of read noise / (g_max - g_min), per cell per read")
    clip_to_range: bool = spec(False, doc="programming error and verify pulses cannot take a cell "
                                          "outside [g_min, g_max] (false: unclipped Gaussian error, the "
                                          "TSB authors' model)")
    program_error: str = spec("cimsim", choices=("cimsim", "crosssim", "aihwkit"),
                              doc="convention of the one-shot programming error (docs/models.md): cimsim "
                                  "(N(0, program_sigma) of the range on pulsed cells only, cells left at "
                                  "g_min exact; clipped only with clip_to_range); crosssim (CrossSim's: "
                                  "N(0, program_sigma) on every cell, both devices of a pair, always clipped "
                                  "to [g_min, g_max]); aihwkit (aihwkit's PCMLikeNoiseModel: a std that is a "
                                  "polynomial of the target conductance, 0.26348 + 1.9650 x - 1.1731 x^2 uS "
                                  "at x = g/g_max, scaled by g_max / 25 uS, on every cell, clamped at 0 uS; "
                                  "program_sigma unused)")
    stuck_at: StuckAtSpec = spec(StuckAtSpec())
    endurance_cycles: float = spec(1e6, lo=1.0, doc="writes a cell survives")
    write: WritePulseSpec = spec(WritePulseSpec())
    write_verify: WriteVerifySpec = spec(WriteVerifySpec())
    update: UpdateSpec = spec(UpdateSpec())
    params: Any = spec(None, doc="the device model's own parameters (its Params dataclass)")

    def validate(self, src: Source, path: tuple) -> None:
        if self.g_max_us <= self.g_min_us:
            raise src.error(path + ("g_max_us",), f"a value > g_min_us = {self.g_min_us:g}",
                            self.g_max_us)
        u = self.update
        bounded = u.model in ("soft_bounds", "pcm_set_only") or (u.model == "linear_step"
                                                                  and (u.gamma_up or u.gamma_down))
        if bounded and not self.clip_to_range:
            raise src.error(path + ("clip_to_range",), f"true with update model {u.model} (its steps depend "
                            "on where a cell sits in [g_min, g_max], so the cells need those bounds)",
                            self.clip_to_range)
        _check_params(self, "device", src, path)

    @property
    def levels(self) -> int:
        """Highest level index L: a cell stores 0..L."""
        return 2 ** self.bits_per_cell - 1

    @property
    def g_step_us(self) -> float:
        return (self.g_max_us - self.g_min_us) / self.levels


@dataclass(frozen=True)
class CrossbarSpec:
    """One crossbar array: rows are driven by DACs, columns sensed by ADCs."""

    rows: int = spec(64, lo=2, hi=4096)
    cols: int = spec(64, lo=2, hi=4096)
    weight_bits: int = spec(8, lo=2, hi=16, doc="signed weight precision, sign included")
    differential: bool = spec(True, doc="signed weights as (G+, G-) column pairs; "
                              "false: offset encoding with digital offset correction")
    read_energy: str = spec("conductance", choices=("per_cell", "conductance"),
                            doc="per_cell: cell_read_energy_fj for every mapped cell of every crossbar "
                                "read, whatever the data; conductance: read_voltage_v^2 x G x t for each "
                                "cell whose row an input drives (bit-serial: a 1 bit for one read; "
                                "multi-bit: a pulse width of code/(2^bits-1) reads), G its programmed "
                                "conductance")
    cell_read_energy_fj: float = spec(1.83, lo=0.0,
                                      doc="per_cell: energy per cell per read (one input plane)")
    read_voltage_v: float = spec(0.5, lo=0.0, hi=5.0, doc="conductance: the voltage on a driven row")
    wire_ohm_per_cell: float = spec(0.0, lo=0.0, hi=1e4,
                                    doc="bit-line wire resistance between adjacent cells: IR drop, "
                                        "solved per column (hw/irdrop.py); 0: ideal wires")
    read_latency_ns: float = spec(10.0, lo=0.0, lo_open=True,
                                  doc="DAC drive + array settle + sample-and-hold, per input plane")
    area_um2: float = spec(6.25, lo=0.0, doc="one array (ISAAC: 25 um2 per 128x128 array)")
    sample_hold_area_um2: float = spec(0.039, lo=0.0,
                                       doc="one column's sample-and-hold (ISAAC: 40 um2 / 1024)")
    node_nm: float | None = node(32.0, "its sample-and-hold area")


@dataclass(frozen=True)
class DacSpec:
    """Row drivers: bit-serial (1 bit per plane) or multi-bit (one plane per value)."""

    input_bits: int = spec(8, lo=1, hi=16, doc="activation precision (unsigned)")
    bit_serial: bool = spec(True, doc="true: input_bits 1-bit planes; false: one multi-bit plane")
    energy_pj: float = spec(0.39, lo=0.0, doc="energy per row driven per plane (ISAAC: 4 mW x 100 ns / "
                                              "1024 1-bit DACs)")
    area_um2: float = spec(0.166, lo=0.0, doc="one row's DAC (ISAAC: 170 um2 / 1024 1-bit DACs)")
    node_nm: float | None = node(32.0, "its CMOS constants")


@dataclass(frozen=True)
class AdcSpec:
    """Column ADCs, time-shared by the columns of one crossbar."""

    bits: int = spec(8, lo=1, hi=24)
    per_crossbar: int = spec(1, lo=1, hi=65536, doc="ADCs per crossbar; columns are multiplexed onto them")
    energy_pj: float = spec(1.5625, lo=0.0, doc="energy per conversion (one column, one plane) "
                            "at reference_bits")
    latency_ns: float = spec(0.78125, lo=0.0, lo_open=True, doc="time per conversion at reference_bits")
    reference_bits: int = spec(8, lo=1, hi=24, doc="resolution energy_pj, latency_ns and area_um2 are "
                               "quoted at; other bits scale them as the converter's type says (hw/adc.py)")
    type: str = spec("sar", choices=("sar", "flash", "ramp"),
                     doc="converter architecture, which sets how energy, time and area scale with bits: "
                         "sar (time ~ bits, energy as Murmann's survey fit), flash (energy and area ~ "
                         "2^bits - 1, time constant), ramp (energy and time ~ 2^bits)")
    range_fraction: float = spec(0.25, lo=0.0, hi=1.0, lo_open=True,
                                 doc="range per_layer: ADC full scale / largest possible column sum; "
                                     "< 1 clips")
    range_mode: str = spec("per_slice", key="range", choices=("per_layer", "per_slice", "per_array"),
                           doc="what shares one ADC full scale: per_layer (range_fraction of the largest "
                               "possible column sum, the same for every layer); per_slice (each weight "
                               "slice of a layer its own, calibrated: a reference per slice that the "
                               "time-shared ADC switches between); per_array (each crossbar its own, "
                               "calibrated: one trimmed reference per crossbar's ADCs, as CrossSim "
                               "calibrates per array). Calibrated ranges are the largest column sum the "
                               "deployment's calibration images give on the target conductances")
    calibration_margin: float = spec(1.0, lo=0.0, hi=16.0, lo_open=True,
                                     doc="range per_slice / per_array: full scale = this x the calibrated "
                                         "largest column sum (< 1 clips the largest sums for finer steps)")
    area_um2: float = spec(1200.0, lo=0.0, doc="one ADC at reference_bits (ISAAC: 0.0096 mm2 / 8)")
    offset_sigma_lsb: float = spec(0.0, lo=0.0, hi=1e3, doc="std of each ADC's static input-referred "
                                   "offset (LSB), drawn once per chip")
    inl_lsb: float = spec(0.0, lo=-1e3, hi=1e3, doc="integral nonlinearity: a bow of this many LSB at "
                          "mid-scale, zero at both ends, the same for every ADC")
    offset_calibration: bool = spec(True, doc="the periphery measures each ADC's zero-input level once "
                                    "(averaging conversions, sub-LSB) and subtracts it from every "
                                    "conversion: removes the static offset and the INL at zero in the mean")
    node_nm: float | None = node(32.0, "its CMOS constants")

    def validate(self, src: Source, path: tuple) -> None:
        """A key of the other kind of range is an error, not ignored."""
        default = {f.name: f.default for f in dataclasses.fields(self)}
        fraction, margin = self.range_fraction, self.calibration_margin
        if self.range_mode != "per_layer" and fraction != default["range_fraction"]:
            raise src.error(path + ("range_fraction",), f"no range_fraction with range {self.range_mode} "
                            "(its full scale is calibrated; calibration_margin scales it)", fraction)
        if self.range_mode == "per_layer" and margin != default["calibration_margin"]:
            raise src.error(path + ("calibration_margin",), "no calibration_margin with range per_layer "
                            "(it scales calibrated ranges: range per_slice or per_array)", margin)


@dataclass(frozen=True)
class RegisterSpec:
    """A tile's input and output registers: the input bits the DACs take and the shift-added
    results (ISAAC's IMA registers, Table 6)."""

    in_pj_per_bit: float = spec(0.121, lo=0.0, doc="input register, per bit fed to one crossbar's DACs "
                                "(ISAAC: 2 KB, 1.24 mW over 8 x 128 rows per 100 ns read)")
    out_pj_per_conversion: float = spec(0.0225, lo=0.0, doc="output register, per ADC output shift-added "
                                        "(ISAAC: 256 B, 0.23 mW over 8 ADCs x 1.28 GS/s)")
    area_um2: float = spec(2870.0, lo=0.0, doc="both registers of one tile (ISAAC: 0.0021 + 0.00077 mm2)")
    node_nm: float | None = node(32.0, "its constants")


@dataclass(frozen=True)
class WriteDriverSpec:
    """Programming circuitry of a tile."""

    per_tile: int = spec(1, lo=1, hi=4096)
    parallel_cells: int = spec(64, lo=1, hi=65536, doc="cells one driver pulses at once (one row)")
    energy_pj: float = spec(0.0, lo=0.0, doc="driver overhead per pulse operation (beyond the cell pulse)")
    area_um2: float = spec(0.0, lo=0.0, doc="one driver (0: not counted; no sourced per-driver figure)")


@dataclass(frozen=True)
class SramBufferSpec:
    """One SRAM buffer: activations (and, for training, auxiliary state). The chip has one
    per `tiles_per_buffer` consecutive tiles; each tile owns an equal share of its buffer's
    capacity and bandwidth."""

    model: str = spec("buffer", key="class", doc="the buffers' model: a registered name (cimsim list "
                                                 "chip-parts) or 'package.module:Class'")
    capacity_kib: float = spec(64.0, lo=0.0, lo_open=True, hi=2**30, doc="one buffer")
    read_pj_per_bit: float = spec(0.067, lo=0.0)
    write_pj_per_bit: float = spec(0.067, lo=0.0)
    bytes_per_cycle: int = spec(32, lo=1, hi=2**20, doc="bandwidth of one port")
    ports: int = spec(2, lo=1, hi=1024)
    tiles_per_buffer: int = spec(12, lo=1, hi=2**20, doc="tiles sharing one buffer (ISAAC: the 12 IMAs "
                                 "of a tile share its 64 KB eDRAM)")
    area_um2_per_kib: float = spec(1297.0, lo=0.0, doc="ISAAC: 64 KB eDRAM buffer 0.083 mm2")
    bus_area_um2: float = spec(90000.0, lo=0.0, doc="the bus from one buffer to its tiles (ISAAC: "
                               "eDRAM-to-IMA bus, 384 wires, 0.090 mm2)")
    bus_pj_per_bit: float = spec(0.0152, lo=0.0, doc="the bus, per bit read or written (ISAAC: 7 mW over "
                                 "384 wires at 1.2 GHz)")
    node_nm: float | None = node(32.0, "its CMOS constants")


@dataclass(frozen=True)
class DigitalSpec:
    """Digital periphery: shift-add of ADC outputs, and vector ops (BN, ReLU, pool, add)."""

    model: str = spec("vector_unit", key="class", doc="the vector unit's model (cimsim list chip-parts)")
    shift_add_energy_pj: float = spec(0.0195, lo=0.0, doc="per shift-add of one ADC output (ISAAC: "
                                      "0.2 mW per IMA over 8 ADCs x 1.28 GS/s)")
    op_energy_pj: float = spec(0.1, lo=0.0, doc="per elementwise vector op on one element")
    lanes: int = spec(64, lo=1, hi=2**20, doc="vector elements processed per cycle")
    shift_add_units_per_tile: int = spec(4, lo=0, hi=65536,
                                         doc="shift-and-add units per tile (ISAAC: 4 per IMA)")
    shift_add_area_um2: float = spec(60.0, lo=0.0, doc="one shift-and-add unit (ISAAC: 240 um2 / 4)")
    partial_sum_bits: int = spec(16, lo=1, hi=64, doc="a partial sum sent between the tiles of a layer "
                                 "split over tiles (ISAAC's 16-bit output registers)")
    lane_area_um2: float = spec(318.0, lo=0.0, doc="one vector lane: 8-bit multiply 282 + add 36 um2 "
                                "(Horowitz, ISSCC 2014, 45 nm)")
    node_nm: float | None = node(32.0, "the shift-and-add constants")
    vector_node_nm: float | None = node(45.0, "the vector lanes' constants")


@dataclass(frozen=True)
class TileSpec:
    model: str = spec("crossbar", key="class",
                      doc="tile model: a registered name (cimsim list tiles) or 'package.module:Class'")
    crossbars: int = spec(8, lo=1, hi=4096, doc="crossbars per tile")
    params: Any = spec(None, doc="the tile model's own parameters (its Params dataclass)")

    def validate(self, src: Source, path: tuple) -> None:
        _check_params(self, "tile", src, path)


def _check_params(section: Any, kind: str, src: Source, path: tuple) -> None:
    """`params` is a mapping (built into the model's Params dataclass by hw.chip.build_chip,
    which knows the model class) or absent."""
    raw = section.params
    if raw is not None and not dataclasses.is_dataclass(raw) and not isinstance(raw, dict):
        raise src.error(path + ("params",), f"a mapping of the {kind} model's parameters", raw)


@dataclass(frozen=True)
class NocSpec:
    model: str = spec("mesh", key="class", doc="the network's model (cimsim list chip-parts)")
    bytes_per_cycle: int = spec(4, lo=1, hi=2**20)
    energy_pj_per_bit: float = spec(0.137, lo=0.0, doc="per bit per router crossed (ISAAC: 42 mW over 8 "
                                                      "ports x 32 bit x 1.2 GHz)")
    ports: int = spec(8, lo=1, hi=64, doc="ports of one router, each moving bytes_per_cycle per cycle "
                                          "(ISAAC's c-mesh: 4 tiles + 4 neighbours)")
    router_area_um2: float = spec(151000.0, lo=0.0, doc="one router (ISAAC: 0.151 mm2)")
    tiles_per_router: int = spec(4, lo=1, hi=2**20,
                                 doc="tiles sharing one router (ISAAC: 4 tiles of 12 IMAs)")
    node_nm: float | None = node(32.0, "its CMOS constants")


@dataclass(frozen=True)
class PowerGatingSpec:
    """What idle units draw. A unit's peak power is its per-action energy x its peak rate
    (how the per-action figures were derived from published powers); over a phase's simulated
    makespan, its idle time is the time it is not busy with counted actions."""

    gated: bool = spec(True, doc="true: idle units are power-gated and draw only their leakage; "
                                 "false: idle units stay clocked/biased at peak power")
    leakage_mw_per_mm2: float = spec(0.01075, lo=0.0, hi=1e6,
                                     doc="leakage power density of the CMOS parts (the NVM arrays do "
                                         "not leak): DNN+NeuroSim V1.4's 22 nm VGG-8 chip leaks 0.911 mW "
                                         "over 84.8 mm2")
    node_nm: float | None = node(22.0, "the leakage density")


@dataclass(frozen=True)
class OffChipSpec:
    """The chip's off-chip interface and memory: input images and logits, and (with
    deploy.weight_reload) weights and activations of networks larger than the chip."""

    model: str = spec("link_dram", key="class", doc="the interface's model (cimsim list chip-parts)")
    link_pj_per_bit: float = spec(50.8, lo=0.0, doc="the interface (ISAAC: HyperTransport 10.4 W "
                                  "at 4 x 6.4 GB/s)")
    dram_pj_per_bit: float = spec(20.0, lo=0.0, doc="the off-chip memory access (Horowitz, ISSCC "
                                  "2014: 1.3-2.6 nJ per 64-bit DRAM access)")
    bandwidth_gb_per_s: float = spec(6.4, lo=0.0, lo_open=True, hi=1e6,
                                     doc="one HyperTransport link (ISAAC has 4 x 6.4 GB/s)")
    area_mm2: float = spec(5.72, lo=0.0, doc="the interface (ISAAC: 4 HyperTransport links 22.88 mm2)")
    static_mw: float = spec(0.0, lo=0.0, hi=1e7, doc="power the interface draws whenever the chip runs, "
                            "gated or not (SerDes lanes kept trained); 0: it is powered only while it "
                            "moves data (its per-bit energy)")


@dataclass(frozen=True)
class ChipSpec:
    tiles: int = spec(64, lo=1, hi=2**20)
    noc: NocSpec = spec(NocSpec())
    power_gating: PowerGatingSpec = spec(PowerGatingSpec())


@dataclass(frozen=True)
class ArchSpec:
    """A whole chip."""

    name: str = spec("chip")
    clock_mhz: float = spec(1000.0, lo=0.001, hi=100_000.0)      # 1 kHz to 100 GHz
    technology_nm: float = spec(32.0, lo=7.0, hi=130.0, doc="the chip's CMOS node: every section's constants "
                                "are scaled from their node_nm to it (Stillmaker and Baas 2017, "
                                "hw/technology.py; 7-130 nm)")
    supply_v: float = spec(0.8, lo=0.3, hi=1.5, doc="logic supply the energy scaling is evaluated at")
    device: DeviceSpec = spec(DeviceSpec())
    crossbar: CrossbarSpec = spec(CrossbarSpec())
    dac: DacSpec = spec(DacSpec())
    adc: AdcSpec = spec(AdcSpec())
    registers: RegisterSpec = spec(RegisterSpec())
    write_driver: WriteDriverSpec = spec(WriteDriverSpec())
    sram_buffer: SramBufferSpec = spec(SramBufferSpec())
    offchip: OffChipSpec = spec(OffChipSpec())
    digital: DigitalSpec = spec(DigitalSpec())
    tile: TileSpec = spec(TileSpec())
    chip: ChipSpec = spec(ChipSpec())

    def validate(self, src: Source, path: tuple) -> None:
        from .workload import check_name

        check_name(self.name, src, path + ("name",))

    @property
    def input_planes(self) -> int:
        return self.dac.input_bits if self.dac.bit_serial else 1

    @property
    def clock_ghz(self) -> float:
        return self.clock_mhz / 1000.0
