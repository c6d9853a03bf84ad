"""Speed of the real-data studies (issue 27, item 3; figures, never asserted in tests).

1. The LRT paper's network at its native size (workloads/lrt_fashion.yaml: 28x28 Fashion-MNIST,
   128 channels, FC 2048 -> 512) adapting online with LRT on arch/rram_128x128_chip.yaml:
   samples per wall second of the learning loop (target >= 5, so 10,000 samples take under
   35 minutes), and of per-term SGD.
2. The same stream without learning (the train phases' baseline): the per-sample loop against
   the batched stream (learning/online.py: exact, the same report bytes), samples/s and ratio.
3. Fashion-MNIST inference of all 10,000 test images on one chip of the default arch
   (workloads/fashion_inference.yaml on arch/rram_64x64.yaml): wall seconds of the functional
   run (target under 5 minutes).

Every run is in this process, after one short warm-up run (numba compile, pretraining cache).
Needs the dataset: apt-get install dataset-fashion-mnist.
Run: python benchmarks/bench_online.py [--samples 200] [--skip-inference]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHIP = ROOT / "arch" / "rram_128x128_chip.yaml"
LRT = ROOT / "workloads" / "lrt_fashion.yaml"


def train_rate(rule: str, samples: int, batch: int | None = None,
               step: str = "sample") -> tuple[float, float]:
    """(samples per second of the online loop, wall s) of one train phase of `rule` (no baseline;
    `step`: SGD's sgd_step)."""
    from cimsim import api
    from cimsim.learning import online
    from cimsim.progress import quiet
    from cimsim.session import WallClock

    phase = (f"[{{name: adapt, kind: train, split: train, samples: {samples}, baseline: false, "
             f"algorithm: {{name: {rule}, rank: 4, lr: 0.003, sgd_step: {step}}}, "
             "scenario: {kind: control}}]")
    wall = WallClock()
    keep = online.STREAM_BATCH
    online.STREAM_BATCH = batch or keep
    try:
        with quiet():
            api.run(CHIP, LRT, {"workload.phases": phase}, wall=wall)
    finally:
        online.STREAM_BATCH = keep
    t = wall.seconds["functional"]
    return samples / t, t


def inference_seconds() -> tuple[float, float]:
    """(wall s of the functional run of 10,000 images on one chip, accuracy)."""
    from cimsim import api
    from cimsim.progress import quiet
    from cimsim.session import WallClock

    wall = WallClock()
    with quiet():
        rep = api.run(ROOT / "arch" / "rram_64x64.yaml", ROOT / "workloads" / "fashion_inference.yaml",
                      {"workload.phases.0.ci_chips": 1}, wall=wall)
    return wall.seconds["functional"], rep.result.phases[0].accuracy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=200, help="online samples per measured run")
    ap.add_argument("--skip-inference", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    train_rate("lrt", 5)                                        # warm-up: compile, cached model
    print(f"LRT paper network, 28x28 Fashion-MNIST, {CHIP.name}, {args.samples} samples per run")
    lrt, t_lrt = train_rate("lrt", args.samples)
    print(f"  lrt (rank 4)             {lrt:6.2f} samples/s  ({t_lrt:.1f} s; 10,000 samples: "
          f"{10_000 / lrt / 60:.1f} min; target >= 5 samples/s)")
    term, t_term = train_rate("sgd", args.samples, step="term")
    print(f"  sgd per term             {term:6.2f} samples/s  ({t_term:.1f} s)")
    one, t_one = train_rate("none", args.samples, batch=1)
    many, t_many = train_rate("none", args.samples)
    print(f"  no learning, per sample  {one:6.2f} samples/s  ({t_one:.1f} s)")
    print(f"  no learning, batched     {many:6.2f} samples/s  ({t_many:.1f} s): {many / one:.2f}x the "
          "per-sample loop, same report bytes")
    if not args.skip_inference:
        t_inf, acc = inference_seconds()
        print(f"Fashion-MNIST inference, 10,000 test images, one chip of rram_64x64 (ResNet-8 w16): "
              f"{t_inf:.0f} s = {t_inf / 60:.1f} min (target < 5 min), accuracy {acc:.4f}")
    print(f"wall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
