"""Device update models (device/update.py) against the closed-form response of each model,
their pulse counting and driver operations by hand, and PCM's SET-only pairs with refresh."""
import dataclasses

import numpy as np
import pytest

from cimsim.config.arch import ArchSpec, DeviceSpec, UpdateSpec
from cimsim.config.schema import Source
from cimsim.device.conductance import ProgrammedArray
from cimsim.device.nvm import RramDevice
from cimsim.device.update import pulse_response, pulse_train, pulses_for
from cimsim.errors import ConfigError

L = 3          # 2-bit cells


def _dev(bits: int = 2, **update) -> DeviceSpec:
    return DeviceSpec(bits_per_cell=bits, clip_to_range=True, update=UpdateSpec(**update))


def _cells(levels: np.ndarray) -> ProgrammedArray:
    lv = np.asarray(levels, np.uint8)
    return ProgrammedArray(lv.copy(), lv.astype(np.float32), np.zeros(lv.shape, np.int8),
                           np.zeros(lv.shape, np.uint16), np.zeros(lv.shape, np.uint16))


G0 = np.array([0.0, 0.4, 1.5, 2.2, 3.0])


@pytest.mark.parametrize("beta", [0.0, 0.3])
def test_soft_bounds_closed_form(beta):
    dev = _dev(model="soft_bounds", step_fraction=0.01, up_down=beta)
    s = 0.01 * L
    n = np.array([0, 1, 17, 90, 400])
    rng = np.random.default_rng(0)
    up = pulse_train(G0, n, np.ones(5, bool), dev, rng)
    down = pulse_train(G0, n, np.zeros(5, bool), dev, rng)
    np.testing.assert_allclose(up, L - (L - G0) * (1 - s * (1 + beta) / L) ** n, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(down, G0 * (1 - s * (1 - beta) / L) ** n, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.4])
def test_linear_step_closed_form(gamma):
    """g_n = L/gamma - (L/gamma - g0)(1 - a gamma / L)^n (gamma > 0; g0 + n a at gamma = 0),
    clipped at L: the map is monotone, so the clipped trajectory is the min of the unclipped."""
    dev = _dev(model="linear_step", step_fraction=0.004, up_down=-0.2, gamma_up=gamma, gamma_down=gamma)
    a_up, a_down = 0.004 * L * 0.8, 0.004 * L * 1.2
    n = np.array([3, 50, 120, 300, 700])
    rng = np.random.default_rng(0)
    up = pulse_train(G0, n, np.ones(5, bool), dev, rng)
    down = pulse_train(G0, n, np.zeros(5, bool), dev, rng)
    if gamma:
        fp = L / gamma
        want_up = fp - (fp - G0) * (1 - a_up * gamma / L) ** n
        want_down = L - (fp - (fp - (L - G0)) * (1 - a_down * gamma / L) ** n)
    else:
        want_up, want_down = G0 + n * a_up, G0 - n * a_down
    np.testing.assert_allclose(up, np.minimum(want_up, L), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(down, np.maximum(want_down, 0), rtol=1e-12, atol=1e-12)


def test_cycle_noise_statistics():
    """Constant step with additive cycle noise sigma: after n pulses the move is n a with
    std a sigma sqrt(n) (far from the bounds); mean within 5 se, std within 5/sqrt(2m)."""
    sigma, n, m = 0.8, 40, 20_000
    dev = _dev(model="linear_step", step_fraction=0.002, cycle_sigma=sigma)
    a = 0.002 * L
    g = pulse_train(np.full(m, 1.5), np.full(m, n), np.ones(m, bool), dev, np.random.default_rng(1)) - 1.5
    sd = a * sigma * np.sqrt(n)
    assert abs(g.mean() - n * a) < 5 * sd / np.sqrt(m)
    assert abs(g.std() / sd - 1) < 5 / np.sqrt(2 * m)


@pytest.mark.parametrize("model, gamma, beta", [("linear_step", 0.0, 0.2), ("linear_step", 0.5, -0.3),
                                                ("soft_bounds", 1.0, 0.1)])
def test_closed_form_is_the_pulse_train(model, gamma, beta):
    """Without noise the writes' closed form (pulse_response) is the pulse-by-pulse train,
    bounds included (trains of up to 900 pulses from every level, both directions)."""
    dev = _dev(model=model, step_fraction=0.004, up_down=beta, gamma_up=gamma, gamma_down=gamma)
    g0 = np.repeat(np.linspace(0, L, 13), 6)
    n = np.tile(np.array([1, 7, 60, 250, 600, 900]), 13)
    for up in (True, False):
        d = np.full(g0.shape, up)
        want = pulse_train(g0, n, d, dev, np.random.default_rng(0))
        np.testing.assert_allclose(pulse_response(g0, n, d, dev, np.random.default_rng(0)), want,
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.6])
def test_closed_form_noise_is_the_train_s(gamma):
    """With cycle noise, far from the bounds, both give the Gaussian of the linear recurrence
    z' = r z + c (1 + sigma xi): mean r^n z0 + c (1 - r^n)/(1 - r), variance
    c^2 sigma^2 (1 - r^2n)/(1 - r^2); each within 5 se (mean) and 5 sqrt(2/m) (std)."""
    sigma, n, m = 0.7, 50, 20_000
    dev = _dev(model="linear_step", step_fraction=0.002, gamma_up=gamma, cycle_sigma=sigma)
    c, r = 0.002 * L, 1 - 0.002 * L * gamma / L
    g0 = np.full(m, 0.8)
    mean = r ** n * 0.8 + (c * (1 - r ** n) / (1 - r) if gamma else c * n)
    sd = c * sigma * np.sqrt((1 - r ** (2 * n)) / (1 - r * r) if gamma else n)
    for f in (pulse_train, pulse_response):
        g = f(g0, np.full(m, n), np.ones(m, bool), dev, np.random.default_rng(3))
        assert abs(g.mean() - mean) < 5 * sd / np.sqrt(m), f.__name__
        assert abs(g.std() / sd - 1) < 5 / np.sqrt(2 * m), f.__name__


def test_a_pulse_must_be_smaller_than_the_range():
    with pytest.raises(ConfigError, match="step_fraction.*< 1"):
        spec = UpdateSpec(model="linear_step", step_fraction=0.6, up_down=0.9)
        spec.validate(Source("a.yaml"), ("device", "update"))


def test_pulses_counted_and_driver_operations():
    """A move of d levels is round(|d| / s) pulses (at least 1), each a write of the cell; a
    driver operation pulses a row chunk of parallel_cells cells, as long as its busiest cell."""
    arch = dataclasses.replace(ArchSpec(), device=_dev(model="soft_bounds", step_fraction=0.1))
    arch = dataclasses.replace(arch, write_driver=dataclasses.replace(arch.write_driver, parallel_cells=2))
    dev = RramDevice(arch)
    assert pulses_for(np.array([0, 1, -2, 3]), arch.device).tolist() == [0, 3, 7, 10]     # s = 0.3 levels
    cells = _cells(np.zeros((1, 1, 2, 4)))
    writes = np.zeros(cells.g.shape, np.int32)
    new = np.array([[[[1, 0, 0, 2], [0, 0, 3, 0]]]], np.uint8)
    res = dev.write(cells, writes, new, np.random.default_rng(0))
    assert writes.tolist() == [[[[3, 0, 0, 7], [0, 0, 10, 0]]]]
    # row 0: chunks (3, 0), (0, 7) -> 3 + 7; row 1: chunks (0, 0), (10, 0) -> 10
    assert (res.cells_written, res.row_ops) == (3, 20)
    assert cells.levels.tolist() == new.tolist()
    np.testing.assert_allclose(cells.g[0, 0, 0, 0], L - L * (1 - 0.3 / L) ** 3, rtol=1e-6)


def test_ideal_model_unchanged():
    arch = ArchSpec()
    cells = _cells(np.array([[[[1, 2]]]]))
    writes = np.zeros(cells.g.shape, np.int32)
    res = RramDevice(arch).write(cells, writes, np.array([[[[3, 2]]]], np.uint8))
    assert cells.g.tolist() == [[[[3.0, 2.0]]]] and writes.tolist() == [[[[1, 0]]]] and res.cells_written == 1


def test_pcm_set_only_pair_and_refresh():
    """Differential pair (G+, G-) of 2-bit PCM: an increase of the difference SETs G+, a decrease
    SETs G-; a write leaving the larger device above 0.75 L and the smaller above 0.25 L refreshes
    the pair: both RESET (one pulse each, to g_min) and the difference re-SET onto one device."""
    arch = dataclasses.replace(ArchSpec(), device=_dev(model="pcm_set_only", step_fraction=0.25))
    dev = RramDevice(arch)
    s = 0.25 * L
    cells = _cells(np.zeros((2, 1, 1, 1)))
    writes = np.zeros(cells.g.shape, np.int32)
    rng = np.random.default_rng(0)

    def to(pos, neg):
        return np.array([pos, neg], np.uint8).reshape(2, 1, 1, 1)

    dev.write(cells, writes, to(2, 0), rng)                  # +2: G+ SET by 2 levels (3 pulses)
    assert cells.levels.ravel().tolist() == [2, 0] and writes.ravel().tolist() == [3, 0]
    dev.write(cells, writes, to(1, 0), rng)                  # +1: G- SET by 1 level (1 pulse)
    assert cells.levels.ravel().tolist() == [2, 1] and writes.ravel().tolist() == [3, 1]
    g_neg = cells.g.ravel()[1]
    np.testing.assert_allclose(g_neg, s, rtol=1e-6)          # gamma_up 0: constant steps
    dev.write(cells, writes, to(0, 1), rng)                  # -1: G- to 3 > 2.25 and G+ 2 > 0.75: refresh
    assert cells.levels.ravel().tolist() == [0, 1]
    assert writes.ravel().tolist() == [3 + 1, 1 + 1 + 1]      # RESET each, then G- SET by 1 level
    np.testing.assert_allclose(cells.g.ravel(), [0.0, s], rtol=1e-6)


def test_pcm_single_device_resets_to_decrease():
    arch = dataclasses.replace(ArchSpec(), device=_dev(model="pcm_set_only", step_fraction=1 / 3))
    cells = _cells(np.array([[[[3, 1]]]]))
    writes = np.zeros(cells.g.shape, np.int32)
    RramDevice(arch).write(cells, writes, np.array([[[[2, 2]]]], np.uint8), np.random.default_rng(0))
    assert writes.tolist() == [[[[1 + 2, 1]]]]                # RESET + 2 SET pulses; 1 SET pulse
    np.testing.assert_allclose(cells.g, [[[[2.0, 2.0]]]], rtol=1e-6)


def test_bounded_model_needs_bounded_cells():
    with pytest.raises(ConfigError, match="clip_to_range.*soft_bounds"):
        DeviceSpec(update=UpdateSpec(model="soft_bounds")).validate(Source("a.yaml"), ("device",))
    DeviceSpec(update=UpdateSpec(model="linear_step")).validate(Source("a.yaml"), ("device",))   # gamma 0
