"""How a cell answers the write pulses of on-chip learning: the device update models.

Programming (device/conductance.py) places a cell near any level in one shot. Learning
instead moves cells by trains of small identical pulses, and real devices answer them
unevenly: the step of one pulse depends on the direction and on the cell's state, and PCM
can only be SET gradually (a decrease needs an abrupt RESET). `device.update.model` picks:

- ideal: a cell asked to move by d levels moves by exactly d levels; one write per cell
  (cimsim's default since its first version, and every shipped study's).
- linear_step (aihwkit's LinearStepDevice): pulse k moves the cell, in level units g in
  [0, L], by
        up:    delta = s (1 + beta) (1 - gamma_up g / L + sigma xi_k)
        down:  delta = -s (1 - beta) (1 - gamma_down (L - g) / L + sigma xi_k)
  clipped to [0, L]; s = step_fraction L is the nominal step, beta = up_down the
  directional asymmetry, sigma = cycle_sigma the cycle-to-cycle noise (additive, in units
  of the step, as aihwkit's dw_min_std without mult_noise), xi ~ N(0, 1).
- soft_bounds (aihwkit's SoftBoundsDevice): linear_step with gamma_up = gamma_down = 1, so
  a step shrinks to zero at the bound it approaches. Without noise, n up pulses from g0 give
  the closed form g_n = L - (L - g0) (1 - s (1 + beta) / L) ** n (tests/test_update_models.py).
- pcm_set_only (aihwkit's OneSidedUnitCell of PCMPresetDevice, Nandakumar et al. 2020): each
  device is only SET, with linear_step's up response. In a differential pair an increase of
  the pair's difference SETs G+, a decrease SETs G-; when the device to SET would pass the
  top level, or when after a write the larger device of a pair is above refresh_upper of the
  range and the smaller above refresh_lower, the pair is refreshed: both devices RESET to
  g_min (one pulse each, abrupt and exact) and the difference re-SET onto one device. A
  single (offset-encoded) device that must decrease is RESET and SET up to its target.

Writes use the pulse train's closed form (pulse_response: one random draw per cell however
many pulses), tested against the pulse-by-pulse definition (pulse_train). The controller is
open loop: it pulses n = max(1, round(|d| / s)) pulses for a move of d
levels (d the change of the cell's nominal level), and the cell lands where the model puts
it; its nominal level moves on regardless, so the model's error stays in the cell. Every
pulse counts as one write of that cell (endurance and pulse energy); the write driver pulses a
row chunk of cells together, one pulse time per pulse of its busiest cell.
"""
from __future__ import annotations

import numpy as np

from ..config.arch import DeviceSpec, UpdateSpec
from .conductance import ProgrammedArray, row_chunk_max
from .write import WORN, WriteResult

PCM_SET_ONLY = "pcm_set_only"


def gammas(u: UpdateSpec) -> tuple[float, float]:
    """The state dependence (gamma_up, gamma_down) of a model's steps."""
    if u.model == "soft_bounds":
        return 1.0, 1.0
    return u.gamma_up, u.gamma_down


def nominal_step(dev: DeviceSpec) -> float:
    """Nominal conductance change of one pulse, in level units."""
    return dev.update.step_fraction * dev.levels


def pulses_for(d: np.ndarray, dev: DeviceSpec) -> np.ndarray:
    """Pulses the open-loop controller sends to move cells by d levels (0 where d is 0)."""
    n = np.rint(np.abs(d) / nominal_step(dev)).astype(np.int64)
    return np.where(d != 0, np.maximum(n, 1), 0)


def pulse_train(g: np.ndarray, n: np.ndarray, up: np.ndarray, dev: DeviceSpec,
                rng: np.random.Generator) -> np.ndarray:
    """Conductances (level units) of cells at g after n[i] pulses each, up (True) or down,
    applied one pulse at a time: the model's definition, and the reference pulse_response (the
    closed form writes use) is tested against."""
    u, big_l = dev.update, float(dev.levels)
    s = nominal_step(dev)
    gam_up, gam_down = gammas(u)
    g = g.astype(np.float64).copy()
    sign = np.where(up, 1.0, -1.0)
    size = np.where(up, s * (1 + u.up_down), s * (1 - u.up_down))
    gam = np.where(up, gam_up, gam_down)
    for k in range(int(n.max(initial=0))):
        live = n > k
        dist = np.where(up[live], g[live], big_l - g[live]) / big_l   # share of the range behind
        noise = rng.standard_normal(int(live.sum())) * u.cycle_sigma if u.cycle_sigma else 0.0
        g[live] = np.clip(g[live] + sign[live] * size[live] * (1.0 - gam[live] * dist + noise), 0.0, big_l)
    return g


def pulse_response(g: np.ndarray, n: np.ndarray, up: np.ndarray, dev: DeviceSpec,
                   rng: np.random.Generator) -> np.ndarray:
    """pulse_train in closed form, one draw per cell instead of one per pulse. Measured from
    the bound a train moves away from (z = g up, L - g down), one pulse is the linear map
    z' = r z + c (1 + sigma xi) with c the step and r = 1 - c gamma / L, so n pulses give
        z_n = r^n z_0 + c (1 - r^n) / (1 - r) + c sigma sqrt((1 - r^(2n)) / (1 - r^2)) xi
    (c n and c sigma sqrt(n) at gamma = 0): exactly the train's distribution while it stays
    inside [0, L]. The bounds clip once, at the end: without noise that is exact too (the map
    is increasing, so a clipped train stays at its bound: min(z_n, L)); with noise, a train
    that the noise would push past a bound and back ends slightly otherwise (docs/models.md)."""
    u, big_l = dev.update, float(dev.levels)
    s = nominal_step(dev)
    gam_up, gam_down = gammas(u)
    c = np.where(up, s * (1 + u.up_down), s * (1 - u.up_down))
    q = c * np.where(up, gam_up, gam_down) / big_l                 # 1 - r, in [0, 1) (UpdateSpec)
    z0 = np.where(up, g, big_l - g).astype(np.float64)
    nf = n.astype(np.float64)
    lr = np.log1p(-q)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_sum = np.where(q > 0, -np.expm1(nf * lr) / q, nf)       # sum of r^k, k < n
        var_sum = np.where(q > 0, -np.expm1(2 * nf * lr) / (q * (2 - q)), nf)
    z = np.exp(nf * lr) * z0 + c * mean_sum
    if u.cycle_sigma:
        z += c * u.cycle_sigma * np.sqrt(var_sum) * rng.standard_normal(z.shape)
    z = np.clip(z, 0.0, big_l)
    return np.where(up, z, big_l - z)


def pulsed_write(cells: ProgrammedArray, writes: np.ndarray, new: np.ndarray, dev: DeviceSpec,
                 endurance: float, parallel: int, rng: np.random.Generator) -> WriteResult:
    """Move cells towards nominal levels `new` (in place) by pulse trains of the update model;
    count every pulse in `writes`; wear cells out; row_ops = driver pulse times."""
    if dev.update.model == PCM_SET_ONLY:
        pulses = _set_only(cells, new, dev, rng)
    else:
        d = new.astype(np.int64) - cells.levels.astype(np.int64)
        ok = cells.stuck == 0
        pulses = np.where(ok, pulses_for(d, dev), 0)
        hit = pulses > 0
        cells.g[hit] = pulse_response(cells.g[hit], pulses[hit], d[hit] > 0, dev, rng).astype(np.float32)
        cells.levels[...] = new
    return _count(cells, writes, pulses, endurance, parallel)


def _count(cells: ProgrammedArray, writes: np.ndarray, pulses: np.ndarray, endurance: float,
           parallel: int) -> WriteResult:
    hit = pulses > 0
    writes += pulses.astype(writes.dtype)
    worn = hit & (writes >= endurance)
    cells.stuck[worn] = WORN
    ops = int(row_chunk_max(pulses, parallel).sum()) if hit.any() else 0
    return WriteResult(int(hit.sum()), int(worn.sum()), row_ops=ops)


def _set_only(cells: ProgrammedArray, new: np.ndarray, dev: DeviceSpec,
              rng: np.random.Generator) -> np.ndarray:
    """SET-only writes of PCM (see the module docstring); returns the pulses of each cell."""
    u, top = dev.update, dev.levels
    lv = cells.levels.astype(np.int64)
    ok = cells.stuck == 0
    if lv.shape[0] == 2:
        d = (new[0].astype(np.int64) - new[1]) - (lv[0] - lv[1])      # change of the pair's difference
        target = lv + np.stack([np.maximum(d, 0), np.maximum(-d, 0)])
        hi, lo = target.max(0), target.min(0)
        refresh = (d != 0) & ((hi > top) | ((hi > u.refresh_upper * top) & (lo > u.refresh_lower * top)))
        diff = lv[0] - lv[1] + d
        refreshed = np.stack([np.where(diff > 0, diff, 0), np.where(diff < 0, -diff, 0)])
        reset = refresh & ((lv > 0) | (cells.g != 0))            # a device already at g_min needs none
        set_by = np.where(refresh, refreshed, target - lv)
        new_lv = np.where(refresh, refreshed, target)
    else:
        down = new.astype(np.int64) < lv
        reset = down & ((lv > 0) | (cells.g != 0))
        set_by = np.where(down, new, new - lv)
        new_lv = new.astype(np.int64)
    reset &= ok
    cells.g[reset] = 0.0
    n = np.where(ok, pulses_for(set_by, dev), 0)
    hit = n > 0
    up = np.ones(int(hit.sum()), bool)
    cells.g[hit] = pulse_response(cells.g[hit], n[hit], up, dev, rng).astype(np.float32)
    cells.levels[...] = new_lv
    return reset.astype(np.int64) + n
