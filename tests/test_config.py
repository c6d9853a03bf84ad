"""Config loading: shipped files validate; every kind of bad input is one located message."""
import dataclasses

import pytest

from cimsim.cli import main
from cimsim.config import load_arch, load_workload
from cimsim.config.arch import ArchSpec
from cimsim.errors import ConfigError
from cimsim.hw.chip import build_chip


def write(tmp_path, text, name="x.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_files_validate(root):
    for f in sorted((root / "arch").glob("*.yaml")):
        spec = load_arch(f).spec
        assert spec.name == f.stem
    for f in sorted((root / "workloads").glob("*.yaml")):
        assert load_workload(f).spec.phases


def test_default_arch_yaml_equals_dataclass_defaults(root):
    """The default chip's YAML and the code defaults must not drift apart."""
    loaded = load_arch(root / "arch" / "rram_64x64.yaml").spec
    assert loaded == dataclasses.replace(ArchSpec(), name="rram_64x64")


@pytest.mark.parametrize("text, key, expect", [
    ("adc: {bitz: 4}\n", "adc.bitz", "did you mean 'bits'"),
    ("adc:\n  bits: -3\n", "adc.bits", "integer in [1, 24], got -3"),
    ("adc:\n  bits: 4.5\n", "adc.bits", "integer"),
    ("crossbar:\n  read_latency_ns: 10 ns\n", "crossbar.read_latency_ns", "unit is in the key name"),
    ("device:\n  g_min_us: 5\n  g_max_us: 2\n", "device.g_max_us", "> g_min_us"),
    ("crossbar:\n  cols: 4\n", "crossbar.cols", "at least 8 columns"),
    ("device:\n  class: sram\n", "device.class", "a registered device (rram, pcm"),
    ("tile:\n  class: crossbr\n", "tile.class", "did you mean 'crossbar'?"),
    ("tile:\n  params: {x: 1}\n", "tile.params.x", "no keys here"),
    ("dac: [1, 2]\n", "dac", "a mapping"),
])
def test_bad_arch_values_are_located(tmp_path, text, key, expect):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        build_chip(load_arch(p))       # the models' own checks (columns, classes, params) come here
    msg = str(e.value)
    assert msg.startswith(str(p)), msg
    assert f": {key}: " in msg and expect in msg, msg


def test_line_numbers_are_reported(tmp_path):
    p = write(tmp_path, "name: a\nadc:\n  bits: 4\n  per_crossbar: 0\n")
    with pytest.raises(ConfigError) as e:
        load_arch(p)
    assert f"{p}:4: adc.per_crossbar" in str(e.value)


def test_syntax_error_and_missing_file(tmp_path):
    p = write(tmp_path, "adc: {bits: 4\nname: x\n")
    with pytest.raises(ConfigError) as e:
        load_arch(p)
    assert "valid YAML" in str(e.value) and f"{p}:" in str(e.value)
    with pytest.raises(ConfigError, match="file not found"):
        load_arch(tmp_path / "nope.yaml")


def test_workload_rules(tmp_path):
    p = write(tmp_path, "model: {depth: 9}\nphases: [{name: a}]\n")
    with pytest.raises(ConfigError, match=r"model.depth: expected 6n\+2"):
        load_workload(p)
    p = write(tmp_path, "phases: [{name: a}, {name: a}]\n")
    with pytest.raises(ConfigError, match=r"phases\[1\].name: expected a unique phase name"):
        load_workload(p)
    p = write(tmp_path, "phases: []\n")
    with pytest.raises(ConfigError, match="at least one phase"):
        load_workload(p)
    p = write(tmp_path, "phases: [{nam: a}]\n")
    with pytest.raises(ConfigError, match=r"phases\[0\].nam: .*did you mean 'name'"):
        load_workload(p)


def test_scientific_notation_is_a_number(tmp_path):
    p = write(tmp_path, "device: {endurance_cycles: 1.0e6}\n")
    assert load_arch(p).spec.device.endurance_cycles == 1e6


def test_overrides_are_validated(root):
    arch = load_arch(root / "arch" / "rram_64x64.yaml", {"adc.bits": "6"})
    assert arch.spec.adc.bits == 6
    with pytest.raises(ConfigError, match="adc.bits"):
        load_arch(root / "arch" / "rram_64x64.yaml", {"adc.bits": "x"})


def test_cli_bad_input_exits_2_without_traceback(tmp_path, root, capsys):
    p = write(tmp_path, "adc: {bits: 99}\n")
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "adc.bits" in err
    assert main(["run", str(p), str(root / "workloads" / "resnet_inference.yaml")]) == 2
    assert main(["run", str(root / "arch" / "rram_64x64.yaml"), str(root / "workloads" /
                 "resnet_inference.yaml"), "--set", "bogus=1"]) == 2


@pytest.mark.parametrize("argv, quiet", [
    (["validate", "{f}"], False), (["-q", "validate", "{f}"], True),
    (["validate", "{f}", "-q"], True), (["validate", "-q", "{f}"], True)])
def test_quiet_flag_before_or_after_the_command(root, argv, quiet, monkeypatch):
    """README writes `cimsim run ... [-q]`: -q is accepted after the command as well as before."""
    from cimsim import cli, progress

    seen = []
    real = cli.cmd_validate
    monkeypatch.setattr(cli, "cmd_validate", lambda args: seen.append(progress.is_quiet()) or real(args))
    f = str(root / "arch" / "rram_64x64.yaml")
    assert main([a.format(f=f) for a in argv]) == 0
    assert seen == [quiet] and not progress.is_quiet()          # scoped to the command


def test_config_is_pure_data(root):
    """Loading and checking every shipped arch and workload, and a layer-list workload (its
    shapes checked, a bad one refused), imports no hardware, device, kernel, rule, policy,
    network or phase code (and not numba): config/ is data. It checks
    names against the registry's (plugins.names reads entry-point metadata and imports
    nothing); hw.chip.build_chip makes chips, plugins.resolve_workload loads the parts."""
    import subprocess
    import sys

    code = ("import sys, glob\n"
            "from cimsim.config import load_arch, load_workload\n"
            "from cimsim.errors import ConfigError\n"
            "for f in sorted(glob.glob('arch/*.yaml')): load_arch(f)\n"
            "for f in sorted(glob.glob('workloads/*.yaml')): load_workload(f)\n"
            "w = load_workload('examples/onnx_model/train.yaml')\n"      # a layer list, shapes checked
            "assert w.spec.model.layers\n"
            "try:\n"
            "    load_workload('examples/onnx_model/train.yaml',\n"
            "                  values={'model.layers.0.kernel': 40, 'model.layers.0.padding': 0})\n"
            "    raise SystemExit('a kernel larger than the input was accepted')\n"
            "except ConfigError as e:\n"
            "    assert 'model.layers[0].kernel' in str(e), e\n"
            "bad = sorted(m for m in sys.modules if m.startswith(('cimsim.hw', 'cimsim.device', "
            "'cimsim.kernels', 'cimsim.learning', 'cimsim.policies', 'cimsim.nn', 'cimsim.phases', "
            "'numba')))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
