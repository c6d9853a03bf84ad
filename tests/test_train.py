"""On-chip learning: the write path, wear-out, drift, streams, rules and the online report."""
import dataclasses
import json

import numpy as np
import pytest

from cimsim.cli import main
from cimsim.config import load_arch
from cimsim.config.arch import ArchSpec, StuckAtSpec
from cimsim.config.workload import ScenarioSpec
from cimsim.device.conductance import program
from cimsim.device.write import WORN, analog_drift, digital_drift, write_levels
from cimsim.hw.chip import build_chip
from cimsim.hw.encoding import weight_encoding
from cimsim.learning.scenarios import DistributionShift
from cimsim.mapping import map_layers
from cimsim.nn.stream import SHIFTS, make_stream
from cimsim.timing import simulate_online


def clean_arch():
    a = ArchSpec()
    return dataclasses.replace(a, device=dataclasses.replace(a.device, program_sigma=0.0,
                                                             stuck_at=StuckAtSpec(0.0, 0.0)))


def test_incremental_writes_keep_drift_count_and_wear_out():
    arch = clean_arch()
    w = np.array([[0, 5], [-3, 100]], np.int32)
    enc = weight_encoding(arch).encode
    cells = program(enc(w), arch, np.random.default_rng(0))
    cells.g += 0.25                                   # accumulated drift on every cell
    writes = np.zeros(cells.g.shape, np.int32)
    new = w + np.array([[1, 0], [0, -4]], np.int32)
    res = write_levels(cells, writes, enc(new), endurance=2)
    changed = enc(new) != enc(w)
    assert res.cells_written == changed.sum() and np.array_equal(writes, changed.astype(np.int32))
    # incremental: the drift offset persists on written and unwritten cells alike
    np.testing.assert_allclose(cells.g, enc(new) + 0.25)
    res = write_levels(cells, writes, enc(w), endurance=2)        # second write of the same cells
    assert res.cells_worn == changed.sum() and np.all(cells.stuck[changed] == WORN)
    frozen = cells.g.copy()
    write_levels(cells, writes, enc(new), endurance=2)            # worn cells no longer move
    np.testing.assert_array_equal(cells.g[changed], frozen[changed])
    assert writes.max() == 2


def test_analog_drift_is_a_clipped_random_walk_of_working_cells():
    arch = clean_arch()
    rng = np.random.default_rng(1)
    lv = np.full((2, 4, 200, 200), 1, np.uint8)
    cells = program(lv, arch, rng)
    cells.stuck[0, 0, :10] = 1
    before = cells.g.copy()
    analog_drift(cells, 0.1, 3, rng)
    d = (cells.g - before)[cells.stuck == 0]
    assert abs(d.std() / 0.1 - 1) < 5 / np.sqrt(2 * d.size)
    assert np.all(cells.g[cells.stuck != 0] == before[cells.stuck != 0])
    analog_drift(cells, 10.0, 3, rng)
    assert cells.g.min() >= 0 and cells.g.max() <= 3


def test_digital_drift_flips_one_level_bit():
    arch = clean_arch()
    rng = np.random.default_rng(2)
    cells = program(np.full((1, 1, 300, 300), 2, np.uint8), arch, rng)
    n = digital_drift(cells, 0.05, 2, rng)
    p, total = 0.05, cells.g.size
    assert abs(n - total * p) < 5 * np.sqrt(total * p * (1 - p))
    moved = cells.g != 2
    assert moved.sum() == n and set(np.unique(cells.g[moved])) <= {0.0, 3.0}   # 2 xor 2 = 0, 2 xor 1 = 3


def test_stream_is_deterministic_and_segments_cycle():
    x = np.random.default_rng(0).random((20, 16, 16, 1)).astype(np.float32)
    y = np.arange(20)
    shift = DistributionShift(ScenarioSpec(kind="distribution_shift", params={"segment_samples": 5}))
    sc, seg = shift.params, shift.segment
    a, ya, segs = make_stream(x, y, 40, sc, seg, seed=3)
    b, yb, _ = make_stream(x, y, 40, sc, seg, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert segs[0] == SHIFTS[0] and segs[5] == SHIFTS[1] and segs[35] == SHIFTS[0]
    c, _, _ = make_stream(x, y, 40, sc, seg, seed=4)
    assert np.any(a != c)


def test_online_timing_closed_form(root):
    arch = load_arch(root / "arch" / "rram_64x64.yaml").spec
    cmap = map_layers([("a", 64, 8), ("b", 200, 8)], build_chip(arch))      # b spans 4 crossbars = 1 tile
    chip = build_chip(arch)
    # 3 samples: forward 1000 cycles, learning 50 cycles; sample 1 writes 64 cells of a
    # (one row-parallel pulse of 100 ns = 100 cycles) and 130 of b (3 pulses = 300 cycles)
    res = simulate_online(1000, [50, 50, 50], [{}, {"a": 64, "b": 130}, {}], chip, cmap)
    assert res.image_latency_cycles == [1050, 1350, 1050]
    assert res.makespan_cycles == 3450


WORKLOAD = """
name: tiny
seed: 0
model: {{name: lrt_cnn, width: 6, hidden: 16}}
pretrain: {{epochs: 3, batch: 32, lr: 0.003}}
phases:
  - name: adapt
    kind: train
    split: train
    samples: {samples}
    window_samples: 10
    algorithm: {{name: {rule}, rank: 2, batch_conv: 5, batch_fc: 10}}
    scenario: {{kind: {scenario}, drift_sigma: 0.02}}
"""


def run_tiny(tmp_path, root, rule, scenario="control", samples=30, extra=()):
    tmp_path.mkdir(parents=True, exist_ok=True)
    w = tmp_path / f"{rule}.yaml"
    w.write_text(WORKLOAD.format(samples=samples, rule=rule, scenario=scenario))
    out = tmp_path / f"out-{rule}"
    code = main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(out), *extra])
    return code, out / "report.json"


@pytest.mark.parametrize("rule", ["none", "sgd", "lrt"])
def test_online_rules_report(tmp_path, root, rule):
    code, path = run_tiny(tmp_path, root, rule, "analog_drift")
    assert code == 0
    ph = json.loads(path.read_text())["phases"][0]
    wr, n = ph["writes"], ph["samples"]
    cells = sum(v["cells"] for v in wr["per_layer"].values())
    assert wr["density"] == pytest.approx(wr["total_cell_writes"] / (cells * n))
    assert sum(wr["histogram"]["cells"]) == cells
    assert ph["drift_events"] == (n - 1) // 10
    if rule == "none":
        assert wr["total_cell_writes"] == 0 and ph["aux_memory"]["peak_bytes"] == 0
    if rule == "sgd":
        assert 0 < wr["max_per_cell"] <= n
    if rule == "lrt":
        # conv layers attempt every 5 samples, FC every 10: at most n/5 writes per cell
        assert 0 < wr["max_per_cell"] <= n // 5
        dims = {"b1c1.conv": (9, 6), "b1c2.conv": (54, 6), "b2c1.conv": (54, 6),
                "b2c2.conv": (54, 6), "fc1": (6, 16), "fc2": (16, 10)}
        assert ph["aux_memory"]["peak_bytes"] == sum(2 * (k + m) * 2 for k, m in dims.values())
        assert ph["lrt"]["write_attempts"] == 4 * (n // 5) + 2 * (n // 10)
        # one term per output pixel (16x16 input: 14^2, 12^2, then 4^2, 2^2 after a pool) + 2 FC
        assert ph["lrt"]["terms_total"] == n * (196 + 144 + 16 + 4 + 1 + 1)
        assert 0 <= ph["lrt"]["terms_skipped_by_kappa"] <= ph["lrt"]["terms_total"]
        end = ph["endurance"]
        assert end["samples_to_first_wear_out"] == pytest.approx(1e6 * n / wr["max_per_cell"])
    assert len(ph["accuracy"]["windows"]) == n // 10


def test_online_run_is_deterministic(tmp_path, root):
    a = run_tiny(tmp_path / "a", root, "lrt")[1].read_text()
    b = run_tiny(tmp_path / "b", root, "lrt")[1].read_text()
    assert a == b.replace(str(tmp_path / "b"), str(tmp_path / "a"))   # only the input path differs


def test_rank_that_does_not_fit_sram_names_the_rank_that_fits(tmp_path, root, capsys):
    # each layer's factors live in its own tile's buffer: rank r of layer b1c2.conv
    # (K = 54, N = 6) needs r x 60 x 2 = 120 r bytes; 0.2 KiB per tile (204 bytes) holds rank 1
    sets = ["--set", "arch.sram_buffer.tiles_per_buffer=1", "--set", "workload.phases.0.algorithm.rank=2"]
    def cap(kib):
        return [*sets, "--set", f"arch.sram_buffer.capacity_kib={kib}"]
    code, _ = run_tiny(tmp_path / "a", root, "lrt", extra=cap(0.2))
    assert code == 2
    err = capsys.readouterr().err
    assert "sram_buffer.capacity_kib: rank 2 needs 240 bytes of L/R factors for layer 'b1c2.conv'" in err
    assert "holds 204; rank 1 would fit" in err
    code, _ = run_tiny(tmp_path / "b", root, "lrt", extra=cap(0.1))
    assert code == 2 and "not even rank 1 fits" in capsys.readouterr().err
    assert run_tiny(tmp_path / "c", root, "lrt", extra=cap(0.25))[0] == 0


def per_term_sgd_fc(k: int, n: int, seed: int) -> tuple:
    """A k x n FC layer on the clean chip with a per-term SGD rule (lr 0.5, biases frozen)."""
    from cimsim.config.workload import AlgorithmSpec
    from cimsim.functional import AnalogLayer
    from cimsim.learning.rules import make_rule
    from cimsim.nn.layers import Linear, Net

    arch = clean_arch()
    rng = np.random.default_rng(seed)
    net = Net([Linear("fc", "input", k, n, rng)])
    chip = build_chip(arch)
    lm = map_layers([("fc", k, n)], chip).layer("fc")
    e = AnalogLayer("fc", net.nodes[0].W, chip.tile, lm, 1.0, rng, 0)
    spec = AlgorithmSpec(name="sgd", params={"sgd_step": "term", "lr": 0.5, "bias_lr": 0.0})
    return arch, rng, net, e, spec, make_rule(spec, net, {"fc": e}, arch, 0, "arch")


def test_sgd_per_term_rounds_and_writes_every_term_in_order():
    """sgd_step: term — each rank-1 term is rounded to the weight codes on its own (sub-LSB
    terms are lost) and written in order; each write counts the cells whose level changes."""
    arch, rng, net, e, spec, rule = per_term_sgd_fc(6, 4, seed=3)
    us, vs = rng.normal(0, 1, (5, 6)), rng.normal(0, 0.3, (5, 4))
    us[2] *= 1e-4                                  # a sub-LSB term: rounds to nothing
    us[4, 0] = 0.0                                 # no request for row 0 from term 4
    net.nodes[0].terms = (us, vs)
    net.nodes[0].db[...] = 0
    qmax = 127
    scale = -rule.params.lr * e.w_scale * qmax * qmax
    w, expect_writes, nonzero = e.w_int.copy(), np.zeros(e.writes.shape, np.int64), 0
    for u, v in zip(us, vs):
        step = np.rint(scale * np.outer(u, v)).astype(np.int32)
        if step.any():
            nonzero += 1
            new = np.clip(w + step, -qmax, qmax)
            expect_writes += weight_encoding(arch).encode(new) != weight_encoding(arch).encode(w)
            w = new
    assert nonzero == 4
    before = e.writes.copy()
    log = rule.step(0)
    np.testing.assert_array_equal(e.w_int, w)
    np.testing.assert_array_equal(e.writes - before, expect_writes)
    assert log.writes["fc"] == expect_writes.sum()
    np.testing.assert_array_equal(e.w_eff, (e.w_int * e.w_scale).astype(np.float32))   # re-read once
    # write requests: every term with a non-zero product, rounded away or not
    expect_req = np.full((6, 4), 5)
    expect_req[0] = 4
    np.testing.assert_array_equal(rule.requests["fc"], expect_req)


def test_sgd_per_term_skips_only_terms_that_round_to_zero():
    """The per-term path never forms a term whose bound max|s u| max|v| is under half an LSB;
    terms just over the bound must still be written, terms just under must not."""
    _, _, net, e, spec, rule = per_term_sgd_fc(3, 2, seed=5)
    s = -rule.params.lr * e.w_scale * 127 * 127
    # |s u v| for the largest entry: just over 0.5, just under, 0.5 itself, well over
    us = np.array([[0.5 + 1e-9, 0.1, 0.0], [0.5 - 1e-9, -0.2, 0.1], [0.5, 0.0, 0.0],
                   [-3.0, 1.0, 0.2]]) / abs(s)
    vs = np.array([[1.0, -0.3], [-1.0, 0.5], [1.0, 1.0], [0.4, 1.0]])
    net.nodes[0].terms = (us, vs)
    net.nodes[0].db[...] = 0
    w = e.w_int.copy()
    steps = 0
    for u, v in zip(us, vs):
        step = np.rint((s * u)[:, None] * v[None, :]).astype(np.int32)   # the code's order
        if step.any():
            steps += 1
            w = np.clip(w + step, -127, 127)
    assert steps == 2                              # the just-over term and the large one
    rule.step(0)
    np.testing.assert_array_equal(e.w_int, w)


def test_phases_do_not_leak_network_state(tmp_path, root):
    """A monte_carlo phase after an online phase deploys the pretrained network, not the
    adapted one: its results equal those of the same phase run alone. The online phase's
    chip keeps what it learned (the inference phase after it sees it)."""
    mc = ("  - {name: mc, kind: monte_carlo, split: test, samples: 40, chips: 2, policies: [none],"
          " evaluate: weights}\n")
    after = "  - {name: after, kind: inference, split: test, samples: 40}\n"
    base = WORKLOAD.format(samples=30, rule="sgd", scenario="control")
    head = base[:base.index("phases:\n") + len("phases:\n")]
    train = base[base.index("phases:\n") + len("phases:\n"):]
    runs = {}
    for name, phases in (("alone", mc), ("after_train", train + after + mc)):
        w = tmp_path / f"{name}.yaml"
        w.write_text(head + phases)
        out = tmp_path / name
        assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(out)]) == 0
        runs[name] = {p["name"]: p for p in json.loads((out / "report.json").read_text())["phases"]}
    assert runs["after_train"]["mc"]["results"] == runs["alone"]["mc"]["results"]
    adapt = runs["after_train"]["adapt"]
    assert adapt["writes"]["total_cell_writes"] > 0            # the chip did change


def test_test_accuracy_after_the_stream_with_and_without_learning(tmp_path, root):
    """A train phase tests its chip, and its no-learning baseline's chip, on the test split after
    the stream. Without read noise these equal what an inference phase after it reads: the
    learned chip's in the same run, the unlearned chip's in a run of the `none` rule."""
    after = "  - {name: after, kind: inference, split: test, ci_chips: 1}\n"
    quiet = ["--set", "arch.device.read_sigma=0"]
    reps = {}
    for rule in ("lrt", "none"):
        w = tmp_path / f"{rule}.yaml"
        w.write_text(WORKLOAD.format(samples=20, rule=rule, scenario="analog_drift") + after)
        out = tmp_path / rule
        args = ["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(out), *quiet]
        assert main(args) == 0
        reps[rule] = json.loads((out / "report.json").read_text())["phases"]
    learned = reps["lrt"][0]["accuracy"]
    assert learned["test_after_stream"] == reps["lrt"][1]["accuracy"]
    assert learned["baseline"]["test_after_stream"] == reps["none"][1]["accuracy"]
    assert reps["none"][0]["accuracy"]["test_after_stream"] == reps["none"][1]["accuracy"]
    assert "baseline" not in reps["none"][0]["accuracy"]


def test_several_streams_give_a_mean_and_interval(tmp_path, root):
    """seeds: 3 runs the rule on two more streams from copies of the chip: the phase's own
    stream (and everything else in the report) is the one seeds: 1 gives, the spread is over
    the three, and two worker processes give the same bytes."""
    def run(name, *extra):
        code, path = run_tiny(tmp_path / name, root, "lrt", "analog_drift", samples=20, extra=extra)
        assert code == 0
        return json.loads(path.read_text())
    one = run("one")
    three = run("three", "--set", "workload.phases.0.seeds=3")
    three_phases = json.dumps(three["phases"])
    acc = three["phases"][0]["accuracy"]
    seeds = acc.pop("over_seeds")
    assert acc == one["phases"][0]["accuracy"]
    assert three["phases"][0]["writes"] == one["phases"][0]["writes"]
    assert seeds["streams"] == 3 and seeds["per_stream_ema_final"][0] == acc["online_ema_final"]
    emas = np.array(seeds["per_stream_ema_final"])
    assert len(set(emas.tolist())) > 1                           # the streams differ
    s = seeds["online_ema_final"]
    assert s["mean"] == pytest.approx(emas.mean()) and s["std"] == pytest.approx(emas.std(ddof=1))
    assert s["ci95"][0] <= s["mean"] <= s["ci95"][1]
    two = run("two", "--set", "workload.phases.0.seeds=3", "--workers", "2")
    assert json.dumps(two["phases"]) == three_phases
