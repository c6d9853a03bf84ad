"""A study's wall time beside a CPU load, against its idle wall time (issue 25, item 9).

Two studies run idle, then beside BUSY busy-looping processes (default 4, as `stress --cpu
4`: with the study's own threads, the load average of 6-8 on 2 cores seen when jobs share
a machine):
- pretrain: resnet_inference with a cold model cache (float training: BLAS-heavy), 3 epochs;
- tsb: resnet_tsb with 2 chips per Monte-Carlo phase and --workers 2 (a process pool).
Printed per study: idle wall and CPU seconds, loaded wall seconds, the slowdown (loaded /
idle; target <= 5x) and the slowdown a perfectly fair scheduler would give: a study that
keeps u cores busy when idle (u = CPU / wall seconds) gets u / (busy + u) of the machine's
cores beside the load, so fair = (busy + u) / cores (at least 1). Each run is a subprocess,
so the code measured is whatever `python -m cimsim` imports (PYTHONPATH selects another
checkout).

Run: python benchmarks/under_load.py [--busy 4] [--only pretrain|tsb]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCH = str(ROOT / "arch" / "rram_64x64.yaml")
STUDIES = {
    "pretrain": ([ARCH, str(ROOT / "workloads" / "resnet_inference.yaml"),
                  "--set", "workload.pretrain.epochs=3", "--set", "workload.phases.0.ci_chips=1"], True),
    "tsb": ([ARCH, str(ROOT / "workloads" / "resnet_tsb.yaml"), "--set", "workload.phases.1.chips=2",
             "--set", "workload.phases.2.chips=2", "--workers", "2"], False),
}


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run(args: list[str], cache: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the study's processes) of one `cimsim run` (paths absolute)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cimsim", "-q", "run", *args, "--out", str(out)], check=True,
                   env={**os.environ, "CIMSIM_CACHE": str(cache)}, stdout=subprocess.DEVNULL,
                   cwd=out.parent)       # not the checkout: `-m cimsim` would import ./cimsim first
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def settle(limit_s: float = 240.0) -> None:
    """Wait (up to limit_s) for the 1-minute load average to fall below 1, so an idle run is
    idle (cimsim sizes its thread counts by the load: workers.threads_now)."""
    t0 = time.time()
    while os.getloadavg()[0] >= 1.0 and time.time() - t0 < limit_s:
        time.sleep(5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--busy", type=int, default=4, help="busy-looping processes beside the study (default 4)")
    p.add_argument("--only", choices=sorted(STUDIES))
    args = p.parse_args()
    n_busy = args.busy
    print(f"{cores()} cores; load: {n_busy} busy-looping processes")
    print(f"{'study':<10} {'idle s':>8} {'idle cpu':>9} {'loaded s':>9} {'slowdown':>9} {'fair':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        warm = d / "warm"
        for name, (study, cold) in STUDIES.items():
            if args.only and name != args.only:
                continue
            if not cold:
                run(study, warm, d / "o")             # its model in the cache, not timed
            settle()
            idle, cpu = run(study, d / f"idle-{name}" if cold else warm, d / "o")
            busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n_busy)]
            try:
                time.sleep(1.0)
                loaded, _ = run(study, d / f"loaded-{name}" if cold else warm, d / "o")
            finally:
                for b in busy:
                    b.kill()
                    b.wait()
            used = cpu / idle                          # cores the study keeps busy when idle
            fair = max(1.0, (n_busy + used) / cores())
            print(f"{name:<10} {idle:>8.1f} {cpu:>9.1f} {loaded:>9.1f} {loaded / idle:>8.2f}x {fair:>5.2f}x")


if __name__ == "__main__":
    main()
