"""The streaming rank-r kernel against exact sums, its numpy reference and statistics."""
import numpy as np
import pytest

from cimsim.kernels.lowrank import factors, lowrank_update
from cimsim.testing.references import lowrank_reference


def run(us, vs, r, unbiased, kappa=1e9, qbits=0, key=1, dtype=np.float64):
    ql, qr, cx = np.zeros((r, us.shape[1]), dtype), np.zeros((r, vs.shape[1]), dtype), np.zeros(r)
    skipped = lowrank_update(ql, qr, cx, us.astype(dtype), vs.astype(dtype), unbiased, kappa, qbits,
                             np.uint64(key), 0)
    left, right = factors(ql, qr, cx)
    return left @ right.T, skipped, (ql, qr, cx)


@pytest.mark.parametrize("unbiased", [False, True])
def test_at_most_r_terms_are_exact(unbiased):
    rng = np.random.default_rng(0)
    us, vs = rng.normal(size=(4, 30)), rng.normal(size=(4, 20))
    approx, skipped, _ = run(us, vs, 4, unbiased)
    np.testing.assert_allclose(approx, us.T @ vs, atol=1e-10)
    np.testing.assert_allclose(lowrank_reference(us, vs, 4, unbiased, 1e9), us.T @ vs, atol=1e-10)
    assert skipped == 0


def test_biased_kernel_matches_reference_beyond_rank():
    rng = np.random.default_rng(1)
    us, vs = rng.normal(size=(15, 25)), rng.normal(size=(15, 18))
    approx, _, _ = run(us, vs, 3, False)
    ref = lowrank_reference(us, vs, 3, False, 1e9)
    np.testing.assert_allclose(approx, ref, atol=1e-9)
    assert np.linalg.norm(approx - us.T @ vs) > 0.1 * np.linalg.norm(us.T @ vs)   # really truncated


def test_unbiased_mean_converges_to_exact_sum():
    rng = np.random.default_rng(2)
    us, vs = rng.normal(size=(10, 12)), rng.normal(size=(10, 9))
    exact = us.T @ vs
    n = 2000
    est = np.stack([run(us, vs, 2, True, key=k + 1)[0] for k in range(n)])
    mean = est.mean(0)
    # standard error of the mean, per entry; the error norm of an unbiased mean is about
    # sqrt(sum of SE^2); allow 3x (a chi statistic with 108 dof rarely exceeds 1.3x its mean)
    se = est.std(0, ddof=1) / np.sqrt(n)
    bound = 3 * np.sqrt((se ** 2).sum())
    assert np.linalg.norm(mean - exact) < bound
    biased = run(us, vs, 2, False)[0]
    assert np.linalg.norm(biased - exact) > 3 * bound       # the test can tell bias apart


def test_kappa_gate_skips_ill_conditioned_terms():
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=(1, 16)), rng.normal(size=(1, 8))
    us, vs = np.vstack([u, u]), np.vstack([v, v])             # second term lies in the span
    approx, skipped, _ = run(us, vs, 2, False, kappa=100.0)
    assert skipped == 1
    np.testing.assert_allclose(approx, u.T @ v, atol=1e-9)    # only the first term was folded
    _, skipped, _ = run(us, vs, 2, False, kappa=1e30)
    assert skipped == 0


def test_sixteen_bit_state_stays_on_its_grid():
    rng = np.random.default_rng(4)
    us, vs = rng.normal(size=(20, 40)), rng.normal(size=(20, 30))
    q16, _, (ql, qr, _) = run(us, vs, 4, False, qbits=16, dtype=np.float32)
    exact_state = run(us, vs, 4, False)[0]
    for q in (ql, qr):
        codes = q / np.abs(q).max() * (2 ** 15 - 1)
        np.testing.assert_allclose(codes, np.round(codes), atol=2e-3)
    # 16-bit bases perturb the result by ~2^-15 relative per step
    assert np.linalg.norm(q16 - exact_state) < 1e-3 * np.linalg.norm(exact_state)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rotation_and_scale_match_numpy(dtype):
    """The rank-4 rotation against t[:4] @ a, and the max|.| it returns (and the separate
    bit-pattern max) against numpy, at both state precisions and with negative extremes."""
    from cimsim.kernels.lowrank import _max_abs_rows, _rotate5

    rng = np.random.default_rng(3)
    t, a = rng.normal(size=(5, 5)).astype(dtype), rng.normal(size=(5, 257)).astype(dtype)
    a[2, 100] = -40.0                        # the extreme output is negative
    o = np.full_like(a, np.nan)
    scale = _rotate5(t, a, o)
    ref = t[:4].astype(float) @ a.astype(float)
    # a 5-term dot product in working precision: |error| <= 5 eps sum_k |t_ik a_kj|
    bound = 5 * np.finfo(dtype).eps * (np.abs(t[:4]).astype(float) @ np.abs(a).astype(float))
    assert (np.abs(o[:4] - ref) <= bound).all()
    assert scale == np.abs(o[:4]).max() and np.isnan(o[4]).all()
    assert _max_abs_rows(o, 4) == np.abs(o[:4]).max()
    assert _max_abs_rows(a, 2) == np.abs(a[:2]).max()
    assert _max_abs_rows(np.zeros((3, 8), dtype), 3) == 0.0


def test_sign_counters_are_distinct_up_to_rank_64():
    """Rank 64 has tails of 65 entries: the 65th entry of term i must not reuse the counter
    (hence the sign) of the first entry of term i + 1, as idx x 64 + t did."""
    from cimsim.kernels.lowrank import sign_counter

    seen = {int(sign_counter(np.uint64(i), t)) for i in range(50) for t in range(65)}
    assert len(seen) == 50 * 65
    assert int(sign_counter(np.uint64(3), 5)) == 3 * 64 + 5          # ranks < 64: unchanged counters


def test_lrt_term_operation_count_by_hand():
    """r = 1 (q = 2), K + N = 10: Gram-Schmidt (4 + 3) + rotation 2 x 1 x 2 + re-quantisation
    2 per entry = 13 x 10; Jacobi 18 x 2 x 1 pair x 5 sweeps = 180; C and (U M)^T, (V M)^T:
    2 x 4 + 4 x 1 x 4 = 24."""
    from cimsim.learning.rules import lrt_term_ops

    assert lrt_term_ops(1, 10) == 130 + 180 + 24
    assert lrt_term_ops(4, 0) == 18 * 5 * 10 * 5 + 2 * 25 + 4 * 4 * 25
