"""Bit-line IR drop: the per-column solve against a dense nodal solve, and its first-order limit."""
import dataclasses

import numpy as np
import pytest

from cimsim.config.arch import ArchSpec, DeviceSpec, StuckAtSpec
from cimsim.errors import ConfigError
from cimsim.functional import AnalogLayer
from cimsim.hw.chip import build_chip
from cimsim.hw.irdrop import attenuation
from cimsim.mapping import map_layers
from cimsim.testing.references import irdrop_first_order as first_order


def nodal_current(g_us: np.ndarray, v: np.ndarray, wire_ohm: float) -> float:
    """Exact column current (uA at volts): KCL at every bit-line node, cells from ideal row
    drivers, one wire segment per pitch down to a virtual ground after the last row."""
    g = g_us * 1e-6
    rows = len(g)
    a = np.zeros((rows, rows))
    b = g * v
    y = 1.0 / wire_ohm
    for i in range(rows):
        a[i, i] = g[i] + y + (y if i > 0 else 0.0)
        if i > 0:
            a[i, i - 1] = -y
        if i < rows - 1:
            a[i, i + 1] = -y
    nodes = np.linalg.solve(a, b)
    return nodes[-1] * y * 1e6


def current(g_us, v, factors):
    return float((g_us * v * factors).sum())


@pytest.mark.parametrize("seed", [0, 1])
def test_column_solve_is_the_circuit(seed):
    rng = np.random.default_rng(seed)
    rows = 64
    g = rng.uniform(1.0, 40.0, rows)
    v = rng.uniform(0.0, 0.5, rows) * (rng.random(rows) < 0.7)     # some rows undriven
    for r in (0.1, 2.5, 40.0):                                     # small to severe drop
        exact = nodal_current(g, v, r)
        assert current(g, v, attenuation(g[:, None], r)[:, 0]) == pytest.approx(exact, rel=1e-9)
    # several columns at once, batched over leading axes, each its own circuit
    gs = rng.uniform(1.0, 40.0, (2, 3, rows, 5))
    u = attenuation(gs, 2.5)
    for idx in np.ndindex(2, 3):
        for col in range(5):
            assert current(gs[idx][:, col], v, u[idx][:, col]) == pytest.approx(
                nodal_current(gs[idx][:, col], v, 2.5), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_first_order_limit_matches_to_second_order(seed):
    rng = np.random.default_rng(seed)
    rows = 64
    g = rng.uniform(1.0, 40.0, rows)
    v = rng.uniform(0.0, 0.5, rows)
    ideal = float((g * v).sum())
    errors = []
    for r in (0.4, 0.2, 0.1):
        exact = current(g, v, attenuation(g[:, None], r)[:, 0])
        approx = current(g, v, first_order(g[:, None], r)[:, 0])
        assert exact < ideal                                # the drop is real
        assert abs(approx - exact) < 0.1 * (ideal - exact)  # most of it is first order here
        errors.append(abs(approx - exact))
    # the neglected terms are second order in r: halving r quarters the error
    for big, small in zip(errors, errors[1:]):
        assert 3.5 < big / small < 4.5


def test_first_order_by_hand_on_three_rows():
    g = np.array([[10.0], [20.0], [30.0]])
    r = 2.0
    # c_j = sum_i G_i (R - max(i, j)), R = 3
    c = [10 * 3 + 20 * 2 + 30 * 1, 10 * 2 + 20 * 2 + 30 * 1, 10 * 1 + 20 * 1 + 30 * 1]
    np.testing.assert_allclose(first_order(g, r)[:, 0], 1 - r * 1e-6 * np.array(c))


def _arch(wire_ohm: float, rows: int = 64) -> ArchSpec:
    a = ArchSpec()
    dev = DeviceSpec(program_sigma=0.0, read_sigma=0.0, stuck_at=StuckAtSpec(0, 0))
    xb = dataclasses.replace(a.crossbar, wire_ohm_per_cell=wire_ohm, rows=rows)
    return dataclasses.replace(a, device=dev, crossbar=xb)


def test_far_rows_lose_more_on_the_chip():
    """One weight per row, one input at a time: the output of a far row shrinks by more."""
    w = np.zeros((64, 1), np.float32)
    w[:, 0] = 0.5
    outs = {}
    for r in (0.0, 2.0):
        chip = build_chip(_arch(r))
        lm = map_layers([("l", 64, 1)], chip).layer("l")
        layer = AnalogLayer("l", w, chip.tile, lm, 1.0, np.random.default_rng(0), 0)
        outs[r] = layer.state.g[0, :, :].sum(axis=1)                # effective levels per row
    loss = 1 - outs[2.0] / outs[0.0]
    assert np.all(loss > 0) and loss[0] > loss[-1]                    # row 0 is farthest
    assert np.all(np.diff(loss) < 0)


def test_wire_resistance_is_checked(root):
    from cimsim.config import load_arch

    with pytest.raises(ConfigError, match="wire_ohm_per_cell"):
        load_arch(root / "arch" / "rram_64x64.yaml", {"crossbar.wire_ohm_per_cell": "-1"})
