"""report.json: written atomically, byte-identical for identical inputs and seed."""
from __future__ import annotations

import json
import math
from pathlib import Path

from .. import plugins
from ..errors import CimsimError
from ..results import RunReport, as_report
from ..util import atomic_write
from .units import si as _si
from .units import top_shares


def _non_finite(data: object, path: str = "") -> str | None:
    """The key path of the first NaN or infinity in JSON-able data (None: there is none)."""
    if isinstance(data, float) and not math.isfinite(data):
        return path or "<top>"
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for k, v in items:
        found = _non_finite(v, f"{path}.{k}" if path else str(k))
        if found:
            return found
    return None


def dumps(report: RunReport | dict) -> str:
    """report.json's text: the one place a typed report becomes JSON. A non-finite number
    (the inputs far outside any real chip) is one clear error naming where, not a report
    that JSON readers reject."""
    data = report.to_json() if isinstance(report, RunReport) else report
    try:
        return json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n"
    except ValueError:
        raise CimsimError(f"the run produced a non-finite number at report key {_non_finite(data)}: "
                          "the arch or workload values are outside any range cimsim can model") from None


def write_report(report: RunReport | dict, out_dir: str | Path) -> Path:
    path = Path(out_dir) / "report.json"
    text = dumps(report)
    atomic_write(path, lambda f: f.write(text))
    return path


def write_all(report: RunReport | dict, folder: str | Path, plot: bool = False, fmt: str = "png",
              dpi: float = 150.0, style: str = "screen") -> list[Path]:
    """report.json and the CSV tables (and with `plot`, the figures: PNG, PDF or SVG, for
    the screen or a paper) into
    `folder`: what a run writes, staged by report/outdir.py before it is swapped into the
    output folder."""
    from .tables import write_tables

    paths = [write_report(report, folder), *write_tables(report, folder)]
    if plot:
        from .plots import figures, save_figures

        paths += save_figures(figures(report), folder, fmt, dpi, style)
    return paths


def _area_parts(area: dict) -> str:
    """The three largest area components, so TOPS/mm2 reads against what fills the chip."""
    shares = top_shares(area.get("per_component_mm2") or {}, area.get("total_mm2") or 0.0)
    return f" ({shares})" if shares else ""


def summary(report: RunReport | dict) -> str:
    """A short human summary of a report."""
    rep = as_report(report)
    m, mp, dp = rep.model, rep.mapping, rep.deploy
    acc = m.float_test_accuracy
    lines = [
        f"model {m.name}: {m.parameters} parameters, "
        + (f"float test accuracy {acc:.4f}" if acc is not None else "cost-only run (no accuracy)"),
        (f"mapping: {mp['tiles_used']}/{mp['tiles_total']} tiles, " if mp.get("reload_rounds", 1) == 1 else
         f"mapping: {mp['tiles_used']} tiles in {mp['reload_rounds']} weight-reload rounds on "
         f"{mp['tiles_total']}, ")
        + f"{mp['crossbars_used']} crossbars, "
        f"{mp['utilisation_of_allocated_tiles']:.1%} of allocated cells used"
        + f"; chip area {rep.area['total_mm2']:.3g} mm2" + _area_parts(rep.area),
    ]
    if "pulses" in dp:
        lines.append(
            f"programming (policy {dp['policy']}): {dp['pulses']} pulses ({dp['verify_pulses']} in verify "
            f"loops), {dp['verify_reads']} verify reads, {dp['fraction_verified']:.2%} of weights verified, "
            f"{_si(dp['energy']['total_pj'] * 1e-12, 'J')}, {_si(dp['time_s'], 's')}, "
            f"{dp['stuck_cells']} stuck cells")
    for ph in rep.phases:
        lines += plugins.load("phase", ph.kind)().summary(ph)
    if rep.explain:
        lines += explain_lines(rep.explain)
    return "\n".join(lines)


def explain_lines(block: dict) -> list[str]:
    """Terminal lines of the report's explain block (explain.py's ablation)."""
    out = [f"explain ({block['phase']}, {block['images']} images, mean of {block['chips']} chips): "
           f"ideal chip {block['ideal_chip']:.4f}, this arch {block['this_chip']:.4f}; "
           "each non-ideality alone:"]
    for name, acc in sorted(block["each_alone"].items(), key=lambda kv: kv[1]):
        out.append(f"  {acc:.4f} ({100 * (acc - block['ideal_chip']):+.1f} points)  {name}")
    if block["dominant"]:
        out.append(f"  dominant: {block['dominant']}")
    return out
