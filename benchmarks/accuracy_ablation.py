"""Which non-ideality of the default chip costs what accuracy (ResNet-8 on digits).

Runs the shipped inference workload on arch/rram_64x64.yaml with every non-ideality
switched to ideal, then each one alone, then all of them (the shipped chip). Prints one
line per case. Run: python benchmarks/accuracy_ablation.py
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from cimsim.config import Loaded, load_arch, load_workload
from cimsim.config.arch import StuckAtSpec
from cimsim.study import run_study

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    arch = load_arch(ROOT / "arch" / "rram_64x64.yaml")
    work = load_workload(ROOT / "workloads" / "resnet_inference.yaml")
    a = arch.spec
    dev0 = dataclasses.replace(a.device, program_sigma=0.0, read_sigma=0.0, stuck_at=StuckAtSpec(0.0, 0.0))
    adc0 = dataclasses.replace(a.adc, bits=16, range_mode="per_layer", range_fraction=1.0,
                               calibration_margin=1.0)
    ideal = dataclasses.replace(a, device=dev0, adc=adc0)
    cases = {
        "ideal devices and converters": ideal,
        f"+ programming variation {a.device.program_sigma}": dataclasses.replace(
            ideal, device=dataclasses.replace(dev0, program_sigma=a.device.program_sigma)),
        f"+ read noise {a.device.read_sigma}": dataclasses.replace(
            ideal, device=dataclasses.replace(dev0, read_sigma=a.device.read_sigma)),
        f"+ stuck-at {a.device.stuck_at.low_rate}/{a.device.stuck_at.high_rate}": dataclasses.replace(
            ideal, device=dataclasses.replace(dev0, stuck_at=a.device.stuck_at)),
        "+ stuck-at low only": dataclasses.replace(
            ideal, device=dataclasses.replace(dev0, stuck_at=StuckAtSpec(a.device.stuck_at.low_rate, 0.0))),
        "+ stuck-at high only": dataclasses.replace(
            ideal, device=dataclasses.replace(dev0, stuck_at=StuckAtSpec(0.0, a.device.stuck_at.high_rate))),
        f"+ {a.adc.bits}-bit ADC, range {a.adc.range_mode}": dataclasses.replace(ideal, adc=a.adc),
        "shipped chip (all of the above)": a,
    }
    for label, spec in cases.items():
        rep = run_study(Loaded(spec, arch.path, arch.sha256), work).to_json()
        ph = rep["phases"][0]
        print(f"{label:42s} accuracy {ph['accuracy']:.4f}  (float {rep['model']['float_test_accuracy']:.4f},"
              f" ADC clip fraction {ph['adc_clip_fraction']:.2e})", flush=True)


if __name__ == "__main__":
    main()
