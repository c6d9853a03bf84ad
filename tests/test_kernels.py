"""The analog MVM kernel against its numpy reference, closed forms and statistics."""
import dataclasses

import numpy as np
import pytest

from cimsim.config.arch import ArchSpec, DacSpec, DeviceSpec, StuckAtSpec
from cimsim.functional import AnalogLayer
from cimsim.hw.chip import build_chip
from cimsim.hw.encoding import weight_encoding
from cimsim.kernels.mvm import analog_mvm, gauss_array
from cimsim.mapping import map_layers
from cimsim.testing.references import analog_mvm_reference


def kw(n_out, planes=8, bit_serial=True, step=0.37, lo=-128.0, hi=127.0, sigma=0.0, bpc=2):
    return dict(n_out=n_out, planes=planes, bit_serial=bit_serial, bits_per_cell=bpc, step=step,
                code_lo=lo, code_hi=hi, sigma_cell=sigma)


@pytest.mark.parametrize("bit_serial, planes, step", [(True, 8, 0.37), (False, 1, 3.1), (True, 4, 1.0)])
def test_kernel_matches_reference_without_noise(bit_serial, planes, step):
    rng = np.random.default_rng(1)
    m, chunks, rows, n, s = 37, 3, 16, 5, 4
    x = rng.integers(0, 2 ** planes if bit_serial else 256, (m, chunks * rows)).astype(np.int32)
    g = rng.normal(0, 1.5, (chunks, rows, s * n)).astype(np.float32)
    args = kw(n, planes, bit_serial, step, lo=-6.0, hi=6.0)     # narrow range: some codes clip
    y, clipped = analog_mvm(x, g, key=3, **args)
    ref = analog_mvm_reference(x, g, **args)
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-6)
    assert clipped > 0


def test_clipping_saturates_and_counts():
    m, rows, n, s, L = 4, 8, 3, 2, 3
    x = np.full((m, rows), 255, np.int32)
    g = np.full((1, rows, s * n), float(L), np.float32)     # every partial sum = rows * L = 24
    y, clipped = analog_mvm(x, g, key=0, **kw(n, step=1.0, lo=-10.0, hi=10.0))
    assert clipped == m * 8 * s * n                          # every conversion clipped
    expected = 10.0 * sum(2 ** p for p in range(8)) * sum(4 ** k for k in range(s))
    np.testing.assert_array_equal(y, np.full((m, n), expected))


def test_blocking_and_seed_determinism():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (50, 64)).astype(np.int32)
    g = rng.normal(0, 1, (1, 64, 12)).astype(np.float32)
    a, _ = analog_mvm(x, g, key=9, **kw(3, sigma=0.3))
    b, _ = analog_mvm(x, g, key=9, block_bytes=4 * 8 * 12 * 7, **kw(3, sigma=0.3))  # 7 vectors/block
    c, _ = analog_mvm(x, g, key=10, **kw(3, sigma=0.3))
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


def test_noise_stream_is_standard():
    z = gauss_array(np.uint64(12345), 200_000)
    n = len(z)
    # Irwin-Hall(8) standardised: variance of the sample variance is (kurtosis - 1)/n = 1.85/n
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(1.85 / n)
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5 / np.sqrt(n)


def _noise_sd(x, planes, chunks, rows, s, sigma, bpc=2):
    """Analytic std of each output: independent column noises, weighted by shift-add."""
    var = np.zeros(x.shape[0])
    for p in range(planes):
        bits = ((x >> p) & 1).reshape(x.shape[0], chunks, rows).sum(2)      # sum of x^2 per chunk
        for si in range(s):
            var += (2.0 ** p * 2.0 ** (si * bpc)) ** 2 * sigma ** 2 * bits.sum(1)
    return np.sqrt(var)


def test_read_noise_matches_analytic_sigma_and_per_cell_reference():
    rng = np.random.default_rng(3)
    m, chunks, rows, n, s, sigma = 400, 2, 32, 25, 2, 0.2
    x = rng.integers(0, 256, (m, chunks * rows)).astype(np.int32)
    g = rng.normal(0, 1, (chunks, rows, s * n)).astype(np.float32)
    args = kw(n, step=1e-4, lo=-1e9, hi=1e9)
    clean, _ = analog_mvm(x, g, key=1, **args)
    noisy, _ = analog_mvm(x, g, key=1, **{**args, "sigma_cell": sigma})
    sd = _noise_sd(x, 8, chunks, rows, s, sigma)[:, None]
    z = ((noisy - clean) / sd).ravel()
    N = z.size                                             # 10,000 standardised residuals
    assert abs(z.mean()) < 5 / np.sqrt(N)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / N)           # SE of a sample variance ~ sqrt(2/N)
    # the per-cell Gaussian draws of the numpy reference give the same spread
    ref = analog_mvm_reference(x[:100], g, **{**args, "sigma_cell": sigma},
                               rng=np.random.default_rng(4))
    zr = ((ref - clean[:100]) / sd[:100]).ravel()
    assert abs(zr.var() - 1) < 5 * np.sqrt(2 / zr.size)


def ideal_arch(**adc) -> ArchSpec:
    a = ArchSpec()
    return dataclasses.replace(
        a, device=dataclasses.replace(a.device, program_sigma=0.0, read_sigma=0.0,
                                      stuck_at=StuckAtSpec(0.0, 0.0)),
        adc=dataclasses.replace(a.adc, bits=24, range_mode="per_layer", range_fraction=1.0, **adc))


@pytest.mark.parametrize("arch", [
    ideal_arch(),
    dataclasses.replace(ideal_arch(), dac=DacSpec(input_bits=6, bit_serial=False)),
    dataclasses.replace(ideal_arch(), crossbar=dataclasses.replace(ArchSpec().crossbar,
                                                                    differential=False)),
    dataclasses.replace(ideal_arch(), device=DeviceSpec(bits_per_cell=3, program_sigma=0.0,
                                                        read_sigma=0.0, stuck_at=StuckAtSpec(0, 0))),
], ids=["bit-serial", "multi-bit-dac", "offset-encoding", "3-bit-cells"])
def test_ideal_chip_reproduces_matmul_within_quantisation_bound(arch):
    rng = np.random.default_rng(5)
    k, n, m = 150, 20, 60
    w = rng.normal(0, 0.2, (k, n)).astype(np.float32)
    x = np.abs(rng.normal(0, 1, (m, k))).astype(np.float32)
    x[0, 0] = -0.5                               # one negative input: exercises the signed path
    cmap = map_layers([("l", k, n)], build_chip(arch))
    layer = AnalogLayer("l", w, build_chip(arch).tile, cmap.layer("l"), float(np.abs(x).max()), rng, 0)
    y = layer(x)
    sx, sw = layer.x_scale, layer.w_scale
    # input and weight rounding: |x w - xq wq| <= |x| sw/2 + |w| sx/2 + sx sw/4 per term
    bound = np.abs(x) @ np.full((k, n), sw / 2) + np.full((m, k), sx / 2) @ np.abs(w) + k * sx * sw / 4
    # ADC rounding: step/2 per conversion, weighted by the shift-add, per row chunk and pass
    planes = arch.input_planes
    pw = sum(2.0 ** p for p in range(planes)) if arch.dac.bit_serial else 1.0
    sl = sum(2.0 ** (s * arch.device.bits_per_cell) for s in range(weight_encoding(arch).slices))
    bound += 2 * layer.tile.step / 2 * pw * sl * cmap.layer("l").row_chunks * sx * sw
    err = np.abs(y - x @ w)
    assert np.all(err <= bound * (1 + 1e-5) + 1e-6), (err / bound).max()
    assert err.max() > 0                          # quantisation is really there
    assert layer.counts.adc_clipped == 0


@pytest.mark.parametrize("inl", [0.0, 0.8, -1.5])
def test_adc_offset_and_inl_match_the_reference(inl):
    rng = np.random.default_rng(11)
    m, chunks, rows, n, s = 29, 2, 16, 4, 3
    x = rng.integers(0, 256, (m, chunks * rows)).astype(np.int32)
    g = rng.normal(0, 1.5, (chunks, rows, s * n)).astype(np.float32)
    offset = (rng.normal(0, 0.7, (chunks, s * n)) * 0.37).astype(np.float32)   # ~0.7 LSB
    args = kw(n, lo=-20.0, hi=20.0)
    y, _ = analog_mvm(x, g, key=3, offset=offset, inl=inl, **args)
    ref = analog_mvm_reference(x, g, offset=offset, inl=inl, **args)
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-6)
    assert np.any(y != analog_mvm(x, g, key=3, **args)[0])


@pytest.mark.parametrize("inl", [0.0, 0.8])
def test_per_column_adc_ranges_match_the_reference(inl):
    """Each converted column with its own LSB (per-slice / per-array ranges): the kernel equals
    the reference, and a range equal for every column gives the single-range kernel's result."""
    rng = np.random.default_rng(12)
    m, chunks, rows, n, s = 23, 2, 16, 4, 3
    x = rng.integers(0, 256, (m, chunks * rows)).astype(np.int32)
    g = rng.normal(0, 1.5, (chunks, rows, s * n)).astype(np.float32)
    col_step = rng.uniform(0.2, 0.6, (chunks, s * n)).astype(np.float32)
    args = kw(n, lo=-20.0, hi=20.0, sigma=0.0)
    y, clipped = analog_mvm(x, g, key=3, inl=inl, col_step=col_step, **args)
    ref = analog_mvm_reference(x, g, inl=inl, col_step=col_step, **args)
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-6)
    assert clipped > 0
    same = np.full((chunks, s * n), 0.37, np.float32)
    np.testing.assert_allclose(analog_mvm(x, g, key=3, inl=inl, col_step=same, **args)[0],
                               analog_mvm(x, g, key=3, inl=inl, **args)[0], rtol=1e-6)
    noisy = dict(args, sigma_cell=0.4)          # the noise stream is the single-range kernel's
    np.testing.assert_allclose(analog_mvm(x, g, key=5, inl=inl, col_step=same, **noisy)[0],
                               analog_mvm(x, g, key=5, inl=inl, **noisy)[0], rtol=1e-6)


def test_adc_transfer_curve_closed_form():
    """One column, one row, one plane: the code of each input is round(u + offset + bow)."""
    step, lo, hi, inl, off = 1.0, -8.0, 7.0, 1.2, 0.3
    levels = np.arange(-8, 8, dtype=np.float32)
    out = []
    for v in levels:
        g = np.full((1, 1, 1), v, np.float32)
        y, _ = analog_mvm(np.ones((1, 1), np.int32), g, key=0, offset=np.full((1, 1), off * step, np.float32),
                          inl=inl, **kw(1, planes=1, bit_serial=False, step=step, lo=lo, hi=hi))
        out.append(y[0, 0])
    u = levels + off
    d = np.clip((u - (lo + hi) / 2) / ((hi - lo) / 2), -1, 1)
    np.testing.assert_array_equal(out, np.clip(np.floor(u + inl * (1 - d * d) + 0.5), lo, hi))
    # the bow is zero at both ends of the range and largest at mid-scale
    assert out[0] == -8 and out[8] == np.floor(0 + 0.3 + inl * (1 - (0.8 / 7.5) ** 2) + 0.5)


def test_adc_offsets_are_per_adc_and_static():
    """Each ADC of a crossbar has one offset, shared by the columns multiplexed onto it."""
    a = ideal_arch(offset_sigma_lsb=2.0)
    a = dataclasses.replace(a, adc=dataclasses.replace(a.adc, bits=8, per_crossbar=2))
    chip = build_chip(a)
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.2, (100, 10)).astype(np.float32)
    lm = map_layers([("l", 100, 10)], chip).layer("l")
    layer = AnalogLayer("l", w, chip.tile, lm, 1.0, rng, 5)
    off = layer.state.adc_offset                             # (row chunks, S*N)
    s = layer.cells.g.shape[1]
    assert off.shape == (lm.row_chunks, s * 10)
    # slices s, weights n of one crossbar: conversion (n % wpg) * S + s goes to ADC (.. % 2)
    per = off.reshape(lm.row_chunks, s, 10)
    wpg = chip.tile.weights_per_column_group()
    for c in range(lm.row_chunks):
        vals = {}
        for n in range(10):
            for si in range(s):
                key = (n // wpg, ((n % wpg) * s + si) % 2)
                vals.setdefault(key, set()).add(float(per[c, si, n]))
        assert all(len(v) == 1 for v in vals.values()) and len(vals) == 2 * lm.col_groups
    np.testing.assert_array_equal(off, layer.at_time(0.0, False).state.adc_offset)   # static per chip
    assert np.all(np.abs(off) < 6 * 2.0 * chip.tile.step) and np.any(off != 0)


@pytest.mark.parametrize("bit_serial", [True, False])
def test_offset_calibration_removes_whole_lsb_offsets_exactly(bit_serial):
    """Offsets of whole LSBs shift every code by exactly that many LSBs (below the clip), so
    subtracting each ADC's zero-input code gives the offset-free outputs bit for bit."""
    dac = DacSpec(input_bits=8, bit_serial=bit_serial)
    a = dataclasses.replace(ideal_arch(), dac=dac)
    adc = dataclasses.replace(a.adc, bits=12, range_mode="per_layer", range_fraction=0.5)
    a = dataclasses.replace(a, adc=adc)
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.2, (90, 7)).astype(np.float32)
    x = np.abs(rng.normal(0, 1, (25, 90))).astype(np.float32)
    outs = {}
    for name, cal in (("clean", True), ("cal", True), ("raw", False)):
        arch = dataclasses.replace(a, adc=dataclasses.replace(a.adc, offset_calibration=cal))
        chip = build_chip(arch)
        lm = map_layers([("l", 90, 7)], chip).layer("l")
        layer = AnalogLayer("l", w, chip.tile, lm, float(x.max()), np.random.default_rng(0), 0)
        if name != "clean":
            whole = np.round(np.random.default_rng(5).normal(0, 3, (lm.row_chunks, layer.state.g.shape[2])))
            offset = (whole * chip.tile.step).astype(np.float32)
            layer.state = dataclasses.replace(layer.state, adc_offset=offset,
                                              adc_zero=chip.tile.zero_codes(layer, offset) if cal else None)
        outs[name] = layer(x)
    np.testing.assert_array_equal(outs["cal"], outs["clean"])
    assert np.abs(outs["raw"] - outs["clean"]).max() > 0
