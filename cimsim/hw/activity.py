"""What a cost-only run assumes about the data it never sees: the stated distributions behind
its estimates of the DAC drives and the array read energy (docs/models.md, "Cost-only runs").

Inputs: a fraction `ZERO_FRACTION` of the values a crossbar pass sees are 0 (a ReLU's output,
or the other sign's pass of a signed input); the rest are half-normal, quantised to the DAC's
unsigned codes with full scale at `FULL_SCALE_SIGMAS` standard deviations. Weights: normal,
zero-mean, quantised symmetrically with full scale at `FULL_SCALE_SIGMAS` standard deviations,
then encoded onto cells by the chip's own weight encoding. A functional run counts the real
bits and conductances instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..config.arch import ArchSpec
from .encoding import DifferentialSliced, OffsetSliced

ZERO_FRACTION = 0.5          # half of a pass's inputs are 0 (ReLU; a signed input's other pass)
FULL_SCALE_SIGMAS = 4.0      # quantiser full scale, in standard deviations of the values


@dataclass(frozen=True)
class InputActivity:
    """Per input code (one row, one vector): the expected 1 bits, code value and P(code > 0)."""

    ones: float
    mean_code: float
    nonzero: float


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def code_probabilities(levels: int) -> np.ndarray:
    """P(code = k), k = 0..levels, of the stated input distribution."""
    step = FULL_SCALE_SIGMAS / levels
    edges = (np.arange(levels + 1) + 0.5) * step              # upper edge of codes 0..levels
    cdf = 2.0 * _normal_cdf(edges) - 1.0                        # half-normal CDF
    cdf[-1] = 1.0                                               # clipped at full scale
    p = np.diff(np.concatenate([[0.0], cdf])) * (1.0 - ZERO_FRACTION)
    p[0] += ZERO_FRACTION
    return p


@cache
def input_activity(input_bits: int) -> InputActivity:
    """The stated input distribution's expected activity for `input_bits`-bit codes."""
    levels = 2 ** input_bits - 1
    p = code_probabilities(levels)
    k = np.arange(levels + 1)
    ones = np.array([bin(int(c)).count("1") for c in k], dtype=np.float64)
    return InputActivity(float(p @ ones), float(p @ k), float(1.0 - p[0]))


@cache
def _mean_level(weight_bits: int, bits_per_cell: int, differential: bool) -> float:
    """Mean level of a cell (over polarities, slices and the weight distribution)."""
    qmax = 2 ** (weight_bits - 1) - 1
    q = np.arange(-qmax, qmax + 1)
    step = FULL_SCALE_SIGMAS / qmax
    cdf = _normal_cdf(np.concatenate([(q[:-1] + 0.5) * step, [np.inf]]))
    p = np.diff(np.concatenate([[0.0], cdf]))                   # clipped at +-qmax
    enc = (DifferentialSliced if differential else OffsetSliced)(weight_bits, bits_per_cell)
    levels = enc.encode(q[None, :].astype(np.int32)).astype(np.float64)      # (P, S, 1, M)
    return float((levels.mean(axis=(0, 1, 2)) * p).sum())


def mean_cell_conductance_us(arch: ArchSpec) -> float:
    """Expected conductance of one cell of a mapped weight (uS) under the stated weights."""
    dev = arch.device
    level = _mean_level(arch.crossbar.weight_bits, dev.bits_per_cell, arch.crossbar.differential)
    return dev.g_min_us + dev.g_step_us * level
