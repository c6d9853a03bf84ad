"""cimsim: accuracy, energy, latency and endurance of compute-in-memory accelerators.

The Python API (cimsim/api.py) mirrors `cimsim run`:

    import cimsim
    rep = cimsim.run("arch/rram_64x64.yaml", "workloads/resnet_inference.yaml",
                     overrides={"arch.adc.bits": 6})
    print(rep.summary())
    rep = cimsim.load_report("results/rram_64x64__resnet_inference/report.json")   # a saved run
"""

from .workers import quiet_waiting_threads

quiet_waiting_threads()         # before numpy loads: idle BLAS/OpenMP threads sleep, not spin

__version__ = "0.1.0"
__all__ = ["Report", "load_arch", "load_report", "load_workload", "run", "__version__"]
_API = ("Report", "load_arch", "load_report", "load_workload", "run")


def __getattr__(name: str):
    """The API on first use (so `import cimsim` and the CLI's start stay light)."""
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'cimsim' has no attribute '{name}'")


def __dir__() -> list[str]:
    """The API's names too, though they load on first use (dir(cimsim), completion)."""
    return sorted({*__all__, *(k for k in globals() if k.startswith("__"))})
