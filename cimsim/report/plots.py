"""Figures of a report (matplotlib, Agg): only those the report has data for.

Each builder returns a Figure with a title, labelled axes (units) and a legend where
there is more than one series; `save_figures` writes them as PNG (atomically).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from ..errors import CimsimError  # noqa: E402
from ..results import Energy, Latency, RunReport, as_report, energy_of  # noqa: E402
from ..util import atomic_write, inside  # noqa: E402

if TYPE_CHECKING:
    from ..montecarlo import MonteCarloResult
    from ..phases.inference import InferenceResult
    from ..phases.online import TrainResult

plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False, "font.size": 9,
                     "legend.fontsize": 8, "legend.frameon": False})
ENERGY_UNITS = ((1e12, "J"), (1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ"))
TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


# one colour per energy component in every figure of every report (tab20 entries); a
# component not listed (a plugin tile's own) takes a colour from its name, also fixed
COMPONENT_COLORS = {
    "adc": 0, "dac": 2, "crossbar": 4, "shift_add": 6, "digital": 8, "sram_read": 10,
    "sram_write": 11, "noc": 12, "offchip": 14, "write_pulses": 16, "write_drivers": 17,
    "idle (leakage)": 15, "cell_pulses": 16, "verify_reads": 18, "readback": 19, "registers": 7,
}


def component_color(name: str) -> tuple:
    """The component's colour, the same in every figure."""
    i = COMPONENT_COLORS.get(name)
    if i is None:
        i = int.from_bytes(name.encode(), "little") % 20
    return plt.get_cmap("tab20")(i)


def _unit(value_pj: float) -> tuple[float, str]:
    """Divisor and unit name so that value_pj / divisor is between 1 and 1000."""
    for div, name in ENERGY_UNITS:
        if abs(value_pj) >= div:
            return div, name
    return 1.0, "pJ"


def _time_unit(seconds: float) -> tuple[float, str]:
    for div, name in TIME_UNITS:
        if abs(seconds) >= div:
            return div, name
    return 1e-9, "ns"




def si_axis(ax, axis: str, unit: str) -> None:
    """Tick labels of one axis in SI-prefixed units (4.5 mJ, 214 µs), no offset or exponent."""
    fmt = EngFormatter(unit=unit, sep=" ")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


MAX_ROWS = 30     # rows of a per-node or per-resource figure before the smallest merge into one


LABEL_OFFSETS = ((5, 4), (5, -12), (-5, 4), (-5, -12), (5, 14), (5, -22), (-5, 14), (-5, -22),
                 (5, 24), (5, -32), (-5, 24), (-5, -32))       # points, tried in turn


def place_labels(ax, points: list[tuple[float, float]], texts: list[str], **kw) -> list:
    """Annotate each point with its text at the first offset (LABEL_OFFSETS) where the label
    overlaps no label placed before, no point and stays inside the axes; a label that fits
    nowhere goes to the last offset with a leader line. Returns the annotations."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(np.asarray(points, float)) if points else np.zeros((0, 2))
    box_ax = ax.get_window_extent(renderer)
    placed, out = [], []
    for (x, y), text in zip(points, texts):
        for k, (dx, dy) in enumerate(LABEL_OFFSETS):
            last = k == len(LABEL_OFFSETS) - 1
            a = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy),
                            ha="left" if dx > 0 else "right", fontsize=8, **kw,
                            arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.6} if last else None)
            bb = a.get_window_extent(renderer).expanded(1.05, 1.1)
            clear = (not any(bb.overlaps(p) for p in placed) and box_ax.contains(bb.x0, bb.y0)
                     and box_ax.contains(bb.x1, bb.y1)
                     and not any(bb.contains(px, py) for px, py in pts))
            if clear or last:
                placed.append(bb)
                out.append(a)
                break
            a.remove()
    return out


def _stacked(ax, bars: list[tuple[str, dict[str, float]]], comps: list[str], colors: dict) -> None:
    """Stacked bars of components with the total (in a readable unit) on top; every component
    drawn is in the legend, however thin its slice."""
    div, unit = _unit(max(sum(d.values()) for _, d in bars))
    x = np.arange(len(bars))
    bottom = np.zeros(len(bars))
    for c in comps:
        vals = np.array([d.get(c, 0.0) for _, d in bars]) / div
        if vals.any():
            ax.bar(x, vals, 0.6, bottom=bottom, label=c.replace("_", " "), color=colors[c])
        bottom += vals
    for xi, tot in zip(x, bottom):
        ax.annotate(f"{tot:.3g} {unit}", (xi, tot), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x, [b for b, _ in bars])
    pad = max(0, 3 - len(bars)) / 2               # one or two bars keep a bar's width, not the plot's
    ax.set_xlim(-0.6 - pad, len(bars) - 0.4 + pad)
    ax.set_ylabel(f"energy ({unit})")
    ax.set_ylim(0, bottom.max() * 1.12 if bottom.max() > 0 else 1)
    ax.grid(axis="x", visible=False)


def energy_figure(report: RunReport) -> Figure | None:
    """Stacked bars: energy per image (inference) or per sample (online learning) of each
    phase by component plus its idle draw (totals on top), so phases of different lengths
    compare; and programming the chip once, by component, in its own panel."""
    phases: list[tuple[str, dict[str, float]]] = []
    for ph in report.phases:
        en = energy_of(ph)
        if en is not None:
            n = ph.count or 1
            label = f"{ph.name}\n(per {ph.unit})"
            bar = {k: v / n for k, v in en.per_component_pj.items() if v > 0}
            if en.idle_pj > 0:
                bar["idle (leakage)"] = en.idle_pj / n     # so the bar is the phase's total
            phases.append((label, bar))
    dp = report.deploy.get("energy", {})
    prog = {k.removesuffix("_pj"): v for k, v in dp.items() if k != "total_pj" and v > 0}
    if not phases and not prog:
        return None
    comps = sorted({c for _, d in phases for c in d} | set(prog),
                   key=lambda c: (-sum(d.get(c, 0) for _, d in phases + [("", prog)]), c))
    colors = {c: component_color(c) for c in comps}
    panels = [(phases, "phases, per image or sample")] if phases else []
    if prog:
        panels.append(([(f"programming\n(policy {report.deploy['policy']})", prog)], "programming, once"))
    fig, axes = plt.subplots(1, len(panels), figsize=(1.4 * sum(len(p) for p, _ in panels) + 4.5, 4.2),
                             squeeze=False, gridspec_kw={"width_ratios": [max(len(p), 1) for p, _ in panels]})
    for ax, (bars, title) in zip(axes[0], panels):
        _stacked(ax, bars, comps, colors)
        ax.set_title(title)
    handles = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("Energy by phase and component")
    fig.tight_layout()
    return fig


def latency_figure(name: str, lat: Any, clock_mhz: float, item: str = "image") -> Figure | None:
    """Utilisation per resource (a Latency) or busy time per resource (an online latency) and
    the SimPy activity timeline of the recorded images/samples."""
    util = getattr(lat, "utilisation", None)
    busy = getattr(lat, "busy_cycles", None)
    timeline = lat.timeline
    if not (util or busy or timeline):
        return None
    rows = max(len(util or busy or {}), len({iv["resource"] for iv in timeline or []}))
    height = max(4.6, 0.22 * min(rows, MAX_ROWS) + 1.5)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, height), gridspec_kw={"width_ratios": [1, 1.6]})
    # one axis for every phase: busy share of the phase's time, linear, each bar's value written
    if util:
        keys = sorted(util, key=lambda k: -util[k])
        vals = [100 * util[k] for k in keys]
        labels = [k.replace("_mean", " (mean)") for k in keys]
        means = [k.endswith("_mean") for k in keys]
    else:
        total = getattr(lat, "total_cycles", 1) or 1
        keys = sorted((k for k in busy if busy[k] > 0), key=lambda k: -busy[k])
        vals = [100 * busy[k] / total for k in keys]
        labels, means = keys, [False] * len(keys)
    if len(keys) > MAX_ROWS:                  # the busiest resources; the others as their busiest
        n_rest = len(keys) - MAX_ROWS + 1
        keys, vals = keys[:MAX_ROWS], vals[:MAX_ROWS - 1] + [max(vals[MAX_ROWS - 1:])]
        labels = labels[:MAX_ROWS - 1] + [f"other {n_rest} (the busiest)"]
        means = means[:MAX_ROWS - 1] + [False]
    y = np.arange(len(keys))
    for mean, color, label in ((False, "tab:blue", "the resource"), (True, "0.6", "mean over its units")):
        pick = [i for i, m in enumerate(means) if m == mean]
        if pick:
            a1.barh(y[pick], [vals[i] for i in pick], color=color, label=label)
    for yi, v in zip(y, vals):
        a1.annotate(f"{v:.3g}%", (v, yi), xytext=(2, 0), textcoords="offset points", va="center", fontsize=8)
    a1.set_yticks(y, labels)
    a1.set_xlim(0, max([*vals, 1.0]) * 1.18)
    a1.set_xlabel(f"busy (% of the phase's {'makespan' if util else 'duration'})")
    a1.set_title(f"{name}: busy time per resource")
    if any(means):
        a1.legend(loc="lower right")
    a1.invert_yaxis()
    a1.tick_params(axis="y", labelsize=8)
    if timeline:
        end = max(iv["end_cycle"] for iv in timeline)
        div, unit = _time_unit(end / (clock_mhz * 1e6))
        scale = 1.0 / (clock_mhz * 1e6) / div
        first: dict[str, int] = {}
        for iv in timeline:
            first[iv["resource"]] = min(first.get(iv["resource"], iv["start_cycle"]), iv["start_cycle"])
        resources = sorted(first, key=lambda r: (first[r], r))     # ties by name: the same bytes every run
        row = {r: min(i, MAX_ROWS - 1) for i, r in enumerate(resources)}
        if len(resources) > MAX_ROWS:           # the later resources share the last row
            resources = resources[:MAX_ROWS - 1] + [f"other {len(resources) - MAX_ROWS + 1} resources"]
        items = sorted({iv["image"] for iv in timeline})
        what = item
        per_item = len(items) <= 8          # few items: colour by item, else by resource
        colors = plt.get_cmap("tab10")
        for iv in timeline:
            k = items.index(iv["image"]) if per_item else row[iv["resource"]]
            a2.broken_barh([(iv["start_cycle"] * scale, max((iv["end_cycle"] - iv["start_cycle"]) * scale,
                                                            end * scale * 1e-3))],
                           (row[iv["resource"]] - 0.4, 0.8), color=colors(k % 10),
                           label=f"{what} {iv['image']}" if per_item else None)
        if not per_item:
            a2.set_title(f"activity timeline, first {len(items)} {what}s (SimPy busy intervals)")
        a2.set_yticks(range(len(resources)), resources, fontsize=8)
        a2.invert_yaxis()
        a2.set_xlabel(f"time ({unit})")
        if per_item:
            a2.set_title("activity timeline (SimPy busy intervals)")
        handles, labels = a2.get_legend_handles_labels()
        seen = dict(zip(labels, handles))
        if len(seen) > 1:
            a2.legend(seen.values(), seen.keys(), loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        a2.set_axis_off()
    fig.tight_layout()
    return fig


def online_figure(ph: TrainResult) -> Figure | None:
    """Online accuracy over the stream: EMA and per-window accuracy, segment boundaries."""
    acc = ph.accuracy
    if not acc.windows:
        return None
    es = ph.ema_series
    xs = np.arange(len(es.values)) * es.every
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(xs, es.values, color="tab:blue", lw=1.5, label=f"EMA (final {acc.online_ema_final:.3f})")
    wins = acc.windows
    ax.step([w.start for w in wins] + [wins[-1].end],
            [w.accuracy for w in wins] + [wins[-1].accuracy], where="post", color="tab:orange",
            lw=1.2, label=f"window of {wins[0].end - wins[0].start} samples")
    base = acc.baseline
    if base:
        ax.plot(xs, base.ema_values, color="0.3", lw=1.2, ls=":",
                label=f"no learning, same stream: EMA (final {base.online_ema_final:.3f})")
    for i, b in enumerate(acc.segment_boundaries):
        ax.axvline(b, color="0.5", ls="--", lw=0.8, label="segment boundary" if i == 0 else None)
    segs = []
    for w in wins:
        if not segs or segs[-1][0] != w.segment:
            segs.append((w.segment, w.start))
    if len(segs) > 1:
        for seg, start in segs:
            ax.annotate(seg, (start, 1.0), fontsize=8, rotation=90, va="top", ha="left", color="0.35",
                        xytext=(2, -2), textcoords="offset points")
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0, ph.samples)
    ax.set_xlabel("sample")
    ax.set_ylabel("online accuracy")
    ax.set_title(f"{ph.name}: {ph.algorithm} under {ph.scenario.replace('_', ' ')}")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def _bin_label(lo: int, hi: int) -> str:
    return f"{lo}" if hi - lo == 1 else f"{lo}-{hi - 1}"


def writes_figure(ph: TrainResult) -> Figure | None:
    """Histogram of writes per cell (power-of-two bins) against the endurance budget, with
    the projected lifetime in the title."""
    wr = ph.writes
    h = wr.histogram
    end = ph.endurance
    budget = end.budget_cycles
    lo, hi, cells = h.bin_lo, h.bin_hi_exclusive, h.cells
    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(len(cells))
    ax.bar(x, cells, 0.8, color="tab:blue")
    ax.set_xticks(x, [_bin_label(a, b) for a, b in zip(lo, hi)], rotation=45 if len(x) > 8 else 0)
    ax.set_yscale("log")
    ax.set_ylim(0.5, max([*cells, 1]) * 3)      # one cell stands out; an empty bin is no bar at all
    for xi, c in zip(x, cells):
        if c:
            ax.annotate(f"{c}", (xi, c), ha="center", va="bottom", fontsize=8, xytext=(0, 1),
                        textcoords="offset points")
    ax.grid(axis="x", visible=False)
    inside = [i for i, (a, b) in enumerate(zip(lo, hi)) if budget is not None and a <= budget < b]
    if budget is None:
        pass                                     # unlimited endurance: said in the title
    elif inside:
        ax.axvline(inside[0], color="tab:red", lw=1.5, label=f"endurance budget {budget:.3g} writes")
        ax.legend(loc="upper right")
    else:
        ax.annotate(f"endurance budget {budget:.3g} writes per cell: "
                    f"{budget / max(wr.max_per_cell, 1):.3g}x the busiest cell, off this scale ->",
                    (1, 1), xycoords="axes fraction", ha="right", va="top", color="tab:red", fontsize=8)
    years = end.years_to_first_wear_out
    life = (f"first wear-out projected after {end.samples_to_first_wear_out:.3g} samples "
            f"= {years:.3g} years at {end.at_sample_rate_hz:g} samples/s" if years
            else "lifetime unlimited: the storage does not wear out" if budget is None else "no writes")
    ax.set_xlabel("writes per cell in this phase")
    ax.set_ylabel("cells")
    ax.set_title(f"{ph.name}: writes per cell (max {wr.max_per_cell}, mean {wr.mean_per_cell:.3g})"
                 f"\n{life}")
    fig.tight_layout()
    return fig


def heatmap_figure(ph: TrainResult, order: list[str] | None = None) -> Figure | None:
    """Writes per cell of every layer as a heat map (max over each bin), one panel per layer
    (in network order when `order` is given)."""
    heat = ph.writes.heatmap
    if not heat:
        return None
    names = [n for n in (order or []) if n in heat] + [n for n in heat if n not in (order or [])]
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    vmax = max(1, max(max(max(r) for r in h.max) for h in heat.values()))
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.4 * rows + 0.6), squeeze=False,
                             layout="constrained")       # keeps the colorbar clear of the panels
    im = None
    for ax, name in zip(axes.ravel(), names):
        h = heat[name]
        im = ax.imshow(np.array(h.max), aspect="auto", cmap="magma", vmin=0, vmax=vmax,
                       interpolation="nearest",
                       extent=(0, h.cells_per_row, h.matrix_rows, 0))
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("cell in row (polarity, slice, output)", fontsize=8)
        ax.set_ylabel("weight row", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(False)
    for ax in axes.ravel()[len(names):]:
        ax.set_axis_off()
    fig.suptitle(f"{ph.name}: writes per cell by layer (max per bin)")
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="writes per cell")
    return fig


def montecarlo_figure(ph: MonteCarloResult) -> Figure | None:
    """Accuracy over chips per policy (box + points), one panel per sigma."""
    res = ph.results
    if not res:
        return None
    sigmas = sorted({r.sigma for r in res})
    policies = list(dict.fromkeys(r.policy for r in res))
    fig, axes = plt.subplots(1, len(sigmas), figsize=(max(5.5, 2.6 * len(sigmas) + 1.2), 3.8), sharey=True,
                             squeeze=False)
    rng = np.random.default_rng(0)     # jitter of the points only
    colors = {p: plt.get_cmap("tab10")(i) for i, p in enumerate(policies)}
    for ax, s in zip(axes[0], sigmas):
        rows = {r.policy: r for r in res if r.sigma == s}
        data = [rows[p].accuracy_per_chip for p in policies if p in rows]
        present = [p for p in policies if p in rows]
        ax.boxplot(data, showfliers=False, widths=0.55, medianprops={"color": "k"})
        for i, (p, d) in enumerate(zip(present, data)):
            ax.scatter(i + 1 + rng.uniform(-0.15, 0.15, len(d)), d, s=8, color=colors[p], alpha=0.7, zorder=3)
        ax.axhline(ph.noise_free_accuracy, color="tab:green", ls="--", lw=1,
                   label="noise-free model")
        ax.set_xticks(range(1, len(present) + 1), present, rotation=30)
        ax.set_title(f"sigma = {s:g}")
        ax.set_ylim(0, 1.02)
    axes[0][0].set_ylabel(f"test accuracy ({ph.chips} chips)")
    axes[0][0].legend(loc="lower left")
    fig.suptitle(f"{ph.name}: accuracy over chips per deployment policy\n"
                 f"({ph.evaluate} evaluation, {ph.chips} chips each)", fontsize=10)
    fig.tight_layout()
    return fig


def layers_figure(name: str, energy: Energy, latency: Latency, images: int,
                  clock_mhz: float) -> Figure | None:
    """Per node of the network, one image: energy by component (stacked) and latency by stage
    (compute, NoC transfer, buffer access), in the network's order."""
    en = energy.per_node_component_pj
    lat = latency.per_node_cycles_per_image
    n = images
    if not en or not lat or not n:
        return None
    nodes = list(lat)
    if len(nodes) > MAX_ROWS:                 # the largest nodes by energy, the rest as one row
        keep = set(sorted(nodes, key=lambda k: (-sum(en.get(k, {}).values()), k))[:MAX_ROWS - 1])
        rest = [k for k in nodes if k not in keep]
        other = f"other {len(rest)} nodes"
        comps_rest = sorted({c for k in rest for c in en.get(k, {})})
        en = {**{k: en[k] for k in keep if k in en},
              other: {c: sum(en.get(k, {}).get(c, 0.0) for k in rest) for c in comps_rest}}
        stages_rest = ("compute_cycles", "noc_cycles", "sram_cycles")
        lat = {**{k: lat[k] for k in nodes if k in keep},
               other: {s: sum(lat[k].get(s, 0) for k in rest) for s in stages_rest}}
        nodes = [k for k in nodes if k in keep] + [other]
    comps = sorted({c for d in en.values() for c in d},
                   key=lambda c: (-sum(d.get(c, 0) for d in en.values()), c))
    height = max(3.5, 0.22 * len(nodes) + 1.5)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, height), sharey=True)
    y = np.arange(len(nodes))
    left = np.zeros(len(nodes))
    for c in comps:
        vals = np.array([en.get(k, {}).get(c, 0.0) for k in nodes]) * 1e-12 / n
        if vals.any():
            a1.barh(y, vals, left=left, color=component_color(c), label=c.replace("_", " "))
        left += vals
    si_axis(a1, "x", "J")
    a1.set_xlabel("energy per image")
    a1.set_title(f"{name}: energy per node and component")
    a1.legend(loc="lower right", fontsize=8)
    stages = (("compute_cycles", "compute", "tab:blue"), ("noc_cycles", "NoC transfer", "tab:orange"),
              ("sram_cycles", "buffer access", "tab:green"))
    left = np.zeros(len(nodes))
    for key, label, color in stages:
        vals = np.array([lat[k].get(key, 0) for k in nodes], float) / (clock_mhz * 1e6)
        if vals.any():
            a2.barh(y, vals, left=left, color=color, label=label)
        left += vals
    si_axis(a2, "x", "s")
    a2.set_xlabel("busy time per image on each resource (closed-form stage times, stacked)")
    a2.set_title("latency per node and stage")
    a2.legend(loc="lower right", fontsize=8)
    a1.set_yticks(y, nodes, fontsize=8)
    a1.invert_yaxis()
    fig.tight_layout()
    return fig


_TIME_TICKS = ((1.0, "1 s"), (60.0, "1 min"), (3600.0, "1 h"), (86400.0, "1 d"), (30 * 86400.0, "1 mo"),
               (365.25 * 86400, "1 yr"), (3652.5 * 86400, "10 yr"))


def accuracy_time_figure(ph: InferenceResult) -> Figure | None:
    """Accuracy against time after programming, without and with global drift compensation."""
    rows = [r for r in ph.accuracy_vs_time or [] if r.t_s > 0]
    if not rows:
        return None
    t = [r.t_s for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.semilogx(t, [r.accuracy for r in rows], "o-", color="tab:red", label="no compensation")
    ax.semilogx(t, [r.accuracy_compensated for r in rows], "s-", color="tab:blue",
                label="global drift compensation")
    at0 = [r for r in ph.accuracy_vs_time or [] if r.t_s == 0]
    if at0:
        ax.axhline(at0[0].accuracy, color="k", ls="--", lw=1, label="as programmed")
    ticks = [(v, lab) for v, lab in _TIME_TICKS if min(t) / 1.01 <= v <= max(t) * 1.01]
    if ticks:
        ax.set_xticks([v for v, _ in ticks], [lab for _, lab in ticks])
    ax.set_xlabel("time after programming")
    ax.set_ylabel(f"test accuracy, mean of {rows[0].chips} chips ({ph.images} images)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(f"{ph.name}: accuracy over time after programming", fontsize=10)
    fig.tight_layout()
    return fig


def figures(report: RunReport | dict) -> dict[str, Figure]:
    """Every figure the report has data for, by file stem: the energy figure, then each
    phase's own (PhaseKind.figures)."""
    from .. import plugins

    rep = as_report(report)
    out: dict[str, Figure] = {}
    f = energy_figure(rep)
    if f is not None:
        out["energy"] = f
    for ph in rep.phases:
        for stem, fig in plugins.load("phase", ph.kind)().figures(ph, rep).items():
            if fig is not None:
                out[stem] = fig
    return out

def online_writes_overlay(trains: list[tuple[str, TrainResult]]) -> Figure | None:
    """`cimsim compare`: online accuracy (EMA) and writes per cell of train phases, overlaid."""
    if not trains:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (n, p) in enumerate(trains):
        es = p.ema_series
        c = plt.get_cmap("tab10")(i % 10)
        label = f"{n}: {p.name} ({p.algorithm})"
        a1.plot(np.arange(len(es.values)) * es.every, es.values, color=c, lw=1.4, label=label)
        h = p.writes.histogram
        a2.step(np.array(h.bin_lo) + 0.5, h.cells, where="post", color=c, lw=1.4,
                label=f"{label}, max {p.writes.max_per_cell}")
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
    return fig


def accuracy_cost_overlay(last: list[tuple[str, InferenceResult]]) -> Figure | None:
    """`cimsim compare`: accuracy (mean over chips, 95% CI where run) of each report's last
    inference phase against its energy and latency per image."""
    points = []
    for n, p in last:
        oc = p.accuracy_over_chips
        acc, lo, hi = ((oc.mean, oc.ci95[0], oc.ci95[1]) if oc else (p.accuracy,) * 3)
        points.append((n, acc, lo, hi, p.energy.per_image_pj * 1e-12, p.latency.first_image_latency_s))
    if not points:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    panels = ((axes[0], 4, "energy per image", "J"), (axes[1], 5, "latency per image", "s"))
    for ax, col, label, unit in panels:
        for i, pt in enumerate(points):
            c = plt.get_cmap("tab10")(i % 10)
            ax.errorbar(pt[col], pt[1], yerr=[[pt[1] - pt[2]], [pt[3] - pt[1]]], fmt="o", color=c,
                        capsize=3)
        xs = [pt[col] for pt in points]
        if min(xs) > 0 and max(xs) / min(xs) > 20:
            ax.set_xscale("log")
        si_axis(ax, "x", unit)
        ax.set_xlabel(f"{label} (last inference phase)")
        ax.set_title(f"Accuracy vs {label}")
    axes[0].set_ylabel("test accuracy (mean over chips, 95% CI where run)")
    axes[0].set_ylim(0, 1.02)
    fig.tight_layout()
    for ax, col, *_ in panels:                   # reports at the same point: labels apart
        place_labels(ax, [(pt[col], pt[1]) for pt in points], [pt[0] for pt in points])
    return fig


def montecarlo_overlay(mcs: list[tuple[str, MonteCarloResult]]) -> Figure | None:
    """`cimsim compare`: Monte-Carlo accuracy (mean, 95% CI) against sigma per policy."""
    if not mcs:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4))
    styles = ["-", "--", ":", "-."]
    for j, (n, p) in enumerate(mcs):
        pols = list(dict.fromkeys(r.policy for r in p.results))
        for i, pol in enumerate(pols):
            rs = sorted((r for r in p.results if r.policy == pol), key=lambda r: r.sigma)
            s = [r.sigma for r in rs]
            m = np.array([r.accuracy.mean for r in rs])
            lo = np.array([r.accuracy.ci95[0] for r in rs])
            hi = np.array([r.accuracy.ci95[1] for r in rs])
            c = plt.get_cmap("tab10")(i % 10)
            ax.plot(s, m, styles[j % 4], marker="o", ms=3, color=c, label=f"{n}: {p.name} {pol}")
            ax.fill_between(s, lo, hi, color=c, alpha=0.12)
    ax.set_xlabel("programming variation sigma (of the conductance range)")
    ax.set_ylabel("test accuracy (mean, 95% CI)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Accuracy over chips vs variation")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


FORMATS = ("png", "pdf", "svg")
# no dates or random ids in the files: the same report draws the same bytes
_NO_DATES = {"png": None, "pdf": {"CreationDate": None, "ModDate": None}, "svg": {"Date": None}}


STYLES = ("screen", "paper")


def save_figures(figs: dict[str, Figure], out_dir: str | Path, fmt: str = "png",
                 dpi: float = 150.0, style: str = "screen") -> list[Path]:
    """Write each figure as out_dir/STEM.FMT (png, or vector pdf / svg; `dpi` sets a PNG's
    pixels and the raster parts of the others), atomically, and close it. Style `paper`:
    resized for a two-column journal (report/paper.py) and saved at exactly that size."""
    if fmt not in FORMATS or style not in STYLES:
        plt.close("all")
        what, allowed, got = (("format", FORMATS, fmt) if fmt not in FORMATS else ("style", STYLES, style))
        raise CimsimError(f"figure {what}: expected one of {', '.join(allowed)}, got {got!r}")
    paths = []
    for stem, fig in figs.items():
        try:
            path = inside(out_dir, f"{stem}.{fmt}")       # a name from a report never leaves the folder
        except ValueError as e:
            plt.close("all")
            raise CimsimError(f"figure {stem!r}: {e}") from None
        buf = io.BytesIO()
        if style == "paper":
            from .paper import to_column

            to_column(fig)
        with plt.rc_context({"svg.hashsalt": "cimsim"}):
            fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight" if style == "screen" else None,
                        metadata=_NO_DATES[fmt])
        plt.close(fig)
        data = buf.getvalue()
        atomic_write(path, lambda f, data=data: f.write(data), binary=True)
        paths.append(path)
    return paths
