"""Scenarios: the world during an online (train) phase — what the input stream looks like
and what happens to the stored conductances while the chip learns.

A scenario is a registered part (plugins.py, kind "scenario"; entry-point group
`cimsim.scenarios`): subclass `Scenario`, override `segment` (the input distribution of
sample t) and/or, with `drifts = True`, `change` (what one event every `drift_every_samples`
does to one layer's cells; `event` applies it to every layer). Its
numbers are the workload's `scenario:` keys (config.workload.ScenarioSpec).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..config.workload import ScenarioSpec
from ..nn.stream import SHIFTS

if TYPE_CHECKING:
    from ..functional import AnalogLayer


class Scenario:
    """Base: the plain stream (elastic distortions only), nothing happens to the cells."""

    drifts: ClassVar[bool] = False      # `event` runs every scenario.drift_every_samples samples

    def __init__(self, spec: ScenarioSpec) -> None:
        self.spec = spec

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

    def segment(self, t: int) -> str:
        return SHIFTS[(t // self.spec.segment_samples) % len(SHIFTS)]


class AnalogDrift(Scenario):
    """Gaussian random walk of every stored conductance (the device's drift hook)."""

    drifts = True

    def change(self, layer: AnalogLayer, rng: np.random.Generator) -> None:
        layer.tile.drift(layer, self.spec.drift_sigma, rng)


class DigitalDrift(Scenario):
    """Random bit flips of stored levels (the device's bit_flips hook)."""

    drifts = True

    def change(self, layer: AnalogLayer, rng: np.random.Generator) -> None:
        layer.tile.bit_flips(layer, self.spec.flip_rate, rng)
