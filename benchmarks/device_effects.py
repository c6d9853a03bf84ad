"""What each circuit and device non-ideality costs: IR drop, ADC offset and INL (with and
without offset calibration), conductance clipping and per-layer ADC resolution, on the
default chip (ResNet-8 on digits).

Every row is one `cimsim.run` of workloads/resnet_inference.yaml with one setting changed,
accuracy as the mean and 95% CI over the same chips (`ci_chips`). Prints a Markdown table.
Run: python benchmarks/device_effects.py [--chips 5] [--arch arch/rram_64x64.yaml]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cimsim
from cimsim.report.units import si

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    ("shipped chip", {}),
    ("IR drop, 0.5 ohm per cell", {"arch.crossbar.wire_ohm_per_cell": 0.5}),
    ("IR drop, 1 ohm per cell", {"arch.crossbar.wire_ohm_per_cell": 1.0}),
    ("IR drop, 2 ohm per cell", {"arch.crossbar.wire_ohm_per_cell": 2.0}),
    ("IR drop, 5 ohm per cell", {"arch.crossbar.wire_ohm_per_cell": 5.0}),
    ("ADC offset 0.5 LSB, calibrated", {"arch.adc.offset_sigma_lsb": 0.5}),
    ("ADC offset 2 LSB, calibrated", {"arch.adc.offset_sigma_lsb": 2.0}),
    ("ADC offset 0.5 LSB, not calibrated", {"arch.adc.offset_sigma_lsb": 0.5,
                                            "arch.adc.offset_calibration": "false"}),
    ("ADC INL 1 LSB, calibrated at zero", {"arch.adc.inl_lsb": 1.0}),
    ("ADC INL 4 LSB, calibrated at zero", {"arch.adc.inl_lsb": 4.0}),
    ("ADC INL 1 LSB, not calibrated", {"arch.adc.inl_lsb": 1.0, "arch.adc.offset_calibration": "false"}),
    ("programming error clipped to [g_min, g_max]", {"arch.device.clip_to_range": "true"}),
    ("fc at 4-bit ADC", {"workload.deploy.adc_bits": "[{layer: fc, bits: 4}]"}),
    ("every layer at 6-bit ADC", {"arch.adc.bits": 6}),
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--chips", type=int, default=5)
    p.add_argument("--arch", default=str(ROOT / "arch" / "rram_64x64.yaml"))
    args = p.parse_args()
    w = ROOT / "workloads" / "resnet_inference.yaml"
    print("| setting | accuracy, mean over chips [95% CI] | energy / image | ADC energy / image |")
    print("|---|---|---|---|")
    for name, over in CASES:
        rep = cimsim.run(args.arch, w, overrides={"workload.phases.0.ci_chips": args.chips, **over})
        ph = rep.phase("test")
        oc, en = ph.accuracy_over_chips, ph.energy
        adc = en.per_component_pj["adc"] / ph.images
        print(f"| {name} | {oc.mean:.4f} [{oc.ci95[0]:.3f}, {oc.ci95[1]:.3f}] | "
              f"{si(en.per_image_pj * 1e-12, 'J')} | {si(adc * 1e-12, 'J')} |", flush=True)


if __name__ == "__main__":
    main()
