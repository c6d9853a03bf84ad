"""cimsim's ADC scaling (cimsim/hw/adc.py) against Accelergy's ADC model (hwcomponents-adc,
fitted to Murmann's ADC survey), as an independent cross-check of the shipped constants.

hwcomponents-adc needs Python >= 3.12; cimsim's ADC module is plain Python and is loaded by
path, so this script runs in an environment that has only hwcomponents-adc:

    python3.12 -m venv /tmp/hwc && /tmp/hwc/bin/pip install hwcomponents-adc
    /tmp/hwc/bin/python benchmarks/crosscheck_adc.py

It prints, at ISAAC's 32 nm and 1.28 GS/s (8 bits) and at NeuroSim's 22 nm, the energy per
conversion of both models and their ratio (cimsim's 8-bit figure is ISAAC's measured SAR,
Kull et al. ISSCC 2013: 1.5625 pJ).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from hwcomponents_adc.main import ADC

ADC_PY = Path(__file__).resolve().parents[1] / "cimsim" / "hw" / "adc.py"
spec = importlib.util.spec_from_file_location("cimsim_adc", ADC_PY)
adc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(adc)

E_REF_PJ, T_REF_NS, REF_BITS = 1.5625, 0.78125, 8        # arch/rram_64x64.yaml


def main() -> None:
    print(f"{'bits':>4}  {'rate GS/s':>9}  {'node':>5}  {'cimsim pJ':>9}  {'survey pJ':>9}  {'ratio':>6}")
    for node in (32, 22):
        for bits in (4, 5, 6, 7, 8):
            rate = 1e9 / (T_REF_NS * adc.time_ratio("sar", bits, REF_BITS))
            ours = E_REF_PJ * adc.energy_ratio("sar", bits, REF_BITS, T_REF_NS)
            theirs = ADC(n_bits=bits, tech_node=node * 1e-9, throughput=rate).get_energy() * 1e12
            print(f"{bits:>4}  {rate / 1e9:>9.3f}  {node:>4}n  {ours:>9.4f}  {theirs:>9.4f}  "
                  f"{ours / theirs:>6.2f}")


if __name__ == "__main__":
    main()
