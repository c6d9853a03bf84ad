"""ADC architectures: how a converter's energy, conversion time and area scale with its
resolution, relative to the figures the arch file quotes at `adc.reference_bits`.

- `sar` (successive approximation): one comparison per bit, so time ~ bits. Energy follows
  the state of the art of Murmann's ADC survey (1997-2024) as fitted by Accelergy's ADC
  model (hwcomponents-adc 1.0.21, `adc_data/model.yaml`): energy per conversion
  E = 10^((SNDR - FOM_S)/10) / 2 x bits^-2.829 (times a technology factor that cancels in
  the ratio), SNDR = 6.02 bits + 1.76 dB, and the Schreier figure of merit
  FOM_S = min(213.78 - 2.872 ln f, 128.31 + 3.2205 bits) dB at sample rate f (Hz). At
  low resolution the bits-dependent cap binds: energy grows ~1.9x per bit, not 4x, and
  flattens below 6 bits (comparator and logic floor), so a 4-bit SAR costs about half of an
  8-bit one (not 1/16); below 4 bits (outside the fit) energy is the 4-bit figure x bits/4.
  Area: x2 per bit (the capacitive DAC).
- `flash`: 2^bits - 1 comparators decide at once: energy and area ~ 2^bits - 1, time
  constant (DNN+NeuroSim's multi-level sense amplifier is a flash converter).
- `ramp` (single slope): a ramp and counter step through 2^bits levels: energy and time
  ~ 2^bits; area ~ bits (the counter; the ramp is shared).
"""
from __future__ import annotations

import math

TYPES = ("sar", "flash", "ramp")

# Accelergy's fit to Murmann's ADC survey (hwcomponents-adc 1.0.21, adc_data/model.yaml)
FOMS_INTERCEPT_DB = 213.7806687348118
FOMS_PER_LN_HZ_DB = -2.8719030399529957
FOMS_CAP_INTERCEPT_DB = 128.3068287398817       # max_by_enob[b] = this + b x the slope below
FOMS_CAP_PER_BIT_DB = 3.22051151097756           # (max_by_enob[1] - max_by_enob[0])
ENOB_EXPONENT = -2.8291256050594527
CAP_TABLE_BITS = 20                              # the fit's cap table ends at 20 bits
FIT_MIN_BITS = 4                                 # the fit's lowest resolution


def _sar_energy(bits: int, rate_hz: float) -> float:
    """Survey energy per conversion up to the technology factor (cancels in ratios). Below the
    fit's 4 bits (no survey data there) a conversion is the 4-bit one's comparisons: x bits/4."""
    if bits < FIT_MIN_BITS:
        return _sar_energy(FIT_MIN_BITS, rate_hz) * bits / FIT_MIN_BITS
    foms = min(FOMS_INTERCEPT_DB + FOMS_PER_LN_HZ_DB * math.log(rate_hz),
               FOMS_CAP_INTERCEPT_DB + FOMS_CAP_PER_BIT_DB * min(bits, CAP_TABLE_BITS))
    sndr = 6.02 * bits + 1.76
    return 0.5 * 10.0 ** ((sndr - foms) / 10.0) * bits ** ENOB_EXPONENT


def time_ratio(kind: str, bits: int, ref_bits: int) -> float:
    """Conversion time at `bits` / conversion time at `ref_bits`."""
    if kind == "sar":
        return bits / ref_bits
    if kind == "flash":
        return 1.0
    return 2.0 ** (bits - ref_bits)


def energy_ratio(kind: str, bits: int, ref_bits: int, ref_latency_ns: float) -> float:
    """Energy per conversion at `bits` / energy at `ref_bits`; a SAR's sample rate follows its
    conversion time (ref_latency_ns at ref_bits)."""
    if kind == "sar":
        rate = 1e9 / (ref_latency_ns * time_ratio(kind, bits, ref_bits))
        return _sar_energy(bits, rate) / _sar_energy(ref_bits, 1e9 / ref_latency_ns)
    if kind == "flash":
        return (2.0 ** bits - 1.0) / (2.0 ** ref_bits - 1.0)
    return 2.0 ** (bits - ref_bits)


def area_ratio(kind: str, bits: int, ref_bits: int) -> float:
    """Area at `bits` / area at `ref_bits`."""
    if kind == "sar":
        return 2.0 ** (bits - ref_bits)
    if kind == "flash":
        return (2.0 ** bits - 1.0) / (2.0 ** ref_bits - 1.0)
    return bits / ref_bits
