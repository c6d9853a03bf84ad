"""Worker processes and threads: how many cores the process may use, and how a spawned
worker starts (it ends with its parent, and its numeric libraries use only its share of
the cores and sleep rather than spin while they wait).

Why: on a loaded machine, threads beyond the cores the process can have, and BLAS or
OpenMP threads that busy-wait for work, take turns with the threads doing the work: a study
then runs many times slower than its share of the machine would allow.
"""
from __future__ import annotations

import ctypes
import math
import os
import signal
import sys
import time
from pathlib import Path

# sleep at once when idle instead of spinning (read when each library loads: cimsim sets
# them before numpy is imported, and spawned workers inherit them)
QUIET_THREADS = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0", "OPENBLAS_THREAD_TIMEOUT": "4",
                 "GOMP_SPINCOUNT": "0"}


def quiet_waiting_threads() -> None:
    """Set QUIET_THREADS, and BLAS/OpenMP thread counts of the cores the process may use,
    in the environment unless the user set them."""
    cores = str(available_cores())
    for k, v in {**QUIET_THREADS, "OPENBLAS_NUM_THREADS": cores, "OMP_NUM_THREADS": cores,
                 "MKL_NUM_THREADS": cores}.items():
        os.environ.setdefault(k, v)


def cgroup_cores(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of the process's cgroup (v2 cpu.max, v1 cfs files), in cores; None if none."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by its cgroup's CPU quota
    (a container's `--cpus`), at least 1. os.cpu_count() counts the host's cores."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = cgroup_cores()
    if quota is not None:
        n = min(n, max(1, int(quota)))
    return max(1, n)


def _others_running(samples: int = 5) -> float | None:
    """Threads of other processes that are runnable right now: the kernel's count of runnable
    threads (/proc/loadavg, 4th field), less this one, median of a few samples 10 ms apart.
    None where there is no /proc (then the 1-minute load average stands in)."""
    counts = []
    for i in range(samples):
        try:
            counts.append(int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return None
        if i + 1 < samples:
            time.sleep(0.01)
    return float(sorted(counts)[len(counts) // 2])


def threads_now() -> int:
    """Threads worth running now: the available cores less the threads other processes have
    runnable at this moment, at least 1. On a loaded machine a second BLAS or MVM thread
    mostly waits at the barrier for its sibling to be scheduled (docs/results/scale.md, "Under
    load": cold pretraining beside 4 busy processes on 2 cores went from 55 s to 32 s); on an
    idle one every core is used. Results never depend on the count."""
    cores = available_cores()
    others = _others_running()
    if others is None:
        try:
            others = max(0.0, os.getloadavg()[0] - 1.0)
        except (AttributeError, OSError):
            return cores
    return max(1, min(cores, math.floor(cores - others + 0.5)))


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel end this process when its parent ends (Linux); elsewhere, and if the
    parent is already gone, leave at once rather than run on as an orphan."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:           # the parent died before the signal was armed
        os._exit(1)


def start_worker(parent_pid: int, threads: int = 1) -> None:
    """A spawned worker's first step: end with the parent; one BLAS thread and `threads` MVM
    threads (the parent divides the cores among its workers)."""
    from threadpoolctl import threadpool_limits

    from .kernels import mvm

    die_with_parent(parent_pid)
    threadpool_limits(1)
    mvm.use_threads(threads)


def undo_small_malloc_trim() -> None:
    """dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's
    mmap threshold at 128 KiB: every large numpy array is then mmap'd and page-faulted
    afresh, and a point runs ~2x slower (measured: 29 s vs 14 s). Raise both thresholds
    again (glibc only; elsewhere nothing to do)."""
    if not os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)
    libc.mallopt(m_trim_threshold, 64 << 20)
