"""Plain-numpy references of cimsim's numba kernels and the closed forms its tests check
against: slow, explicit, written from the equations rather than from the kernels."""
from __future__ import annotations

import numpy as np

from ..kernels.lowrank import EPS
from ..kernels.mvm import plane_of


def analog_mvm_reference(x_int: np.ndarray, g: np.ndarray, *, n_out: int, planes: int,
                         bit_serial: bool, bits_per_cell: int, step: float, code_lo: float,
                         code_hi: float, sigma_cell: float,
                         rng: np.random.Generator | None = None, offset: np.ndarray | None = None,
                         inl: float = 0.0, col_step: np.ndarray | None = None) -> np.ndarray:
    """Plain-numpy reference of `analog_mvm`: explicit loops over planes, crossbars and slices,
    Gaussian read noise drawn per cell and summed (not the column shortcut); the ADC offset
    added to each column's current, the INL bow to its value in LSB; col_step (C, S*n_out):
    each column's own LSB (per-slice / per-array ranges), else `step` for all."""
    n_chunks, rows, sn = g.shape
    n_slices = sn // n_out
    m = x_int.shape[0]
    y = np.zeros((m, n_out), np.float64)
    for p in range(planes):
        plane = plane_of(x_int, p, bit_serial).astype(np.float64)
        weight = 2.0 ** p if bit_serial else 1.0
        for c in range(n_chunks):
            xc = plane[:, c * rows:(c + 1) * rows]
            for s in range(n_slices):
                gs = g[c, :, s * n_out:(s + 1) * n_out].astype(np.float64)
                col = xc @ gs
                if sigma_cell > 0 and rng is not None:
                    cell_noise = rng.standard_normal((m, rows, n_out)) * sigma_cell
                    col = col + np.einsum("mr,mrn->mn", xc, cell_noise)
                if offset is not None:
                    col = col + offset[c, s * n_out:(s + 1) * n_out]
                lsb = step if col_step is None else col_step[c, s * n_out:(s + 1) * n_out].astype(np.float64)
                u = col / lsb
                d = np.clip((u - 0.5 * (code_lo + code_hi)) / (0.5 * (code_hi - code_lo)), -1.0, 1.0)
                code = np.clip(np.floor(u + inl * (1.0 - d * d) + 0.5), code_lo, code_hi)
                y += code * lsb * weight * 2.0 ** (s * bits_per_cell)
    return y


def lowrank_reference(us: np.ndarray, vs: np.ndarray, r: int, unbiased: bool, kappa: float,
                      signs: np.ndarray | None = None) -> np.ndarray:
    """Plain-numpy reference of the same streaming algorithm (no quantisation): returns the
    approximation of sum_t us[t] vs[t]^T. `signs` (terms, q) supplies the random +-1 signs."""
    n, m = us.shape[1], vs.shape[1]
    q = r + 1
    ql, qr, cx = np.zeros((n, r)), np.zeros((m, r)), np.zeros(r)
    for t in range(len(us)):
        u, v = us[t].astype(float), vs[t].astype(float)
        cl, cr = ql.T @ u, qr.T @ v          # columns of ql are orthonormal: one-shot projection
        u, v = u - ql @ cl, v - qr @ cr
        nu, nv = np.linalg.norm(u) + EPS, np.linalg.norm(v) + EPS
        if cx[0] > kappa * nu * nv:
            continue
        c = np.outer(np.append(cl, nu), np.append(cr, nv)) + np.diag(np.append(cx, 0.0))
        uc, s, vct = np.linalg.svd(c)
        keep = np.eye(q)[:, :r]
        w = s[:r].copy()
        if unbiased and s[-1] > EPS * max(s[0], EPS):
            j, total = q - 2, s[-2] + s[-1]
            while j > 0 and s[j - 1] * (q - j) <= total + s[j - 1]:
                j, total = j - 1, total + s[j - 1]
            k = q - j - 1
            sk = total / k
            a = np.sqrt(np.maximum(0.0, 1.0 - s[j:] / sk))
            wv = a - np.eye(q - j)[0]
            h = np.eye(q - j) - 2 * np.outer(wv, wv) / (wv @ wv) if wv @ wv > EPS else np.eye(q - j)
            sg = signs[t, : q - j] if signs is not None else np.ones(q - j)
            keep = np.zeros((q, r))
            keep[:j, :j] = np.eye(j)
            keep[j:, j:] = sg[:, None] * h[:, 1:]
            w = np.append(s[:j], np.full(k, sk))
        ql = np.column_stack([ql, u / nu]) @ uc @ keep
        qr = np.column_stack([qr, v / nv]) @ vct.T @ keep
        cx = w
    return (ql * cx) @ qr.T


def irdrop_first_order(g_us: np.ndarray, wire_ohm: float) -> np.ndarray:
    """The first-order limit 1 - r c_j of hw.irdrop.attenuation (small r G R^2)."""
    g = g_us.astype(np.float64)
    rows = g.shape[-2]
    below = (rows - np.arange(rows, dtype=np.float64))[:, None]        # R - i
    prefix = np.cumsum(g, axis=-2)                                      # sum_{i<=j} G_i
    weighted = g * below
    suffix = weighted.sum(axis=-2, keepdims=True) - np.cumsum(weighted, axis=-2)   # sum_{i>j} G_i (R-i)
    return 1.0 - wire_ohm * 1e-6 * (below * prefix + suffix)
