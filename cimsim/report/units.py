"""Numbers with SI prefixes for the terminal summary and tables."""
from __future__ import annotations


def si(value: float, unit: str) -> str:
    """value in `unit` with an SI prefix (p .. plain; µ as in the figures), 3 significant digits."""
    for factor, prefix in ((1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, "")):
        if abs(value) < factor * 1000 or prefix == "":
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


_DURATIONS = ((365.25 * 86400, "yr"), (86400.0, "d"), (3600.0, "h"), (60.0, "min"))


def duration(seconds: float) -> str:
    """A time span in the largest of yr, d, h, min it fills (else SI seconds), 3 digits."""
    if seconds == 0:
        return "0 s"
    for factor, unit in _DURATIONS:
        if seconds >= factor:
            return f"{seconds / factor:.3g} {unit}"
    return si(seconds, "s")


def top_shares(parts: dict[str, float], total: float, n: int = 3) -> str:
    """The n largest parts as shares of total ("adc 67%, crossbar 13%, ..."; "" without a
    total), names with spaces for underscores."""
    if not parts or not total:
        return ""
    top = sorted(parts, key=lambda k: -parts[k])[:n]
    return ", ".join(f"{k.replace('_', ' ')} {parts[k] / total:.0%}" for k in top)
