"""The Python API mirrors `cimsim run` byte for byte."""
import json
import textwrap
from pathlib import Path

import pytest

import cimsim
from cimsim.cli import main
from cimsim.errors import ConfigError

MLP = textwrap.dedent("""\
    name: mlp
    dataset: {name: synthetic, shape: [64], classes: 10, test_samples: 6}
    model: {layers: [{type: linear, out_features: 32}, {type: relu}, {type: linear}]}
    deploy: {functional: false}
    phases: [{name: infer, kind: inference}]
    """)


def test_run_equals_the_cli_byte_for_byte(tmp_path, root):
    w = tmp_path / "mlp.yaml"
    w.write_text(MLP)
    arch = root / "arch" / "rram_64x64.yaml"
    out = tmp_path / "cli"
    assert main(["-q", "run", str(arch), str(w), "--out", str(out), "--set", "arch.adc.bits=6",
                 "--set", "workload.phases.0.samples=4"]) == 0
    rep = cimsim.run(arch, w, overrides={"arch.adc.bits": "6", "workload.phases.0.samples": 4})
    assert rep.to_json() == (out / "report.json").read_text()
    assert rep["inputs"]["overrides"] == {"arch.adc.bits": 6, "workload.phases.0.samples": 4}
    # loaded files with their own overrides give the same report
    same = cimsim.run(cimsim.load_arch(arch, {"adc.bits": 6}),
                      cimsim.load_workload(w, {"phases.0.samples": 4}))
    assert same.data["phases"] == rep.data["phases"]
    assert rep.phase("infer").images == 4 and rep.phase("infer").accuracy is None
    assert rep.data["phases"][0]["images"] == 4                  # the JSON form, as report.json holds it
    assert rep.summary().splitlines()[0].startswith("model layers")
    written = rep.write(tmp_path / "api")
    assert (tmp_path / "api" / "report.json").read_text() == rep.to_json()
    assert {p.name for p in written} == {p.name for p in out.iterdir() if p.name != "cimsim-manifest.json"}
    energy = rep.tables()["energy"]
    assert sum(r["energy_pj"] for r in energy) == pytest.approx(rep.phase("infer").energy.total_pj)


def test_bad_input_raises_the_cli_message(tmp_path, root):
    with pytest.raises(ConfigError, match=r"adc\.bits: expected integer in \[1, 24\], got 99"):
        cimsim.load_arch(root / "arch" / "rram_64x64.yaml", {"adc.bits": 99})
    with pytest.raises(ConfigError, match="starting with 'arch.' or 'workload.'"):
        cimsim.run(root / "arch" / "rram_64x64.yaml", root / "workloads" / "resnet_inference.yaml",
                   overrides={"adc.bits": 6})
    from cimsim.results import ModelInfo, RunReport

    empty = RunReport(cimsim_version="0", inputs={}, model=ModelInfo("m", 0, None, None), mapping={}, area={},
                      cost_table=[], deploy={}, phases=[])
    with pytest.raises(KeyError, match="no phase 'nope'"):
        cimsim.Report(empty).phase("nope")
    assert json.loads(cimsim.Report(empty).to_json())["phases"] == []


def test_init_copies_the_shipped_files_and_never_overwrites(tmp_path, root, capsys):
    shipped = sorted([p.relative_to(root) for d in ("arch", "workloads", "workloads/sweeps")
                      for p in (root / d).glob("*.yaml")]
                     + [p.relative_to(root) for p in (root / "examples").rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts])
    assert Path("examples/onnx_model/digits_cnn.onnx") in shipped
    assert Path("examples/custom_tile/cimsim_sramcim/__init__.py") in shipped
    dest = tmp_path / "mine"
    assert main(["init", str(dest)]) == 0
    got = sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file())
    assert got == shipped and all((dest / p).read_bytes() == (root / p).read_bytes() for p in got)
    assert main(["init", str(dest)]) == 0                    # again: everything already there
    assert f"0 file(s) copied into {dest}, {len(shipped)} already there" in capsys.readouterr().out
    other = tmp_path / "other"
    (other / "arch").mkdir(parents=True)
    (other / "arch" / "rram_64x64.yaml").write_text("name: mine\n")
    assert main(["init", str(other)]) == 2
    err = capsys.readouterr().err
    assert "rram_64x64.yaml: expected no file there" in err and "Traceback" not in err
    assert (other / "arch" / "rram_64x64.yaml").read_text() == "name: mine\n"
    assert not (other / "workloads").exists()                # nothing copied
    (tmp_path / "afile").write_text("x")
    assert main(["init", str(tmp_path / "afile")]) == 2


def test_the_api_checks_its_arguments(root):
    """Issue 25, item 7: wrong argument types are CimsimErrors with a clear message, not
    TypeErrors from deep inside; numpy integers are integers."""
    import numpy as np

    from cimsim.errors import CimsimError

    arch, w = root / "arch" / "rram_64x64.yaml", root / "workloads" / "resnet_inference.yaml"
    for call, expect in (
            (lambda: cimsim.load_arch(None), "the path of a YAML file"),
            (lambda: cimsim.load_arch(123), "the path of a YAML file"),
            (lambda: cimsim.load_arch(arch, ["adc.bits=6"]), "a mapping of key paths"),
            (lambda: cimsim.run(arch, w, overrides="arch.adc.bits=6"), "a mapping of key paths"),
            (lambda: cimsim.run(arch, w, wall=5), "WallClock"),
            (lambda: cimsim.run(arch, w, workers="2"), "an integer >= 1"),
            (lambda: cimsim.run(arch, w, workers=-3), "an integer >= 1"),
            (lambda: cimsim.run(arch, cimsim.load_arch(arch)), "a loaded workload file")):
        with pytest.raises(CimsimError, match=expect):
            call()
    assert cimsim.load_arch(arch, {"adc.bits": np.int64(6)}).spec.adc.bits == 6
    assert cimsim.load_arch(arch, {"adc.bits": np.int64(6)}).overrides == {"adc.bits": 6}
    assert cimsim.load_arch(arch, {"adc.bits": "6"}).overrides == {"adc.bits": 6}


def test_discoverable_api(tmp_path, root, capsys):
    """dir(cimsim) shows the API (loaded lazily); a saved report loads back as the Report
    that run returns; `cimsim list` has rules and policies apart; --help names every command."""
    assert {"Report", "load_arch", "load_report", "load_workload", "run"} <= set(dir(cimsim))
    assert "workers" not in dir(cimsim)
    from test_train import run_tiny

    assert run_tiny(tmp_path, root, "none", samples=10)[0] == 0
    rep = cimsim.load_report(tmp_path / "out-none")
    rep.write(tmp_path / "o")
    assert rep.to_json() == (tmp_path / "out-none" / "report.json").read_text()
    assert cimsim.load_report(tmp_path / "o" / "report.json").to_json() == rep.to_json()
    assert rep.phase("adapt").samples == 10
    with pytest.raises(ConfigError, match="an existing report.json"):
        cimsim.load_report(tmp_path / "none")
    capsys.readouterr()
    assert main(["list", "policies"]) == 0
    out = capsys.readouterr().out
    assert "tsb" in out and "lrt" not in out
    assert main(["list", "rules"]) == 0
    out = capsys.readouterr().out
    assert "tiki_taka" in out and "tsb" not in out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("run", "sweep", "plot", "compare", "validate", "list", "init"):
        assert f"    {cmd} " in out


def test_every_source_folder_is_a_package_the_wheel_ships(root):
    """A folder of modules without __init__.py is left out of a wheel by setup.cfg's
    find_packages (cimsim.device, .nn and .kernels were, before 2026-12-07): a non-editable
    install would not import."""
    from setuptools import find_packages

    folders = {p.parent.relative_to(root).as_posix().replace("/", ".")
               for p in (root / "cimsim").rglob("*.py") if "__pycache__" not in p.parts}
    assert folders == set(find_packages(str(root), include=["cimsim*"]))


def test_every_shipped_example_file_is_in_the_wheel(root):
    """`cimsim init` copies from the wheel's share/cimsim: every file under arch/, workloads/ and
    examples/ must match one of setup.cfg's data_files globs (a new example folder was once
    left out)."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(root / "setup.cfg")
    globs = [g.strip() for v in cfg["options.data_files"].values() for g in v.split(",") if g.strip()]
    listed = {p.relative_to(root) for g in globs for p in root.glob(g)}
    shipped = {p.relative_to(root) for d in ("arch", "workloads", "examples") for p in (root / d).rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped - listed == set()
