"""PCM time model (drift, 1/f noise) against the published fit formulas, and global drift
compensation on a layer."""
import dataclasses
import math

import numpy as np
import pytest

from cimsim.config.arch import ArchSpec, DeviceSpec, StuckAtSpec
from cimsim.device.base import DeviceModel
from cimsim.device.conductance import ProgrammedArray
from cimsim.device.nvm import RramDevice
from cimsim.device.pcm import PcmDevice, PcmParams
from cimsim.functional import AnalogLayer
from cimsim.hw.chip import Chip
from cimsim.hw.tile import CrossbarTile
from cimsim.mapping import map_layers

G_MIN, G_MAX = 0.0, 25.0


def _pcm(**params) -> PcmDevice:
    arch = dataclasses.replace(ArchSpec(), device=DeviceSpec(g_min_us=G_MIN, g_max_us=G_MAX, bits_per_cell=4))
    return PcmDevice(arch, PcmParams(**params))


def _cells(level: int, n: int) -> ProgrammedArray:
    lv = np.full((1, 1, n, 1), level, np.uint8)
    return ProgrammedArray(lv, lv.astype(np.float32), np.zeros(lv.shape, np.int8),
                           np.ones(lv.shape, np.uint16), np.zeros(lv.shape, np.uint16))


# (level of 15, relative conductance x, mean and std of nu by the published fit, computed by hand:
#  mu = clip(-0.0155 ln x + 0.0244, 0.049, 0.1), sd = clip(-0.0125 ln x - 0.0059, 0.008, 0.045))
NU_CASES = [(15, 1.0, 0.049, 0.008),                    # both at their floors
            (3, 0.2, -0.0155 * np.log(0.2) + 0.0244, -0.0125 * np.log(0.2) - 0.0059),   # 0.0493, 0.0142
            (1, 1 / 15, -0.0155 * np.log(1 / 15) + 0.0244, -0.0125 * np.log(1 / 15) - 0.0059)]


@pytest.mark.parametrize("level, x, mu, sd", NU_CASES)
def test_drift_exponents_follow_the_published_fit(level, x, mu, sd):
    n, t = 200_000, 86400.0
    dev = _pcm(read_noise_1f=False)
    g = dev.at_time(_cells(level, n), t, key=7)
    nu = -np.log(g.astype(np.float64) / level) / np.log((t + 20.0) / 20.0)    # g = g_p ((t+t0)/t0)^-nu
    # nu ~ |N(mu, sd)|: the folded normal's mean and std in closed form
    fmean = sd * np.sqrt(2 / np.pi) * np.exp(-mu ** 2 / (2 * sd ** 2)) + mu * math.erf(mu / (sd * np.sqrt(2)))
    fsd = np.sqrt(mu ** 2 + sd ** 2 - fmean ** 2)
    assert abs(nu.mean() - fmean) < 5 * fsd / np.sqrt(n)
    # standard error of a sample std (delta method): s sqrt((kurtosis - 1) / (4 n)), the
    # kurtosis taken from the sample itself (the fold makes it depart from 3)
    kurt = np.mean((nu - nu.mean()) ** 4) / nu.var() ** 2
    assert abs(nu.std() - fsd) < 5 * nu.std() * np.sqrt((kurt - 1) / (4 * n))


@pytest.mark.parametrize("level, t", [(15, 1.0), (15, 3.156e7), (2, 3600.0)])
def test_1f_noise_std_follows_the_published_fit(level, t):
    n = 200_000
    dev = _pcm(drift=False)
    g = dev.at_time(_cells(level, n), t, key=3).astype(np.float64)
    x = level * (G_MAX / 15) / G_MAX
    q = min(0.0088 / x ** 0.65, 0.2)
    sd = level * q * np.sqrt(np.log((t + 20.0 + 250e-9) / (2 * 250e-9)))    # relative noise x g
    err = g - level
    assert abs(err.mean()) < 5 * sd / np.sqrt(n)
    assert abs(err.std() / sd - 1) < 5 / np.sqrt(2 * n)


def test_time_zero_is_as_programmed_and_stuck_cells_hold():
    dev = _pcm()
    cells = _cells(9, 1000)
    assert dev.at_time(cells, 0.0, key=1) is cells.g
    cells.stuck[0, 0, :10] = 1
    cells.g[0, 0, :10] = 15.0
    g = dev.at_time(cells, 3600.0, key=1)
    assert np.all(g[0, 0, :10] == 15.0) and np.all(g[0, 0, 10:] != 9.0)
    # the same chip at every time: one pattern, so the same key gives the same cells
    np.testing.assert_array_equal(g, dev.at_time(cells, 3600.0, key=1))
    assert not np.array_equal(g, dev.at_time(cells, 3600.0, key=2))
    # drift only lowers conductance, and more so later
    d = _pcm(read_noise_1f=False)
    g1, g2 = d.at_time(cells, 60.0, key=1), d.at_time(cells, 3.156e7, key=1)
    ok = cells.stuck == 0
    assert np.all(g2[ok] < g1[ok]) and np.all(g1[ok] < 9.0)


def test_rram_has_no_time_model():
    dev = RramDevice(ArchSpec())
    cells = _cells(2, 10)
    assert dev.at_time(cells, 1e7, key=0) is cells.g


class _Halving(RramDevice):
    """Every cell reads at half its programmed conductance after any time (a test device)."""

    def at_time(self, cells, t_s, key):
        return cells.g * np.float32(0.5) if t_s > 0 else cells.g


def _layer(device_cls: type[DeviceModel], differential: bool = True) -> tuple[AnalogLayer, np.ndarray]:
    arch = dataclasses.replace(ArchSpec(), device=DeviceSpec(program_sigma=0.0, read_sigma=0.0,
                                                             stuck_at=StuckAtSpec(0, 0)),
                               crossbar=dataclasses.replace(ArchSpec().crossbar, differential=differential))
    dev = device_cls(arch)
    chip = Chip(arch, dev, CrossbarTile(arch, None, dev))
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.2, (40, 12)).astype(np.float32)
    x = np.abs(rng.normal(0, 1, (30, 40))).astype(np.float32)
    lm = map_layers([("l", 40, 12)], chip).layer("l")
    return AnalogLayer("l", w, chip.tile, lm, float(x.max()), rng, 0), x


@pytest.mark.parametrize("differential", [True, False])
def test_global_drift_compensation_undoes_a_uniform_decay(differential):
    layer, x = _layer(_Halving, differential)
    late = layer.at_time(3600.0, compensate=False)
    fixed = layer.at_time(3600.0, compensate=True)
    if differential:
        assert fixed.gain == pytest.approx(2.0, rel=1e-12)
        # the halved weights, doubled digitally: the as-programmed outputs up to ADC rounding
        y0, y1 = layer(x), fixed(x)
        # each conversion rounds by <= step/2, doubled in y1: <= 1.5 step per conversion,
        # weighted by the shift-add over 8 input planes and 4 slices of 2-bit cells
        pw, sl = sum(2.0 ** p for p in range(8)), sum(4.0 ** s for s in range(4))
        bound = 1.5 * layer.tile.step * pw * sl * layer.lmap.row_chunks * layer.x_scale * layer.w_scale
        assert 0 < np.max(np.abs(y1 - y0)) <= bound
        assert np.abs(late(x)).mean() < 0.6 * np.abs(y0).mean()
    else:
        # offset encoding: the stored offset halves too, so the ratio is not 2 but is still
        # the ratio of mean |column sums| of the decoded weights
        w0 = layer.tile.decode(layer.cells)
        wt = layer.tile.decode(dataclasses.replace(layer.cells, g=layer.cells.g * np.float32(0.5)))
        assert fixed.gain == pytest.approx(np.abs(w0.sum(0)).mean() / np.abs(wt.sum(0)).mean())
    assert layer.t_s == 0.0 and layer.gain == 1.0          # the chip's own layer is untouched


def test_compensation_on_a_drifting_pcm_layer_restores_output_scale():
    layer, x = _layer(PcmDevice)
    y0 = layer(x)
    year = 3.156e7
    raw, comp = layer.at_time(year, False)(x), layer.at_time(year, True)(x)
    # power-law drift shrinks outputs by ~((t + t0)/t0)^-0.05 ~ 0.5 at one year
    assert np.abs(raw).mean() < 0.7 * np.abs(y0).mean()
    assert abs(np.abs(comp).mean() / np.abs(y0).mean() - 1) < 0.1


def test_accuracy_vs_time_in_a_run(tmp_path, root):
    """An inference phase read after programming: report block, table, figure, summary."""
    import cimsim
    from cimsim.report.plots import figures
    from cimsim.report.tables import tables

    w = root / "workloads" / "resnet_inference.yaml"
    rep = cimsim.run(root / "arch" / "pcm_256x256.yaml", w, overrides={
        "workload.phases.0.samples": 40, "workload.phases.0.ci_chips": 1,
        "workload.phases.0.time_after_programming_s": 3600,
        "workload.phases.0.drift_compensation": "true",
        "workload.phases.0.accuracy_vs_time_s": "[0, 60, 3.156e7]"})
    ph = rep.phase("test")
    assert ph.time_after_programming_s == 3600 and ph.drift_compensation is True
    rows = ph.accuracy_vs_time
    assert [r.t_s for r in rows] == [0, 60, 3.156e7]
    assert rows[0].accuracy == rows[0].accuracy_compensated      # nothing to compensate at 0
    assert [r["t_s"] for r in tables(rep.data)["accuracy_vs_time"]] == [0, 60, 3.156e7]
    assert "accuracy_vs_time_test" in figures(rep.data)
    assert any("1 yr after programming" in line for line in rep.summary().splitlines())


def test_read_times_are_an_inference_phase_s(tmp_path, root):
    import cimsim
    from cimsim import plugins
    from cimsim.errors import CimsimError

    for key, value in (("time_after_programming_s", "5"), ("drift_compensation", "true")):
        w = cimsim.load_workload(root / "workloads" / "resnet_lrt.yaml", {f"phases.1.{key}": value})
        with pytest.raises(CimsimError, match=rf"phases\[1\]\.{key}: .*is a key of the inference phase"):
            plugins.resolve_workload(w.spec, w.source)          # when the run loads the phase kinds


def test_a_time_model_that_changes_nothing_is_said(tmp_path, root, capsys, monkeypatch):
    """PCM read at t = 0 is the chip as programmed: the run says so (stderr, summary and the
    phase's notes) instead of silently giving the RRAM numbers; the per-chip progress bars
    carry the chip's number."""
    import json

    from cimsim import functional
    from cimsim.cli import main

    seen = []
    real = functional.progress
    monkeypatch.setattr(functional, "progress",
                        lambda it, desc, **kw: seen.append(desc) or real(it, desc, **kw))
    out = tmp_path / "o"
    args = ["run", str(root / "arch" / "rram_64x64.yaml"), str(root / "workloads" / "resnet_inference.yaml"),
            "--out", str(out), "--set", "workload.phases.0.ci_chips=2"]
    assert main([*args, "--set", "arch.device.class=pcm"]) == 0
    cap = capsys.readouterr()
    assert "warning: phase test: the pcm device's time model changes nothing" in cap.err
    assert "  note: the pcm device's time model changes nothing" in cap.out
    assert json.loads((out / "report.json").read_text())["phases"][0]["notes"]
    assert seen == ["chip 0", "chip 1"]
    at_t0 = ["--set", "arch.device.class=pcm", "--set", "arch.device.params.noise_at_t0=true"]
    assert main([*args, *at_t0]) == 0
    assert "notes" not in json.loads((out / "report.json").read_text())["phases"][0]
    assert main(args) == 0                                 # RRAM has no time model: nothing to say
    assert "notes" not in json.loads((out / "report.json").read_text())["phases"][0]
