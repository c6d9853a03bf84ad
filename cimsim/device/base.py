"""The public API of a device model: how a cell programs, reads, drifts, wears and costs.

Cells are kept in level units (device/conductance.py): a cell of a b-bit device stores
a level 0..L (L = 2**b - 1) and its conductance is a float in the same units, so the
column periphery sees sum(level x input) plus the device's errors. A device model owns
everything physical about a cell: the one-shot programming error, read noise,
correction pulses of a write-verify loop, incremental writes with wear-out, drift, and
the energy and duration of one write pulse. Tiles (hw/tile.py) call these methods; they
never touch device parameters themselves.

To write a device: subclass `DeviceModel` (or a built-in such as
`cimsim.device.nvm.RramDevice`), give it a `Params` dataclass of its own parameters
(fields declared with `cimsim.config.schema.spec`, read from `device.params` in the
arch file and validated like every built-in key) and implement the abstract methods.
"""
from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from ..config.arch import ArchSpec
from ..config.nonideal import NonIdeality
from ..config.schema import NoParams
from .conductance import ProgrammedArray
from .write import WriteResult


class ModelError(Exception):
    """A model's parameters do not suit the rest of the arch: key path (from the arch file's
    top), what was expected and what was found. The loader adds the file and line."""

    def __init__(self, path: tuple, expected: str, got: object = None) -> None:
        self.path, self.expected, self.got = path, expected, got
        super().__init__(f"{'.'.join(map(str, path))}: expected {expected}, got {got!r}")


class DeviceModel(abc.ABC):
    """Base class of NVM cell models (programming, read noise, drift, endurance, write pulses)."""

    Params: ClassVar[type] = NoParams

    def __init__(self, arch: ArchSpec, params: object | None = None) -> None:
        self.arch = arch
        self.spec = arch.device
        self.params = params if params is not None else self.Params()

    def validate(self) -> None:
        """Raise ModelError if the parameters do not suit the arch (called once when loaded)."""
        return None

    def nonidealities(self) -> list[NonIdeality]:
        """What makes this cell imperfect, as arch settings that turn each off (explain.py):
        programming error, read noise and stuck cells of the device spec; a model with
        parameters of its own adds its own (paths under device.params)."""
        d = self.spec
        lo, hi = d.stuck_at.low_rate, d.stuck_at.high_rate
        prog = (NonIdeality(f"programming error (sigma {d.program_sigma:g})", {"device.program_sigma": 0.0})
                if d.program_error == "cimsim" else
                NonIdeality(f"programming error ({d.program_error}'s convention)",
                            {"device.program_error": "cimsim", "device.program_sigma": 0.0}))
        return [prog,
                NonIdeality(f"read noise (sigma {d.read_sigma:g})", {"device.read_sigma": 0.0}),
                NonIdeality(f"cells stuck at g_min ({lo:g})", {"device.stuck_at.low_rate": 0.0}),
                NonIdeality(f"cells stuck at g_max ({hi:g})", {"device.stuck_at.high_rate": 0.0})]

    @property
    def levels(self) -> int:
        """Highest level L of a cell."""
        return self.spec.levels

    # --- programming and reading
    @abc.abstractmethod
    def program(self, levels: np.ndarray, rng: np.random.Generator) -> ProgrammedArray:
        """One-shot programming of target levels (any shape): conductances as programmed,
        faults, and per-cell pulse counters."""

    @abc.abstractmethod
    def read(self, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One read of conductances g (level units), with the read noise."""

    @property
    @abc.abstractmethod
    def read_sigma_levels(self) -> float:
        """Std of one cell's read noise in level units: the analog MVM kernel adds Gaussian
        noise of this std per cell per read at the column output (kernels/mvm.py)."""

    @property
    @abc.abstractmethod
    def program_sigma_levels(self) -> float:
        """Std of one-shot programming error in level units (sensitivity-based verify scores)."""

    @abc.abstractmethod
    def correction_pulse(self, d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Conductance change a pulse asked to move cells by d levels really causes."""

    # --- life after deployment
    @abc.abstractmethod
    def write(self, cells: ProgrammedArray, writes: np.ndarray, new_levels: np.ndarray,
              rng: np.random.Generator | None = None) -> WriteResult:
        """Move cells to new target levels in place; count per-cell writes; wear cells out.
        rng: the written matrix's own stream for any randomness of the write (update noise)."""

    @abc.abstractmethod
    def drift(self, cells: ProgrammedArray, sigma_levels: float, rng: np.random.Generator) -> None:
        """Analog drift event: working cells move by a random step of std sigma_levels."""

    def at_time(self, cells: ProgrammedArray, t_s: float, key: int) -> np.ndarray:
        """Conductances (level units, the shape of cells.g) a read sees t_s seconds after
        programming; `key` seeds any per-cell randomness, which must not depend on t_s (the
        same chip at every time). Default: no change over time (cells.g itself)."""
        return cells.g

    @abc.abstractmethod
    def bit_flips(self, cells: ProgrammedArray, rate: float, rng: np.random.Generator) -> int:
        """Digital drift event: a `rate` share of working cells flip one level bit; returns flips."""

    # --- costs of one write pulse, and endurance
    def pulse_pj(self) -> float:
        """Energy of one write pulse on one cell."""
        return self.spec.write.pulse_energy_pj

    def pulse_ns(self) -> float:
        """Duration of one write pulse."""
        return self.spec.write.pulse_ns

    def endurance_cycles(self) -> float:
        """Writes a cell survives (math.inf: never wears out)."""
        return self.spec.endurance_cycles
