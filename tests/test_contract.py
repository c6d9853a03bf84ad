"""The contract every registered tile and device model must keep (built-ins and the example
plugin): exact round trips on an ideal device, energies that are counts x per-action costs
and linear in the work, timing that grows with the work, non-negative areas and powers."""
import numpy as np
import pytest

from cimsim import plugins
from cimsim.config import load_arch
from cimsim.functional import AnalogLayer
from cimsim.hw.chip import build_chip
from cimsim.mapping import map_layers
from cimsim.trace import NodeTrace

IDEAL = {"device.program_sigma": "0", "device.read_sigma": "0", "device.stuck_at.low_rate": "0",
         "device.stuck_at.high_rate": "0"}
CHIPS = {                # every registered tile and device (and weight encoding), on a shipped file
    "crossbar+rram": ("arch/rram_64x64.yaml", {}),
    "crossbar+rram, offset encoding": ("arch/rram_64x64.yaml", {"crossbar.differential": "false"}),
    "crossbar+pcm": ("arch/pcm_256x256.yaml", {}),
    "crossbar+rram (ISAAC-sized)": ("arch/rram_128x128.yaml", {}),
    "sram_cim plugin+rram": ("examples/custom_tile/sram_cim_64x64.yaml", {}),
}


@pytest.fixture(params=sorted(CHIPS))
def chip(request, root, monkeypatch):
    monkeypatch.syspath_prepend(str(root / "examples" / "custom_tile"))
    plugins.load.cache_clear()
    path, extra = CHIPS[request.param]
    yield build_chip(load_arch(root / path, {**IDEAL, **extra}))
    plugins.load.cache_clear()


def test_every_registered_model_is_covered():
    tiles = {e.name for e in plugins.entries("tile")} | {"sram_cim"}
    devices = {e.name for e in plugins.entries("device")}
    assert tiles <= {"crossbar", "sram_cim"} and devices <= {"rram", "pcm"}


def test_ideal_device_round_trip_is_exact(chip):
    qmax = 2 ** (chip.arch.crossbar.weight_bits - 1) - 1
    w = np.random.default_rng(0).integers(-qmax, qmax + 1, (70, 12)).astype(np.int32)
    cells = chip.tile.program(w, np.random.default_rng(1))
    np.testing.assert_array_equal(chip.tile.decode(cells), w)
    g = chip.device.read(cells.g, np.random.default_rng(2))                # no read noise
    np.testing.assert_array_equal(g, cells.g)
    before = cells.g.copy()
    chip.device.drift(cells, 0.0, np.random.default_rng(3))                 # zero drift: unchanged
    np.testing.assert_array_equal(cells.g, before)
    # the time axis: as programmed at t = 0; one chip at any t (the same key, the same cells)
    np.testing.assert_array_equal(chip.device.at_time(cells, 0.0, 7), cells.g)
    later = chip.device.at_time(cells, 86400.0, 7)
    assert later.shape == cells.g.shape and np.all(np.isfinite(later))
    np.testing.assert_array_equal(later, chip.device.at_time(cells, 86400.0, 7))
    np.testing.assert_array_equal(cells.g, before)                           # reading never writes


def test_mvm_has_the_promised_shape(chip):
    rng = np.random.default_rng(4)
    w = rng.normal(0, 1, (70, 12)).astype(np.float32)
    lm = map_layers([("l", 70, 12)], chip).layer("l")
    layer = AnalogLayer("l", w, chip.tile, lm, 1.0, rng, 0)
    codes = np.zeros((5, lm.row_chunks * chip.arch.crossbar.rows), np.int32)   # rows of whole chunks
    codes[:, :70] = rng.integers(0, 2 ** chip.arch.dac.input_bits, (5, 70))
    y, clipped = chip.tile.mvm(layer, codes, [7])
    assert y.shape == (5, 12) and np.all(np.isfinite(y)) and 0 <= clipped
    zero, _ = chip.tile.mvm(layer, np.zeros_like(codes), [7])
    np.testing.assert_array_equal(zero, 0.0)                        # no input, no output


def _counted(chip, lm, vectors):
    t = NodeTrace("l", "linear", ("input",), images=1, layer="l")
    chip.tile.count(t, lm, vectors, 0)
    chip.tile.estimate_data(t, lm, vectors)
    return t


def test_energy_is_counts_times_costs_and_linear_in_the_work(chip):
    lm = map_layers([("l", 150, 20)], chip).layer("l")
    one, two = _counted(chip, lm, 7), _counted(chip, lm, 14)
    e1, e2 = chip.tile.costs.mvm_energy_pj(one), chip.tile.costs.mvm_energy_pj(two)
    assert set(e1) <= set(chip.tile.components) and all(v >= 0 for v in e1.values())
    assert sum(e1.values()) > 0
    for k, v in e1.items():
        assert e2[k] == pytest.approx(2 * v, rel=1e-12), k
    table, counts = chip.tile.costs.action_energies_pj(), chip.tile.costs.action_counts(one)
    if counts:                                    # a tile that lists its actions: they add up
        per_comp = {}
        for (comp, act), c in counts.items():
            per_comp[comp] = per_comp.get(comp, 0.0) + c * table[(comp, act)]
        for k, v in e1.items():
            assert per_comp.get(k, 0.0) == pytest.approx(v, rel=1e-12), k


def test_timing_grows_with_the_work_and_bounds_busy_time(chip):
    lm = map_layers([("l", 150, 20)], chip).layer("l")
    cycles = [chip.tile.timing.mvm_cycles(lm, p) for p in (1, 8, 64)]
    assert 1 <= cycles[0] <= cycles[1] <= cycles[2]
    arr, conv = chip.tile.timing.busy_cycles(lm, 64)
    assert 0 <= arr <= cycles[2] * lm.crossbars and 0 <= conv <= cycles[2] * lm.crossbars
    assert chip.tile.timing.program_cycles(1000) >= chip.tile.timing.program_cycles(10) >= 1


def test_areas_powers_and_write_costs_are_physical(chip):
    assert all(v >= 0 for v in chip.tile.costs.area_um2().values())
    assert all(v >= 0 for v in chip.peak_power_mw().values())
    assert chip.tile.costs.write_pulse_pj() >= 0 and chip.tile.costs.verify_read_pj() >= 0
    assert chip.tile.endurance_cycles() > 0 and chip.device.pulse_ns() > 0
