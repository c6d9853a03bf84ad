"""Phase kinds (inference, train, monte_carlo): each owns its run, report block, summary
lines, tables and headline metrics (base.PhaseKind). They are looked up by the block's
`kind` through the registry in plugins.py (kind "phase"), like tiles and devices."""
from __future__ import annotations

from .. import plugins
from ..session import Session, WallClock
from .base import PhaseKind

__all__ = ["PhaseKind", "Session", "WallClock", "phase_kind", "kinds"]


def phase_kind(kind: str) -> PhaseKind:
    """The phase kind registered under `kind`."""
    return plugins.load("phase", kind)()


def kinds() -> list[PhaseKind]:
    """Every registered phase kind, built-ins first (the order of their tables)."""
    return [phase_kind(e.name) for e in plugins.entries("phase")]
