"""The batched stream without learning gives the per-sample loop's report, byte for byte."""
import numpy as np
import pytest
from test_train import run_tiny

from cimsim.kernels.mvm import analog_mvm
from cimsim.learning import online


def test_keys_split_a_call_into_independent_samples():
    """Three samples in one call with three keys = three calls of one sample each."""
    rng = np.random.default_rng(5)
    rows, k, n, s = 11, 40, 3, 4
    x = rng.integers(0, 256, (3 * rows, k)).astype(np.int32)
    g = rng.normal(0, 1, (2, k // 2, s * n)).astype(np.float32)
    args = dict(n_out=n, planes=8, bit_serial=True, bits_per_cell=2, step=0.37, code_lo=-128.0,
                code_hi=127.0, sigma_cell=0.3)
    together, clipped = analog_mvm(x, g, key=[101, 7, 55], block_bytes=4 * 8 * 2 * 12 * 5, **args)
    alone = [analog_mvm(x[i * rows:(i + 1) * rows], g, key=key, **args) for i, key in enumerate([101, 7, 55])]
    np.testing.assert_array_equal(together, np.concatenate([a for a, _ in alone]))
    assert clipped == sum(c for _, c in alone)
    swapped, _ = analog_mvm(x, g, key=[7, 101, 55], **args)
    assert np.any(swapped[:rows] != together[:rows])           # the key, not the position, draws
    with pytest.raises(ValueError, match="split evenly"):
        analog_mvm(x[:10], g, key=[1, 2, 3], **args)


@pytest.mark.parametrize("rule, scenario", [("none", "analog_drift"), ("none", "digital_drift"),
                                            ("none", "distribution_shift"), ("lrt", "analog_drift")])
def test_batched_stream_equals_the_per_sample_loop(tmp_path, root, monkeypatch, rule, scenario):
    """Drift events every 10 samples cut the batches of 7 unevenly; `lrt` runs its no-learning
    baseline as a batched stream; the net's batch norm makes signed inputs (two passes)."""
    monkeypatch.setattr(online, "STREAM_BATCH", 7)     # 16x16 inputs: STREAM_VALUES allows 16
    code, batched = run_tiny(tmp_path / "batched", root, rule, scenario, samples=33)
    monkeypatch.setattr(online, "STREAM_BATCH", 1)
    code1, single = run_tiny(tmp_path / "single", root, rule, scenario, samples=33)
    assert code == code1 == 0
    single = single.read_text().replace(str(tmp_path / "single"), str(tmp_path / "batched"))
    assert batched.read_text() == single
