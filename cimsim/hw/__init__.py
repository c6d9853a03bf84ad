"""The chip's components; each owns its per-action costs (energy, latency) in one place."""
from .chip import Chip
from .tile import cycles

__all__ = ["Chip", "cycles"]
