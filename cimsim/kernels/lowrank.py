"""Streaming rank-r accumulation of rank-1 gradient terms (LRT, Gural et al. 2020).

State: orthonormal-ish bases QL (n, r), QR (m, r) (stored transposed, as rows) and weights
cx (r,), so that the accumulated sum of terms u v^T is approximated by QL diag(cx) QR^T,
i.e. L R^T with L = QL diag(sqrt(cx)), R = QR diag(sqrt(cx)). Per term (u, v), with q = r + 1:

1. modified Gram-Schmidt of u against QL's columns (coefficients cL, residual norm as the
   q-th coefficient, normalised residual as the q-th basis vector); likewise v against QR;
2. gate: skip the term if cx[0] > kappa * |u_perp| * |v_perp| (ill-conditioned update);
3. C = cL cR^T + diag(cx, 0) (q x q), SVD C = U diag(s) V^T;
4. rank reduction to r: biased keeps the top r triplets; unbiased ("optimal Kronecker
   sum", Benzing et al. 2019) keeps s[0..j-1] and replaces the tail s[j..q-1] by q-1-j
   equal values sk = sum(tail) / (q-1-j), mixed by D P: D random +-1 signs, P (tail x
   tail-1) an orthonormal basis of a-perp with a_i = sqrt(1 - s_i / sk) (so diag(P P^T) =
   s_tail / sk and E[L R^T] equals the exact sum); j is lowered while feasible;
5. QL <- [QL, uq] U M, QR <- [QR, vq] V M (M: the q x r kept/mixed columns), cx <- new weights;
6. QL and QR are re-quantised to `qbits` signed bits with a dynamic max-abs scale.

One numba call folds all of a sample's terms for one layer (a conv layer gives one term per
output pixel). Random signs come from a counter-based hash (seed, term index), so runs are
reproducible and independent of how terms are batched.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .mvm import _mix

EPS = 1e-12


@njit(cache=True, inline="always")
def _sign(key: np.uint64, idx: np.uint64) -> float:
    return 1.0 if (_mix(key ^ idx) >> np.uint64(63)) == np.uint64(0) else -1.0


@intrinsic
def _abs_bits(typingctx, x):
    """|x| as an integer with the same order (IEEE bits, sign cleared; finite x): an integer
    max of these vectorises inside a loop where a float max does not."""
    width = {types.float32: 32, types.float64: 64}.get(x)
    if width is None:
        return None

    def codegen(context, builder, sig, args):
        bits = builder.bitcast(args[0], ir.IntType(width))
        return builder.and_(bits, ir.Constant(ir.IntType(width), (1 << (width - 1)) - 1))
    return (types.int32 if width == 32 else types.int64)(x), codegen


@intrinsic
def _float_of_bits(typingctx, b):
    """Inverse of _abs_bits for a non-negative value."""
    target = {types.int32: types.float32, types.int64: types.float64}.get(b)
    if target is None:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(target))
    return target(b), codegen


@njit(cache=True, fastmath=True)
def _max_abs_rows(q: np.ndarray, rows: int) -> float:
    """max |q| over the first `rows` rows of a C-contiguous array, as an integer max of
    _abs_bits (9x faster than a float max at float32, which does not vectorise)."""
    flat = q.reshape(-1)
    m = _abs_bits(flat[0] - flat[0])
    for k in range(rows * q.shape[1]):
        v = _abs_bits(flat[k])
        m = v if v > m else m
    return _float_of_bits(m)


@njit(cache=True, fastmath=True)
def _quantise_rows(q: np.ndarray, rows: int, qbits: int, scale: float) -> None:
    """In place, the first `rows` rows: signed qbits fixed point with the dynamic scale
    `scale` = max|q| over those rows (round half to even)."""
    if scale <= 0.0:
        return
    top = 2.0 ** (qbits - 1) - 1.0
    flat = q.reshape(-1)
    if q.itemsize == 4:                         # float32 arithmetic keeps the loop vectorised
        up, down = np.float32(top / scale), np.float32(scale / top)
        for k in range(rows * q.shape[1]):
            flat[k] = np.rint(flat[k] * up) * down
    else:
        for k in range(rows * q.shape[1]):
            flat[k] = np.rint(flat[k] * (top / scale)) * (scale / top)


@njit(cache=True, fastmath=True)
def _mgs(basis: np.ndarray, x: np.ndarray, r: int, coef: np.ndarray) -> float:
    """Modified Gram-Schmidt of x against the rows 0..r-1 of `basis` (x in place); coef[i]
    gets <b_i, x> of the partly orthogonalised x, as MGS prescribes. Each pass subtracts one
    projection and accumulates the next coefficient (or, last, |x|^2): r + 1 passes over x
    instead of 2r + 1. x must not be a row of `basis` (aliasing stops vectorisation).
    Returns |x_perp|^2."""
    n = x.shape[0]
    zero = x[0] - x[0]                      # accumulate in the state's precision
    c = zero
    b0 = basis[0]
    for k in range(n):
        c += b0[k] * x[k]
    for i in range(r):
        coef[i] = c
        ci = c
        bi = basis[i]
        nxt = zero
        if i + 1 < r:
            b1 = basis[i + 1]
            for k in range(n):
                xv = x[k] - ci * bi[k]
                x[k] = xv
                nxt += b1[k] * xv
        else:
            for k in range(n):
                xv = x[k] - ci * bi[k]
                x[k] = xv
                nxt += xv * xv
        c = nxt
    return c


@njit(cache=True, fastmath=True)
def _copy(dst: np.ndarray, src: np.ndarray) -> None:
    """dst[:] = src as a plain loop: numba's slice assignment takes a generic strided path,
    0.85 us against 0.15 us for 2048 float32 values."""
    for k in range(dst.shape[0]):
        dst[k] = src[k]


@njit(cache=True, fastmath=True)
def _put_row(dst: np.ndarray, row: int, x: np.ndarray, f: float) -> None:
    """dst[row] = f x (the normalised residual becomes the q-th basis row)."""
    d = dst[row]
    if x.itemsize == 4:
        fx = np.float32(f)
        for k in range(x.shape[0]):
            d[k] = x[k] * fx
    else:
        for k in range(x.shape[0]):
            d[k] = x[k] * f


@njit(cache=True)
def _svd_small(a: np.ndarray, v: np.ndarray, sv: np.ndarray, order: np.ndarray, u: np.ndarray,
               vt: np.ndarray, s_out: np.ndarray, tol: float = 1e-14) -> None:
    """SVD of a small square matrix a (destroyed) by one-sided Jacobi rotations (exact to
    ~1e-15 in a few sweeps for q <= 16; ~20x cheaper than a LAPACK call at q = 5) into the
    given work arrays: a = u diag(s_out) vt with s_out descending; columns of u for zero
    singular values are left zero (they carry no weight). No allocation: it runs per term.
    A pair is rotated while |a_p . a_k| > tol |a_p| |a_k|."""
    q = a.shape[0]
    for i in range(q):
        for j in range(q):
            v[i, j] = 1.0 if i == j else 0.0
    for _ in range(30):
        rotated = False
        for p in range(q - 1):
            for k in range(p + 1, q):
                alpha = beta = gamma = 0.0
                for i in range(q):
                    alpha += a[i, p] * a[i, p]
                    beta += a[i, k] * a[i, k]
                    gamma += a[i, p] * a[i, k]
                if abs(gamma) <= tol * np.sqrt(alpha * beta) or gamma == 0.0:
                    continue
                rotated = True
                zeta = (beta - alpha) / (2.0 * gamma)
                t = (1.0 if zeta >= 0 else -1.0) / (abs(zeta) + np.sqrt(1.0 + zeta * zeta))
                c = 1.0 / np.sqrt(1.0 + t * t)
                sn = c * t
                for i in range(q):
                    ap, ak = a[i, p], a[i, k]
                    a[i, p] = c * ap - sn * ak
                    a[i, k] = sn * ap + c * ak
                    vp, vk = v[i, p], v[i, k]
                    v[i, p] = c * vp - sn * vk
                    v[i, k] = sn * vp + c * vk
        if not rotated:
            break
    for j in range(q):
        acc = 0.0
        for i in range(q):
            acc += a[i, j] * a[i, j]
        sv[j] = np.sqrt(acc)
        order[j] = j
    for j in range(1, q):                 # insertion sort, descending (q is tiny)
        x = order[j]
        i = j - 1
        while i >= 0 and sv[order[i]] < sv[x]:
            order[i + 1] = order[i]
            i -= 1
        order[i + 1] = x
    top = max(sv[order[0]], EPS)
    for jj in range(q):
        j = order[jj]
        s_out[jj] = sv[j]
        keep = sv[j] > EPS * top
        for i in range(q):
            u[i, jj] = a[i, j] / sv[j] if keep else 0.0
            vt[jj, i] = v[i, j]


@njit(cache=True)
def sign_counter(idx: np.uint64, t: int) -> np.uint64:
    """The hash counter of the random sign of tail entry t (0..64: ranks up to 64 have
    tails of up to 65) of term idx. Entries 0..63 take idx x 64 + t; entry 64 takes the same
    counter as entry 0 with the top bit set, so it never meets entry 0 of term idx + 1 (term
    counters stay far below 2^57)."""
    if t < 64:
        return idx * np.uint64(64) + np.uint64(t)
    return (idx * np.uint64(64) + np.uint64(t - 64)) | (np.uint64(1) << np.uint64(63))


@njit(cache=True)
def _reduce(s: np.ndarray, unbiased: bool, key: np.uint64, idx: np.uint64, mix: np.ndarray,
            w: np.ndarray, a: np.ndarray, wv: np.ndarray) -> None:
    """q singular values (descending) -> mixing matrix mix (q, r) and new weights w (r,),
    written into the given arrays (a, wv: work vectors of length q)."""
    q = s.shape[0]
    r = q - 1
    for i in range(q):
        for c in range(r):
            mix[i, c] = 0.0
    for i in range(r):
        w[i] = 0.0
    if not unbiased or s[q - 1] <= EPS * max(s[0], EPS):
        for i in range(r):
            mix[i, i] = 1.0
            w[i] = s[i]
        return
    # grow the tail s[j:] while its largest value fits under the equal share sk
    j = q - 2
    total = s[q - 2] + s[q - 1]
    while j > 0:
        cand = total + s[j - 1]
        k = q - (j - 1) - 1
        if s[j - 1] * k > cand:
            break
        j -= 1
        total = cand
    tail = q - j
    k = tail - 1
    sk = total / k
    for i in range(j):
        mix[i, i] = 1.0
        w[i] = s[i]
    # a: unit vector with a_i^2 = 1 - s_i/sk; Householder H maps e1 to a; columns 2.. of H
    # are an orthonormal basis of a-perp
    for t in range(tail):
        a[t] = np.sqrt(max(0.0, 1.0 - s[j + t] / sk))
        wv[t] = a[t]
    wv[0] -= 1.0
    wn = 0.0
    for t in range(tail):
        wn += wv[t] * wv[t]
    for t in range(tail):
        sg = _sign(key, sign_counter(idx, t))
        for c in range(k):
            h = (1.0 if t == c + 1 else 0.0) - (2.0 * wv[t] * wv[c + 1] / wn if wn > EPS else 0.0)
            mix[j + t, j + c] = sg * h
    for c in range(k):
        w[j + c] = sk


@njit(cache=True, fastmath=True)
def _rotate5(t: np.ndarray, a: np.ndarray, o: np.ndarray) -> float:
    """o[:4] = t[:4] a for q = 5 (rank 4, the paper's and the default rank): one pass over
    the five rows with the 20 coefficients in registers; 2x faster than a BLAS call on
    this tiny-M shape. Other ranks use np.dot. Returns max|o[:4]| (the re-quantisation's
    scale, found in the same pass as an integer max of the IEEE bits)."""
    a0, a1, a2, a3, a4 = a[0], a[1], a[2], a[3], a[4]
    o0, o1, o2, o3 = o[0], o[1], o[2], o[3]
    t00, t01, t02, t03, t04 = t[0, 0], t[0, 1], t[0, 2], t[0, 3], t[0, 4]
    t10, t11, t12, t13, t14 = t[1, 0], t[1, 1], t[1, 2], t[1, 3], t[1, 4]
    t20, t21, t22, t23, t24 = t[2, 0], t[2, 1], t[2, 2], t[2, 3], t[2, 4]
    t30, t31, t32, t33, t34 = t[3, 0], t[3, 1], t[3, 2], t[3, 3], t[3, 4]
    m = _abs_bits(a0[0] - a0[0])
    for j in range(a.shape[1]):
        x0, x1, x2, x3, x4 = a0[j], a1[j], a2[j], a3[j], a4[j]
        y0 = t00 * x0 + t01 * x1 + t02 * x2 + t03 * x3 + t04 * x4
        y1 = t10 * x0 + t11 * x1 + t12 * x2 + t13 * x3 + t14 * x4
        y2 = t20 * x0 + t21 * x1 + t22 * x2 + t23 * x3 + t24 * x4
        y3 = t30 * x0 + t31 * x1 + t32 * x2 + t33 * x3 + t34 * x4
        o0[j] = y0
        o1[j] = y1
        o2[j] = y2
        o3[j] = y3
        b0, b1, b2, b3 = _abs_bits(y0), _abs_bits(y1), _abs_bits(y2), _abs_bits(y3)
        b01 = b0 if b0 > b1 else b1
        b23 = b2 if b2 > b3 else b3
        b = b01 if b01 > b23 else b23
        m = b if b > m else m
    return _float_of_bits(m)


@njit(cache=True)
def lowrank_update(ql: np.ndarray, qr: np.ndarray, cx: np.ndarray, us: np.ndarray, vs: np.ndarray,
                   unbiased: bool, kappa: float, qbits: int, key: np.uint64, counter: int) -> int:
    """Fold terms us[t] (n) x vs[t] (m) into the state in place: ql (r, n) and qr (r, m) hold
    the bases as rows (contiguous; float32 in the simulator, float64 in exactness tests), cx
    (r,) the weights.

    Returns the number of terms skipped by the kappa gate. `counter` is the global index of
    the first term (for the random signs). The bases live in two (q, n) buffers that swap
    roles every term (row r of the current one takes the new term), so nothing is copied;
    the rotation [Q; u] -> new Q is one small GEMM per side.
    """
    r, n = ql.shape
    m = qr.shape[1]
    q = r + 1
    al = np.empty((q, n), ql.dtype)
    ar = np.empty((q, m), qr.dtype)
    bl = np.empty((q, n), ql.dtype)
    br = np.empty((q, m), qr.dtype)
    for i in range(r):
        _copy(al[i], ql[i])
        _copy(ar[i], qr[i])
    cl = np.empty(q)
    cr = np.empty(q)
    c = np.empty((q, q))
    tl = np.zeros((q, q), ql.dtype)     # last row stays zero: row r of the product is unused
    tr = np.zeros((q, q), qr.dtype)
    xl = np.empty(n, ql.dtype)
    xr = np.empty(m, qr.dtype)
    # work arrays of the small SVD and the rank reduction (nothing is allocated per term)
    jv, uc, vct = np.empty((q, q)), np.empty((q, q)), np.empty((q, q))
    sv0, sv = np.empty(q), np.empty(q)
    order = np.empty(q, np.int64)
    mix, w = np.empty((q, r)), np.empty(r)
    hv, hw = np.empty(q), np.empty(q)
    # float32 state (re-quantised to <= 24 bits): orthogonality to 1e-7 is below its grid
    svd_tol = 1e-14 if ql.itemsize == 8 else 1e-7
    skipped = 0
    for t in range(us.shape[0]):
        _copy(xl, us[t])
        _copy(xr, vs[t])
        nu = np.sqrt(_mgs(al, xl, r, cl)) + EPS
        nv = np.sqrt(_mgs(ar, xr, r, cr)) + EPS
        if cx[0] > kappa * nu * nv:
            skipped += 1
            continue
        cl[r] = nu
        cr[r] = nv
        _put_row(al, r, xl, 1.0 / nu)
        _put_row(ar, r, xr, 1.0 / nv)
        for i in range(q):
            for k in range(q):
                c[i, k] = cl[i] * cr[k]
        for i in range(r):
            c[i, i] += cx[i]
        _svd_small(c, jv, sv0, order, uc, vct, sv, svd_tol)
        _reduce(sv, unbiased, key, np.uint64(counter + t), mix, w, hv, hw)
        for i in range(r):                  # tl = (U M)^T, tr = (V M)^T
            for k in range(q):
                sl = 0.0
                sr = 0.0
                for z in range(q):
                    sl += uc[k, z] * mix[z, i]
                    sr += vct[z, k] * mix[z, i]
                tl[i, k] = sl
                tr[i, k] = sr
        if q == 5:
            scale_l = _rotate5(tl, al, bl)
            scale_r = _rotate5(tr, ar, br)
        else:
            np.dot(tl, al, bl)
            np.dot(tr, ar, br)
            scale_l = _max_abs_rows(bl, r) if qbits > 0 else 0.0
            scale_r = _max_abs_rows(br, r) if qbits > 0 else 0.0
        al, bl = bl, al
        ar, br = br, ar
        for i in range(r):
            cx[i] = w[i]
        if qbits > 0:
            _quantise_rows(al, r, qbits, scale_l)
            _quantise_rows(ar, r, qbits, scale_r)
    for i in range(r):
        _copy(ql[i], al[i])
        _copy(qr[i], ar[i])
    return skipped


def factors(ql: np.ndarray, qr: np.ndarray, cx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L (n, r), R (m, r) with L R^T = QL^T diag(cx) QR (bases stored as rows)."""
    root = np.sqrt(np.maximum(cx, 0.0))
    return (ql * root[:, None]).T, (qr * root[:, None]).T
