"""IR drop on the bit lines, solved exactly per column.

One column of a crossbar holds R cells. Row i's cell (conductance G_i, its row driven at
V_i by an ideal driver) feeds node i of the bit line. The bit line runs down through one
wire segment of resistance r per cell pitch (node i to node i+1) to the column's sense
amplifier, a virtual ground after the last row. Kirchhoff's current law at every node gives
a symmetric tridiagonal system A v = G*V (A_ii = G_i + 1/r + [i > 0]/r, A_i,i+-1 = -1/r),
and the column current is I = v_{R-1} / r. The circuit is linear, so

    I = sum_j V_j G_j u_j,   A u = e_{R-1} / r    (A symmetric)

that is, IR drop is a static attenuation u_j of each cell, whatever the inputs: one
tridiagonal solve per column (Thomas algorithm, vectorised over columns), exact for this
circuit. To first order in r, u_j = 1 - r c_j with c_j = sum_i G_i (R - max(i, j)): far rows
and high-conductance columns lose most; undriven rows count too, since their cells leak the
node voltage to 0 V. Word-line (row wire) drops, driver and sense-amplifier resistance and
sneak paths through other columns are not modelled. tests/test_irdrop.py checks the solve
against a dense nodal solve and its first-order limit against the closed form.
"""
from __future__ import annotations

import numpy as np


def attenuation(g_us: np.ndarray, wire_ohm: float) -> np.ndarray:
    """Factors u_j of cells g_us (uS, absolute), shaped (..., R, columns): axis -2 runs from
    the row farthest from the sense amplifier (0) to the nearest (R - 1)."""
    g = np.moveaxis(g_us.astype(np.float64), -2, 0)          # (R, ..., columns)
    rows = g.shape[0]
    y = 1e6 / wire_ohm                                        # 1/r in uS
    cp = np.empty_like(g)                                     # Thomas forward sweep
    dp = np.empty_like(g)
    for i in range(rows):
        diag = g[i] + y + (y if i > 0 else 0.0)
        rhs = y if i == rows - 1 else 0.0
        if i == 0:
            m = diag
            dp[i] = rhs / m
        else:
            m = diag + y * cp[i - 1]
            dp[i] = (rhs + y * dp[i - 1]) / m
        cp[i] = -y / m
    u = np.empty_like(g)
    u[-1] = dp[-1]
    for i in range(rows - 2, -1, -1):
        u[i] = dp[i] - cp[i] * u[i + 1]
    return np.moveaxis(u, 0, -2)
