"""Weight replication (deploy.copies / deploy.replicate): closed-form cycles, unchanged energy,
located errors."""
import dataclasses
import json
import textwrap

import pytest

from cimsim.config import load_arch
from cimsim.errors import FitError
from cimsim.hw.chip import build_chip
from cimsim.mapping import map_layers
from cimsim.timing import simulate
from cimsim.trace import NodeTrace, Trace


@pytest.fixture
def arch(root):
    a = load_arch(root / "arch" / "rram_64x64.yaml").spec
    return dataclasses.replace(a, adc=dataclasses.replace(a.adc, latency_ns=1.0))


def test_copies_deal_the_vectors_and_take_tiles(arch):
    # fc 64x8: one crossbar of 64 columns, 32 pairs on one 1 ns ADC = 32 cycles per plane (array
    # 10 cycles): 100 vectors x 8 planes = 10 + 32 x 800; four copies take 25 vectors each
    chip = build_chip(arch)
    n = NodeTrace("fc", "linear", ("input",), images=1, layer="fc", vectors=100, planes=8)
    one = map_layers([("fc", 64, 8)], chip)
    four = map_layers([("fc", 64, 8)], chip, copies={"fc": 4})
    assert one.layer("fc").tiles == 1 and four.layer("fc").tiles == 1       # 4 crossbars of a tile's 8
    assert four.crossbars_used == 4 * one.crossbars_used
    assert simulate(Trace([n]), chip, one).makespan_cycles == 10 + 32 + 799 * 32
    assert simulate(Trace([n]), chip, four).makespan_cycles == 10 + 32 + 199 * 32
    assert map_layers([("fc", 64, 8)], chip, copies={"fc": 9}).layer("fc").tiles == 2
    with pytest.raises(FitError, match="copies"):
        map_layers([("fc", 64, 8)], chip, copies={"fc": 64 * 8 + 1})


WL = """\
    name: mlp
    dataset: {name: synthetic, shape: [3, 16, 16], test_samples: 4}
    model: {layers: [{type: conv, name: c1, out_channels: 8, kernel: 3}, {type: relu},
                     {type: flatten}, {type: linear, name: fc}]}
    deploy: {functional: false}
    phases: [{name: t, kind: inference}]
    """


def _run(tmp_path, root, name, *sets):
    from cimsim.cli import main

    wl = tmp_path / "w.yaml"
    wl.write_text(textwrap.dedent(WL))
    out = tmp_path / name
    args = ["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(wl), "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    return main(args), out


def test_replication_keeps_the_work_and_raises_throughput(tmp_path, root, monkeypatch):
    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    code1, out1 = _run(tmp_path, root, "one")
    code4, out4 = _run(tmp_path, root, "four", "workload.deploy.copies=4")
    assert code1 == code4 == 0
    r1, r4 = (json.loads((o / "report.json").read_text()) for o in (out1, out4))
    p1, p4 = r1["phases"][0], r4["phases"][0]
    # the same work (only the NoC's routes change: the layers' homes moved)
    e1, e4 = p1["energy"], p4["energy"]
    assert {k: v for k, v in e4["action_counts"].items() if k != "noc.router_bit"} == \
        {k: v for k, v in e1["action_counts"].items() if k != "noc.router_bit"}
    for k, v in e1["per_component_pj"].items():
        if k != "noc":
            assert e4["per_component_pj"][k] == pytest.approx(v, rel=1e-12), k
    assert p4["latency"]["throughput_images_per_s"] > 1.5 * p1["latency"]["throughput_images_per_s"]
    assert [m.get("copies") for m in r4["mapping"]["layers"]] == [4, 4]
    assert r4["mapping"]["crossbars_used"] == 4 * r1["mapping"]["crossbars_used"]


@pytest.mark.parametrize("sets, key", [
    (("workload.deploy.replicate=[{layer: c9, copies: 2}]",), "deploy.replicate.0.layer"),
    (("workload.deploy.copies=2000",), "deploy.copies"),
    (("workload.deploy.copies=1024", "arch.chip.tiles=8"), "chip.tiles")])
def test_bad_replication_is_located_and_writes_nothing(tmp_path, root, capsys, monkeypatch, sets, key):
    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    code, out = _run(tmp_path, root, "bad", *sets)
    err = capsys.readouterr().err
    assert code == 2 and key in err and "Traceback" not in err
    assert not out.exists()




def test_row_pipelining_shortens_the_first_image_and_checks_line_buffers(tmp_path, root, monkeypatch):
    """c1 (3x3 conv, stride 1, on 16 x 16 x 3 inputs, one tile) keeps k + stride - 1 = 3 input
    rows: 3 x 16 x 3 channels x 1 byte = 144 B, against its tile's share of a 64 KiB buffer
    shared by 12 tiles (5461 B)."""
    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    code1, out1 = _run(tmp_path, root, "image")
    code2, out2 = _run(tmp_path, root, "row", "workload.deploy.pipeline=row")
    assert code1 == code2 == 0
    l1, l2 = (json.loads((o / "report.json").read_text())["phases"][0]["latency"] for o in (out1, out2))
    assert l2["first_image_latency_cycles"] < l1["first_image_latency_cycles"]
    assert "line_buffers" not in l1
    assert l2["line_buffers"] == [{"node": "c1", "bytes": 144, "capacity_bytes": 5461, "fits": True}]
