"""Custom tiles and devices: registry, import paths, entry points, errors, the example tile."""
import dataclasses
import json
import math
import os
from importlib import metadata

import numpy as np
import pytest

from cimsim import plugins
from cimsim.cli import main
from cimsim.config import load_arch, load_workload
from cimsim.config.arch import ArchSpec
from cimsim.device.nvm import RramDevice
from cimsim.device.pcm import PcmDevice
from cimsim.errors import ConfigError
from cimsim.functional import AnalogLayer
from cimsim.hw.chip import build_chip
from cimsim.hw.tile import CrossbarTile
from cimsim.hw.tile_costs import CrossbarCosts, Estimator
from cimsim.hw.tile_timing import CrossbarTiming
from cimsim.mapping import map_layers
from cimsim.timing import simulate, stage_times
from cimsim.trace import NodeTrace, Trace


@pytest.fixture
def example(root, monkeypatch):
    """The example plugin importable (as if installed), with fresh registry caches."""
    monkeypatch.syspath_prepend(str(root / "examples" / "custom_tile"))
    plugins.load.cache_clear()
    yield root / "examples" / "custom_tile" / "sram_cim_64x64.yaml"
    plugins.load.cache_clear()


def run(root, arch, out):
    """The shipped inference workload on one chip (the whole 359-image test split, ~5 s)."""
    work = root / "workloads" / "resnet_inference.yaml"
    return main(["-q", "run", str(arch), str(work), "--out", str(out),
                 "--set", "workload.phases.0.ci_chips=1"])


def test_builtins_come_from_the_registry(root):
    assert type(build_chip(load_arch(root / "arch" / "rram_64x64.yaml").spec).tile) is CrossbarTile
    assert type(build_chip(load_arch(root / "arch" / "rram_64x64.yaml").spec).device) is RramDevice
    assert type(build_chip(load_arch(root / "arch" / "pcm_256x256.yaml").spec).device) is PcmDevice


@pytest.mark.slow
def test_example_sram_tile_differs_as_its_physics_says(root, tmp_path, trained, example):
    assert run(root, root / "arch" / "rram_64x64.yaml", tmp_path / "rram") == 0
    assert run(root, example, tmp_path / "sram") == 0
    rr = json.loads((tmp_path / "rram" / "report.json").read_text())
    sr = json.loads((tmp_path / "sram" / "report.json").read_text())
    p = sr["inputs"]["arch"]["spec"]["tile"]["params"]
    r_ph, s_ph = rr["phases"][0], sr["phases"][0]
    # accuracy: exact integer MACs -> the quantised float model; the RRAM chip loses points
    assert s_ph["accuracy"] >= sr["model"]["float_test_accuracy"] - 0.01
    assert s_ph["accuracy"] > r_ph["accuracy"]
    # energy: no ADC; every layer's array energy is its 1b x 1b products x bit_op_energy_fj
    e = s_ph["energy"]
    assert e["per_component_pj"]["adc"] == 0 and e["per_component_pj"]["shift_add"] == 0
    maps = {lm["name"]: lm for lm in sr["mapping"]["layers"]}
    products = 0
    for n in s_ph["nodes"]:
        if n["layer"]:
            lm = maps[n["layer"]]
            # rows x (weights x 8 bit columns) per plane, 8 planes per vector
            assert n["cell_reads"] == n["vectors"] * 8 * lm["rows"] * lm["cols"] * 8
            products += n["cell_reads"]
    assert e["per_component_pj"]["crossbar"] == pytest.approx(products * p["bit_op_energy_fj"] * 1e-3)
    assert e["per_image_pj"] < r_ph["energy"]["per_image_pj"]
    # latency: one plane per 0.7 ns instead of a 10 ns read + 25 ns of ADC conversions
    assert s_ph["latency"]["first_image_latency_cycles"] < r_ph["latency"]["first_image_latency_cycles"] / 3
    # programming: every bit-cell written once, exactly, nothing stuck, nothing to verify
    prog = sr["deploy"]
    assert prog["stuck_cells"] == 0 and prog["verify_pulses"] == 0 and prog["pulses"] == prog["cells"]


def test_example_tile_mvm_is_exact_and_its_timing_closed_form(example):
    arch = load_arch(example).spec
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (150, 12)).astype(np.float32)
    x = np.abs(rng.normal(0, 1, (7, 150))).astype(np.float32)
    x[0, 3] = -0.4                                       # the signed-input path too
    cmap = map_layers([("l", 150, 12)], build_chip(arch))
    layer = AnalogLayer("l", w, build_chip(arch).tile, cmap.layer("l"), float(np.abs(x).max()), rng, 0)
    xq = lambda v: np.clip(np.rint(v / layer.x_scale), 0, layer.x_levels)   # noqa: E731
    ref = (xq(np.maximum(x, 0)) - xq(np.maximum(-x, 0))) @ layer.w_int.astype(np.float64)
    np.testing.assert_allclose(layer(x), (ref * layer.x_scale * layer.w_scale).astype(np.float32),
                               rtol=1e-6)
    np.testing.assert_array_equal(layer.w_eff, (layer.w_int * layer.w_scale).astype(np.float32))
    # a weight write flips exactly the bits that differ; SRAM never wears out
    old = int(layer.w_int[0, 0])
    new = layer.w_int.copy()
    new[0, 0] = -old - 1                                # two's complement: every bit flips
    before = layer.writes.copy()
    res = layer.update(new)
    flips = bin((old ^ (-old - 1)) & 0xFF).count("1")
    assert flips == 8
    assert res.cells_written == flips == int((layer.writes - before).sum())
    assert math.isinf(layer.tile.endurance_cycles())
    # timing: vp planes through the adder trees at plane_ns each (1 GHz clock)
    n = NodeTrace("l", "linear", ("input",), images=1, layer="l", vectors=3, planes=8)
    chip = build_chip(arch)
    st = stage_times(n, chip, cmap)
    assert st.compute == math.ceil(3 * 8 * 0.7) == 17 and st.adc_busy == 0


def test_tile_simpy_hook_drives_the_timing_model(root):
    """A tile's own SimPy process is what holds the layer's tiles."""
    class SlowTiming(CrossbarTiming):
        def mvm_process(self, env, lm, vector_planes):
            yield env.timeout(self.mvm_cycles(lm, vector_planes))
            yield env.timeout(1000)                  # e.g. a calibration step after every image

    class SlowTile(CrossbarTile):
        Timing = SlowTiming

    arch = ArchSpec()
    cmap = map_layers([("fc", 100, 10)], build_chip(arch))
    tr = Trace([NodeTrace("fc", "linear", ("input",), images=2, layer="fc", vectors=2, planes=8)])
    chip = build_chip(arch)
    base = simulate(tr, chip, cmap).makespan_cycles
    chip.tile = SlowTile(arch, None, chip.device)
    assert simulate(tr, chip, cmap).makespan_cycles == base + 2 * 1000   # two images, one tile


def test_plugins_are_discovered_through_entry_points(root, example, monkeypatch, capsys):
    ep = metadata.EntryPoint("sram_cim", "cimsim_sramcim:SramCimTile", "cimsim.tiles")
    real = metadata.entry_points
    monkeypatch.setattr(plugins.metadata, "entry_points",
                        lambda group: [ep] if group == "cimsim.tiles" else real(group=group))
    assert main(["list", "tiles"]) == 0
    out = capsys.readouterr().out
    assert "crossbar" in out and "sram_cim" in out and "cimsim_sramcim:SramCimTile" in out
    assert "Digital SRAM-CIM" in out
    values = {"tile.class": "sram_cim", "adc.range": "per_layer"}     # it calibrates no per-slice ranges
    arch = load_arch(root / "arch" / "rram_64x64.yaml", values).spec
    assert type(build_chip(arch).tile).__name__ == "SramCimTile"


def test_every_config_choice_is_listed(capsys):
    models = ["resnet", "lrt_cnn", "vgg", "resnet18", "resnet50", "layers", "onnx"]
    for kind, names in [("models", models), ("scenarios", ["control", "digital_drift"]),
                        ("algorithms", ["bias_only", "lrt", "selective", "tsb"]),
                        ("devices", ["rram", "pcm"])]:
        assert main(["list", kind]) == 0
        out = capsys.readouterr().out
        assert all(f"  {n} " in out for n in names), out


BAD = {
    "raises": ("raise RuntimeError('no licence for the macro model')\n", "Tile",
               "importing badtile failed: RuntimeError: no licence"),
    "not_a_tile": ("class Tile:\n    pass\n", "Tile", "a subclass of cimsim.hw.tile.TileModel"),
    "abstract": ("from cimsim.hw.tile import TileModel\nclass Tile(TileModel):\n"
                 "    def columns_per_weight(self):\n        return 8\n", "Tile",
                 "does not implement: count, decode, encode, mvm"),
    "mutable_params": ("from dataclasses import dataclass\nfrom cimsim.hw.tile import CrossbarTile\n"
                       "@dataclass\nclass P:\n    x: int = 1\n"
                       "class Tile(CrossbarTile):\n    Params = P\n", "Tile", "Params is a frozen dataclass"),
    "missing_attr": ("x = 1\n", "Nope", "module badtile has no attribute Nope"),
    "no_timing": ("from cimsim.hw.tile import CrossbarTile\nclass Tile(CrossbarTile):\n    Timing = None\n",
                  "Tile", "Tile.Timing is not set"),
    "abstract_costs": ("from cimsim.hw.tile import CrossbarTile\nfrom cimsim.hw.tile_costs import TileCosts\n"
                       "class C(TileCosts):\n    pass\nclass Tile(CrossbarTile):\n    Costs = C\n",
                       "Tile", "Tile.Costs does not implement: verify_read_pj"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_broken_plugins_are_clear_errors(root, tmp_path, monkeypatch, capsys, case):
    src, attr, expect = BAD[case]
    (tmp_path / "badtile.py").write_text(src)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "badtile", raising=False)
    plugins.load.cache_clear()
    arch = tmp_path / "a.yaml"
    arch.write_text(f"tile:\n  class: \"badtile:{attr}\"\n")
    assert main(["validate", str(arch)]) == 2
    err = capsys.readouterr().err
    assert f"{arch}:2: tile.class: expected" in err and expect in err and "Traceback" not in err, err
    plugins.load.cache_clear()


DEVICE = '''
from dataclasses import dataclass

import numpy as np

from cimsim.config.schema import spec
from cimsim.device.conductance import ProgrammedArray
from cimsim.device.nvm import RramDevice


@dataclass(frozen=True)
class Params:
    sigma_at_gmax: float = spec(0.05, lo=0.0, hi=1.0, doc="programming error std / range at g_max")


class StateDependent(RramDevice):
    """Programming error growing linearly with the target level (measured RRAM often does)."""

    Params = Params

    def program(self, levels, rng):
        L = self.levels
        err = rng.standard_normal(levels.shape) * self.params.sigma_at_gmax * levels
        g = (levels + err).astype(np.float32)
        z = np.zeros(levels.shape, np.uint16)
        return ProgrammedArray(levels, g, np.zeros(levels.shape, np.int8), (levels > 0).astype(np.uint16), z)
'''


def test_custom_device_by_import_path_with_validated_params(tmp_path, monkeypatch, capsys):
    (tmp_path / "mydev.py").write_text(DEVICE)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.load.cache_clear()
    bad = tmp_path / "bad.yaml"
    bad.write_text("device:\n  class: mydev:StateDependent\n  params:\n    sigma_at_gmax: 2\n")
    assert main(["validate", str(bad)]) == 2
    assert "device.params.sigma_at_gmax: expected number in [0, 1], got 2" in capsys.readouterr().err
    good = tmp_path / "good.yaml"
    good.write_text("device:\n  class: mydev:StateDependent\n  params:\n    sigma_at_gmax: 0.1\n"
                    "  stuck_at: {low_rate: 0, high_rate: 0}\n")
    chip = build_chip(load_arch(good))
    arch = chip.arch                                   # the spec as built: params in their dataclass
    assert arch.device.params.sigma_at_gmax == 0.1 and chip.device.params.sigma_at_gmax == 0.1
    # the tile programs through the custom device: error std = 0.1 x level, zero at level 0
    lv = np.full((2, 4, 300, 300), 3, np.uint8)
    lv[:, :, :, :100] = 0
    cells = chip.tile.device.program(lv, np.random.default_rng(0))
    d = (cells.g - lv)[lv == 3]
    assert abs(d.std() / 0.3 - 1) < 5 / np.sqrt(2 * d.size)
    assert np.all(cells.g[lv == 0] == 0)
    w = np.random.default_rng(1).normal(0, 1, (64, 8)).astype(np.float32)
    chip = build_chip(arch)
    layer = AnalogLayer("l", w, chip.tile, map_layers([("l", 64, 8)], chip).layer("l"), 1.0,
                        np.random.default_rng(2), 0)
    assert not np.array_equal(layer.w_eff, (layer.w_int * layer.w_scale).astype(np.float32))
    plugins.load.cache_clear()


def test_dataclass_replace_keeps_resolved_params(example):
    """A built chip's spec holds the params dataclass; a loaded spec holds the file's mapping.
    Either, replaced in code, builds the chip it says."""
    built = build_chip(load_arch(example)).arch
    faster = dataclasses.replace(built, tile=dataclasses.replace(
        built.tile, params=dataclasses.replace(built.tile.params, plane_ns=0.35)))
    raw = load_arch(example).spec
    faster_raw = dataclasses.replace(raw, tile=dataclasses.replace(
        raw.tile, params={**(raw.tile.params or {}), "plane_ns": 0.35}))
    for spec in (faster, faster_raw):
        chip = build_chip(spec)
        lm = map_layers([("l", 64, 8)], chip).layer("l")
        assert chip.tile.timing.mvm_cycles(lm, 8) == math.ceil(8 * 0.35)


def test_a_crossbar_subclass_changes_one_part():
    """One ADC shared by every crossbar of a tile: only conversions_per_plane changes, and the
    ADC stage, the pipeline and the SimPy replay follow."""
    class OneAdcTiming(CrossbarTiming):
        def conversions_per_plane(self, lm):
            return super().conversions_per_plane(lm) * min(lm.crossbars, self.arch.tile.crossbars)

    class OneAdcPerTile(CrossbarTile):
        Timing = OneAdcTiming

    arch = ArchSpec()
    cmap = map_layers([("l", 200, 8)], build_chip(arch))   # 4 row chunks of 64 rows: 4 crossbars, 1 tile
    n = NodeTrace("l", "linear", ("input",), images=1, layer="l", vectors=1, planes=8)
    chip = build_chip(arch)
    base = stage_times(n, chip, cmap)
    chip.tile = OneAdcPerTile(arch, None, chip.device)
    shared = stage_times(n, chip, cmap)
    assert base.adc_busy == 8 * 25 and shared.adc_busy == 4 * base.adc_busy   # 32 conversions x 0.78 ns
    assert shared.compute == 10 + 100 + 7 * 100                                  # fill + 7 x ADC stage
    assert simulate(Trace([n]), chip, cmap).makespan_cycles == shared.compute


def test_a_tile_without_area_gives_no_tops_per_mm2(root, tmp_path, monkeypatch):
    """The example SRAM-CIM tile lists no area: the chip's area would be its periphery only,
    so TOPS/mm2 is null rather than inflated; energy and TOPS/W are still reported."""
    import json

    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(root / "examples" / "custom_tile"))
    wl = tmp_path / "w.yaml"
    wl.write_text("name: w\ndataset: {name: synthetic, shape: [16], test_samples: 2}\n"
                  "model: {layers: [{type: linear}]}\ndeploy: {functional: false}\n"
                  "phases: [{name: t, kind: inference}]\n")
    out = tmp_path / "o"
    assert main(["-q", "run", str(root / "examples" / "custom_tile" / "sram_cim_64x64.yaml"), str(wl),
                 "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    eff = rep["phases"][0]["efficiency"]
    assert eff["tops_per_mm2"] is None and eff["tops_per_w"] > 0
    assert rep["area"]["tile_mm2"] == 0.0


def test_import_paths_can_be_refused(root, monkeypatch, capsys):
    """--no-plugins (or CIMSIM_NO_IMPORT_PATHS=1) refuses import paths before importing
    anything; registered names still load."""
    import sys

    monkeypatch.setenv("CIMSIM_NO_IMPORT_PATHS", "0")             # restored after the test
    monkeypatch.syspath_prepend(str(root / "examples" / "custom_tile"))
    sys.modules.pop("cimsim_sramcim", None)
    arch = str(root / "examples" / "custom_tile" / "sram_cim_64x64.yaml")
    assert main(["--no-plugins", "validate", arch]) == 2
    err = capsys.readouterr().err
    assert "import paths are off" in err and "tile.class" in err
    assert "cimsim_sramcim" not in sys.modules                     # nothing was imported
    assert os.environ["CIMSIM_NO_IMPORT_PATHS"] == "0"             # the command's setting ended with it
    assert main(["validate", str(root / "arch" / "rram_64x64.yaml")]) == 0


def test_phase_kinds_are_registered_parts_matching_the_schema():
    """The workload schema accepts exactly the registered phase kinds: the study, summary,
    tables and compare dispatch through the registry."""
    from cimsim.config.workload import PhaseSpec
    from cimsim.phases import PhaseKind, kinds

    assert not next(f for f in dataclasses.fields(PhaseSpec) if f.name == "kind").metadata.get("choices")
    got = kinds()
    assert sorted(k.kind for k in got) == sorted(plugins.names("phase"))
    assert sorted(plugins.names("phase")) == ["inference", "monte_carlo", "train"]
    assert all(isinstance(k, PhaseKind) for k in got)
    assert [t for k in got for t in k.table_names] == [
        "accuracy_vs_time", "inference_chips", "online_windows", "online_ema", "writes_per_layer",
        "writes_histogram",
        "montecarlo", "montecarlo_chips"]


PARTS = """
from cimsim.config.workload import LayerSpec
from cimsim.nn.models import NetworkModel
from cimsim.policies import Policy
from cimsim.learning.rules import Sgd
from cimsim.learning.scenarios import Scenario


class TinyMlp(NetworkModel):
    \"\"\"Flatten and one linear layer.\"\"\"

    def layers(self, spec, classes):
        return [LayerSpec(type="flatten"), LayerSpec(type="linear", out_features=classes)]


class HalfSgd(Sgd):
    \"\"\"SGD at half the rate.\"\"\"


class Freeze(Scenario):
    \"\"\"Every sample shifted by noise.\"\"\"

    def segment(self, t):
        return "noise"


class NoVerify(Policy):
    \"\"\"Nothing verified.\"\"\"

    def program(self, p):
        return None


class NotAPolicy:
    pass
"""


@pytest.mark.parametrize("kind, key, cls", [("model", "model.name", "TinyMlp"),
                                            ("rule", "phases.1.algorithm.name", "HalfSgd"),
                                            ("scenario", "phases.1.scenario.kind", "Freeze"),
                                            ("policy", "deploy.write_verify", "NoVerify")])
def test_workload_parts_are_registered_like_tiles(root, tmp_path, monkeypatch, capsys, kind, key, cls):
    """Rules, scenarios, policies and models: listed from entry points, named in the workload
    by that name or by import path, loaded (and checked) before the run starts."""
    (tmp_path / "myparts.py").write_text(PARTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.load.cache_clear()
    group = plugins.GROUPS[kind]
    ep = metadata.EntryPoint("mine", f"myparts:{cls}", group)
    real = metadata.entry_points
    monkeypatch.setattr(plugins.metadata, "entry_points",
                        lambda group: [ep] if group == ep.group else real(group=group))
    listing = {"model": "models", "rule": "algorithms", "scenario": "scenarios", "policy": "algorithms"}[kind]
    assert main(["list", listing]) == 0
    assert "  mine " in capsys.readouterr().out
    w = root / "workloads" / "resnet_lrt.yaml"
    for ref in ("mine", f"myparts:{cls}"):
        loaded = load_workload(w, {key: ref})
        run = plugins.resolve_workload(loaded.spec, loaded.source)    # every part, nested ones too
        named = {"model": run.model.name, "policy": run.deploy.write_verify,
                 "rule": run.phases[1].params.algorithm.name, "scenario": run.phases[1].params.scenario.kind}
        assert named[kind] == ref and plugins.load(kind, ref).__name__ == cls
    # an unknown name fails when the file loads (a phase's rule or scenario: when its kind
    # builds its params); a class of the wrong kind when the run resolves the workload's parts
    # (before any work), naming the key
    with pytest.raises(ConfigError, match=r"did you mean 'mine'"):
        typo = load_workload(w, {key: "minee"})
        plugins.resolve_workload(typo.spec, typo.source)
    bad = load_workload(w, {key: "myparts:NotAPolicy"})
    with pytest.raises(ConfigError, match="subclass of") as err:
        plugins.resolve_workload(bad.spec, bad.source)
    assert key.split(".")[-1] in str(err.value)
    plugins.load.cache_clear()


def test_a_registered_model_runs_cost_only(root, tmp_path, monkeypatch):
    (tmp_path / "myparts.py").write_text(PARTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    import cimsim

    rep = cimsim.run(root / "arch" / "rram_64x64.yaml", root / "workloads" / "resnet_inference.yaml",
                     overrides={"workload.model.name": "myparts:TinyMlp",
                                "workload.deploy.functional": "false", "workload.phases.0.samples": 4})
    assert rep.data["model"]["name"] == "myparts:TinyMlp"
    assert [lay["name"] for lay in rep.data["mapping"]["layers"]] == ["linear1"]
    assert rep.phase("test").accuracy is None and rep.phase("test").energy.total_pj > 0


def test_a_tile_with_its_own_energy_component_needs_no_other_edit(root):
    """A crossbar tile with a transimpedance stage per conversion: declaring the component,
    its action and its energy is all it takes; the phase's energy, counts and cost table
    carry it, and counts x table still give every component."""
    class Tia(Estimator):
        name = "tia"

        def action_energies_pj(self):
            return {"convert": 0.05}

    class TiaCosts(CrossbarCosts):
        ESTIMATORS = (*CrossbarCosts.ESTIMATORS, Tia)

        def action_counts(self, n):
            return {**super().action_counts(n), ("tia", "convert"): n.adc_conversions}

    class TiaTile(CrossbarTile):
        components = (*CrossbarTile.components, "tia")
        Costs = TiaCosts

    from cimsim.energy import phase_energy

    chip = build_chip(ArchSpec())
    chip.tile = TiaTile(chip.arch, None, chip.device)
    cmap = map_layers([("l", 200, 8)], chip)
    n = NodeTrace("l", "linear", ("input",), images=1, layer="l", in_bytes=[200])
    chip.tile.count(n, cmap.layer("l"), 3, 0)
    e = phase_energy(Trace([n]), chip, cmap)
    assert n.adc_conversions > 0
    assert e["per_component_pj"]["tia"] == pytest.approx(n.adc_conversions * 0.05)
    assert list(e["per_component_pj"])[:6] == ["crossbar", "dac", "adc", "shift_add", "registers", "tia"]
    table = chip.action_energies_pj()
    for comp, v in e["per_component_pj"].items():
        got = sum(c * table[tuple(k.split("."))] for k, c in e["action_counts"].items()
                  if k.startswith(comp + "."))
        assert got == pytest.approx(v, rel=1e-12), comp


PHASE = """
from dataclasses import dataclass

from cimsim.phases.base import Headline, PhaseKind
from cimsim.results import PhaseResult


@dataclass(frozen=True, kw_only=True)
class FloatResult(PhaseResult):
    images: int
    accuracy: float


class FloatPhase(PhaseKind):
    \"\"\"The float network on the split: its own result, table, figure, overlay and headline.\"\"\"

    kind = "myphase:FloatPhase"
    result_type = FloatResult
    table_names = ("float_accuracy",)

    def run(self, ph, ctx):
        x, y = ctx.data.split(ph.split)
        x, y = x[: ph.samples or len(x)], y[: ph.samples or len(y)]
        acc = float((ctx.net.predict(x) == y).mean())
        return FloatResult(name=ph.name, kind=ph.kind, split=ph.split, images=len(x), accuracy=acc)

    def summary(self, r):
        return [f"phase {r.name}: float accuracy {r.accuracy:.4f}"]

    def tables(self, r):
        return {"float_accuracy": [{"phase": r.name, "images": r.images, "accuracy": r.accuracy}]}

    def figures(self, r, report):
        from cimsim.report.plots import plt

        fig, ax = plt.subplots()
        ax.bar([r.name], [r.accuracy])
        return {f"float_{r.name}": fig}

    def compare_figures(self, reports):
        from cimsim.report.plots import plt

        fig, ax = plt.subplots()
        ax.bar([n for n, _ in reports], [rs[-1].accuracy for _, rs in reports])
        return {"compare_float": fig}

    def headlines(self, r):
        return [Headline("float_accuracy", "float accuracy", r.accuracy)]

    def headline(self, results):
        return {"images (last)": results[-1].images}
"""


def test_a_plugin_phase_kind_owns_its_result_tables_figures_and_overlays(root, tmp_path, monkeypatch, capsys,
                                                                         trained):
    """A phase kind named by import path returns its own typed result; report.json reads back
    through it (cimsim plot, compare), and its table, figure, overlay and headline appear."""
    import csv

    from cimsim.report.compare import headline

    (tmp_path / "myphase.py").write_text(PHASE)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.load.cache_clear()
    out = tmp_path / "run"
    assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"),
                 str(root / "workloads" / "resnet_inference.yaml"), "--out", str(out), "--plot",
                 "--set", "workload.phases.0.kind=myphase:FloatPhase",
                 "--set", "workload.phases.0.samples=8"]) == 0
    assert "phase test: float accuracy" in capsys.readouterr().out
    rep = json.loads((out / "report.json").read_text())
    (block,) = rep["phases"]
    assert block == {"name": "test", "kind": "myphase:FloatPhase", "split": "test", "images": 8,
                     "accuracy": block["accuracy"]} and 0 <= block["accuracy"] <= 1
    rows = list(csv.DictReader((out / "float_accuracy.csv").open()))
    assert rows == [{"phase": "test", "images": "8", "accuracy": repr(block["accuracy"])}]
    assert (out / "float_test.png").exists()
    h = headline(rep)
    assert h["test.float_accuracy"] == block["accuracy"] and h["images (last)"] == 8
    again = tmp_path / "replot"
    assert main(["plot", str(out), "--out", str(again)]) == 0
    assert (again / "float_test.png").exists()
    assert (again / "float_accuracy.csv").read_bytes() == (out / "float_accuracy.csv").read_bytes()
    assert main(["compare", str(out), str(out), "--names", "a,b", "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "compare_float.png").exists()
    # a block whose keys its kind does not know is refused with the key named
    rep["phases"][0]["extra"] = 1
    (out / "report.json").write_text(json.dumps(rep))
    assert main(["plot", str(out)]) == 2
    assert "phases.0.extra" in capsys.readouterr().err
    plugins.load.cache_clear()


OWN_PARAMS = """
from dataclasses import dataclass

from cimsim.config.schema import spec
from cimsim.learning.rules import Sgd, SgdParams


@dataclass(frozen=True)
class DampedParams(SgdParams):
    damping: float = spec(0.5, lo=0.0, hi=1.0, doc="share of each update written")


class DampedSgd(Sgd):
    # SGD with one more parameter of its own (checked like the built-in ones)

    Params = DampedParams
"""


def test_rules_and_scenarios_take_their_own_params(root, tmp_path, monkeypatch, capsys):
    """A rule's and a scenario's keys beside their names are their Params: checked when the
    run loads its parts (located errors with did-you-mean), a plugin's own keys too; the keys
    of another built-in part are left to it, so a file written for LRT runs SGD by its name."""
    from cimsim.config.schema import to_dict

    (tmp_path / "myrule.py").write_text(OWN_PARAMS)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.load.cache_clear()
    w = root / "workloads" / "resnet_lrt.yaml"
    spec = load_workload(w).spec
    assert spec.phases[1].params["algorithm"]["rank"] == 4        # raw until the parts load
    lrt = plugins.resolve_workload(spec, load_workload(w).source).phases[1].params
    assert lrt.algorithm.params.rank == 4 and lrt.algorithm.params.lr == 0.003
    assert "segment_samples" not in to_dict(lrt.scenario)            # distribution_shift's key
    sgd = load_workload(w, {"phases.1.algorithm.name": "sgd"})
    sgd_spec = plugins.resolve_workload(sgd.spec, sgd.source).phases[1].params.algorithm
    assert type(sgd_spec.params).__name__ == "SgdParams" and sgd_spec.params.lr == 0.003
    assert set(to_dict(sgd_spec)) == {"name", "lr", "bias_lr", "bn_eta_samples", "sgd_step"}
    at = r"resnet_lrt\.yaml:\d+: phases\[1\]\."
    for key, value, message in (
            ("phases.1.algorithm.rnk", 2, at + r"algorithm\.rnk: .*did you mean 'rank'"),
            ("phases.1.algorithm.rank", 0, at + r"algorithm\.rank: expected integer in \[1, 64\], got 0"),
            ("phases.1.scenario.drift_sigma", "big", at + r"scenario\.drift_sigma: expected number")):
        bad = load_workload(w, values={key: value})
        with pytest.raises(ConfigError, match=message):
            plugins.resolve_workload(bad.spec, bad.source)
    damped = load_workload(w, values={"phases.1.algorithm.name": "myrule:DampedSgd",
                                      "phases.1.algorithm.damping": 2.0})
    with pytest.raises(ConfigError, match=r"algorithm\.damping: expected number in \[0, 1\], got 2\.0"):
        plugins.resolve_workload(damped.spec, damped.source)
    ok = load_workload(w, values={"phases.1.algorithm.name": "myrule:DampedSgd",
                                  "phases.1.algorithm.damping": 0.25})
    assert plugins.resolve_workload(ok.spec, ok.source).phases[1].params.algorithm.params.damping == 0.25
    # cimsim validate loads the parts: a bad key is exit 2 with the file, key and line
    f = tmp_path / "w.yaml"
    f.write_text(w.read_text().replace("rank: 4 ", "rnk: 4 "))
    assert main(["validate", str(f)]) == 2
    assert "algorithm.rnk" in capsys.readouterr().err
    plugins.load.cache_clear()


def test_policies_and_phase_kinds_take_their_own_params(root):
    """A policy's keys beside write_verify and a phase kind's beside its name are their
    Params: checked when the parts load (located, did-you-mean), kept for what the workload
    uses; a phase kind is strict about another kind's keys."""
    from cimsim.config.schema import to_dict

    w = root / "workloads" / "resnet_tsb.yaml"
    run = load_workload(w)
    spec = plugins.resolve_workload(run.spec, run.source)
    assert spec.phases[1].params.chips == 5 and spec.phases[1].params.evaluate == "crossbar"
    assert spec.phases[0].params.ci_chips == 1
    deploy = to_dict(spec.deploy)
    assert deploy["verify_fraction"] == 0.01 and deploy["tsb"]["channels"] == 16   # both policies used
    inf = load_workload(root / "workloads" / "resnet_inference.yaml")
    assert "tsb" not in to_dict(plugins.resolve_workload(inf.spec, inf.source).deploy)   # no TSB used
    at = r"resnet_tsb\.yaml:\d+: "
    for values, message in (
            ({"deploy.verify_fraction": 2.0}, at + r"deploy\.verify_fraction: expected number in \[0, 1\]"),
            ({"deploy.verfy_fraction": 0.1},
             at + r"deploy\.verfy_fraction: .*did you mean 'verify_fraction'"),
            ({"phases.1.chipz": 3}, at + r"phases\[1\]\.chipz: .*did you mean 'chips'"),
            ({"phases.1.ci_chips": 3}, at + r"phases\[1\]\.ci_chips: .*is a key of the inference phase"),
            ({"phases.1.policies": []}, at + r"phases\[1\]\.policies: expected at least one policy")):
        bad = load_workload(w, values=values)
        with pytest.raises(ConfigError, match=message):
            plugins.resolve_workload(bad.spec, bad.source)


HALF_SRAM = """
from cimsim.hw.chip import SramBuffer


class HalfSram(SramBuffer):
    # buffers at half the access energy and twice the area per KiB (another technology)

    def read_pj(self, nbytes):
        return super().read_pj(nbytes) / 2

    def write_pj(self, nbytes):
        return super().write_pj(nbytes) / 2

    def action_energies_pj(self):
        return {k: v / 2 for k, v in super().action_energies_pj().items()}

    def area_mm2(self):
        return {k: v * 2 for k, v in super().area_mm2().items()}

    def peak_power_mw(self):
        return {k: v / 2 for k, v in super().peak_power_mw().items()}
"""


def test_a_chip_part_is_swapped_by_its_class_key(root, tmp_path, monkeypatch):
    """The SRAM buffers (like the vector unit, NoC and off-chip interface) are a registered
    part named in the arch file: a part of your own changes energy, cost table and area, and
    every energy is still its counts x the cost table; a bad name is a located error."""
    import cimsim
    from cimsim.hw.chip import build_chip

    (tmp_path / "halfsram.py").write_text(HALF_SRAM)
    monkeypatch.syspath_prepend(str(tmp_path))
    arch, w = root / "arch" / "rram_64x64.yaml", root / "workloads" / "resnet_inference.yaml"
    over = {"workload.deploy.functional": "false", "workload.phases.0.samples": 2}
    base = cimsim.run(arch, w, overrides=over)
    half = cimsim.run(arch, w, overrides={**over, "arch.sram_buffer.class": "halfsram:HalfSram"})
    e0, e1 = base.phase("test").energy, half.phase("test").energy
    assert e1.per_component_pj["sram_read"] == pytest.approx(e0.per_component_pj["sram_read"] / 2)
    assert e1.per_component_pj["adc"] == e0.per_component_pj["adc"]
    table = {(r["component"], r["action"]): r["energy_pj"] for r in half.data["cost_table"]}
    for comp in ("sram_read", "sram_write"):
        by_table = e1.action_counts[f"{comp}.bit"] * table[(comp, "bit")]
        assert e1.per_component_pj[comp] == pytest.approx(by_table)
    a0, a1 = base.data["area"]["per_component_mm2"], half.data["area"]["per_component_mm2"]
    assert a1["sram"] == pytest.approx(2 * a0["sram"]) and a1["noc_routers"] == a0["noc_routers"]
    with pytest.raises(ConfigError, match=r"chip\.noc\.class: expected .*got 'torus'"):
        build_chip(cimsim.load_arch(arch, {"chip.noc.class": "torus"}))
