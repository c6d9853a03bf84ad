"""Mixed-precision training (Nandakumar et al. 2020) against a hand-written loop and its
closed-form bound: on an ideal device the chip's weights are float SGD's, quantised to
epsilon; its auxiliary memory is its accumulator's size."""
import dataclasses

import numpy as np
import pytest

from cimsim.config.arch import ArchSpec, StuckAtSpec
from cimsim.config.workload import AlgorithmSpec
from cimsim.functional import AnalogLayer
from cimsim.hw.chip import build_chip
from cimsim.learning.rules import make_rule
from cimsim.mapping import map_layers
from cimsim.nn.layers import Linear, Net

QMAX = 127


def fc_rule(k: int, n: int, seed: int, **params):
    """A k x n FC layer on an ideal chip (no programming error, no stuck cells) with the
    mixed-precision rule, biases frozen."""
    a = ArchSpec()
    arch = dataclasses.replace(a, device=dataclasses.replace(a.device, program_sigma=0.0,
                                                             stuck_at=StuckAtSpec(0.0, 0.0)))
    rng = np.random.default_rng(seed)
    net = Net([Linear("fc", "input", k, n, rng)])
    chip = build_chip(arch)
    lm = map_layers([("fc", k, n)], chip).layer("fc")
    e = AnalogLayer("fc", net.nodes[0].W * 0.3, chip.tile, lm, 1.0, rng, 0)
    spec = AlgorithmSpec(name="mixed_precision", params={"lr": 0.05, "bias_lr": 0.0, **params})
    return rng, net, e, make_rule(spec, net, {"fc": e}, arch, 0, "arch")


@pytest.mark.parametrize("eps", [1, 3])
def test_ideal_device_holds_float_sgd_quantised_to_epsilon(eps):
    """chi accumulates each update; a weight is written by whole steps of epsilon when |chi|
    reaches it, chi keeping the remainder. Reference: the same recurrence in float64 (32-bit
    chi: its grid, 2**-25 epsilon, is far below any update here); bound: the chip's weights
    differ from float SGD's by less than epsilon, and every write is a multiple of it."""
    rng, net, e, rule = fc_rule(5, 4, seed=1, epsilon_codes=eps, chi_bits=32, chi_range_eps=64)
    node = net.nodes[0]
    node.db[...] = 0
    w0 = e.w_int.astype(np.float64)
    w_ref, chi_ref, total = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    railed = np.abs(w0) == QMAX
    scale = -rule.params.lr * e.w_scale * QMAX * QMAX          # dW -> weight codes
    for t in range(60):
        node.dW = rng.normal(0, 0.05, (5, 4)).astype(np.float32) * (t % 7)  # some tiny, some large
        before = e.w_int.copy()
        rule.step(t)
        u = scale * node.dW.astype(np.float64)
        total += u
        chi_ref += u
        n = np.trunc(chi_ref / eps)
        w_ref = np.clip(w_ref + n * eps, -QMAX, QMAX)            # the weight codes' rails
        chi_ref -= n * eps
        railed |= np.abs(w_ref) == QMAX
        moved = e.w_int != before
        assert np.all((e.w_int - before)[moved & ~railed] % eps == 0)
        np.testing.assert_array_equal(e.w_int, w_ref)
    free = ~railed                                           # the largest weight starts at a rail
    assert free.sum() >= 15
    assert np.all(np.abs(e.w_int - (w0 + total))[free] < eps)   # float SGD quantised to epsilon
    assert rule.transfers > 0 and rule.saturated == 0


def test_nothing_is_written_below_epsilon_and_chi_keeps_it():
    _, net, e, rule = fc_rule(3, 2, seed=2, epsilon_codes=4, chi_bits=16, chi_range_eps=8)
    node = net.nodes[0]
    node.db[...] = 0
    scale = -rule.params.lr * e.w_scale * QMAX * QMAX
    node.dW = np.full((3, 2), 1.0 / scale, np.float32)       # +1 code per sample: 4 samples per step
    w0, writes0 = e.w_int.copy(), e.writes.copy()
    for t in range(3):
        assert not rule.step(t).writes
    np.testing.assert_array_equal(e.w_int, w0)
    log = rule.step(3)                                      # the 4th code: one step of epsilon
    np.testing.assert_array_equal(e.w_int, w0 + 4)
    assert log.writes["fc"] == int((e.writes - writes0).sum()) > 0
    assert np.all(rule.chi["fc"] == 0)


def test_stochastic_rounding_keeps_sub_lsb_updates_on_average():
    """Updates of 0.3 of chi's LSB: rounding to nearest loses every one; stochastic rounding
    keeps their sum in the mean (binomial: 0.3 T, std sqrt(0.21 T) per weight)."""
    T = 400
    sums = {}
    for sr in (False, True):
        _, net, e, rule = fc_rule(4, 3, seed=3, epsilon_codes=1, chi_bits=8, chi_range_eps=4,
                                  stochastic_rounding=sr)
        node = net.nodes[0]
        node.db[...] = 0
        lsb = 4 / 2 ** 7                                     # chi's LSB in codes (epsilon = 1 code)
        node.dW = np.full((4, 3), 0.3 * lsb / (-rule.params.lr * e.w_scale * QMAX * QMAX), np.float32)
        w0 = e.w_int.copy()
        for t in range(T):
            rule.step(t)
        sums[sr] = (e.w_int - w0) + rule.chi["fc"] * lsb    # written codes + what chi holds, in codes
    assert np.all(sums[False] == 0)
    mean, sd = 0.3 * T * lsb, np.sqrt(0.21 * T) * lsb
    assert abs(sums[True].mean() - mean) < 5 * sd / np.sqrt(12)


def test_aux_memory_is_the_accumulator_and_must_fit(tmp_path, root):
    _, net, e, rule = fc_rule(6, 5, seed=4, chi_bits=12)
    assert rule.aux_bytes == rule.dense_bytes == int(6 * 5 * 12 / 8)
    from cimsim.cli import main

    w = tmp_path / "w.yaml"
    w.write_text((root / "workloads" / "resnet_lrt.yaml").read_text())
    args = ["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(tmp_path / "o"),
            "--set", "workload.phases.1.algorithm.name=mixed_precision"]
    assert main([*args, "--set", "workload.phases.1.algorithm.chi_range_eps=6"]) == 2
    assert not (tmp_path / "o").exists()


def test_an_accumulator_that_does_not_fit_fails_before_any_work(tmp_path, root, capsys):
    """16-bit chi for every ResNet-8 layer does not fit the default chip's buffer shares: the
    run stops at the fit check, before pretraining and the phases, naming layer and bytes."""
    from cimsim.cli import main

    args = ["run", str(root / "arch" / "rram_64x64.yaml"), str(root / "workloads" / "resnet_lrt.yaml"),
            "--out", str(tmp_path / "o"), "--set", "workload.phases.1.algorithm.name=mixed_precision"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "mixed precision needs 18432 bytes" in err and "holds 16384" in err
    assert "float model" not in err and "phase" not in err and not (tmp_path / "o").exists()


def test_epsilon_below_the_device_step_is_refused(tmp_path, root, capsys):
    """A pulse of 0.5 of the range moves a 2-bit cell by 1.5 levels: a threshold of 1 code
    cannot be written; refused at the fit check (exit 2, nothing written), naming the keys."""
    from cimsim.cli import main

    args = ["run", str(root / "arch" / "rram_64x64.yaml"), str(root / "workloads" / "resnet_lrt.yaml"),
            "--out", str(tmp_path / "o"), "--set", "workload.phases.1.algorithm.name=mixed_precision",
            "--set", "workload.phases.1.algorithm.chi_bits=8",
            "--set", "arch.device.update.model=linear_step", "--set", "arch.device.update.step_fraction=0.5"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "device.update.step_fraction" in err and "epsilon_codes >= 2" in err
    assert "float model" not in err and not (tmp_path / "o").exists()
