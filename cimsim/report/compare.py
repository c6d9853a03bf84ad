"""`cimsim compare`: headline metrics of several reports side by side, and overlay figures."""
from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from .. import plugins
from ..results import PhaseResult, RunReport, as_report, energy_of
from .plots import _unit, plt
from .units import si as _si

if TYPE_CHECKING:
    from ..phases.base import Headline

METRIC_KEYS = ("energy total (pJ)", "energy per image (pJ)", "latency per image (s)",
               "online time per sample (s)", "max writes per cell", "aux memory (B)", "lifetime (years)",
               "programming energy (pJ)", "weights verified")


def _phase_headlines(rep: RunReport) -> list[tuple[PhaseResult, list[Headline]]]:
    """Each phase with its named accuracies (PhaseKind.headlines), in phase order."""
    return [(p, plugins.load("phase", p.kind)().headlines(p)) for p in rep.phases]


def named_headlines(report: RunReport | dict) -> list[tuple[str, Headline]]:
    """Every phase's named accuracies as (`<phase>.<name>`, Headline), in phase order, each
    phase's headline first."""
    return [(f"{p.name}.{h.name}", h) for p, hs in _phase_headlines(as_report(report)) for h in hs]


def study_accuracy(report: RunReport | dict) -> tuple[str, str] | None:
    """The accuracy a study is judged by, as (column, axis label): the headline of its last
    train phase, else of its last phase that has one (None: a cost-only run)."""
    heads = [(p, hs[0]) for p, hs in _phase_headlines(as_report(report)) if hs]
    trains = [ph for ph in heads if ph[0].kind == "train"]
    if not heads:
        return None
    p, h = (trains or heads)[-1]
    return f"{p.name}.{h.name}", f"{p.name}: {h.label}"


def headline(report: RunReport | dict) -> dict[str, float | str | None]:
    """The numbers a reader compares first (None where the report has no such data): every
    phase's named accuracies (`<phase>.<name>`, PhaseKind.headlines), each phase kind's cost
    metrics (PhaseKind.headline), the energy of every phase that has one, and the programming
    cost. Energies in pJ, as in report.json."""
    rep = as_report(report)
    out: dict[str, float | str | None] = {k: h.value for k, h in named_headlines(rep)}
    out.update(dict.fromkeys(METRIC_KEYS))
    by_kind: dict[str, list[PhaseResult]] = {}
    for p in rep.phases:
        by_kind.setdefault(p.kind, []).append(p)
    for kind, results in by_kind.items():
        out.update(plugins.load("phase", kind)().headline(results))
    prog = rep.deploy.get("energy", {}).get("total_pj")      # None: a cost-only run
    out["energy total (pJ)"] = sum(e.total_pj for p in rep.phases if (e := energy_of(p))) + (prog or 0.0)
    out["programming energy (pJ)"] = prog
    out["weights verified"] = rep.deploy.get("fraction_verified")
    return out


def _fmt(key: str, v) -> str:
    """Values with SI prefixes for the metrics in J or s, plain numbers otherwise."""
    if v is None:
        return "-"
    if key.endswith("(pJ)"):
        return _si(v * 1e-12, "J")
    if key.endswith("(s)"):
        return _si(v, "s")
    if key.endswith("(B)"):
        return f"{int(v):,}"
    if v == 0 or 1e-3 <= abs(v) < 1e6:
        return f"{v:.4g}"
    return f"{v:.3e}"


def table(reports: list[dict], names: list[str]) -> str:
    """A terminal table: one row per metric, one column per report (rows all '-' dropped)."""
    heads = [headline(r) for r in reports]
    # the rows of every report (phases differ between workloads), those with any value
    every = list(dict.fromkeys(k for h in heads for k in h))
    named = list(dict.fromkeys(k for r in reports for k, _ in named_headlines(r)))   # <phase>.<name> first
    keys = [k for k in named + [k for k in every if k not in named]
            if any(h.get(k) is not None for h in heads)]
    # values in J or s carry their own SI unit (4.5 mJ, 214 µs): the row label drops "(pJ)"/"(s)"
    labels = {k: k.rsplit(" (", 1)[0] if k.endswith((" (pJ)", " (s)")) else k for k in keys}
    width = max(len(v) for v in labels.values())
    cols = [max(len(n), 10) for n in names]
    lines = [" " * width + "  " + "  ".join(n.rjust(c) for n, c in zip(names, cols))]
    for k in keys:
        lines.append(labels[k].ljust(width) + "  "
                     + "  ".join(_fmt(k, h.get(k)).rjust(c) for h, c in zip(heads, cols)))
    return "\n".join(lines)


def energy_overlay(reports: list[RunReport], names: list[str]) -> Figure | None:
    """Energy per image or sample of every costed phase of every report."""
    rows = [(n, f"{p.name} (per {p.unit})", p.energy.total_pj / (p.count or 1))
            for n, r in zip(names, reports) for p in r.phases if energy_of(p)]
    if not rows:
        return None
    div, unit = _unit(max(v for *_, v in rows))
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(rows) + 2), 3.8))
    for n in dict.fromkeys(n for n, *_ in rows):          # one colour per report, in the legend
        idx = [i for i, r in enumerate(rows) if r[0] == n]
        color = plt.get_cmap("tab10")(names.index(n) % 10)
        ax.bar(idx, [rows[i][2] / div for i in idx], color=color, label=n)
    for i, (*_, v) in enumerate(rows):
        ax.annotate(f"{v / div:.3g}", (i, v / div), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(rows)), [ph.replace(" (", "\n(") for _, ph, _ in rows], fontsize=8)
    ax.set_ylabel(f"energy ({unit})")
    ax.set_title("Energy per image or sample, by phase")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="report")
    fig.tight_layout()
    untangle_ticks(ax)
    return fig


def untangle_ticks(ax) -> None:
    """Tilt the x tick labels when any two overlap (long names, many bars)."""
    fig = ax.figure
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in ax.get_xticklabels() if t.get_text()]
    if any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]):
        for t in ax.get_xticklabels():
            t.set_rotation(35)
            t.set_horizontalalignment("right")
            t.set_rotation_mode("anchor")
        fig.tight_layout()


def compare_figures(reports: list[RunReport | dict], names: list[str]) -> dict[str, Figure]:
    """Overlays: each phase kind's (PhaseKind.compare_figures, from its results per report)
    and the energy per image or sample of every costed phase."""
    reps = [as_report(r) for r in reports]
    out: dict[str, Figure] = {}
    kinds = dict.fromkeys([e.name for e in plugins.entries("phase")]
                          + [p.kind for r in reps for p in r.phases])
    for name in kinds:
        kind = plugins.load("phase", name)()
        per_report = [(n, [p for p in r.phases if p.kind == name]) for n, r in zip(names, reps)]
        per_report = [(n, rs) for n, rs in per_report if rs]
        if per_report:
            out.update({k: f for k, f in kind.compare_figures(per_report).items() if f is not None})
    fig = energy_overlay(reps, names)
    if fig is not None:
        out["compare_energy"] = fig
    return out
