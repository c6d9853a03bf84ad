"""Signed integer weights on unsigned multi-level cells: the one place that knows how.

A B-bit signed weight is cut into `slices` cells of `bits_per_cell` bits (slice 0 least
significant) in one or two polarities:
- DifferentialSliced (`crossbar.differential: true`): a (G+, G-) pair per slice; G+ holds
  |w| of positive weights, G- of negative ones; the columns subtract in analog, so B - 1
  magnitude bits are stored and the ADC range is signed.
- OffsetSliced (`false`): one cell per slice holding w + 2^(B-1); the periphery subtracts
  the offset times the input sum digitally; B bits are stored and the ADC range is unsigned.
Device models see only levels (device/); tiles ask the encoding (hw/tile.py).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from ..config.arch import ArchSpec


class WeightEncoding(ABC):
    polarities: int = 1

    def __init__(self, weight_bits: int, bits_per_cell: int) -> None:
        self.weight_bits, self.bits_per_cell = weight_bits, bits_per_cell

    @property
    @abstractmethod
    def magnitude_bits(self) -> int:
        """Bits stored in the cells for one weight."""

    @property
    def slices(self) -> int:
        """Cells (per polarity) holding one weight."""
        return math.ceil(self.magnitude_bits / self.bits_per_cell)

    @property
    def columns_per_weight(self) -> int:
        return self.slices * self.polarities

    @property
    def signed_columns(self) -> bool:
        """Whether a column's result can be negative (the ADC range is then symmetric)."""
        return self.polarities == 2

    @abstractmethod
    def magnitudes(self, w_int: np.ndarray) -> np.ndarray:
        """(polarities, K, N) non-negative integers the slices hold."""

    def encode(self, w_int: np.ndarray) -> np.ndarray:
        """Integer weights (K, N) -> cell levels (polarities, S, K, N) uint8."""
        b, mask = self.bits_per_cell, 2 ** self.bits_per_cell - 1
        mags = self.magnitudes(w_int)
        return np.stack([(mags >> (s * b)) & mask for s in range(self.slices)], axis=1).astype(np.uint8)

    def decode(self, effective: np.ndarray) -> np.ndarray:
        """(S, K, N) conductance the columns see (level units) -> (K, N) float64 weights."""
        b = self.bits_per_cell
        return sum(effective[s].astype(np.float64) * 2.0 ** (s * b) for s in range(effective.shape[0])) \
            - self.offset

    @property
    def offset(self) -> float:
        """What every stored weight carries on top of its value (subtracted by the periphery)."""
        return 0.0


class DifferentialSliced(WeightEncoding):
    polarities = 2

    @property
    def magnitude_bits(self) -> int:
        return self.weight_bits - 1

    def magnitudes(self, w_int: np.ndarray) -> np.ndarray:
        return np.stack([np.where(w_int > 0, w_int, 0), np.where(w_int < 0, -w_int, 0)])


class OffsetSliced(WeightEncoding):
    polarities = 1

    @property
    def magnitude_bits(self) -> int:
        return self.weight_bits

    @property
    def offset(self) -> float:
        return 2.0 ** (self.weight_bits - 1)

    def magnitudes(self, w_int: np.ndarray) -> np.ndarray:
        return (w_int + 2 ** (self.weight_bits - 1))[None]


def weight_encoding(arch: ArchSpec) -> WeightEncoding:
    """The encoding the arch file chooses (`crossbar.differential`)."""
    cls = DifferentialSliced if arch.crossbar.differential else OffsetSliced
    return cls(arch.crossbar.weight_bits, arch.device.bits_per_cell)
