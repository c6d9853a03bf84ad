"""Weight encoding and one-shot programming."""
import dataclasses

import numpy as np
import pytest

from cimsim.config.arch import ArchSpec, CrossbarSpec, DeviceSpec, StuckAtSpec
from cimsim.device.conductance import program, quantise_weights
from cimsim.hw.encoding import weight_encoding


@pytest.mark.parametrize("differential, bits, bpc",
                         [(True, 8, 2), (False, 8, 2), (True, 6, 4), (False, 5, 3)])
def test_slices_reassemble_the_weight(differential, bits, bpc):
    arch = dataclasses.replace(ArchSpec(), crossbar=CrossbarSpec(weight_bits=bits, differential=differential),
                               device=DeviceSpec(bits_per_cell=bpc))
    q = 2 ** (bits - 1) - 1
    w = np.arange(-q, q + 1, dtype=np.int32).reshape(-1, 1)
    lv = weight_encoding(arch).encode(w).astype(np.int64)
    assert lv.max() <= 2 ** bpc - 1 and lv.shape[1] == weight_encoding(arch).slices
    val = sum(lv[:, s] * 2 ** (s * bpc) for s in range(weight_encoding(arch).slices))
    rebuilt = val[0] - val[1] if differential else val[0] - 2 ** (bits - 1)
    np.testing.assert_array_equal(rebuilt, w)


def test_quantise_weights_range_and_scale():
    w = np.array([[-1.0, 0.5], [0.25, 0.0]])
    q, s = quantise_weights(w, 8)
    assert q.min() == -127 and s == pytest.approx(1 / 127)
    np.testing.assert_allclose(q * s, w, atol=s / 2)


def test_programming_variation_and_stuck_rates():
    arch = dataclasses.replace(ArchSpec(), device=DeviceSpec(program_sigma=0.1,
                                                             stuck_at=StuckAtSpec(0.01, 0.02)))
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 4, (2, 4, 100, 100)).astype(np.uint8)
    cells = program(levels, arch, rng)
    n = levels.size
    for state, p in ((-1, 0.01), (1, 0.02)):
        k = np.count_nonzero(cells.stuck == state)
        assert abs(k - n * p) < 5 * np.sqrt(n * p * (1 - p))    # binomial, 5 sigma
    healthy = cells.stuck == 0
    err = (cells.g - levels)[healthy & (levels > 0)]        # pulsed cells: N(0, sigma L)
    sd = 0.1 * 3
    assert abs(err.mean()) < 5 * sd / np.sqrt(err.size)
    assert abs(err.std() / sd - 1) < 5 / np.sqrt(2 * err.size)
    assert np.all(cells.g[healthy & (levels == 0)] == 0)    # unpulsed cells stay at g_min
    assert np.all(cells.g[cells.stuck == -1] == 0) and np.all(cells.g[cells.stuck == 1] == 3)
    assert cells.pulses == np.count_nonzero(levels)
    assert np.array_equal(cells.pulses_per_cell, (levels > 0).astype(np.uint16))


def test_clip_to_range_keeps_programmed_cells_on_their_rails():
    """With clip_to_range, an error that would take a cell past g_min or g_max stops there;
    cells inside the range keep their error unchanged."""
    levels = np.random.default_rng(1).integers(1, 4, (2, 1, 200, 50)).astype(np.uint8)
    dev = DeviceSpec(program_sigma=0.3, stuck_at=StuckAtSpec(0, 0))
    free = program(levels, dataclasses.replace(ArchSpec(), device=dev), np.random.default_rng(2))
    arch = dataclasses.replace(ArchSpec(), device=dataclasses.replace(dev, clip_to_range=True))
    clipped = program(levels, arch, np.random.default_rng(2))
    outside = (free.g < 0) | (free.g > 3)
    assert outside.mean() > 0.01                        # sigma 0.9 levels: many cells pass a rail
    np.testing.assert_array_equal(clipped.g, np.clip(free.g, 0, 3))
