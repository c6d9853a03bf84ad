"""cimsim: accuracy, energy, latency and endurance of compute-in-memory accelerators."""

__version__ = "0.1.0"
