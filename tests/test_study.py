"""End to end: `cimsim run` on the shipped chip and workload."""
import json

import pytest

from cimsim.cli import main

IDEAL = ["--set", "arch.device.program_sigma=0", "--set", "arch.device.read_sigma=0",
         "--set", "arch.device.stuck_at.low_rate=0", "--set", "arch.device.stuck_at.high_rate=0",
         "--set", "arch.adc.bits=16", "--set", "arch.adc.range=per_layer",
         "--set", "arch.adc.range_fraction=1",
         "--set", "workload.phases.0.ci_chips=1"]


def run_cli(root, out, *extra):
    return main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"),
                 str(root / "workloads" / "resnet_inference.yaml"), "--out", str(out), *extra])


@pytest.mark.slow
def test_report_is_complete_and_byte_identical(root, tmp_path, trained, capsys):
    small = ["--set", "workload.phases.0.samples=40"]
    assert run_cli(root, tmp_path / "a", *small) == 0
    assert run_cli(root, tmp_path / "b", *small) == 0
    a = (tmp_path / "a" / "report.json").read_bytes()
    assert a == (tmp_path / "b" / "report.json").read_bytes()
    rep = json.loads(a)
    assert rep["inputs"]["arch"]["sha256"] and rep["cimsim_version"]
    ph = rep["phases"][0]
    assert ph["images"] == 40 and ph["accuracy"] * 40 == pytest.approx(round(ph["accuracy"] * 40))  # k/40
    e = ph["energy"]
    assert e["total_pj"] > 0
    assert sum(e["per_component_pj"].values()) == pytest.approx(e["dynamic_pj"], rel=1e-9)
    idle = sum(e["idle_per_component_pj"].values())
    assert e["dynamic_pj"] + idle == pytest.approx(e["total_pj"], rel=1e-9)
    lat = ph["latency"]
    assert lat["makespan_cycles"] >= lat["first_image_latency_cycles"] > 0
    assert rep["mapping"]["tiles_used"] <= rep["mapping"]["tiles_total"]
    assert "accuracy" in capsys.readouterr().out
    # a different seed gives a different chip, hence different bytes
    assert run_cli(root, tmp_path / "c", *small, "--set", "workload.seed=1") == 0
    assert (tmp_path / "c" / "report.json").read_bytes() != a


def test_ideal_chip_is_within_one_point_of_float(root, tmp_path, trained):
    assert run_cli(root, tmp_path, *IDEAL) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    float_acc = rep["model"]["float_test_accuracy"]
    assert rep["phases"][0]["accuracy"] >= float_acc - 0.01
    assert rep["phases"][0]["adc_clip_fraction"] == 0


def test_network_that_does_not_fit_is_a_clear_error(root, tmp_path, trained, capsys):
    (tmp_path / "old").mkdir()
    keep = tmp_path / "old" / "report.json"
    keep.write_text("earlier result")
    assert run_cli(root, tmp_path / "old", "--set", "arch.chip.tiles=3") == 2
    err = capsys.readouterr().err
    assert "rram_64x64.yaml: chip.tiles:" in err and "needs 25 tiles" in err and "Traceback" not in err
    assert keep.read_text() == "earlier result"        # nothing already written is lost
