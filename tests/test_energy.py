"""Energy of a one-layer network against a hand calculation from the YAML numbers."""
import numpy as np
import pytest

from cimsim.config import load_arch
from cimsim.energy import phase_energy
from cimsim.functional import AnalogLayer, run
from cimsim.hw.chip import Chip
from cimsim.mapping import map_layers
from cimsim.nn.layers import Linear, Net


def test_one_layer_energy_by_hand(root):
    arch = load_arch(root / "arch" / "rram_64x64.yaml").spec
    rng = np.random.default_rng(0)
    net = Net([Linear("fc", "input", 100, 10, rng)])
    cmap = map_layers([("fc", 100, 10)], arch)
    eng = {"fc": AnalogLayer("fc", net.nodes[0].W, arch, cmap.layer("fc"), 1.0, rng, 0)}
    x = rng.uniform(0.1, 1.0, (3, 100)).astype(np.float32)
    _, trace = run(net, eng, x, arch)
    e = phase_energy(trace, Chip(arch))["per_component_pj"]
    # 3 images x 8 bit planes = 24 vector-planes. Crossbars: rows (64, 36) x columns (64, 16).
    vp = 3 * 8
    expected = {
        "crossbar": vp * (64 + 36) * (64 + 16) * 1.83e-3,       # cells read x 1.83 fJ
        "dac": vp * (64 + 36) * 2 * 0.39,                       # rows driven, in 2 column groups
        "adc": vp * 2 * (64 + 16) / 2 * 1.5625,                 # 2 row chunks x 40 pairs
        "shift_add": vp * 2 * (64 + 16) / 2 * 0.039,
        "digital": 3 * 10 * 0.1,                                # bias adds
        "sram_read": 3 * 100 * 8 * 0.067,                       # 8-bit inputs
        "sram_write": 3 * 10 * 8 * 0.067,
        "noc": 3 * (100 + 10) * 8 * 1.09,
    }
    for k, v in expected.items():
        assert e[k] == pytest.approx(v, rel=1e-12), k
