"""cimsim's MVM error in the peers' conventions, on CrossSim's published benchmark configuration.

CrossSim's MVM accuracy benchmark: W ~ U(-1, 1), X ~ U(0, 1), matrices of 64 x 64 and 576 x 64,
a batch of 1024 vectors, programming error sigma 0 / 0.05 / 0.1, ADCs of 4 / 6 / 8 bits, an
8-bit DAC, bit-serial (one conversion per input bit) and single-conversion (one multi-bit
input, one conversion). Printed: the relative RMS error ||Y - X W||_F / ||X W||_F of cimsim
against the float product, in each convention (docs/models.md), mean over seeds:

  per_layer  the shipped default before issue 28: cimsim's programming error (pulsed cells
             only, unclipped), one ADC range per layer at range_fraction 0.25 of the largest
             possible column sum (arch/pcm_256x256.yaml used 0.02 for its multi-bit inputs,
             tuned to sparse ReLU activations: on these dense inputs it clips, error 0.45-0.53)
  per_slice  cimsim's error, calibrated ranges per weight slice (the shipped files since issue 28)
  per_array  cimsim's error, calibrated ranges per crossbar
  crosssim   CrossSim's conventions: error on every cell clipped to the range, per-array ranges
  aihwkit    aihwkit's PCM programming polynomial on every cell (sigma not used), per-array ranges

The chip is the shipped default's (arch/rram_64x64.yaml: 64 x 64 crossbars of 2-bit cells,
8-bit weights as 4 slices, differential pairs; a 576-row matrix spans 9 crossbars whose
partial sums add digitally), without read noise or stuck cells, so that only programming
error and conversion differ. Calibrated ranges come from another batch of 1024 vectors of
the same distribution. sigma is of the conductance range g_max - g_min (CrossSim's is of
g_max; the default's g_min/g_max = 1/40 makes them differ by 2.5%).

Run: python benchmarks/peer_parity.py [--seeds 3] [--markdown]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from cimsim.config.arch import ArchSpec, StuckAtSpec
from cimsim.functional import AnalogLayer, input_codes
from cimsim.hw.chip import build_chip
from cimsim.mapping import map_layers

CONVENTIONS = {                       # name: (device.program_error, adc.range)
    "per_layer": ("cimsim", "per_layer"),
    "per_slice": ("cimsim", "per_slice"),
    "per_array": ("cimsim", "per_array"),
    "crosssim": ("crosssim", "per_array"),
    "aihwkit": ("aihwkit", "per_array"),
}
SHAPES = ((64, 64), (576, 64))
BITS = (4, 6, 8)
SIGMAS = (0.0, 0.05, 0.1)
BATCH = 1024


def arch_for(convention: str, sigma: float, adc_bits: int, bit_serial: bool) -> ArchSpec:
    """The shipped default chip with one convention, no read noise and no stuck cells."""
    error, mode = CONVENTIONS[convention]
    a = ArchSpec()
    dev = dataclasses.replace(a.device, program_sigma=sigma, read_sigma=0.0, program_error=error,
                              stuck_at=StuckAtSpec(0.0, 0.0))
    adc = dataclasses.replace(a.adc, bits=adc_bits, range_mode=mode)
    dac = dataclasses.replace(a.dac, input_bits=8, bit_serial=bit_serial)
    return dataclasses.replace(a, device=dev, adc=adc, dac=dac)


def rel_error(convention: str, k: int, n: int, sigma: float, bits: int, bit_serial: bool, seed: int) -> float:
    """Relative RMS error of one programmed matrix on one batch."""
    arch = arch_for(convention, sigma, bits, bit_serial)
    chip = build_chip(arch)
    rng = np.random.default_rng([seed, k])
    w = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    x = rng.uniform(0, 1, (BATCH, k)).astype(np.float32)
    x_cal = rng.uniform(0, 1, (BATCH, k)).astype(np.float32)
    lm = map_layers([("w", k, n)], chip).layer("w")
    layer = AnalogLayer("w", w, chip.tile, lm, 1.0, np.random.default_rng([seed, k, 1]), seed)
    if arch.adc.range_mode != "per_layer":
        layer.adc_peaks = chip.tile.adc_peaks(layer.w_int, lm, input_codes(x_cal, layer.x_scale, arch, lm))
        layer.refresh()
    exact = x.astype(np.float64) @ w.astype(np.float64)
    return float(np.linalg.norm(layer(x) - exact) / np.linalg.norm(exact))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="weight and programming draws averaged per cell")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = ap.parse_args()
    t0 = time.perf_counter()
    head = ["matrix", "mode", "ADC bits", "sigma", *CONVENTIONS]
    rows = []
    for k, n in SHAPES:
        for bit_serial in (True, False):
            for bits in BITS:
                for sigma in SIGMAS:
                    errs = [np.mean([rel_error(c, k, n, sigma, bits, bit_serial, s)
                                     for s in range(args.seeds)]) for c in CONVENTIONS]
                    mode = "bit-serial" if bit_serial else "single"
                    rows.append([f"{k}x{n}", mode, str(bits), f"{sigma:g}", *(f"{e:.4f}" for e in errs)])
                    if not args.markdown:
                        print("  ".join(f"{v:>10}" for v in rows[-1]), flush=True)
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    print(f"\n{len(rows) * len(CONVENTIONS) * args.seeds} MVMs of {BATCH} vectors in "
          f"{time.perf_counter() - t0:.0f} s; aihwkit's column does not depend on sigma (its polynomial)")


if __name__ == "__main__":
    main()
