"""What a tile's work costs, as one estimator per energy component (the way Accelergy's
component models are): each owns its actions' energies (pJ), its area (um2 per tile) and
its peak power (mW per tile); the chip turns area into leakage (hw/chip.py). `TileCosts`
gathers a tile's estimators into its rows of the open cost table, counts a node's actions
and prices them (counts x table), and holds the programming costs.

The built-in crossbar tile's estimators: the array read (`crossbar`), the row DACs
(`dac`), the column ADCs with their sample-and-holds (`adc`), the shift-and-add units
(`shift_add`), the write drivers (`write_drivers`, area only: their energy is the
programming cost's) and the input/output registers (`registers`). A tile adds a component
by adding an estimator and its action counts.
"""
from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

from ..trace import NodeTrace
from . import adc as adc_model

if TYPE_CHECKING:
    from .tile import TileModel


class Estimator:
    """One energy component of a tile."""

    name: ClassVar[str] = ""

    def __init__(self, tile: TileModel) -> None:
        self.tile, self.arch = tile, tile.arch

    def action_energies_pj(self) -> dict[str, float]:
        """action -> pJ of one action."""
        return {}

    def area_um2(self) -> dict[str, float]:
        """Area of one tile's worth, by area name (a component may have several: an ADC and
        its sample-and-holds)."""
        return {}

    def peak_power_mw(self) -> float | None:
        """One tile's worth all busy (None: not listed, no idle draw)."""
        return None


class TileCosts(abc.ABC):
    """A tile's costs: its estimators, the counts of a node's actions, the programming
    costs. `ESTIMATORS` lists the estimator classes in the order of the area table."""

    ESTIMATORS: ClassVar[tuple[type[Estimator], ...]] = ()
    PEAK_ORDER: ClassVar[tuple[str, ...]] = ()     # the peak-power table's order (default: ESTIMATORS')

    def __init__(self, tile: TileModel) -> None:
        self.tile, self.arch, self.device = tile, tile.arch, tile.device
        self.parts: dict[str, Estimator] = {cls.name: cls(tile) for cls in self.ESTIMATORS}

    def action_energies_pj(self) -> dict[tuple[str, str], float]:
        """(component, action) -> pJ: the tile's rows of the report's open cost table."""
        return {(name, act): pj for name, e in self.parts.items()
                for act, pj in e.action_energies_pj().items()}

    def layer_action_energies_pj(self, adc_bits: int) -> dict[tuple[str, str], float]:
        """Cost-table rows of a layer converting at `adc_bits` other than the arch's
        (deploy.adc_bits); default: none (a tile without per-layer resolution)."""
        return {}

    def action_counts(self, n: NodeTrace) -> dict[tuple[str, str], int]:
        """(component, action) -> how many of the node's counted actions there are."""
        return {}

    def mvm_energy_pj(self, n: NodeTrace) -> dict[str, float]:
        """Energy of a node's counted MVM actions by component: its counts x the cost table
        (keys among the tile's `components`)."""
        e = {**self.action_energies_pj(), **(self.layer_action_energies_pj(n.adc_bits) if n.adc_bits else {})}
        out: dict[str, float] = {}
        for (comp, act), count in self.action_counts(n).items():
            out[comp] = out.get(comp, 0.0) + count * e[(comp, act)]
        return out

    def area_um2(self) -> dict[str, float]:
        """Area of one tile by name (um2); none listed: the report gives the chip's parts only."""
        out: dict[str, float] = {}
        for e in self.parts.values():
            out.update(e.area_um2())
        return out

    def peak_power_mw(self) -> dict[str, float]:
        """One tile's peak power by energy component (mW): its units all busy. Idle units cost
        energy through it (chip.power_gating)."""
        out = {}
        for name in self.PEAK_ORDER or tuple(self.parts):
            mw = self.parts[name].peak_power_mw()
            if mw is not None:
                out[name] = mw
        return out

    def write_pulse_pj(self) -> float:
        """Energy of one write pulse on one cell."""
        return self.device.pulse_pj()

    def driver_op_pj(self) -> float:
        """Write-driver overhead per pulse operation (one row chunk)."""
        return self.arch.write_driver.energy_pj

    @abc.abstractmethod
    def verify_read_pj(self) -> float:
        """Reading one cell back (write-verify or read-back)."""


# --- the built-in crossbar tile's components

class ArrayRead(Estimator):
    """The crossbars: a read per cell (per_cell) or per uS of driven conductance (conductance)."""

    name = "crossbar"

    def cell_read_pj(self) -> float:
        return self.arch.crossbar.cell_read_energy_fj * 1e-3

    def conductance_read_pj(self) -> float:
        """One uS under a driven row for one read: V^2 x 1 uS x t (t: one read, or one pulse-width
        step of a multi-bit input)."""
        a = self.arch
        t_ns = a.crossbar.read_latency_ns / (1 if a.dac.bit_serial else 2 ** a.dac.input_bits - 1)
        return a.crossbar.read_voltage_v ** 2 * 1e-6 * t_ns * 1e-9 * 1e12

    def action_energies_pj(self) -> dict[str, float]:
        if self.arch.crossbar.read_energy == "conductance":
            return {"active_us_read": self.conductance_read_pj()}
        return {"cell_read": self.cell_read_pj()}

    def area_um2(self) -> dict[str, float]:
        return {"crossbar": self.arch.tile.crossbars * self.arch.crossbar.area_um2}

    def peak_power_mw(self) -> float:
        """Every cell read every read_latency_ns (per-cell model); under the conductance model
        no row is driven while idle: nothing."""
        xb, n = self.arch.crossbar, self.arch.tile.crossbars
        if xb.read_energy == "per_cell":
            return n * xb.rows * xb.cols * self.cell_read_pj() / xb.read_latency_ns
        return 0.0


class RowDacs(Estimator):
    """One DAC per crossbar row."""

    name = "dac"

    def drive_pj(self) -> float:
        return self.arch.dac.energy_pj

    def action_energies_pj(self) -> dict[str, float]:
        return {"drive": self.drive_pj()}

    def area_um2(self) -> dict[str, float]:
        a = self.arch
        return {"dac": a.tile.crossbars * a.crossbar.rows * a.dac.area_um2}

    def peak_power_mw(self) -> float:
        a = self.arch
        return a.tile.crossbars * a.crossbar.rows * self.drive_pj() / a.crossbar.read_latency_ns


class ColumnAdcs(Estimator):
    """`adc.per_crossbar` ADCs per crossbar, time-shared by its columns' sample-and-holds."""

    name = "adc"

    def conversion_pj(self, bits: int = 0) -> float:
        """Energy per conversion of `bits` (0: adc.bits): quoted at reference_bits, scaled as
        the converter's type says (hw/adc.py)."""
        adc = self.arch.adc
        return adc.energy_pj * adc_model.energy_ratio(adc.type, bits or adc.bits, adc.reference_bits,
                                                      adc.latency_ns)

    def conversion_ns(self, bits: int = 0) -> float:
        """Time per conversion of `bits` (0: adc.bits): quoted at reference_bits, scaled as the
        converter's type says."""
        adc = self.arch.adc
        return adc.latency_ns * adc_model.time_ratio(adc.type, bits or adc.bits, adc.reference_bits)

    def action_energies_pj(self) -> dict[str, float]:
        return {"convert": self.conversion_pj()}

    def area_um2(self) -> dict[str, float]:
        """One sample-and-hold per column of every array, and the ADCs (area quoted at
        reference_bits, scaled as the converter's type says)."""
        a = self.arch
        n = a.tile.crossbars
        return {"sample_hold": n * a.crossbar.cols * a.crossbar.sample_hold_area_um2,
                "adc": n * a.adc.per_crossbar * a.adc.area_um2
                * adc_model.area_ratio(a.adc.type, a.adc.bits, a.adc.reference_bits)}

    def peak_power_mw(self) -> float:
        """Converting back to back."""
        a = self.arch
        return a.tile.crossbars * a.adc.per_crossbar * self.conversion_pj() * (1.0 / self.conversion_ns())


class ShiftAdd(Estimator):
    """The shift-and-add units that weigh and sum the conversions."""

    name = "shift_add"

    def op_pj(self) -> float:
        return self.arch.digital.shift_add_energy_pj

    def action_energies_pj(self) -> dict[str, float]:
        return {"op": self.op_pj()}

    def area_um2(self) -> dict[str, float]:
        d = self.arch.digital
        return {"shift_add": d.shift_add_units_per_tile * d.shift_add_area_um2}

    def peak_power_mw(self) -> float:
        """One shift-add per conversion, every ADC converting back to back."""
        a = self.arch
        rate_ghz = a.tile.crossbars * a.adc.per_crossbar / self.tile.costs.parts["adc"].conversion_ns()
        return self.op_pj() * rate_ghz


class Registers(Estimator):
    """The tile's input register (the bits its DACs take, each crossbar its rows) and output
    register (the shift-added results), as ISAAC's IMA has them."""

    name = "registers"

    def action_energies_pj(self) -> dict[str, float]:
        r = self.arch.registers
        return {"in_bit": r.in_pj_per_bit, "out_op": r.out_pj_per_conversion}

    def area_um2(self) -> dict[str, float]:
        return {"registers": self.arch.registers.area_um2}

    def peak_power_mw(self) -> float:
        """Every crossbar's rows read each array read, every ADC's output written."""
        a, r = self.arch, self.arch.registers
        bits_per_ns = a.tile.crossbars * a.crossbar.rows / a.crossbar.read_latency_ns
        conv_per_ns = a.tile.crossbars * a.adc.per_crossbar / self.tile.costs.parts["adc"].conversion_ns()
        return bits_per_ns * r.in_pj_per_bit + conv_per_ns * r.out_pj_per_conversion


class WriteDrivers(Estimator):
    """The tile's write drivers: their area (their energy is the programming cost's)."""

    name = "write_drivers"

    def area_um2(self) -> dict[str, float]:
        wd = self.arch.write_driver
        return {"write_drivers": wd.per_tile * wd.area_um2}


class CrossbarCosts(TileCosts):
    """The built-in crossbar tile's costs."""

    ESTIMATORS = (ArrayRead, RowDacs, ColumnAdcs, ShiftAdd, WriteDrivers, Registers)
    PEAK_ORDER = ("adc", "dac", "shift_add", "crossbar", "registers")
    # (component, action) -> the trace count of that action
    ACTIONS: ClassVar[dict[tuple[str, str], str]] = {
        ("crossbar", "cell_read"): "cell_reads", ("dac", "drive"): "dac_drives",
        ("adc", "convert"): "adc_conversions", ("shift_add", "op"): "shift_adds",
        ("registers", "in_bit"): "register_bits", ("registers", "out_op"): "shift_adds"}

    def _actions(self) -> dict[tuple[str, str], str]:
        if self.arch.crossbar.read_energy == "conductance":
            return {("crossbar", "active_us_read"): "active_conductance_us",
                    **{k: v for k, v in self.ACTIONS.items() if k[0] != "crossbar"}}
        return self.ACTIONS

    def layer_action_energies_pj(self, adc_bits: int) -> dict[tuple[str, str], float]:
        """Conversions at other than adc.bits (deploy.adc_bits) are their own action."""
        return {("adc", f"convert_{adc_bits}b"): self.parts["adc"].conversion_pj(adc_bits)}

    def action_counts(self, n: NodeTrace) -> dict[tuple[str, str], int]:
        out = {key: getattr(n, field) for key, field in self._actions().items()}
        if n.adc_bits:
            out[("adc", f"convert_{n.adc_bits}b")] = out.pop(("adc", "convert"))
        return out

    def verify_read_pj(self) -> float:
        """Reading back one cell: its cell read (conductance energy: one read at mid-range
        conductance) and one column conversion."""
        conv = self.parts["adc"].conversion_pj()
        if self.arch.crossbar.read_energy == "conductance":
            dev = self.arch.device
            cell = self.arch.crossbar.read_voltage_v ** 2 * 0.5 * (dev.g_min_us + dev.g_max_us) * 1e-6 \
                * self.arch.crossbar.read_latency_ns * 1e-9 * 1e12
            return cell + conv
        return self.parts["crossbar"].cell_read_pj() + conv
