"""Analog matrix-vector multiply on programmed crossbars (numba); its numpy reference is
cimsim.testing.references.analog_mvm_reference.

Maths, in integer "level" units (one unit = one conductance step of one cell):

    x_int (M, K)     unsigned DAC codes of the inputs, 0 .. 2**input_bits - 1
    G     (C, R, S*N)  programmed cell conductances per row chunk c (one crossbar's R rows),
                       slice s (column j = s*N + n), differential (G+ - G-) or offset-encoded
    for each input plane p (bit-serial: bit p of x_int; else x_int itself):
        partial[c, m, j] = sum_r plane[m, c*R + r] * G[c, r, j]        (crossbar column current)
                         + sigma_col[c, m] * z                          (read noise, one draw per output)
        u                = partial / step + offset[c, j] / step            (ADC input, in LSB)
        code             = clip(round(u + inl (1 - d**2)), code_lo, code_hi)  (column ADC; d: u's
                           position from mid-scale, -1..1: a bow-shaped INL of `inl` LSB)
        y[m, n]         += code * step * plane_weight[p] * 2**(s * bits_per_cell)   (shift-add)

Read noise is the sum of independent per-cell noises, so one draw per column output
with sigma_col**2 = cells_per_column * (read_sigma * L)**2 * sum_r plane[m, r]**2 is exact
in its first two moments. The draw is counter-based (a splitmix64 hash of seed, call, and
output index), so results do not depend on thread scheduling. The kernel sums the 8 bytes
of one 64-bit hash (Irwin-Hall of 8 uniforms, in steps of 0.005 sigma): exact mean and
variance, kurtosis 2.85 instead of 3, tails bounded at +-4.9 sigma. That is ~20x cheaper
than Box-Muller here; the column noise is itself a sum of cell noises, so the CLT shape is
in keeping with the physics (docs/design.md).
"""
from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
from numba import njit
from threadpoolctl import ThreadpoolController

from ..workers import available_cores


@njit(cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    """splitmix64 finaliser: a well-mixed 64-bit hash of z."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _gauss_raw(key: np.uint64, idx: np.uint64) -> np.float32:
    """Sum of the 8 bytes of one hash of (key, idx): 8 uniform variates on 0..255
    (SWAR: pairwise byte sums, then one multiply adds the four 16-bit lanes)."""
    h = _mix(key ^ idx)
    lanes = (h & np.uint64(0x00FF00FF00FF00FF)) + ((h >> np.uint64(8)) & np.uint64(0x00FF00FF00FF00FF))
    return np.float32((lanes * np.uint64(0x0001000100010001)) >> np.uint64(48))


_IH_MEAN = 8 * 255 / 2
_IH_SCALE = 1.0 / np.sqrt(8 * (256 ** 2 - 1) / 12)


@njit(cache=True)
def gauss_array(key: np.uint64, n: int) -> np.ndarray:
    """The kernel's standardised noise stream for indices 0..n-1 (for tests of its statistics)."""
    out = np.empty(n, np.float64)
    for i in range(n):
        out[i] = (np.float64(_gauss_raw(key, np.uint64(i))) - _IH_MEAN) * _IH_SCALE
    return out


@njit(cache=True, nogil=True, fastmath=True)
def adc_shift_add(partial: np.ndarray, sum_sq: np.ndarray, sigma_cell: float, y: np.ndarray,
                  n_out: int, step: float, code_lo: float, code_hi: float, plane_weight: np.ndarray,
                  bits_per_cell: int, keys: np.ndarray, m0: int, group_rows: int) -> int:
    """Read noise, ADC and shift-add of every plane; accumulates into y (M, n_out).

    partial: (C, P*M, S*n_out) float32 column sums, plane-major along the second axis;
    sum_sq: (P, C, M) sum of squared plane inputs per crossbar read, so that each column
    output's noise std is sigma_cell * sqrt(sum_sq); m0: index of this block's first vector
    among all; keys: the mixed noise key of each group of group_rows consecutive vectors
    (a vector's noise is indexed by its group's key and its place in the group, so it does
    not depend on the blocking, nor on which other groups share the call). The column loop is
    branch-free over all S*n_out columns so that it vectorises; slices are folded after it.
    Returns the number of conversions that clipped.
    """
    n_chunks, pm, sn = partial.shape
    n_planes = plane_weight.shape[0]
    m_vec = pm // n_planes
    n_slices = sn // n_out
    inv = np.float32(1.0 / step)
    lo, hi = np.float32(code_lo), np.float32(code_hi)
    scale = np.float32(_IH_SCALE)
    mean = np.float32(_IH_MEAN)
    col_weight = np.empty(sn, np.float32)            # 2**(s * bits_per_cell) of column j
    for j in range(sn):
        col_weight[j] = np.float32(2.0 ** ((j // n_out) * bits_per_cell))
    codes = np.zeros(sn, np.float32)
    clipped = 0
    for m in range(m_vec):
        grp = (m0 + m) // group_rows
        key, local = keys[grp], m0 + m - grp * group_rows
        for p in range(n_planes):
            for c in range(n_chunks):
                sd = np.float32(sigma_cell * np.sqrt(sum_sq[p, c, m])) * scale
                row = p * m_vec + m
                if sd > 0:
                    base = np.uint64(((p * n_chunks + c) * group_rows + local) * sn)
                    for j in range(sn):
                        z = _gauss_raw(key, base + np.uint64(j)) - mean
                        q = np.floor((partial[c, row, j] + sd * z) * inv + np.float32(0.5))
                        qc = min(max(q, lo), hi)
                        clipped += qc != q
                        codes[j] += qc * col_weight[j]
                else:
                    for j in range(sn):
                        q = np.floor(partial[c, row, j] * inv + np.float32(0.5))
                        qc = min(max(q, lo), hi)
                        clipped += qc != q
                        codes[j] += qc * col_weight[j]
            w = step * plane_weight[p]
            for s in range(n_slices):
                for n in range(n_out):
                    y[m, n] += codes[s * n_out + n] * w
            codes[:] = 0
    return clipped


@njit(cache=True, nogil=True, fastmath=True)
def adc_shift_add_inl(partial: np.ndarray, sum_sq: np.ndarray, sigma_cell: float, y: np.ndarray,
                      n_out: int, step: float, code_lo: float, code_hi: float, plane_weight: np.ndarray,
                      bits_per_cell: int, keys: np.ndarray, m0: int, group_rows: int, inl: float) -> int:
    """`adc_shift_add` with an ADC of bow-shaped integral nonlinearity: `inl` LSB at mid-scale,
    zero at both ends, inl (1 - d**2) at relative position d in -1..1. A kernel of its own so
    that the ideal converter's code (and its results, bit for bit) stays as it was."""
    n_chunks, pm, sn = partial.shape
    n_planes = plane_weight.shape[0]
    m_vec = pm // n_planes
    n_slices = sn // n_out
    inv = np.float32(1.0 / step)
    lo, hi = np.float32(code_lo), np.float32(code_hi)
    scale, mean = np.float32(_IH_SCALE), np.float32(_IH_MEAN)
    bow, one = np.float32(inl), np.float32(1.0)
    mid = np.float32(0.5 * (code_lo + code_hi))
    ihalf = np.float32(2.0 / (code_hi - code_lo)) if code_hi > code_lo else np.float32(0.0)
    col_weight = np.empty(sn, np.float32)            # 2**(s * bits_per_cell) of column j
    for j in range(sn):
        col_weight[j] = np.float32(2.0 ** ((j // n_out) * bits_per_cell))
    u = np.empty(sn, np.float32)
    codes = np.zeros(sn, np.float32)
    clipped = 0
    for m in range(m_vec):
        grp = (m0 + m) // group_rows
        key, local = keys[grp], m0 + m - grp * group_rows
        for p in range(n_planes):
            for c in range(n_chunks):
                sd = np.float32(sigma_cell * np.sqrt(sum_sq[p, c, m])) * scale
                row = p * m_vec + m
                base = np.uint64(((p * n_chunks + c) * group_rows + local) * sn)
                if sd > 0:
                    for j in range(sn):
                        u[j] = (partial[c, row, j] + sd * (_gauss_raw(key, base + np.uint64(j)) - mean)) * inv
                else:
                    for j in range(sn):
                        u[j] = partial[c, row, j] * inv
                for j in range(sn):
                    d = min(max((u[j] - mid) * ihalf, -one), one)
                    q = np.floor(u[j] + bow * (one - d * d) + np.float32(0.5))
                    qc = min(max(q, lo), hi)
                    clipped += qc != q
                    codes[j] += qc * col_weight[j]
            w = step * plane_weight[p]
            for s in range(n_slices):
                for n in range(n_out):
                    y[m, n] += codes[s * n_out + n] * w
            codes[:] = 0
    return clipped


@njit(cache=True, nogil=True, fastmath=True)
def adc_shift_add_ranged(partial: np.ndarray, sum_sq: np.ndarray, sigma_cell: float, y: np.ndarray,
                         n_out: int, col_step: np.ndarray, code_lo: float, code_hi: float,
                         plane_weight: np.ndarray, bits_per_cell: int, keys: np.ndarray, m0: int,
                         group_rows: int, inl: float) -> int:
    """`adc_shift_add_inl` with an ADC range of each converted column of its own: col_step
    (C, S*n_out) is the LSB (level units) of the conversions of crossbar row chunk c, kernel
    column j (per-slice or per-array ranges, hw/tile.py). Each code is scaled by its own LSB
    before the shift-add, in float64."""
    n_chunks, pm, sn = partial.shape
    n_planes = plane_weight.shape[0]
    m_vec = pm // n_planes
    n_slices = sn // n_out
    lo, hi = np.float32(code_lo), np.float32(code_hi)
    scale, mean = np.float32(_IH_SCALE), np.float32(_IH_MEAN)
    bow, one = np.float32(inl), np.float32(1.0)
    mid = np.float32(0.5 * (code_lo + code_hi))
    ihalf = np.float32(2.0 / (code_hi - code_lo)) if code_hi > code_lo else np.float32(0.0)
    inv = np.empty((n_chunks, sn), np.float32)
    lsb = np.empty((n_chunks, sn), np.float64)        # LSB x 2**(s * bits_per_cell) of column j
    for c in range(n_chunks):
        for j in range(sn):
            inv[c, j] = np.float32(1.0 / col_step[c, j])
            lsb[c, j] = np.float64(col_step[c, j]) * 2.0 ** ((j // n_out) * bits_per_cell)
    u = np.empty(sn, np.float32)
    codes = np.zeros(sn, np.float64)
    clipped = 0
    for m in range(m_vec):
        grp = (m0 + m) // group_rows
        key, local = keys[grp], m0 + m - grp * group_rows
        for p in range(n_planes):
            for c in range(n_chunks):
                sd = np.float32(sigma_cell * np.sqrt(sum_sq[p, c, m])) * scale
                row = p * m_vec + m
                base = np.uint64(((p * n_chunks + c) * group_rows + local) * sn)
                if sd > 0:
                    for j in range(sn):
                        z = _gauss_raw(key, base + np.uint64(j)) - mean
                        u[j] = (partial[c, row, j] + sd * z) * inv[c, j]
                else:
                    for j in range(sn):
                        u[j] = partial[c, row, j] * inv[c, j]
                for j in range(sn):
                    d = min(max((u[j] - mid) * ihalf, -one), one)
                    q = np.floor(u[j] + bow * (one - d * d) + np.float32(0.5))
                    qc = min(max(q, lo), hi)
                    clipped += qc != q
                    codes[j] += qc * lsb[c, j]
            w = plane_weight[p]
            for s in range(n_slices):
                for n in range(n_out):
                    y[m, n] += codes[s * n_out + n] * w
            codes[:] = 0
    return clipped


@njit(cache=True, nogil=True, fastmath=True)
def bit_planes(x_int: np.ndarray, planes: int, bit_serial: bool,
               n_chunks: int) -> tuple[np.ndarray, np.ndarray]:
    """(M, C*R) codes -> planes (C, P*M, R) float32, bit p of each code (or the code itself),
    laid out as one batched GEMM operand per crossbar row chunk; and sum_r plane**2 (P, C, M),
    which sets each column output's read-noise variance."""
    m, k = x_int.shape
    rows = k // n_chunks
    out = np.empty((n_chunks, planes * m, rows), np.float32)
    sq = np.zeros((planes, n_chunks, m), np.float32)
    for i in range(m):
        for c in range(n_chunks):
            xs = x_int[i, c * rows:(c + 1) * rows]
            for p in range(planes):
                dst = out[c, p * m + i]
                acc = np.float32(0.0)
                if bit_serial:
                    for r in range(rows):
                        b = np.float32((xs[r] >> p) & 1)
                        dst[r] = b
                        acc += b
                else:
                    for r in range(rows):
                        b = np.float32(xs[r])
                        dst[r] = b
                        acc += b * b
                sq[p, c, i] = acc
    return out, sq


def plane_of(x_int: np.ndarray, p: int, bit_serial: bool) -> np.ndarray:
    """Input plane p as float32: bit p of the codes (bit-serial) or the codes themselves."""
    if bit_serial:
        return ((x_int >> p) & 1).astype(np.float32)
    return x_int.astype(np.float32)


# threads of the MVM pool: a context variable (a sweep worker or a benchmark's process sets
# its own), never a module flag; results do not depend on it (counter-based noise)
DEFAULT_THREADS = min(available_cores(), 8)
_THREADS: ContextVar[int] = ContextVar("cimsim_mvm_threads", default=DEFAULT_THREADS)
_BLAS = ThreadpoolController()


def _workers() -> int:
    return _THREADS.get()


@functools.cache
def _pool(n: int) -> ThreadPoolExecutor:
    """One pool per thread count, made on first use and kept for the process."""
    return ThreadPoolExecutor(n, thread_name_prefix="cimsim-mvm")


@contextmanager
def threads(n: int) -> Iterator[None]:
    """MVM threads for the work inside the block (e.g. one per sweep worker)."""
    token = _THREADS.set(max(1, int(n)))
    try:
        yield
    finally:
        _THREADS.reset(token)


def current_threads() -> int:
    """The MVM threads of this context."""
    return _THREADS.get()


def use_threads(n: int) -> None:
    """MVM threads from here on in this context: for a worker process's initializer, whose
    context every task of that process shares."""
    _THREADS.set(max(1, int(n)))


def analog_mvm(x_int: np.ndarray, g: np.ndarray, *, n_out: int, planes: int, bit_serial: bool,
               bits_per_cell: int, step: float, code_lo: float, code_hi: float,
               sigma_cell: float, key: int | Sequence[int], offset: np.ndarray | None = None,
               inl: float = 0.0, col_step: np.ndarray | None = None,
               block_bytes: int = 512 << 10) -> tuple[np.ndarray, int]:
    """y (M, n_out) float64 in (x code x weight code) units, and the count of clipped conversions.

    x_int: (M, C*R) integer codes (rows padded to whole crossbars); g: (C, R, S*n_out) float32.
    Vectors are cut into cache-sized blocks; each block is one batched BLAS GEMM over all
    input planes (every crossbar's column sums), then one numba call that adds read noise,
    quantises and shift-adds. Blocks run on a pool of threads (one per core), each with a
    single-threaded BLAS, so GEMM and kernel share a core's cache and never contend for cores.
    `key` seeds the read noise; results do not depend on the blocking or the thread count.
    A sequence of keys splits the rows of x_int evenly among them, each group's noise drawn
    as if it were a call of its own with that key: several samples in one call give each
    the results it gets alone (the online loop's batched stream, learning/online.py).
    offset: (C, S*n_out) float32 static ADC offsets in level units (None: none); inl: the
    ADCs' integral nonlinearity in LSB (adc_shift_add); col_step: (C, S*n_out) LSB of each
    column's conversions (per-slice or per-array ADC ranges; None: `step` for all).
    """
    n_chunks, rows, sn = g.shape
    m = x_int.shape[0]
    y = np.zeros((m, n_out), np.float64)
    weights = np.array([2.0 ** p if bit_serial else 1.0 for p in range(planes)])
    raw = [key] if isinstance(key, (int, np.integer)) else list(key)
    if not raw or m % len(raw):
        raise ValueError(f"{m} vectors do not split evenly among {len(raw)} noise keys")
    ukeys = np.array([_mix(np.uint64(int(k) % 2**64)) for k in raw], np.uint64)
    group = m // len(raw)
    per_vector = 4 * planes * n_chunks * sn
    block = max(1, min(-(-m // (2 * _workers())), block_bytes // per_vector))

    def one(m0: int) -> int:
        xb = x_int[m0:m0 + block]
        mb = xb.shape[0]
        xt, sq = bit_planes(xb, planes, bit_serial, n_chunks)     # (C, P*mb, R), (P, C, mb)
        partial = np.matmul(xt, g)                                # (C, P*mb, S*N)
        if offset is not None:
            partial += offset[:, None, :]
        if col_step is not None:
            return adc_shift_add_ranged(partial, sq, sigma_cell, y[m0:m0 + mb], n_out, col_step, code_lo,
                                        code_hi, weights, bits_per_cell, ukeys, m0, group, inl)
        if inl:
            return adc_shift_add_inl(partial, sq, sigma_cell, y[m0:m0 + mb], n_out, step, code_lo, code_hi,
                                     weights, bits_per_cell, ukeys, m0, group, inl)
        return adc_shift_add(partial, sq, sigma_cell, y[m0:m0 + mb], n_out, step, code_lo, code_hi,
                             weights, bits_per_cell, ukeys, m0, group)

    starts = range(0, m, block)
    if len(starts) == 1:
        return y, one(0)
    with _BLAS.limit(limits=1, user_api="blas"):
        clipped = sum(_pool(_workers()).map(one, starts))
    return y, clipped
