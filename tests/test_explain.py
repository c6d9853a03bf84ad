"""explain's ablation cases come from the device and tile models (a plugin's too), and the
Monte-Carlo process pool gives the same report as one process: fast checks."""
import json
import textwrap

import pytest

import cimsim
from cimsim.config import load_arch, to_dict
from cimsim.explain import cases
from cimsim.hw.chip import build_chip

GAIN_TILE = textwrap.dedent('''\
    from dataclasses import dataclass

    from cimsim.config.nonideal import NonIdeality
    from cimsim.config.schema import spec
    from cimsim.hw.tile import CrossbarTile


    @dataclass(frozen=True)
    class GainParams:
        gain_error: float = spec(0.0, lo=0.0, doc="column gain error, relative")


    class GainTile(CrossbarTile):
        """A crossbar tile that declares one non-ideality of its own parameters."""

        Params = GainParams

        def nonidealities(self):
            own = NonIdeality(f"column gain error ({self.params.gain_error:g})",
                              {"tile.params.gain_error": 0.0})
            return [*super().nonidealities(), own]
    ''')


def _leaves(d, prefix=""):
    out = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_ideal_chip_and_cases_come_from_the_models(root):
    """The shipped chip: the ideal arch turns off exactly what the built-in models name; each
    case differs from it in that non-ideality's keys only, set as the arch has them."""
    chip = build_chip(load_arch(root / "arch" / "rram_64x64.yaml"))
    a = chip.arch
    base, each = cases(chip, 0.0)
    assert (base.device.program_sigma, base.device.read_sigma) == (0.0, 0.0)
    assert (base.device.stuck_at.low_rate, base.device.stuck_at.high_rate) == (0.0, 0.0)
    adc = base.adc
    assert (adc.bits, adc.range_fraction, adc.offset_sigma_lsb, adc.inl_lsb) == (24, 1.0, 0, 0)
    assert adc.range_mode == "per_layer"          # the ideal converter's one range covers every sum
    assert base.crossbar.wire_ohm_per_cell == 0.0
    assert list(each) == ["programming error (sigma 0.02)", "read noise (sigma 0.01)",
                          "cells stuck at g_min (0.001)", "cells stuck at g_max (0.001)",
                          "ADC: 8 bits over calibrated per-slice ranges"]    # offset, INL, IR drop are 0 here
    ideal, real = _leaves(to_dict(base)), _leaves(to_dict(a))
    for name, (arch, t) in each.items():
        got = _leaves(to_dict(arch))
        changed = {k for k in got if got[k] != ideal[k]}
        assert changed and all(got[k] == real[k] for k in changed), name
        assert t == 0.0
    assert list(cases(chip, 3600.0)[1])[-1] == "time after programming (3600 s)"


def test_a_plugin_tiles_own_nonideality_is_ablated(root, tmp_path, monkeypatch):
    (tmp_path / "gaintile.py").write_text(GAIN_TILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = cimsim.load_arch(root / "arch" / "rram_64x64.yaml",
                              {"tile.class": "gaintile:GainTile", "tile.params": {"gain_error": 0.05}})
    base, each = cases(build_chip(loaded), 0.0)
    assert base.tile.params.gain_error == 0.0
    arch, _ = each["column gain error (0.05)"]
    assert arch.tile.params.gain_error == 0.05 and arch.device.program_sigma == 0.0


FUNCTIONAL_MC = textwrap.dedent("""\
    name: mc_pool
    dataset: {name: synthetic, shape: [32], classes: 4, train_samples: 64, test_samples: 16}
    model: {layers: [{type: linear, out_features: 16}, {type: relu}, {type: linear}]}
    pretrain: {epochs: 2, batch: 16}
    deploy: {calibration_images: 16}
    phases:
      - {name: mc, kind: monte_carlo, chips: 3, policies: [none, all], evaluate: weights}
    """)


def test_monte_carlo_pool_gives_the_one_process_report(root, tmp_path, monkeypatch):
    """Two spawned worker processes (each given the phase's chip jobs once) give the same
    report bytes as one process."""
    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    w = tmp_path / "mc.yaml"
    w.write_text(FUNCTIONAL_MC)
    arch = root / "arch" / "rram_64x64.yaml"
    one = cimsim.run(arch, w, workers=1)
    two = cimsim.run(arch, w, workers=2)
    assert one.to_json() == two.to_json()
    rows = json.loads(one.to_json())["phases"][0]["results"]
    assert [(r["policy"], r["chips"]) for r in rows] == [("none", 3), ("all", 3)]
    assert rows[1]["fraction_verified"] == pytest.approx(1.0)
