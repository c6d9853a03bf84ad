"""Write-driver operations of online writes: a row chunk per operation."""
import numpy as np
import pytest

from cimsim.config import load_arch
from cimsim.functional import AnalogLayer
from cimsim.hw.chip import build_chip
from cimsim.mapping import map_layers


def test_sparse_writes_cost_a_driver_operation_per_row(root):
    """Three changed weights in three rows: three row-chunk operations; in one row: one."""
    arch = load_arch(root / "arch" / "rram_64x64.yaml", {"device.stuck_at.low_rate": "0",
                                                          "device.stuck_at.high_rate": "0"}).spec
    chip = build_chip(arch)
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (64, 8)).astype(np.float32)
    lm = map_layers([("l", 64, 8)], chip).layer("l")
    layer = AnalogLayer("l", w, chip.tile, lm, 1.0, rng, 0)
    spread, row = layer.w_int.copy(), layer.w_int.copy()
    for k in (0, 10, 20):
        spread[k, 0] = -spread[k, 0] or 5              # a new value in rows 0, 10 and 20
    row[3, :3] = [-v or 5 for v in row[3, :3]]         # three new values in row 3
    res = chip.tile.apply_update(layer, spread)
    assert res.cells_written > 3 and res.row_ops == 3  # several cells per weight, one chunk per row
    layer.w_int = spread
    res = chip.tile.apply_update(layer, np.where(np.arange(64)[:, None] == 3, row, spread))
    assert res.row_ops == 1                            # 8 weights x 8 columns = one 64-cell chunk


def test_partial_sums_cross_tiles_by_hand(root):
    """Crossbars placed column group by column group, 8 per tile. 600x8: 10 row chunks of one
    column group on tiles 0 and 1: 8 partial sums per vector cross; 300x16: 5 chunks x 2
    groups, group 0 on crossbars 0-4 (tile 0), group 1 on 5-9 (tiles 0 and 1): 8 cross."""
    from cimsim.trace import NodeTrace

    chip = build_chip(load_arch(root / "arch" / "rram_64x64.yaml").spec)
    for k, n, split in ((600, 8, 8), (300, 16, 8), (200, 8, 0)):
        lm = map_layers([("l", k, n)], chip).layer("l")
        t = NodeTrace("l", "linear", ("input",), images=1, layer="l")
        chip.tile.count(t, lm, 3, 0)
        assert t.partial_sum_bytes == 3 * split * 2, (k, n)          # 16-bit partial sums
        convs = 3 * 8 * lm.row_chunks * sum(lm.cols_used) // 2
        assert t.shift_adds == convs + 3 * split


@pytest.mark.parametrize("shape, par, rate", [((2, 4, 37, 9), 64, 0.02), ((1, 3, 20, 30), 16, 0.3),
                                              ((2, 2, 5, 7), 7, 0.0)])
def test_hit_chunks_match_the_chunk_max_reference(shape, par, rate):
    """The sparse count of driver operations equals the dense reference (chunks whose max is 1)."""
    from cimsim.device.conductance import row_chunk_max, row_chunks_hit

    hit = np.random.default_rng(1).random(shape) < rate
    assert row_chunks_hit(hit, par) == int((row_chunk_max(hit.astype(np.uint8), par) > 0).sum())
