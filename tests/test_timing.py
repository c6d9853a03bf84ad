"""The SimPy timing model against closed-form cycle counts (numbers from the YAML by hand)."""
import dataclasses

import pytest

from cimsim.config import load_arch
from cimsim.hw.chip import build_chip
from cimsim.mapping import map_layers
from cimsim.timing import simulate, stage_times
from cimsim.trace import NodeTrace, Trace


@pytest.fixture
def arch(root):
    return load_arch(root / "arch" / "rram_64x64.yaml").spec


def layer(name, inp, images, vectors, sram=0):
    """A weight layer reading `sram` bytes per image from its input."""
    return NodeTrace(name, "linear", (inp,), images=images, layer=name, vectors=vectors * images, planes=8,
                     sram_read_bytes=sram * images, in_bytes=[sram * images])


def test_isolated_mvm_equals_closed_form(arch):
    # 100x10 layer: rows (64, 36), 10 weights -> column groups of 8 and 2 weights (64 and 16 columns).
    # Busiest crossbar: 64 columns = 32 differential pairs on 1 ADC: 32 x 0.78125 ns = 25 cycles;
    # array read 10 ns = 10 cycles at 1 GHz. One vector x 8 planes through a 2-stage pipeline:
    # 10 + 25 + 7 x 25 = 210 cycles.
    cmap = map_layers([("fc", 100, 10)], build_chip(arch))
    res = simulate(Trace([layer("fc", "input", 1, 1)]), build_chip(arch), cmap)
    assert res.makespan_cycles == 210
    assert res.image_latency_cycles == [210]
    # with data movement: 1000 input bytes come from the port's buffer (tile 0) to fc's home
    # (tile 0 too, same router: no flow); fc reads them from its one tile's share of a
    # 32 B/cycle buffer shared by 12 tiles: 1000 x 12 / 32 = 375 cycles, which bounds the
    # stage (it overlaps the 210 compute cycles)
    res = simulate(Trace([layer("fc", "input", 1, 1, sram=1000)]), build_chip(arch), cmap)
    assert res.makespan_cycles == 375
    one = dataclasses.replace(arch, sram_buffer=dataclasses.replace(arch.sram_buffer, tiles_per_buffer=1))
    res = simulate(Trace([layer("fc", "input", 1, 1, sram=1000)]), build_chip(one), cmap)
    assert res.makespan_cycles == 210          # a whole buffer: 1000 / 32 = 32 cycles, compute bounds
    far = map_layers([("pad", 64 * 8, 64), ("fc", 100, 10)], build_chip(arch))    # fc on tile 8, router 2
    res = simulate(Trace([layer("fc", "input", 1, 1, sram=1000)]), build_chip(one), far)
    assert res.makespan_cycles == 1000 // 4 + 2         # 2 hops over 4 B/cycle links: the flow bounds


def test_halving_adcs_doubles_the_adc_bound_stage(arch):
    arch = dataclasses.replace(arch, adc=dataclasses.replace(arch.adc, latency_ns=1.0, per_crossbar=2))
    half = dataclasses.replace(arch, adc=dataclasses.replace(arch.adc, per_crossbar=1))
    cmap = map_layers([("fc", 64, 8)], build_chip(arch))
    n = layer("fc", "input", 1, 100)
    st2, st1 = stage_times(n, build_chip(arch), cmap), stage_times(n, build_chip(half), cmap)
    assert st1.adc_busy == 2 * st2.adc_busy == 2 * 800 * 16     # 800 vector-planes x 16 conversions
    t2 = simulate(Trace([n]), build_chip(arch), cmap).makespan_cycles
    t1 = simulate(Trace([n]), build_chip(half), cmap).makespan_cycles
    assert (t2, t1) == (10 + 16 * 800, 10 + 32 * 800)         # fill + 800 x ADC stage


@pytest.mark.parametrize("kind, cases", [
    # SAR: time x bits/8; energy by the survey fit (hand values in test_energy.py)
    ("sar", [(8, 2.0, 32), (6, None, 24), (10, None, 40)]),
    # flash: energy x (2^b - 1)/255, time constant; ramp: energy and time x 2^(b - 8)
    ("flash", [(8, 2.0, 32), (6, 2.0 * 63 / 255, 32), (10, 2.0 * 1023 / 255, 32)]),
    ("ramp", [(8, 2.0, 32), (6, 0.5, 8), (10, 8.0, 128)])])
def test_adc_bits_scale_conversion_energy_and_time(arch, kind, cases):
    """Figures quoted at reference_bits, scaled with bits as the converter's type says."""
    arch = dataclasses.replace(arch, adc=dataclasses.replace(arch.adc, latency_ns=1.0, energy_pj=2.0,
                                                             type=kind))
    cmap = map_layers([("fc", 64, 8)], build_chip(arch))                  # 8 weights x 8 columns = 64 columns
    for bits, e_pj, conv_cycles in cases:
        a = dataclasses.replace(arch, adc=dataclasses.replace(arch.adc, bits=bits))
        tile = build_chip(a).tile
        if e_pj is not None:
            assert tile.costs.parts["adc"].conversion_pj() == pytest.approx(e_pj, rel=1e-12)
        # 32 differential column pairs on one ADC
        assert tile.timing.adc_cycles(cmap.layer("fc")) == conv_cycles


def test_pipeline_steady_state_throughput(arch):
    # two layers in a chain: stage a (1 vector) and b (3 vectors); N images pipeline as
    # a + b + (N - 1) x max(a, b)
    cmap = map_layers([("l1", 64, 8), ("l2", 64, 8)], build_chip(arch))
    chip = build_chip(arch)
    n_img = 10
    tr = Trace([layer("l1", "input", n_img, 1), layer("l2", "l1", n_img, 3)])
    a = stage_times(tr.nodes[0], chip, cmap).compute
    b = stage_times(tr.nodes[1], chip, cmap).compute
    assert (a, b) == (10 + 25 + 7 * 25, 10 + 25 + 23 * 25)
    res = simulate(tr, chip, cmap)
    assert res.makespan_cycles == a + b + (n_img - 1) * max(a, b)
    assert res.image_latency_cycles[0] == a + b
    assert res.busy_cycles["tiles:l2"] == n_img * b


def test_shared_sram_port_serialises_parallel_branches(arch):
    one_port = dataclasses.replace(arch, sram_buffer=dataclasses.replace(arch.sram_buffer, ports=1))
    cmap = map_layers([], build_chip(one_port))
    tr = Trace([NodeTrace(name, "relu", ("input",), images=1, sram_read_bytes=3200, digital_ops=64)
                for name in ("a", "b")])
    # both run where the input lives (tile 0's share of a buffer of 12 tiles): each branch
    # 3200 x 12 / 32 = 1200 SRAM cycles and 1 digital cycle; one port: the second waits
    assert simulate(tr, build_chip(one_port), cmap).makespan_cycles == 2400
    assert simulate(tr, build_chip(arch), cmap).makespan_cycles == 1200   # two ports: in parallel


def test_row_pipelining_closed_form(arch):
    """Two 64x8 layers, 4 vectors x 8 planes per image. Whole images: each takes 10 + 25 +
    31 x 25 = 810 cycles, one after the other: 1620. Four row steps of one vector each
    (10 + 25 + 7 x 25 = 210), l2's step j after l1's step j: l1 ends at 840, l2 one step
    later, 1050."""
    from cimsim.timing import RowPlan

    chip = build_chip(arch)
    cmap = map_layers([("l1", 64, 8), ("l2", 64, 8)], chip)
    tr = Trace([layer("l1", "input", 1, 4), layer("l2", "l1", 1, 4)])
    assert simulate(tr, chip, cmap).makespan_cycles == 1620
    rows = {"l1": RowPlan(4, {}), "l2": RowPlan(4, {"l1": (1, 2, 3, 4)})}
    assert simulate(tr, chip, cmap, rows=rows).makespan_cycles == 1050
    # a 3-row window (stride 1, no padding) needs rows j + 3 of its input, clipped: l2's first
    # step waits for three of l1's, the rest follow one step behind
    rows["l2"] = RowPlan(4, {"l1": (3, 4, 4, 4)})
    assert simulate(tr, chip, cmap, rows=rows).makespan_cycles == 3 * 210 + 210 + 3 * 210
