"""The sweep's results table (one CSV row per point) and its Pareto plots."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..report.compare import headline, named_headlines, study_accuracy
from ..report.plots import place_labels, plt, si_axis
from ..results import RunReport
from ..util import atomic_write
from .runner import Point, point_dir

# cost metric -> results column (units in the names, as in report.json: energies in pJ)
METRICS = {
    "energy total (pJ)": "energy_total_pj",
    "energy per image (pJ)": "energy_per_image_pj",
    "latency per image (s)": "latency_per_image_s",
    "online time per sample (s)": "online_time_per_sample_s",
    "max writes per cell": "max_writes_per_cell",
    "aux memory (B)": "aux_memory_bytes",
    "lifetime (years)": "lifetime_years",
    "programming energy (pJ)": "programming_energy_pj",
    "weights verified": "fraction_verified",
}


def _report(out: Path, p: Point) -> RunReport | None:
    rep = point_dir(out, p.key) / "report.json" if p.key else None
    return RunReport.from_json(json.loads(rep.read_text()), str(rep)) if rep and rep.exists() else None


def rows(points: list[Point], swept: tuple[str, ...], out: Path) -> list[dict]:
    """One dict per point: index, status, hash, the swept values, every phase's named
    accuracies (`<phase>.<name>`, the columns of all points), the cost metrics, the error."""
    reports = [_report(out, p) for p in points]
    heads = [headline(r) if r else {} for r in reports]
    named = list(dict.fromkeys(k for r in reports if r for k, _ in named_headlines(r)))
    table = []
    for p, head in zip(points, heads):
        row: dict = {"point": p.index, "status": p.status, "hash": p.key}
        row.update({k: json.dumps(p.values[k]) if isinstance(p.values[k], (list, dict)) else p.values[k]
                    for k in swept})
        row.update({col: head.get(col) for col in named})
        row.update({col: head.get(name) for name, col in METRICS.items()})
        row["error"] = p.error.splitlines()[0] if p.error else ""
        table.append(row)
    return table


def pareto_accuracy(points: list[Point], out: Path) -> tuple[str, str] | None:
    """The results column the Pareto plots use and its axis label (compare.study_accuracy of
    the first point with a report)."""
    for p in points:
        if (r := _report(out, p)) is not None:
            return study_accuracy(r)
    return None


def write_csv(table: list[dict], path: Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(table[0]), lineterminator="\n")
    w.writeheader()
    for r in table:
        w.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    text = buf.getvalue()
    atomic_write(path, lambda f: f.write(text))


def pareto(cost: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (cost <= and accuracy >=, one strictly),
    sorted by cost."""
    keep = [i for i in range(len(cost))
            if not np.any((cost <= cost[i]) & (acc >= acc[i]) & ((cost < cost[i]) | (acc > acc[i])))]
    return np.array(sorted(keep, key=lambda i: (cost[i], -acc[i])), dtype=int)


def point_name(values: dict) -> str:
    """A point by its swept values ("bits=4, rank=2": the last part of each key path)."""
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in values.items())


# results column, axis label, unit, factor to that unit
PLOTS = (("energy_total_pj", "energy of the whole run", "J", 1e-12),
         ("energy_per_image_pj", "inference energy per image", "J", 1e-12),
         ("max_writes_per_cell", "max writes per cell", "", 1.0),
         ("latency_per_image_s", "inference latency per image", "s", 1.0))


def figures(table: list[dict], swept: tuple[str, ...], name: str,
            accuracy: tuple[str, str] | None) -> dict[str, Figure]:
    """Cost vs the study's accuracy (`accuracy`: results column and axis label, from
    pareto_accuracy) for every cost the points have, the Pareto front drawn and labelled."""
    figs: dict[str, Figure] = {}
    if accuracy is None:
        return figs
    acc_col, acc_label = accuracy
    for col, label, unit, factor in PLOTS:
        ok = [r for r in table if r.get(col) is not None and r.get(acc_col) is not None]
        if len(ok) < 2:
            continue
        cost = np.array([r[col] for r in ok], float) * factor
        acc = np.array([r[acc_col] for r in ok], float)
        front = pareto(cost, acc)
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        ax.scatter(cost, acc, s=22, color="tab:gray", label="points", zorder=2)
        ax.plot(cost[front], acc[front], "-o", color="tab:red", ms=5, label="Pareto front", zorder=3)
        if cost.min() > 0 and cost.max() / cost.min() > 20:
            ax.set_xscale("log")
        if unit:
            si_axis(ax, "x", unit)
        ax.set_xlabel(label)
        ax.set_ylabel(acc_label)
        ax.set_title(f"{name}: {label} vs accuracy ({len(ok)} points)")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        place_labels(ax, [(cost[i], acc[i]) for i in front],
                     [point_name({k: ok[i][k] for k in swept}) for i in front],
                     bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
        figs[f"pareto_{col}"] = fig
    return figs
