"""Tiki-Taka (Gokmen and Haensch 2020; v2 Gokmen 2021): the transfer schedule and the writes of
A and C counted by hand on a small layer, the filter H of v2, and its auxiliary memory."""
import dataclasses

import numpy as np
import pytest

from cimsim.config.arch import ArchSpec, StuckAtSpec
from cimsim.config.workload import AlgorithmSpec
from cimsim.errors import FitError
from cimsim.functional import AnalogLayer
from cimsim.hw.chip import build_chip
from cimsim.learning.rules import make_rule
from cimsim.mapping import map_layers
from cimsim.nn.layers import Linear, Net

QMAX = 127
# one weight's A code goes up by 1 each sample (one cell: its G+ LSB slice 0 -> 1)
HITS = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 0), (0, 1), (1, 2), (2, 3), (4, 1)]


def fc_rule(tiles: int = 64, **params):
    """A 5 x 4 FC layer whose weights start at zero (w_scale 1) on an ideal chip: no
    programming error, read noise or stuck cells, so A's one-hot reads return its codes."""
    a = ArchSpec()
    arch = dataclasses.replace(a, device=dataclasses.replace(a.device, program_sigma=0.0, read_sigma=0.0,
                                                             stuck_at=StuckAtSpec(0.0, 0.0)),
                               chip=dataclasses.replace(a.chip, tiles=tiles))
    rng = np.random.default_rng(0)
    net = Net([Linear("fc", "input", 5, 4, rng)])
    chip = build_chip(arch)
    lm = map_layers([("fc", 5, 4)], chip).layer("fc")
    peaks = np.full((lm.row_chunks, 4 * 4), 3.0, np.float32)      # 4 slices x 4 outputs
    e = AnalogLayer("fc", np.zeros((5, 4), np.float32), chip.tile, lm, 1.0, rng, 0, peaks)
    spec = AlgorithmSpec(name="tiki_taka", params={"lr": 0.01, "bias_lr": 0.0, "stochastic_rounding": False,
                                                    "transfer_every": 3, "columns_per_transfer": 2, **params})
    return net, e, make_rule(spec, net, {"fc": e}, arch, 0, "arch")


def run(net, e, rule):
    node = net.nodes[0]
    node.db[...] = 0
    scale = -rule.params.lr * e.w_scale * QMAX * QMAX          # dW -> A's weight codes
    logs = []
    for t, (i, j) in enumerate(HITS):
        node.dW = np.zeros((5, 4), np.float32)
        node.dW[i, j] = 1.0 / scale                            # +1 code on A
        logs.append(rule.step(t))
    return logs


def test_v1_schedule_and_writes_by_hand():
    """Transfers after samples 3, 6, 9 read lines (0, 1), (2, 3), (4, 0) in turn; A is never
    reset, so line 0 is added to C twice. A: one cell write per sample; C: one per non-zero A
    entry of the lines read (each moves a C code by +1, one cell)."""
    net, e, rule = fc_rule(version=1, transfer_lr=1.0)
    logs = run(net, e, rule)
    a = rule.arrays["fc"]
    want_a = np.zeros((5, 4), int)
    for i, j in HITS:
        want_a[i, j] += 1
    assert a.w_int.tolist() == want_a.tolist()
    want_c = np.zeros((5, 4), int)
    want_c[[0, 1], :] += want_a_at(2)[[0, 1]]
    want_c[[2, 3], :] += want_a_at(5)[[2, 3]]
    want_c[[4, 0], :] += want_a_at(8)[[4, 0]]
    assert e.w_int.tolist() == want_c.tolist()
    assert [lg.writes.get("fc", 0) for lg in logs] == [1, 1, 1 + 2, 1, 1, 1 + 2, 1, 1, 1 + 4]
    assert (rule.transfers, rule.transfer_reads) == (3, 6)
    assert int(a.writes.sum()) == 9 and rule.aux_bytes == 0
    assert set(rule.aux_engines) == {"fc.A"}


def want_a_at(t: int) -> np.ndarray:
    w = np.zeros((5, 4), int)
    for i, j in HITS[:t + 1]:
        w[i, j] += 1
    return w


def test_v2_filter_writes_whole_thresholds():
    """v2 at transfer_lr 0.6: H gains 0.6 of each line read; only H(0, 0), read twice (after
    samples 3 and 9), reaches the threshold (1 code) and writes C once, keeping the rest. A code
    of 1 reads as 42 ADC codes of 3/127 levels (8-bit signed conversions over the 3 levels of
    one line): r = 126/127, so H holds 0.6 r, or 1.2 r - 1 at (0, 0), on its grid of 1/4096."""
    net, e, rule = fc_rule(version=2, transfer_lr=0.6, threshold_codes=1, h_bits=16, h_range_thresholds=8)
    logs = run(net, e, rule)
    want_c = np.zeros((5, 4), int)
    want_c[0, 0] = 1
    assert e.w_int.tolist() == want_c.tolist()
    assert [lg.writes.get("fc", 0) for lg in logs] == [1] * 8 + [2]
    r, lsb = 42 * 3 / 127, 1 / 4096
    once = np.rint(0.6 * r / lsb) * lsb
    want_h = np.zeros((5, 4))
    for ij in [(1, 1), (2, 2), (3, 3), (4, 0), (4, 1), (0, 1)]:
        want_h[ij] = once
    want_h[0, 0] = 2 * once - 1
    np.testing.assert_allclose(rule.h["fc"] * lsb, want_h, rtol=0, atol=1e-12)
    assert rule.aux_bytes == 5 * 4 * 16 // 8 == rule.dense_bytes


def test_a_arrays_must_fit_the_chip():
    with pytest.raises(FitError, match="second array A.*1 more tiles beside the 1"):
        fc_rule(tiles=1, version=1)


def test_bad_parameters_are_located(tmp_path, root, capsys):
    """A transfer period of 0 is refused with its key path, exit 2, before any work."""
    from cimsim.cli import main

    args = ["run", str(root / "arch" / "rram_64x64.yaml"), str(root / "workloads" / "resnet_lrt.yaml"),
            "--out", str(tmp_path / "o"), "--set", "workload.phases.1.algorithm.name=tiki_taka",
            "--set", "workload.phases.1.algorithm.transfer_every=0"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "algorithm.transfer_every" in err and ">= 1" in err and not (tmp_path / "o").exists()


def test_a_phase_on_soft_bounds_cells(tmp_path, root):
    """End to end on soft-bounds RRAM: A's pulses are writes of their own rows, every pulse is
    charged the device's pulse energy, each layer reads one line per sample, and the report is
    reproducible from the seed."""
    import json

    from test_train import run_tiny

    sb = ["--set", "arch.device.update.model=soft_bounds", "--set", "arch.device.clip_to_range=true",
          "--set", "arch.device.update.step_fraction=0.02", "--set", "arch.device.update.cycle_sigma=1.0"]
    code, path = run_tiny(tmp_path / "a", root, "tiki_taka", samples=12, extra=sb)
    assert code == 0
    ph = json.loads(path.read_text())["phases"][0]
    wr = ph["writes"]
    layers = [k for k in wr["per_layer"] if not k.endswith(".A")]
    assert sorted(k for k in wr["per_layer"] if k.endswith(".A")) == sorted(f"{k}.A" for k in layers)
    assert wr["total_cell_writes"] == sum(v["writes"] for v in wr["per_layer"].values())
    assert sum(wr["per_layer"][f"{k}.A"]["writes"] for k in layers) > 0
    assert ph["lrt"]["transfer_reads"] == 12 * len(layers) == ph["lrt"]["transfers"]
    pulse_pj = 10.9                                     # arch/rram_64x64.yaml device.write.pulse_energy_pj
    energy = ph["energy"]["per_component_pj"]["write_pulses"]
    assert energy == pytest.approx(wr["total_cell_writes"] * pulse_pj)
    again = run_tiny(tmp_path / "b", root, "tiki_taka", samples=12, extra=sb)[1].read_text()
    assert path.read_text() == again.replace(str(tmp_path / "b"), str(tmp_path / "a"))
