"""The peers' conventions as options (issue 28): aihwkit's and CrossSim's programming errors,
aihwkit's 1/f noise at t0 and one-hot drift compensation, and calibrated ADC ranges per
slice and per array, against closed forms and hand-built references."""
import dataclasses
import math

import numpy as np
import pytest

from cimsim.config.arch import AdcSpec, ArchSpec, DeviceSpec, StuckAtSpec
from cimsim.device.conductance import aihwkit_program_sigma_us, program
from cimsim.device.pcm import PcmDevice, PcmParams
from cimsim.functional import AnalogLayer, input_codes
from cimsim.hw.chip import Chip
from cimsim.hw.tile import CrossbarTile
from cimsim.mapping import map_layers

N = 200_000
HALF_NORMAL_MEAN = 1 / math.sqrt(2 * math.pi)        # E[max(0, Z)]
HALF_NORMAL_VAR = 0.5 - 1 / (2 * math.pi)            # Var[max(0, Z)]


def _arch(**device) -> ArchSpec:
    base = dict(stuck_at=StuckAtSpec(0.0, 0.0))
    return dataclasses.replace(ArchSpec(), device=DeviceSpec(**{**base, **device}))


def _program_level(arch: ArchSpec, level: int, seed: int = 0) -> np.ndarray:
    lv = np.full((1, 1, N, 1), level, np.uint8)
    return program(lv, arch, np.random.default_rng(seed)).g.astype(np.float64).ravel()


# aihwkit's polynomial by hand, at g_max = 25 uS (its fit's own reference: no rescaling):
# sigma(x) = 0.26348 + 1.9650 x - 1.1731 x^2 uS, x = g / 25 uS
@pytest.mark.parametrize("level, g_us", [(0, 2.0), (3, 2.0 + 3 * 23 / 7), (7, 25.0)])
def test_aihwkit_programming_std_follows_its_polynomial(level, g_us):
    arch = _arch(program_error="aihwkit", g_min_us=2.0, g_max_us=25.0, bits_per_cell=3)
    x = g_us / 25.0
    sd_us = 0.26348 + 1.9650 * x - 1.1731 * x * x
    assert aihwkit_program_sigma_us(np.array(g_us), 25.0) == pytest.approx(sd_us)
    err_us = (_program_level(arch, level) - level) * (23 / 7)
    # 2 uS is 4.8 sigma above the clamp at 0 uS: the clamp moves the mean by < 1e-6 sigma
    assert abs(err_us.mean()) < 5 * sd_us / math.sqrt(N)
    assert abs(err_us.std() / sd_us - 1) < 5 / math.sqrt(2 * N)       # Gaussian: se of s is s/sqrt(2n)


def test_aihwkit_polynomial_scales_with_g_max_and_clamps_at_zero_us():
    # g_max 50 uS: the same relative conductance has twice the std (the fit is in uS at 25 uS)
    assert aihwkit_program_sigma_us(np.array(50.0), 50.0) == pytest.approx(2 * (0.26348 + 1.9650 - 1.1731))
    # a cell at 0 uS (g_min 0) cannot go negative: a half-normal, mean sigma / sqrt(2 pi)
    arch = _arch(program_error="aihwkit", g_min_us=0.0, g_max_us=25.0, bits_per_cell=3)
    g_us = _program_level(arch, 0) * (25 / 7)
    assert g_us.min() == 0.0
    mean = 0.26348 * HALF_NORMAL_MEAN
    assert abs(g_us.mean() - mean) < 5 * 0.26348 * math.sqrt(HALF_NORMAL_VAR / N)


@pytest.mark.parametrize("level, sign", [(0, 1.0), (3, -1.0)])
def test_crosssim_error_is_clipped_one_sided_at_the_rails(level, sign):
    """A cell at a rail can only move inward: its error is a half-normal (folded at the rail),
    mean +-sigma/sqrt(2 pi) and rms sigma/sqrt(2); a cell inside the range is unbiased."""
    sigma = 0.1
    arch = _arch(program_error="crosssim", program_sigma=sigma, bits_per_cell=2)
    s = sigma * 3                                                   # level units, L = 3
    err = _program_level(arch, level) - level
    assert np.all(sign * err >= 0)
    assert abs(err.mean() - sign * s * HALF_NORMAL_MEAN) < 5 * s * math.sqrt(HALF_NORMAL_VAR / N)
    # rms of a half-normal: sqrt(E[max(0, Z)^2]) = 1/sqrt(2); se of the mean square by its 4th moment
    ms, se = (err ** 2).mean(), s ** 2 * math.sqrt((1.5 - 0.25) / N)     # E[max(0,Z)^4] = 3/2
    assert abs(ms - s * s / 2) < 5 * se
    inside = _program_level(arch, 1) - 1                            # 3.3 sigma from both rails
    assert abs(inside.mean()) < 5 * s / math.sqrt(N)


def test_conventions_differ_where_they_should():
    lv = np.zeros((2, 1, 1000, 1), np.uint8)
    lv[0] = 2                                                      # G+ programmed, G- left at g_min
    ours = program(lv, _arch(program_sigma=0.05), np.random.default_rng(0))
    theirs = program(lv, _arch(program_sigma=0.05, program_error="crosssim"), np.random.default_rng(0))
    assert np.all(ours.g[1] == 0.0) and ours.pulses_per_cell[1].sum() == 0
    assert np.all(theirs.g[1] >= 0.0) and theirs.g[1].mean() > 0.05 * 3 * 0.3
    assert np.all(theirs.pulses_per_cell == 1)                     # every cell is programmed
    # the mean weight shrinks by ~0.40 sigma: the G- device's one-sided error
    shrink = (ours.effective() - theirs.effective()).mean()
    assert abs(shrink - 0.05 * 3 * HALF_NORMAL_MEAN) < 5 * 0.05 * 3 / math.sqrt(1000)


def test_pcm_noise_at_t0_as_aihwkit():
    arch = _arch(g_min_us=0.0, g_max_us=25.0, bits_per_cell=4)
    lv = np.full((1, 1, N, 1), 15, np.uint8)
    cells = program(lv, dataclasses.replace(arch, device=dataclasses.replace(arch.device, program_sigma=0.0)),
                    np.random.default_rng(0))
    assert PcmDevice(arch, PcmParams()).at_time(cells, 0.0, key=3) is cells.g
    g = PcmDevice(arch, PcmParams(noise_at_t0=True)).at_time(cells, 0.0, key=3).astype(np.float64)
    # aihwkit at t_inference = 0: t = t0 = 20 s, no drift, Q(1) sqrt(ln((t0 + t_read) / (2 t_read)))
    sd = 0.0088 * math.sqrt(math.log((20.0 + 250e-9) / (2 * 250e-9)))
    rel = g / 15 - 1
    assert abs(rel.mean()) < 5 * sd / math.sqrt(N)
    assert abs(rel.std() / sd - 1) < 5 / math.sqrt(2 * N)


def _layer(arch: ArchSpec, k: int, n: int, seed: int = 0) -> tuple[AnalogLayer, np.ndarray]:
    dev = PcmDevice(arch, PcmParams(read_noise_1f=False))
    chip = Chip(arch, dev, CrossbarTile(arch, None, dev))
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.2, (k, n)).astype(np.float32)
    lm = map_layers([("l", k, n)], chip).layer("l")
    return AnalogLayer("l", w, chip.tile, lm, 1.0, rng, 0), w


def test_one_hot_compensation_uses_the_mean_absolute_weight():
    arch = _arch(program_sigma=0.0, read_sigma=0.0)
    layer, _ = _layer(arch, 40, 12)
    t = 3.156e7
    ones, hot = layer.at_time(t, True, "ones"), layer.at_time(t, True, "one_hot")
    w0 = layer.tile.decode(layer.cells)
    wt = layer.tile.decode(dataclasses.replace(layer.cells, g=layer.tile.conductances(hot)))
    assert hot.gain == pytest.approx(np.abs(w0).mean() / np.abs(wt).mean(), rel=1e-12)
    assert ones.gain == pytest.approx(np.abs(w0.sum(0)).mean() / np.abs(wt.sum(0)).mean(), rel=1e-12)
    assert hot.gain != ones.gain and hot.gain > 1.0


def _peaks_by_hand(w_int: np.ndarray, codes: np.ndarray, rows: int, bpc: int, slices: int) -> np.ndarray:
    """(chunks, slices, N) largest |column sum| of each slice's column by explicit loops:
    slice s of a weight holds base-2**bpc digit s of |w| on the device of its sign."""
    k, n = w_int.shape
    chunks = codes.shape[1] // rows
    digit = (np.abs(w_int)[None] >> (bpc * np.arange(slices))[:, None, None]) & (2 ** bpc - 1)
    eff = np.sign(w_int)[None] * digit                                 # (S, K, N)
    out = np.zeros((chunks, slices, n))
    for p in range(8):
        plane = (codes[:, :k] >> p) & 1
        for c in range(chunks):
            sl = slice(c * rows, min((c + 1) * rows, k))
            for s in range(slices):
                out[c, s] = np.maximum(out[c, s], np.abs(plane[:, sl] @ eff[s, sl]).max(0))
    return out


@pytest.mark.parametrize("mode", ["per_slice", "per_array"])
def test_calibrated_ranges_give_each_slice_and_array_its_exact_maximum(mode):
    """70 rows (two row chunks of a 64-row crossbar), 12 weights (8 per crossbar: two column
    groups): each range's full scale is the largest column sum it covers, found by hand."""
    arch = _arch(program_sigma=0.0, read_sigma=0.0)
    arch = dataclasses.replace(arch, adc=AdcSpec(range_mode=mode, calibration_margin=1.0))
    layer, _ = _layer(arch, 70, 12, seed=3)
    tile = layer.tile
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (50, 70)).astype(np.float32)
    codes = input_codes(x, layer.x_scale, arch, layer.lmap)
    peaks = tile.adc_peaks(layer.w_int, layer.lmap, codes)
    hand = _peaks_by_hand(layer.w_int, codes, 64, 2, 4)               # (2 chunks, 4 slices, 12)
    np.testing.assert_array_equal(peaks.reshape(2, 4, 12), hand)
    layer.adc_peaks = peaks
    step = tile.col_steps(layer).reshape(2, 4, 12) * (2.0 ** 7 - 1)    # full scale: the top code
    if mode == "per_slice":
        expect = np.broadcast_to(hand.max(axis=(0, 2))[None, :, None], hand.shape)
    else:
        expect = np.zeros_like(hand)
        for c in range(2):                                  # crossbar (row chunk c, weights 0-7 | 8-11)
            for cols in (slice(0, 8), slice(8, 12)):
                expect[c][:, cols] = hand[c][:, cols].max()
    np.testing.assert_allclose(step, np.maximum(expect, 1.0), rtol=1e-6)
    # the top slice holds one bit: its per-slice range is far below the 2-bit slices'
    if mode == "per_slice":
        assert hand[:, 3].max() < hand[:, 0].max()
    # at these ranges the calibration inputs never clip, with an ideal device
    layer.refresh()
    layer(x)
    assert layer.counts.adc_clipped == 0


def test_per_slice_ranges_beat_one_layer_range_on_the_same_cells():
    """The same programmed cells read with one range and with per-slice ranges: the finer top
    slice gives a smaller error against the exact product (6-bit ADC, no noise)."""
    base = _arch(program_sigma=0.0, read_sigma=0.0)
    errs = {}
    for mode in ("per_layer", "per_slice"):
        arch = dataclasses.replace(base, adc=AdcSpec(bits=6, range_mode=mode))
        layer, w = _layer(arch, 64, 16, seed=5)
        x = np.random.default_rng(6).uniform(0, 1, (200, 64)).astype(np.float32)
        codes = input_codes(x, layer.x_scale, arch, layer.lmap)
        layer.adc_peaks = layer.tile.adc_peaks(layer.w_int, layer.lmap, codes)
        layer.refresh()
        exact = (codes[:, :64] * layer.x_scale) @ (layer.w_int * layer.w_scale)
        errs[mode] = float(np.sqrt(np.mean((layer(x) - exact) ** 2)))
    assert errs["per_slice"] < 0.5 * errs["per_layer"]


def test_calibrated_ranges_follow_the_weights_each_chip_programs(trained, root):
    """Deployment calibrates every matrix once; a TSB block fine-tuned for one chip is
    calibrated anew with the weights it is programmed with (its initial weights are zero)."""
    from cimsim.config import load_arch, load_workload
    from cimsim.deploy import calibrate_adc, deploy
    from cimsim.session import Session

    net, data = trained
    arch = load_arch(root / "arch" / "rram_64x64.yaml").spec
    arch = dataclasses.replace(arch, adc=dataclasses.replace(arch.adc, range_mode="per_slice"))
    w = load_workload(root / "workloads" / "resnet_inference.yaml",
                      values={"deploy.tsb": {"epochs": 1, "images": 64}, "deploy.calibration_images": 64})
    s = Session.of(arch, w, data=data)
    dep = deploy(s, net, policy="tsb", chip_index=1)
    block = dep.net.blocks()[0]
    e = dep.engines[block.name]
    first = dep.net.weight_layers()[0].name
    x_max = s.memo[("x_max", True)]                     # the deployment's DAC calibration (TSB network)
    again = calibrate_adc(dep.net, data, 64, x_max, e.tile, dep.cmap, only={block.name: block.W})
    np.testing.assert_array_equal(e.adc_peaks, again[block.name])
    assert e.adc_peaks.max() > 1.0                       # the trained block, not its zero start
    w0 = net.weight_layers()[0].W
    backbone = calibrate_adc(dep.net, data, 64, x_max, e.tile, dep.cmap, only={first: w0})
    np.testing.assert_array_equal(dep.engines[first].adc_peaks, backbone[first])
    # the report states each layer's ranges per slice, as a fraction of the worst-case sum
    from cimsim.deploy import programming_report
    from cimsim.hw.chip import build_chip

    rows = programming_report(dep, build_chip(arch))["adc_ranges"]
    assert [r["layer"] for r in rows] == list(dep.engines)
    e0 = dep.engines[first]
    fs = e0.tile.col_full_scales(e0).reshape(1, 4, -1).max(axis=(0, 2))
    np.testing.assert_allclose(e0.tile.col_steps(e0) * 127, e0.tile.col_full_scales(e0), rtol=1e-6)
    assert rows[0]["full_scale_fraction"] == [round(float(f) / (64 * 3), 6) for f in fs]
    assert all(r["full_scale_fraction"][3] < min(r["full_scale_fraction"][:3]) for r in rows)


def test_calibration_in_blocks_gives_the_same_peaks(monkeypatch):
    """The calibration cuts a layer's input rows (and the tile its column sums) into blocks,
    so that a conv layer's im2col rows never sit in memory at once: the peaks do not depend
    on the blocking."""
    import cimsim.deploy as deploy_mod

    arch = _arch(program_sigma=0.0, read_sigma=0.0)
    layer, w = _layer(arch, 70, 12, seed=7)
    x = np.random.default_rng(8).normal(0, 1, (40, 70)).astype(np.float32)     # signed: two passes
    probe = deploy_mod._PeakProbe(w, layer.tile, layer.lmap, float(np.abs(x).max()))
    probe(x)
    monkeypatch.setattr(deploy_mod, "PROBE_ROWS", 7)
    small = deploy_mod._PeakProbe(w, layer.tile, layer.lmap, float(np.abs(x).max()))
    small(x)
    np.testing.assert_array_equal(probe.peaks, small.peaks)
    codes = input_codes(np.maximum(-x, 0), probe.x_scale, arch, layer.lmap)
    assert np.all(probe.peaks >= layer.tile.adc_peaks(probe.w_int, layer.lmap, codes))
