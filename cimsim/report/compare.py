"""`cimsim compare`: headline metrics of several reports side by side, and overlay figures."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plugins
from .plots import _unit, plt, si_axis
from .units import si as _si

METRIC_KEYS = ("inference accuracy (last)", "inference accuracy, mean over chips (last)",
               "online accuracy EMA (last train)", "online accuracy EMA, no learning (last train)",
               "best MC policy accuracy",
               "energy total (J)", "energy per image (J)", "latency per image (s)",
               "online time per sample (s)", "max writes per cell", "aux memory (B)", "lifetime (years)",
               "programming energy (J)", "weights verified")


def headline(report: dict) -> dict[str, float | str | None]:
    """The numbers a reader compares first (None where the report has no such data): each
    phase kind's own (PhaseKind.headline, from its blocks), the energy of every phase that
    has one, and the programming cost."""
    out: dict[str, float | str | None] = dict.fromkeys(METRIC_KEYS)
    phases = report.get("phases", [])
    by_kind: dict[str, list[dict]] = {}
    for p in phases:
        by_kind.setdefault(p["kind"], []).append(p)
    for kind, blocks in by_kind.items():
        out.update(plugins.load("phase", kind)().headline(blocks))
    prog = report["deploy"].get("energy", {}).get("total_pj")      # None: a cost-only run
    out["energy total (J)"] = (sum(p["energy"]["total_pj"] for p in phases if "energy" in p)
                               + (prog or 0.0)) * 1e-12
    out["programming energy (J)"] = prog * 1e-12 if prog is not None else None
    out["weights verified"] = report["deploy"].get("fraction_verified")
    return out


def _fmt(key: str, v) -> str:
    """Values with SI prefixes for the metrics in J or s, plain numbers otherwise."""
    if v is None:
        return "-"
    if key.endswith("(J)") or key.endswith("(s)"):
        return _si(v, key[-2])
    if key.endswith("(B)"):
        return f"{int(v):,}"
    if v == 0 or 1e-3 <= abs(v) < 1e6:
        return f"{v:.4g}"
    return f"{v:.3e}"


def table(reports: list[dict], names: list[str]) -> str:
    """A terminal table: one row per metric, one column per report (rows all '-' dropped)."""
    heads = [headline(r) for r in reports]
    keys = [k for k in heads[0] if any(h[k] is not None for h in heads)]
    # values in J or s carry their own SI unit (4.5 mJ, 214 us): the row label drops "(J)"/"(s)"
    labels = {k: k[:-4] if k.endswith((" (J)", " (s)")) else k for k in keys}
    width = max(len(v) for v in labels.values())
    cols = [max(len(n), 10) for n in names]
    lines = [" " * width + "  " + "  ".join(n.rjust(c) for n, c in zip(names, cols))]
    for k in keys:
        lines.append(labels[k].ljust(width) + "  "
                     + "  ".join(_fmt(k, h[k]).rjust(c) for h, c in zip(heads, cols)))
    return "\n".join(lines)


def compare_figures(reports: list[dict], names: list[str]) -> dict[str, Figure]:
    """Overlays: online accuracy, writes per cell, energy per phase, Monte-Carlo accuracy."""
    out: dict[str, Figure] = {}
    trains = [(n, p) for n, r in zip(names, reports) for p in r["phases"] if "ema_series" in p]
    if trains:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
        for i, (n, p) in enumerate(trains):
            es = p["ema_series"]
            c = plt.get_cmap("tab10")(i % 10)
            label = f"{n}: {p['name']} ({p['algorithm']})"
            a1.plot(np.arange(len(es["values"])) * es["every"], es["values"], color=c, lw=1.4, label=label)
            h = p["writes"]["histogram"]
            a2.step(np.array(h["bin_lo"]) + 0.5, h["cells"], where="post", color=c, lw=1.4,
                    label=f"{label}, max {p['writes']['max_per_cell']}")
        a1.set_ylim(0, 1.05)
        a1.set_xlabel("sample")
        a1.set_ylabel("online accuracy (EMA)")
        a1.set_title("Online accuracy")
        a1.legend(loc="lower left")
        a2.set_xscale("symlog", linthresh=1)
        a2.set_yscale("log")
        a2.set_xlabel("writes per cell")
        a2.set_ylabel("cells")
        a2.set_title("Writes per cell")
        a2.legend(loc="upper right")
        fig.tight_layout()
        out["compare_online_writes"] = fig
    rows = [(n, f"{p['name']} (per {'image' if 'images' in p else 'sample'})",
             p["energy"]["total_pj"] / (p.get("images", p.get("samples")) or 1))
            for n, r in zip(names, reports) for p in r["phases"]
            if "energy" in p and "total_pj" in p["energy"]]
    if rows:
        div, unit = _unit(max(v for *_, v in rows))
        fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(rows) + 2), 3.8))
        labels = [f"{n}\n{ph}" for n, ph, _ in rows]
        colors = [plt.get_cmap("tab10")(names.index(n) % 10) for n, *_ in rows]
        ax.bar(range(len(rows)), [v / div for *_, v in rows], color=colors)
        for i, (*_, v) in enumerate(rows):
            ax.annotate(f"{v / div:.3g}", (i, v / div), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 2), textcoords="offset points")
        ax.set_xticks(range(len(rows)), labels, fontsize=7)
        ax.set_ylabel(f"energy ({unit})")
        ax.set_title("Energy per image or sample, by phase")
        fig.tight_layout()
        out["compare_energy"] = fig
    points = []
    for n, r in zip(names, reports):
        inf = [p for p in r["phases"] if p["kind"] == "inference" and p.get("accuracy") is not None]
        if inf:
            p = inf[-1]
            oc = p.get("accuracy_over_chips")
            acc, lo, hi = ((oc["mean"], oc["ci95"][0], oc["ci95"][1]) if oc else (p["accuracy"],) * 3)
            points.append((n, acc, lo, hi, p["energy"]["per_image_pj"] * 1e-12,
                           p["latency"]["first_image_latency_s"]))
    if points:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        panels = ((axes[0], 4, "energy per image", "J"), (axes[1], 5, "latency per image", "s"))
        for ax, col, label, unit in panels:
            for i, pt in enumerate(points):
                c = plt.get_cmap("tab10")(i % 10)
                ax.errorbar(pt[col], pt[1], yerr=[[pt[1] - pt[2]], [pt[3] - pt[1]]], fmt="o", color=c,
                            capsize=3)
                ax.annotate(pt[0], (pt[col], pt[1]), textcoords="offset points", xytext=(5, 4), fontsize=7)
            xs = [pt[col] for pt in points]
            if min(xs) > 0 and max(xs) / min(xs) > 20:
                ax.set_xscale("log")
            si_axis(ax, "x", unit)
            ax.set_xlabel(f"{label} (last inference phase)")
            ax.set_title(f"Accuracy vs {label}")
        axes[0].set_ylabel("test accuracy (mean over chips, 95% CI where run)")
        axes[0].set_ylim(0, 1.02)
        fig.tight_layout()
        out["compare_accuracy_cost"] = fig
    mcs = [(n, p) for n, r in zip(names, reports) for p in r["phases"] if "results" in p]
    if mcs:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        styles = ["-", "--", ":", "-."]
        for j, (n, p) in enumerate(mcs):
            pols = list(dict.fromkeys(r["policy"] for r in p["results"]))
            for i, pol in enumerate(pols):
                rs = sorted((r for r in p["results"] if r["policy"] == pol), key=lambda r: r["sigma"])
                s = [r["sigma"] for r in rs]
                m = np.array([r["accuracy"]["mean"] for r in rs])
                lo = np.array([r["accuracy"]["ci95"][0] for r in rs])
                hi = np.array([r["accuracy"]["ci95"][1] for r in rs])
                c = plt.get_cmap("tab10")(i % 10)
                ax.plot(s, m, styles[j % 4], marker="o", ms=3, color=c, label=f"{n}: {p['name']} {pol}")
                ax.fill_between(s, lo, hi, color=c, alpha=0.12)
        ax.set_xlabel("programming variation sigma (of the conductance range)")
        ax.set_ylabel("test accuracy (mean, 95% CI)")
        ax.set_ylim(0, 1.02)
        ax.set_title("Accuracy over chips vs variation")
        ax.legend(loc="lower left", fontsize=7)
        fig.tight_layout()
        out["compare_montecarlo"] = fig
    return out
