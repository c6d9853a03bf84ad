"""cimsim: accuracy, energy, latency and endurance of compute-in-memory accelerators."""
import os

# OpenBLAS worker threads otherwise busy-wait ~0.1 s after each GEMM and starve the numba
# threads of the kernel that follows (measured: 60x slower on 2 cores). This makes them sleep
# almost at once. It only takes effect if numpy is imported after cimsim (the CLI does).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"
