"""Every registered rule's reported auxiliary memory is the size of the state it keeps in SRAM,
computed here by hand from the layer shapes and the state's word size."""
import numpy as np
import pytest

from cimsim.config.arch import ArchSpec
from cimsim.config.workload import AlgorithmSpec
from cimsim.functional import AnalogLayer
from cimsim.hw.chip import build_chip
from cimsim.learning.rules import make_rule
from cimsim.mapping import map_layers
from cimsim.nn.layers import Linear, Net

SHAPES = [("fc1", 12, 7), ("fc2", 7, 3)]
ENTRIES = 12 * 7 + 7 * 3                       # dense state: one word per weight
FACTORS = (12 + 7) + (7 + 3)                   # rank-1 L and R: one word per row and column


@pytest.mark.parametrize("name, params, want", [
    ("none", {}, 0), ("bias_only", {}, 0), ("sgd", {}, 0),
    ("lrt", {"rank": 3, "state_bits": 16}, 3 * FACTORS * 2),
    ("lrt", {"rank": 2, "state_bits": 8}, 2 * FACTORS * 1),
    ("mixed_precision", {"chi_bits": 12, "chi_range_eps": 8}, ENTRIES * 12 // 8),
    ("tiki_taka", {"version": 1}, 0),
    ("tiki_taka", {"version": 2, "h_bits": 8}, ENTRIES),
])
def test_aux_bytes_are_the_state(name, params, want):
    arch = ArchSpec()
    rng = np.random.default_rng(0)
    net = Net([Linear("fc1", "input", 12, 7, rng), Linear("fc2", "fc1", 7, 3, rng)])
    chip = build_chip(arch)
    cmap = map_layers(SHAPES, chip)
    engines = {n.name: AnalogLayer(n.name, n.W, chip.tile, cmap.layer(n.name), 1.0, rng, i)
               for i, n in enumerate(net.weight_layers())}
    rule = make_rule(AlgorithmSpec(name=name, params=params), net, engines, arch, 0, "arch")
    assert rule.aux_bytes == int(want)
