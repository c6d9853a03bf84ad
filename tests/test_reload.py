"""Weight reload (reload.py): rounds of whole layers, off-chip traffic and programming, by hand."""
import json
import math

import numpy as np
import pytest

from cimsim.cli import main
from cimsim.config import load_arch
from cimsim.errors import FitError
from cimsim.hw.chip import build_chip
from cimsim.mapping import map_layers
from cimsim.reload import Round, plan_rounds, programming_per_cell, split_trace
from cimsim.trace import NodeTrace, Trace

# On the default chip a weight takes 8 columns (4 two-bit slices x a differential pair), so a
# 64x64 crossbar holds 8 weights per row: fc1 256x64 = 4 x 8 crossbars = 4 tiles; fc2 64x64 =
# 8 crossbars = 1 tile; fc3 64x10 = 2 crossbars = 1 tile.
MLP = """\
name: mlp
dataset: {{name: synthetic, shape: [256], classes: 10, test_samples: 4}}
model:
  layers:
    - {{type: linear, name: fc1, out_features: 64}}
    - {{type: relu, name: r1}}
    - {{type: linear, name: fc2, out_features: 64}}
    - {{type: relu, name: r2}}
    - {{type: linear, name: fc3, out_features: 10}}
deploy: {{functional: {functional}, weight_reload: true}}
phases: [{{name: infer, kind: inference}}]
"""
SHAPES = [("fc1", 256, 64), ("fc2", 64, 64), ("fc3", 64, 10)]


@pytest.fixture
def arch4(root):
    return load_arch(root / "arch" / "rram_64x64.yaml", {"chip.tiles": "4"}).spec


def test_rounds_are_greedy_runs_of_whole_layers(arch4):
    rounds = plan_rounds(SHAPES, build_chip(arch4), "a.yaml")
    assert [r.layers for r in rounds] == [("fc1",), ("fc2", "fc3")]
    assert [r.cmap.tiles_used for r in rounds] == [4, 2]
    assert rounds[1].cmap.layer("fc3").first_tile == 1          # each round placed from tile 0


def test_a_layer_larger_than_the_chip_is_refused(root):
    a = load_arch(root / "arch" / "rram_64x64.yaml", {"chip.tiles": "3"}).spec
    with pytest.raises(FitError, match=r"a.yaml: chip.tiles: layer 'fc1' alone needs 4 tiles"):
        plan_rounds(SHAPES, build_chip(a), "a.yaml")


def test_split_trace_reads_earlier_rounds_from_off_chip(arch4):
    def node(name, inputs, layer=""):
        return NodeTrace(name, "x", inputs, images=1, layer=layer, in_bytes=[1] * len(inputs))
    tr = Trace([node("fc1", ("input",), "fc1"), node("r1", ("fc1",)), node("fc2", ("r1",), "fc2"),
                node("add", ("fc2", "r1")), node("fc3", ("add",), "fc3")])
    rounds = [Round(("fc1",), map_layers(SHAPES[:1], build_chip(arch4))),
              Round(("fc2", "fc3"), map_layers(SHAPES[1:], build_chip(arch4)))]
    a, b = split_trace(tr, rounds)
    assert [n.name for n in a.nodes] == ["fc1", "r1"] and a.leaving == ("r1",)
    assert [(n.name, n.inputs) for n in b.nodes] == [("fc2", ("input",)), ("add", ("fc2", "input")),
                                                    ("fc3", ("add",))]
    assert b.leaving == ("fc3",)


def _pulsed_fraction(chip) -> float:
    """Exact share of a mapped weight's cells above level 0 under the stated weights: normal,
    full scale at 4 sigma, 8-bit codes (hw/activity.py), through the chip's encoding."""
    from math import erf, sqrt

    qmax = 127
    q = np.arange(-qmax, qmax + 1)
    cdf = [0.5 * (1 + erf(x / sqrt(2))) for x in (q[:-1] + 0.5) * 4.0 / qmax] + [1.0]
    p = np.diff(np.concatenate([[0.0], cdf]))
    lv = chip.tile.encode(q[None, :].astype(np.int32))                      # (P, S, 1, M)
    return float(((lv > 0).mean(axis=(0, 1, 2)) * p).sum())


def test_reload_costs_by_hand(tmp_path, root, arch4):
    w = tmp_path / "mlp.yaml"
    w.write_text(MLP.format(functional="false"))
    out = tmp_path / "out"
    assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(out),
                 "--set", "arch.chip.tiles=4"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["mapping"]["reload_rounds"] == 2 and rep["mapping"]["tiles_used"] == 6
    ph = rep["phases"][0]
    rl, n = ph["reload"], 4
    r0, r1 = rl["rounds"]
    assert (r0["weight_bytes"], r1["weight_bytes"]) == (256 * 64, 64 * 64 + 64 * 10)      # 8-bit weights
    assert (r0["cells_programmed"], r1["cells_programmed"]) == (256 * 512, 64 * 512 + 64 * 80)
    assert r0["load_cycles"] == math.ceil(256 * 64 / 6.4)                                 # 6.4 B/ns at 1 GHz
    # activations: round 0 reads the images and writes r1; round 1 reads r1 and writes the logits
    assert (r0["offchip_activation_bytes"], r1["offchip_activation_bytes"]) == (n * (256 + 64), n * (64 + 10))
    chip = build_chip(arch4)
    comp = ph["energy"]["per_component_pj"]
    offchip_bits = 8 * (256 * 64 + 64 * 64 + 64 * 10 + n * (256 + 64 + 64 + 10))
    assert comp["offchip"] == pytest.approx(offchip_bits * (50.8 + 20.0), rel=1e-12)
    cells = 256 * 512 + 64 * 512 + 64 * 80
    # one-shot: a pulse for each cell whose level is above g_min, at the rate the stated weights
    # give (sampled on one crossbar; exact value below, 4-sigma tolerance of a mean over 512
    # weights: 4 x sqrt(0.25 / 512) = 0.09)
    prog = programming_per_cell(chip, verify=False)
    assert abs(prog.pulses - _pulsed_fraction(chip)) < 0.09 and prog.max_pulses == 1 and prog.reads == 0
    assert comp["write_pulses"] == pytest.approx(cells * prog.pulses * chip.tile.costs.write_pulse_pj(),
                                                 rel=1e-12)
    e = ph["energy"]
    assert e["dynamic_pj"] == pytest.approx(sum(comp.values()), rel=1e-12)
    assert e["total_pj"] == pytest.approx(e["dynamic_pj"] + e["idle_pj"], rel=1e-12)
    lat = ph["latency"]
    assert lat["makespan_cycles"] == sum(r["load_cycles"] + r["program_cycles"] + r["run_cycles"]
                                         for r in rl["rounds"])
    assert rl["images_to_first_wear_out"] == chip.tile.endurance_cycles() * n


def test_reload_is_refused_in_functional_runs_and_oversized_layers(tmp_path, root, capsys):
    w = tmp_path / "mlp.yaml"
    w.write_text(MLP.format(functional="true"))
    arch = str(root / "arch" / "rram_64x64.yaml")
    assert main(["-q", "run", arch, str(w), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "deploy.weight_reload: expected false in a functional run" in err and "Traceback" not in err
    w.write_text(MLP.format(functional="false"))
    assert main(["-q", "run", arch, str(w), "--out", str(tmp_path / "p"), "--set", "arch.chip.tiles=3"]) == 2
    assert "layer 'fc1' alone needs 4 tiles but chip.tiles is 3" in capsys.readouterr().err


def test_reload_with_verify_counts_its_pulses_and_wear(tmp_path, root):
    """deploy.write_verify: all in a reload run: the verify loop's pulses and reads per cell
    (the device's own loop on the stated weights) enter energy, time and wear."""
    w = tmp_path / "mlp.yaml"
    w.write_text(MLP.format(functional="false"))
    reps = {}
    for policy in ("none", "all"):
        out = tmp_path / policy
        assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(out),
                     "--set", "arch.chip.tiles=4", "--set", f"workload.deploy.write_verify={policy}"]) == 0
        reps[policy] = json.loads((out / "report.json").read_text())["phases"][0]
    one, ver = reps["none"], reps["all"]
    r1, rv = one["reload"]["rounds"][0], ver["reload"]["rounds"][0]
    assert rv["pulses"] > r1["pulses"] and rv["verify_reads"] > 0 == r1["verify_reads"]
    assert rv["program_cycles"] > r1["program_cycles"]
    assert ver["energy"]["per_component_pj"]["verify_reads"] > 0
    assert ver["reload"]["images_to_first_wear_out"] < one["reload"]["images_to_first_wear_out"]
