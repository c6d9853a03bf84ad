"""Scenarios: the world during an online (train) phase — what the input stream looks like
and what happens to the stored conductances while the chip learns.

A scenario is a registered part (plugins.py, kind "scenario"; entry-point group
`cimsim.scenarios`): subclass `Scenario`, override `segment` (the input distribution of
sample t) and/or, with `drifts = True`, `change` (what one event every `drift_every_samples`
does to one layer's cells; `event` applies it to every layer). Its numbers are its
`Params` (a frozen dataclass of `spec` fields; a drifting scenario's has
`drift_every_samples`), read from the workload's `scenario:` keys beside `kind` and checked
when the run loads its parts (plugins.part_params).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .. import plugins
from ..config.schema import spec
from ..config.workload import ScenarioSpec
from ..nn.stream import SHIFTS

if TYPE_CHECKING:
    from ..functional import AnalogLayer


@dataclass(frozen=True)
class StreamParams:
    """Every scenario's stream: the training images with mild elastic distortions."""

    elastic_alpha_px: float = spec(0.4, lo=0.0, doc="elastic displacement std (pixels)")
    elastic_sigma_px: float = spec(2.0, lo=0.1, doc="elastic distortion smoothness (pixels)")


@dataclass(frozen=True)
class ShiftParams(StreamParams):
    segment_samples: int = spec(1000, lo=1, doc="samples per segment")


@dataclass(frozen=True)
class AnalogDriftParams(StreamParams):
    drift_every_samples: int = spec(10, lo=1, doc="samples between drift events")
    drift_sigma: float = spec(0.01, lo=0.0, doc="conductance step std / range per event")


@dataclass(frozen=True)
class DigitalDriftParams(StreamParams):
    drift_every_samples: int = spec(10, lo=1, doc="samples between drift events")
    flip_rate: float = spec(2e-4, lo=0.0, hi=1.0, doc="chance a cell flips a level bit per event")


class Scenario:
    """Base: the plain stream (elastic distortions only), nothing happens to the cells."""

    Params: ClassVar[type] = StreamParams
    drifts: ClassVar[bool] = False      # `event` runs every params.drift_every_samples samples

    def __init__(self, spec: ScenarioSpec) -> None:
        self.spec = spec
        self.params = plugins.part_params("scenario", type(self), spec.params)

    def segment(self, t: int) -> str:
        """The input shift of sample t: 'none', or transforms of nn/stream.py joined by '+'."""
        return "none"

    def event(self, engines: dict[str, AnalogLayer], rng: np.random.Generator) -> None:
        """Change the stored conductances (called between samples when `drifts`): each layer's
        `change`, then its re-read."""
        for e in engines.values():
            self.change(e, rng)
            e.refresh()

    def change(self, layer: AnalogLayer, rng: np.random.Generator) -> None:
        """What one event does to one layer's cells (default: nothing)."""


class Control(Scenario):
    """The digits stream with elastic distortions; nothing else changes."""


class DistributionShift(Scenario):
    """Segments of spatial transform, background gradient, white noise and their mixes."""

    Params = ShiftParams

    def segment(self, t: int) -> str:
        return SHIFTS[(t // self.params.segment_samples) % len(SHIFTS)]


class AnalogDrift(Scenario):
    """Gaussian random walk of every stored conductance (the device's drift hook)."""

    Params = AnalogDriftParams
    drifts = True

    def change(self, layer: AnalogLayer, rng: np.random.Generator) -> None:
        layer.tile.drift(layer, self.params.drift_sigma, rng)


class DigitalDrift(Scenario):
    """Random bit flips of stored levels (the device's bit_flips hook)."""

    Params = DigitalDriftParams
    drifts = True

    def change(self, layer: AnalogLayer, rng: np.random.Generator) -> None:
        layer.tile.bit_flips(layer, self.params.flip_rate, rng)
