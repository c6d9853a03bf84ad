"""PCM cell: the RRAM statistical model at programming time, plus IBM's PCM statistical
model of what happens after it (power-law drift and accumulated 1/f read noise).

After programming, a PCM cell's conductance decays as a power law and its low-frequency
(1/f) read noise accumulates. The model and its constants are those measured on a
million-device PCM array and used by IBM's aihwkit (Nandakumar et al., ICECS 2019; Joshi et
al., Nat. Commun. 11, 2473, 2020; aihwkit's `PCMLikeNoiseModel`):

    g(t)    = g_p * ((t + t0) / t0) ** -nu            t seconds after programming
    nu      ~ |N(mu(x), sd(x))|,  x = g_T / g_max     one draw per cell, kept for its life
    mu(x)   = clip(-0.0155 ln x + 0.0244, 0.049, 0.1)
    sd(x)   = clip(-0.0125 ln x - 0.0059, 0.008, 0.045)
    g_read  = g(t) + |g(t)| * Q(x_p) * sqrt(ln((t + t0 + t_read) / (2 t_read))) * z
    Q(x_p)  = min(0.0088 / max(x_p ** 0.65, 1e-3), 0.2),  x_p = g_p / g_max

with g_T the target and g_p the programmed conductance (uS, g_min included), t0 = 20 s
(the first read of the drift fit) and t_read = 250 ns. Conductances never go below zero.
t = 0 is the cell as programmed (no drift, no accumulated noise): the model's fit starts at
t0, so any t > 0 is read on the fitted curve. aihwkit reads t_inference = 0 at t0 with the 1/f
noise accumulated until then (Q(x_p) sqrt(ln((t0 + t_read) / (2 t_read))), about 4.2 Q);
`noise_at_t0: true` does the same.

Modelling choices (docs/models.md): the 1/f term is frozen for one evaluation (as in
aihwkit: its low frequencies dominate, so one inference sees one draw); its per-cell
pattern z is one draw per chip, scaled by the noise at each time, so accuracy over time
shows drift and growing noise rather than resampling. Stuck cells are faults held at
their rail and neither drift nor add noise. The per-read (white) noise of `read_sigma` still
applies at every read.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config.schema import spec
from .conductance import ProgrammedArray
from .nvm import RramDevice

STREAM_NU, STREAM_1F = 11, 12     # random streams under a layer's key: drift exponents, 1/f pattern


@dataclass(frozen=True)
class PcmParams:
    """The PCM statistical model's parameters (aihwkit PCMLikeNoiseModel defaults)."""

    drift: bool = spec(True, doc="power-law conductance drift after programming")
    read_noise_1f: bool = spec(True, doc="accumulated 1/f read noise after programming")
    t0_s: float = spec(20.0, lo=0.0, lo_open=True, hi=1e9,
                       doc="first read of the drift fit (Nandakumar et al. 2019: 20 s)")
    t_read_s: float = spec(250e-9, lo=0.0, lo_open=True, hi=1.0,
                           doc="duration of one read in the 1/f fit (Nandakumar et al. 2019: 250 ns)")
    drift_scale: float = spec(1.0, lo=0.0, hi=100.0, doc="scales every drift exponent nu")
    read_noise_scale: float = spec(1.0, lo=0.0, hi=100.0, doc="scales the 1/f noise")
    noise_at_t0: bool = spec(False, doc="the 1/f noise accumulated until t0 is there already when the "
                                        "chip is read as programmed (t = 0 reads at t0, as aihwkit's "
                                        "t_inference = 0); false: a read at t = 0 sees the cells as "
                                        "programmed")


def drift_exponent_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the drift exponent nu of cells at relative target conductance x."""
    lx = np.log(np.maximum(x, 1e-7))
    return (np.clip(-0.0155 * lx + 0.0244, 0.049, 0.1), np.clip(-0.0125 * lx - 0.0059, 0.008, 0.045))


def noise_q(x: np.ndarray) -> np.ndarray:
    """1/f noise amplitude Q of cells at relative programmed conductance x."""
    return np.minimum(0.0088 / np.maximum(np.abs(x) ** 0.65, 1e-3), 0.2)


class PcmDevice(RramDevice):
    """PCM cell: Gaussian programming error and stuck-at faults as RRAM, then power-law drift
    and 1/f read noise over time after programming (IBM's PCM statistical model)."""

    Params = PcmParams

    def at_time(self, cells: ProgrammedArray, t_s: float, key: int) -> np.ndarray:
        """Conductances (level units) t_s seconds after programming; `key` seeds this
        matrix's drift exponents and noise pattern (the same at every t)."""
        p = self.params
        at_t0 = p.noise_at_t0 and p.read_noise_1f
        if (t_s <= 0 and not at_t0) or not (p.drift or p.read_noise_1f):
            return cells.g
        dev = self.spec
        t_s = max(t_s, 0.0)
        step = dev.g_step_us
        g_p = (dev.g_min_us + cells.g.astype(np.float64) * step)             # uS
        g_t = dev.g_min_us + cells.levels.astype(np.float64) * step
        t = t_s + p.t0_s
        g = g_p
        if p.drift:
            mu, sd = drift_exponent_stats(g_t / dev.g_max_us)
            z = np.random.default_rng([key, STREAM_NU]).standard_normal(g.shape)
            nu = np.abs(mu + sd * z) * p.drift_scale
            g = g_p * (t / p.t0_s) ** -nu
        if p.read_noise_1f:
            sig = noise_q(g_p / dev.g_max_us) * np.sqrt(np.log((t + p.t_read_s) / (2 * p.t_read_s)))
            z = np.random.default_rng([key, STREAM_1F]).standard_normal(g.shape)
            g = g + np.abs(g) * p.read_noise_scale * sig * z
        g = np.maximum(g, 0.0)
        out = ((g - dev.g_min_us) / step).astype(np.float32)
        stuck = cells.stuck != 0
        out[stuck] = cells.g[stuck]
        return out
