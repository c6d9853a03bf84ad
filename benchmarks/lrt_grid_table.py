"""The LRT table from a sweep's finished points (workloads/sweeps/lrt_fashion_grid.yaml, or any
grid over scenario x rule x seed of a workload with one train phase), as Markdown for
docs/results/lrt.md:

    python benchmarks/lrt_grid_table.py results/sweep-lrt_fashion_grid

It reads every `points/*/report.json` directly, so it also tabulates a sweep that is still
running or was stopped (a stopped sweep rerun with the same --out computes only what is
missing); each cell says over how many seeds it is when that is fewer than the most of any.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

RULES = ("none", "bias_only", "sgd", "sgd_term", "lrt")
RULE_HEADS = {"none": "none", "bias_only": "bias_only", "sgd": "sgd (per sample)",
              "sgd_term": "sgd_term (per term)", "lrt": "lrt"}
SCENARIOS = ("control", "distribution_shift", "analog_drift", "digital_drift")


def rule_of(algorithm: dict) -> str:
    """The table's rule name: per-term SGD is its own column."""
    name = algorithm["name"]
    return "sgd_term" if name == "sgd" and algorithm.get("sgd_step") == "term" else name


def point_row(report: dict) -> tuple[tuple[str, str], int, dict[str, float]]:
    """(scenario, rule), seed and the table's figures of one point's report (its train phase)."""
    spec = report["inputs"]["workload"]["spec"]
    phase = next(p for p in report["phases"] if p["kind"] == "train")
    train_spec = next(p for p in spec["phases"] if p["name"] == phase["name"])
    acc, writes = phase["accuracy"], phase["writes"]
    figures = {"ema": acc["online_ema_final"], "mean": acc["online_mean"],
               "after": acc.get("test_after_stream", float("nan")),
               "writes": writes["max_per_cell"], "requests": writes["requests_max_per_weight"],
               "aux": phase["aux_memory"]["peak_bytes"], "energy_mj": phase["energy"]["per_sample_pj"] * 1e-9,
               "years": phase["endurance"]["years_to_first_wear_out"] or float("nan")}
    return (phase["scenario"], rule_of(train_spec["algorithm"])), spec["seed"], figures


def collect(out: Path) -> tuple[dict[tuple[str, str], dict[int, dict]], int]:
    """{(scenario, rule): {seed: figures}} over the finished points, and the number of points."""
    cells: dict[tuple[str, str], dict[int, dict]] = {}
    reports = sorted((out / "points").glob("*/report.json"))
    for path in reports:
        key, seed, figures = point_row(json.loads(path.read_text()))
        cells.setdefault(key, {})[seed] = figures
    return cells, len(reports)


def stat(cell: dict[int, dict], name: str) -> tuple[float, float, int]:
    v = np.array([f[name] for f in cell.values()], float)
    return float(v.mean()), float(v.std()), len(v)


def fmt_acc(cell: dict[int, dict], name: str, seeds: int) -> str:
    m, sd, n = stat(cell, name)
    text = f"{m:.3f}" if n == 1 else f"{m:.3f} +- {sd:.3f}"
    return text + (f" (n={n})" if n < seeds else "")


def tables(cells: dict[tuple[str, str], dict[int, dict]]) -> str:
    """Markdown: online EMA (mean online accuracy) with writes, test accuracy after the stream,
    and each rule's memory, energy and lifetime; means +- std over seeds."""
    seeds = max((len(c) for c in cells.values()), default=0)
    scenarios = [s for s in SCENARIOS if any((s, r) in cells for r in RULES)]
    scenarios += sorted({s for s, _ in cells} - set(scenarios))
    rules = [r for r in RULES if any((s, r) in cells for s in scenarios)]
    head = "| scenario | " + " | ".join(RULE_HEADS[r] for r in rules) + " |\n"
    rule_line = "|---|" + "---|" * len(rules) + "\n"
    lines = [f"Final online EMA (mean online accuracy), mean +- std over {seeds} seed(s); for the "
             "writing rules, maximum level-change writes to any cell / maximum write requests to "
             "any weight (means over seeds):\n\n", head + rule_line]
    for s in scenarios:
        row = []
        for r in rules:
            c = cells.get((s, r))
            if not c:
                row.append("-")
                continue
            text = f"{fmt_acc(c, 'ema', seeds)} ({stat(c, 'mean')[0]:.3f})"
            if r not in ("none", "bias_only"):
                text += f"; {stat(c, 'writes')[0]:,.0f} / {stat(c, 'requests')[0]:,.0f}"
            row.append(text)
        lines.append(f"| {s.replace('_', ' ')} | " + " | ".join(row) + " |\n")
    lines += ["\nTest accuracy after the stream (the learned chip on the test split):\n\n", head + rule_line]
    for s in scenarios:
        row = [fmt_acc(cells[(s, r)], "after", seeds) if cells.get((s, r)) else "-" for r in rules]
        lines.append(f"| {s.replace('_', ' ')} | " + " | ".join(row) + " |\n")
    lines += ["\n| rule | aux memory (B) | energy per sample (mJ) | years to first wear-out "
              "(fewest over points) |\n|---|---|---|---|\n"]
    for r in rules:
        pts = [f for s in scenarios for f in cells.get((s, r), {}).values()]
        aux = max(f["aux"] for f in pts)
        energy = np.mean([f["energy_mj"] for f in pts])
        years = [f["years"] for f in pts if not np.isnan(f["years"])]
        lines.append(f"| {RULE_HEADS[r]} | {aux:,.0f} | {energy:.2f} | "
                     + (f"{min(years):.3g}" if years else "never written") + " |\n")
    gaps = []
    for s in scenarios:
        if (s, "lrt") in cells:
            for base in ("sgd", "sgd_term"):
                if (s, base) in cells:
                    d = stat(cells[(s, "lrt")], "ema")[0] - stat(cells[(s, base)], "ema")[0]
                    gaps.append(f"{s.replace('_', ' ')}: LRT - {base} {d * 100:+.1f} points EMA")
    if gaps:
        lines.append("\n" + "; ".join(gaps) + ".\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="the sweep's output folder (its --out)")
    a = ap.parse_args(argv)
    cells, n = collect(a.out)
    if not n:
        print(f"{a.out}: no finished point (expected {a.out / 'points'}/*/report.json)", file=sys.stderr)
        return 2
    print(f"{n} finished point(s) in {a.out}\n")
    print(tables(cells), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
