"""Technology scaling (hw/technology.py) against hand calculations from Stillmaker and Baas's
tables, and its bad input."""
import dataclasses

import pytest

from cimsim.config import load_arch
from cimsim.hw import technology
from cimsim.hw.chip import build_chip

# energy polynomials at 0.8 V: 32 nm 0.9559 x 0.64 - 0.7823 x 0.8 + 0.471; 20 nm 0.373 x 0.64 -
# 0.1582 x 0.8 + 0.04104; 14 nm 0.2363 x 0.64 - 0.09675 x 0.8 + 0.02239
E32, E20, E14 = 0.456936, 0.1532, 0.2363 * 0.64 - 0.09675 * 0.8 + 0.02239
E22 = E20 + (E32 - E20) * 2 / 12                 # linear in nm between 20 and 32 nm
A32, A22 = 0.46, 0.21 + (0.46 - 0.21) * 2 / 12   # relative to 45 nm


def test_factors_by_hand():
    assert technology.energy_factor(22, 32, 0.8) == pytest.approx(E22 / E32, rel=1e-12)
    assert technology.energy_factor(14, 32, 0.8) == pytest.approx(E14 / E32, rel=1e-12)
    assert technology.area_factor(22, 32) == pytest.approx(A22 / A32, rel=1e-12)
    assert technology.delay_factor(22, 32) == pytest.approx(22 / 32)
    assert technology.energy_factor(32, 32, 0.8) == 1.0


def test_a_chip_at_22_nm_scales_its_cmos_constants_once(root):
    a32 = load_arch(root / "arch" / "rram_64x64.yaml").spec
    a22 = dataclasses.replace(a32, technology_nm=22.0)
    c32, c22 = build_chip(a32), build_chip(a22)
    e = E22 / E32
    assert c22.arch.dac.energy_pj == pytest.approx(0.39 * e, rel=1e-12)
    assert c22.arch.adc.energy_pj == pytest.approx(1.5625 * e, rel=1e-12)
    assert c22.arch.adc.latency_ns == pytest.approx(0.78125 * 22 / 32, rel=1e-12)
    assert c22.arch.adc.area_um2 == pytest.approx(1200.0 * A22 / A32, rel=1e-12)
    assert c22.arch.chip.noc.energy_pj_per_bit == pytest.approx(0.137 * e, rel=1e-12)
    # the NVM array and the off-chip interface do not scale
    assert c22.arch.crossbar.area_um2 == c32.arch.crossbar.area_um2
    assert c22.arch.offchip.link_pj_per_bit == c32.arch.offchip.link_pj_per_bit
    # building from a built spec does not scale again
    assert build_chip(c22.arch).arch == c22.arch
    rows = {r["section"]: r for r in c22.area()["node_scaling"]}
    assert rows["adc"]["node_nm"] == 32 and rows["adc"]["energy_factor"] == pytest.approx(e)


@pytest.mark.parametrize("key, value", [("arch.technology_nm", "5"), ("arch.adc.node_nm", "300"),
                                        ("arch.adc.type", "pipelined"), ("arch.supply_v", "3")])
def test_bad_nodes_and_converters_are_located(root, tmp_path, capsys, key, value):
    from cimsim.cli import main

    out = tmp_path / "out"
    arch, w = root / "arch" / "rram_64x64.yaml", root / "workloads" / "resnet_inference.yaml"
    code = main(["run", str(arch), str(w), "--out", str(out), "--set", "workload.deploy.functional=false",
                 "--set", f"{key}={value}"])
    err = capsys.readouterr().err
    assert code == 2 and key.split(".", 1)[1] in err and "Traceback" not in err
    assert not out.exists()
