"""Write-verify, deployment policies, TSB and the Monte-Carlo statistics."""
import dataclasses
import json

import numpy as np
import pytest
from scipy import stats

from cimsim.cli import main
from cimsim.config.arch import ArchSpec, DeviceSpec, StuckAtSpec, WriteVerifySpec
from cimsim.deploy import deploy, programming_report
from cimsim.device.conductance import program
from cimsim.device.verify import write_verify
from cimsim.hw.chip import build_chip
from cimsim.learning.tsb import TsbSpec, finetune, insert_blocks
from cimsim.montecarlo import summarise
from cimsim.nn.layers import BlockApply, softmax_xent
from cimsim.policies import selective_masks
from cimsim.session import Session
from cimsim.timing import simulate_programming


def device_arch(**dev) -> ArchSpec:
    base = dict(program_sigma=0.2, read_sigma=0.0, stuck_at=StuckAtSpec(0.0, 0.0))
    base.update(dev)
    return dataclasses.replace(ArchSpec(), device=DeviceSpec(**base))


def levels(shape=(2, 4, 200, 100), seed=0):
    return np.random.default_rng(seed).integers(0, 4, shape).astype(np.uint8)


def test_verify_without_read_noise_lands_every_movable_cell_within_tolerance():
    arch = device_arch(write_verify=WriteVerifySpec(tolerance=0.02, max_iterations=50))
    rng = np.random.default_rng(1)
    lv = levels()
    cells = program(lv, arch, rng)
    out0 = np.abs(cells.g - lv) > 0.02 * 3
    write_verify(cells, np.ones(lv.shape, bool), arch, rng)
    assert np.all(np.abs(cells.g - lv) <= 0.02 * 3 + 1e-6)
    # a cell gets verify pulses iff it started outside the band; each pulse is followed by a read
    verify_pulses = cells.pulses_per_cell.astype(int) - (lv > 0)
    assert np.array_equal(verify_pulses > 0, out0)
    assert np.array_equal(cells.reads_per_cell, verify_pulses + 1)


def test_one_correction_pulse_has_relative_error_sigma():
    # max_iterations = 1: one read, then one pulse of d = t - g with error N(0, sigma |d|)
    sigma = 0.2
    arch = device_arch(program_sigma=sigma, write_verify=WriteVerifySpec(tolerance=1e-3, max_iterations=1))
    rng = np.random.default_rng(2)
    lv = levels(seed=2)
    cells = program(lv, arch, rng)
    d = lv - cells.g.copy()
    write_verify(cells, np.ones(lv.shape, bool), arch, rng)
    moved = np.abs(d) > 1e-3 * 3
    z = (cells.g - lv)[moved] / (sigma * np.abs(d[moved]))
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.std() - 1) < 5 / np.sqrt(2 * n)
    assert np.all(cells.reads_per_cell == 1)


def test_verify_with_read_noise_residual_and_stuck_cells():
    tol, rs = 0.02, 0.01
    arch = device_arch(read_sigma=rs, stuck_at=StuckAtSpec(0.01, 0.01),
                       write_verify=WriteVerifySpec(tolerance=tol, max_iterations=20))
    rng = np.random.default_rng(3)
    lv = levels(seed=3)
    cells = program(lv, arch, rng)
    write_verify(cells, np.ones(lv.shape, bool), arch, rng)
    ok = cells.stuck == 0
    err = np.abs(cells.g - lv)[ok & (cells.reads_per_cell < 20)]
    # accepted when |g + n - t| <= tol L with n ~ N(0, rs L): |g - t| <= tol L + 6 rs L w.p. ~1
    assert np.all(err <= (tol + 6 * rs) * 3)
    # the residual is set by the loop: far below the one-shot 0.2 x 3
    assert err.std() < 0.1 * 0.2 * 3
    # a stuck cell away from its target takes every iteration and does not move
    stuck_off = (cells.stuck != 0) & (np.abs(np.where(cells.stuck == 1, 3, 0) - lv) > 1)
    assert np.all(cells.reads_per_cell[stuck_off] == 20)
    assert np.all(cells.g[stuck_off & (cells.stuck == 1)] == 3)


def test_programming_time_is_closed_form():
    # n equal jobs of d cycles on c drivers: ceil(n / c) x d; tiles in parallel
    res = simulate_programming({"0": [7] * 10, "1": [5] * 3}, drivers=3)
    assert res.makespan_cycles == 4 * 7
    assert res.busy_cycles == {"0": 70, "1": 15}


def test_verify_energy_and_job_time_by_hand(root):
    from cimsim.config import load_arch

    arch = load_arch(root / "arch" / "rram_64x64.yaml").spec
    tile = build_chip(arch).tile
    # cell read V^2 G t at mid-range conductance (0.5 V, 20.5 uS, 10 ns) + one 8-bit conversion 1.5625 pJ
    assert tile.costs.verify_read_pj() == pytest.approx(0.5 ** 2 * 20.5e-6 * 10e-9 * 1e12 + 1.5625)
    # a row chunk of 64 cells: pulse 100 ns; read back: 10 ns array + 64 conversions x 0.78125 ns = 60 ns
    assert tile.timing.program_job_cycles(pulses=3, reads=4) == 3 * 100 + 4 * 60


def test_selective_masks_pick_the_top_fraction_by_magnitude(trained, root):
    from cimsim.config import load_arch, load_workload

    net, data = trained
    arch = load_arch(root / "arch" / "rram_64x64.yaml").spec
    w = load_workload(root / "workloads" / "resnet_inference.yaml").spec
    dep = deploy(Session.of(arch, w, data=data), net, policy="none", chip_index=0)
    masks = selective_masks(dep.engines, 0.01, "magnitude", None)
    total = sum(e.w_int.size for e in dep.engines.values())
    chosen = sum(int(m.sum()) for m in masks.values())
    assert chosen == round(0.01 * total)
    lo = min(np.abs(e.w_int[masks[k]]).min() for k, e in dep.engines.items() if masks[k].any())
    hi = max(np.abs(e.w_int[~masks[k]]).max() for k, e in dep.engines.items())
    assert lo >= hi


def test_policies_share_the_chip_and_verify_what_they_say(trained, root):
    from cimsim.config import load_arch, load_workload

    net, data = trained
    arch = load_arch(root / "arch" / "rram_64x64.yaml").spec
    arch = dataclasses.replace(arch, device=dataclasses.replace(arch.device, program_sigma=0.1))
    w = load_workload(root / "workloads" / "resnet_inference.yaml",
                      values={"deploy.verify_score": "magnitude", "deploy.tsb": {"epochs": 1, "images": 64}})
    s = Session.of(arch, w, data=data)
    none, sel, full, tsb = (deploy(s, net, policy=p, chip_index=3)
                            for p in ("none", "selective", "all", "tsb"))
    chip = build_chip(arch)
    reports = {d.policy: programming_report(d, chip) for d in (none, sel, full, tsb)}
    for k, e in none.engines.items():
        # common random numbers: unverified cells hold the same one-shot draw on every policy
        untouched = sel.engines[k].cells.reads_per_cell == 0
        assert np.array_equal(e.cells.g[untouched], sel.engines[k].cells.g[untouched])
        assert np.array_equal(e.cells.g, tsb.engines[k].cells.g)
    assert reports["none"]["verify_pulses"] == 0 and reports["none"]["verify_reads"] == 0
    assert reports["all"]["fraction_verified"] == 1.0
    assert reports["all"]["verify_reads"] >= reports["all"]["cells"]      # every cell read at least once
    assert reports["selective"]["fraction_verified"] == pytest.approx(0.01, abs=1e-4)
    blocks = tsb.net.blocks()
    assert len(blocks) == 1 and reports["tsb"]["weights_verified"] == 256
    assert reports["tsb"]["readback_cells"] == reports["none"]["cells"]
    assert 0 < reports["tsb"]["verify_pulses"] < reports["all"]["verify_pulses"] / 10
    # programming energy by hand: pulses x 10.9 pJ + (verify reads + read-back) x (V^2 G t + 1.5625 pJ)
    r = reports["tsb"]
    read = 0.5 ** 2 * 20.5e-6 * 10e-9 * 1e12 + 1.5625
    hand = r["pulses"] * 10.9 + (r["verify_reads"] + r["readback_cells"]) * read
    assert r["energy"]["total_pj"] == pytest.approx(hand, rel=1e-9)
    # per-cell write counters start at the programming pulses
    e = full.engines["fc"]
    assert np.array_equal(e.writes, e.cells.pulses_per_cell)


def test_tsb_block_starts_as_identity_and_its_gradient_is_exact(trained, root):

    net, data = trained
    spec = TsbSpec()                                   # the defaults resnet_inference.yaml keeps
    tnet = insert_blocks(net, spec)
    x, y = data.x_test[:8], data.y_test[:8]
    np.testing.assert_allclose(tnet.forward(x), net.forward(x), rtol=1e-6, atol=1e-6)
    assert sum(isinstance(n, BlockApply) for n in tnet.nodes) == len(
        [n for n in net.weight_layers() if n.kind == "conv"])
    blk = tnet.blocks()[0]
    blk.W[...] = np.random.default_rng(0).standard_normal(blk.W.shape).astype(np.float32) * 0.05
    for b in [n for n in tnet.nodes if n.kind == "bn"]:
        b.frozen = True
    blk.dW[...] = 0
    _, g = softmax_xent(tnet.forward(x, train=True), y)
    tnet.backward(g)
    analytic = blk.dW[2, 5]
    eps = 1e-2

    def loss(delta):
        blk.W[2, 5] += delta
        v = softmax_xent(tnet.forward(x.astype(np.float64)), y)[0]
        blk.W[2, 5] -= delta
        return v
    numeric = (loss(eps) - loss(-eps)) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=0.05, abs=1e-4)
    # sharing schemes and the divisibility rule
    assert len(insert_blocks(net, dataclasses.replace(spec, sharing="per_width")).blocks()) == 3
    after_blocks = insert_blocks(net, dataclasses.replace(spec, insert_after="block", sharing="per_layer"))
    assert [n.name for n in after_blocks.nodes if n.kind == "tsb"] == [
        "stem.relu.tsb", "s1b1.out.tsb", "s2b1.out.tsb", "s3b1.out.tsb"]
    assert len(after_blocks.blocks()) == 4
    np.testing.assert_allclose(after_blocks.forward(x), net.forward(x), rtol=1e-6, atol=1e-6)
    from cimsim.errors import FitError
    with pytest.raises(FitError, match="deploy.tsb.channels"):
        insert_blocks(net, dataclasses.replace(spec, channels=24))


def test_tsb_finetuning_lowers_the_loss_on_a_noisy_chip(trained, root):
    from cimsim.pretrain import noise_arch, programmed_weights

    net, data = trained
    spec = TsbSpec(epochs=3, images=256)
    tnet = insert_blocks(net, spec)
    noisy = noise_arch(ArchSpec(), 0.15)
    rng = np.random.default_rng(5)
    for n in tnet.weight_layers():
        n.W[...] = programmed_weights(n.W, build_chip(noisy).tile, rng)
    x, y = data.x_train[:256], data.y_train[:256]
    before = softmax_xent(tnet.forward(x), y)[0]
    st = finetune(tnet, x, y, spec, seed=0)
    after = softmax_xent(tnet.forward(x), y)[0]
    assert after < 0.9 * before
    assert st.images == 3 * 256 and st.steps == 3 * 8 and st.macs > 0


def test_summary_statistics_match_scipy():
    acc = [0.8, 0.9, 0.85, 0.7]
    s = summarise(acc)
    lo, hi = stats.t.interval(0.95, 3, loc=np.mean(acc), scale=stats.sem(acc))
    assert s.ci95 == pytest.approx([lo, hi])
    assert s.std == pytest.approx(np.std(acc, ddof=1))


@pytest.mark.slow
def test_monte_carlo_phase_end_to_end(root, tmp_path, trained):
    args = ["-q", "run", str(root / "arch" / "rram_64x64.yaml"),
            str(root / "workloads" / "resnet_inference.yaml"),
            "--set", "workload.phases.0.kind=monte_carlo", "--set", "workload.phases.0.chips=2",
            "--set", "workload.phases.0.samples=60", "--set", "workload.phases.0.evaluate=weights",
            "--set", "workload.deploy.tsb.images=32", "--set", "workload.deploy.tsb.epochs=1",
            "--set", "workload.deploy.sensitivity_images=8"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert main(args + ["--out", str(tmp_path / "b"), "--workers", "2"]) == 0    # spawned pool
    raw = (tmp_path / "a" / "report.json").read_bytes()
    assert raw == (tmp_path / "b" / "report.json").read_bytes()
    ph = json.loads(raw)["phases"][0]
    assert [r["policy"] for r in ph["results"]] == ["none", "all", "selective", "tsb"]
    for r in ph["results"]:
        assert len(r["accuracy_per_chip"]) == 2
        assert r["gap_to_noise_free"] == pytest.approx(ph["noise_free_accuracy"] - r["accuracy"]["mean"])
    by = {r["policy"]: r for r in ph["results"]}
    assert by["all"]["verify_pulses_mean"] > by["selective"]["verify_pulses_mean"] > 0
    assert by["tsb"]["finetune_images"] == 32 and 0 < by["tsb"]["finetune_over_retrain_macs"] < 1


def test_bad_policy_is_a_clear_error(root, capsys):
    rc = main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"),
               str(root / "workloads" / "resnet_tsb.yaml"), "--set", "workload.phases.1.policies.0=verify"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "phases[1].policies[0]" in err and "none, all, selective, tsb" in err


def test_noise_aware_draw_matches_the_device_model_and_keys_the_cache(root):
    from cimsim.config import load_workload
    from cimsim.device.conductance import quantise_weights
    from cimsim.pretrain import noise_arch, pretrain_key, programmed_weights

    arch = noise_arch(ArchSpec(), 0.1)
    w = np.full((200, 300), 0.5, np.float32)
    w[0, 0] = 1.0                        # max |w| = 1: code 127 for 1.0, 64 for 0.5
    tile = build_chip(arch).tile
    draws = np.stack([programmed_weights(w, tile, np.random.default_rng(s)) for s in range(3)])
    q, scale = quantise_weights(w, 8)
    assert q[1, 1] == 64                 # 64 = level 1 in slice 3 only: one pulsed cell of weight 4^3
    err = (draws[:, 1:, :] - q[1, 1] * scale).ravel() / scale
    sd = 0.1 * 3 * 4 ** 3                # sigma L 4^s of the single pulsed cell, in codes
    assert abs(err.mean()) < 5 * sd / np.sqrt(err.size)
    assert abs(err.std() / sd - 1) < 5 / np.sqrt(2 * err.size)
    base = load_workload(root / "workloads" / "resnet_tsb.yaml").spec
    plain = dataclasses.replace(base, pretrain=dataclasses.replace(base.pretrain, noise_sigma=0.0))
    other = dataclasses.replace(ArchSpec(), device=dataclasses.replace(ArchSpec().device, bits_per_cell=1))
    assert pretrain_key(base, ArchSpec()) != pretrain_key(base, other)        # encoding matters
    assert pretrain_key(plain, ArchSpec()) == pretrain_key(plain, other)      # not without noise
