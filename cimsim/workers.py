"""Worker processes and threads: how many cores the process may use, and how a spawned
worker starts (it ends with its parent, and its numeric libraries use only its share of
the cores and sleep rather than spin while they wait).

Why: on a loaded machine, threads beyond the cores the process can have, and BLAS or
OpenMP threads that busy-wait for work, take turns with the threads doing the work: a study
then runs many times slower than its share of the machine would allow.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

# sleep at once when idle instead of spinning (read when each library loads: cimsim sets
# them before numpy is imported, and spawned workers inherit them)
QUIET_THREADS = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0", "OPENBLAS_THREAD_TIMEOUT": "4",
                 "GOMP_SPINCOUNT": "0"}


def quiet_waiting_threads() -> None:
    """Set QUIET_THREADS in the environment unless the user set them."""
    for k, v in QUIET_THREADS.items():
        os.environ.setdefault(k, v)


def _cgroup_cores() -> float | None:
    """The CPU quota of the process's cgroup (v2 cpu.max, v1 cfs files), in cores; None if none."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
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
    quota = _cgroup_cores()
    if quota is not None:
        n = min(n, max(1, int(quota)))
    return max(1, n)


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
