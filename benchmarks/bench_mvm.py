"""Analog MVM kernel time / its lower bound (BLAS GEMM on the same shapes x input planes).

The bound: for every input plane, the crossbars' column sums are one batched float32
GEMM (row chunks, vectors, rows) @ (row chunks, rows, slices*outputs); no simulator of a
non-linear (per-plane, per-slice) ADC can do less arithmetic. Both are timed here, in one
run, on the same shapes; the ratio is printed. Run: python benchmarks/bench_mvm.py
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from cimsim.config.arch import ArchSpec
from cimsim.hw.chip import build_chip
from cimsim.hw.encoding import weight_encoding
from cimsim.kernels.mvm import analog_mvm


def timings(fn, repeat: int = 15) -> tuple[float, float]:
    """Best and median of `repeat` timed calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times))


def case(label: str, m: int, k: int, n: int, arch: ArchSpec, read_noise: bool, inl: float = 0.0) -> None:
    rng = np.random.default_rng(0)
    rows, s = arch.crossbar.rows, weight_encoding(arch).slices
    chunks = -(-k // rows)
    x = np.zeros((m, chunks * rows), np.int32)
    x[:, :k] = rng.integers(0, 2 ** arch.dac.input_bits, (m, k))
    g = rng.normal(0, 1, (chunks, rows, s * n)).astype(np.float32)
    planes = arch.input_planes
    kw = dict(n_out=n, planes=planes, bit_serial=arch.dac.bit_serial,
              bits_per_cell=arch.device.bits_per_cell, step=0.5, code_lo=-128.0, code_hi=127.0,
              sigma_cell=0.05 if read_noise else 0.0, key=7, inl=inl)
    t_kernel, med = timings(lambda: analog_mvm(x, g, **kw), 15 if m > 4096 else 101)
    xt = np.ascontiguousarray(x.astype(np.float32).reshape(m, chunks, rows).transpose(1, 0, 2))
    t_gemm = timings(lambda: np.matmul(xt, g))[0]
    bound = t_gemm * planes
    print(f"{label:38s} M={m:5d} K={k:4d} N={n:3d} planes={planes}  kernel {t_kernel * 1e3:7.3f} ms"
          f" (median {med * 1e3:7.3f})  bound {bound * 1e3:7.3f} ms  ratio {t_kernel / bound:5.2f}")


def main() -> None:
    arch = ArchSpec()
    print("analog MVM kernel / (numpy float32 GEMM x input planes), best (and median) of 15 calls, "
          "101 below 4096 vectors, same process")
    # CrossSim's published MVM benchmark shape: a 64 x 64 matrix, batch 1024, 8-bit inputs in one
    # multi-bit conversion (CrossSim 3.2 took 0.69-0.70 ms best, 1.3x that median, on this machine)
    single = dataclasses.replace(arch, dac=dataclasses.replace(arch.dac, bit_serial=False))
    case("64x64 matrix, single conversion", 1024, 64, 64, single, False)
    case("64x64 matrix, bit-serial", 1024, 64, 64, arch, False)
    for noise in (False, True):
        tag = "read noise" if noise else "no read noise"
        for m in (1024, 16384):
            case(f"default 64x64 tile ({tag})", m, 64, build_chip(arch).tile.weights_per_column_group(),
                 arch, noise)
        case(f"ResNet-8 s3 conv 3x3x64->64 ({tag})", 1024, 576, 64, arch, noise)
        case(f"ResNet-8 s1 conv 3x3x16->16 ({tag})", 16384, 144, 16, arch, noise)
        case(f"ResNet-8 s3 conv, ADC INL 1 LSB ({tag})", 1024, 576, 64, arch, noise, inl=1.0)


if __name__ == "__main__":
    main()
