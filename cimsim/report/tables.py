"""Flat tables of a report, one CSV each next to report.json (load with pandas.read_csv).

Every table has a `phase` column so that phases of one run stack in one file. Only tables
with rows are written.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from .. import plugins
from ..util import atomic_write
from .writer import dumps


def tables(report: dict) -> dict[str, list[dict]]:
    """name -> rows (dicts with the same keys) for every time series and per-component table:
    the tables every phase with costs has, then each phase kind's own (PhaseKind.tables).
    The report is read as report.json holds it (keys sorted), so a run's CSVs and those
    `cimsim plot` writes from its report.json are the same bytes."""
    report = json.loads(dumps(report))
    kinds = {e.name: plugins.load("phase", e.name)() for e in plugins.entries("phase")}
    out: dict[str, list[dict]] = {k: [] for k in (
        "energy", "energy_nodes", "layers", "efficiency", "area", "cost_table", "utilisation", "timeline",
        "nodes", *(t for kind in kinds.values() for t in kind.table_names))}
    for comp, mm2 in report.get("area", {}).get("per_component_mm2", {}).items():
        out["area"].append({"component": comp, "area_mm2": mm2})
    for row in report.get("cost_table", []):
        out["cost_table"].append(dict(row))
    dp = report.get("deploy", {})
    for comp in ("cell_pulses_pj", "write_drivers_pj", "verify_reads_pj", "readback_pj"):
        if comp in dp.get("energy", {}):
            out["energy"].append({"phase": "programming", "component": comp.removesuffix("_pj"),
                                  "kind": "dynamic", "energy_pj": dp["energy"][comp]})
    for ph in report.get("phases", []):
        name = ph["name"]
        if "energy" in ph:
            for comp, v in ph["energy"]["per_component_pj"].items():
                out["energy"].append({"phase": name, "component": comp, "kind": "dynamic", "energy_pj": v})
            for comp, v in ph["energy"].get("idle_per_component_pj", {}).items():
                out["energy"].append({"phase": name, "component": comp, "kind": "idle", "energy_pj": v})
            for node, comps in ph["energy"].get("per_node_component_pj", {}).items():
                for comp, v in comps.items():
                    out["energy_nodes"].append({"phase": name, "node": node, "component": comp,
                                                "energy_pj": v})
        if "efficiency" in ph:
            out["efficiency"].append({"phase": name, **ph["efficiency"]})
        per_img = ph.get("images") or 1
        for node, c in ph.get("latency", {}).get("per_node_cycles_per_image", {}).items():
            e = ph.get("energy", {}).get("per_node_pj", {}).get(node)
            out["layers"].append({"phase": name, "node": node, **c,
                                  "energy_pj_per_image": e / per_img if e is not None else None})
        lat = ph.get("latency", {})
        for res, u in lat.get("utilisation", {}).items():
            out["utilisation"].append({"phase": name, "resource": res, "utilisation": u})
        for res, b in lat.get("busy_cycles", {}).items():
            out["utilisation"].append({"phase": name, "resource": res, "busy_cycles": b})
        for iv in lat.get("timeline", []):
            out["timeline"].append({"phase": name, **iv})
        for node in ph.get("nodes", []):
            out["nodes"].append({"phase": name, **{k: v for k, v in node.items() if k != "inputs"},
                                 "inputs": " ".join(node["inputs"]),
                                 "in_bytes": " ".join(str(b) for b in node.get("in_bytes", []))})
        kind = kinds.get(ph["kind"]) or plugins.load("phase", ph["kind"])()
        for table, rows in kind.tables(ph).items():
            out.setdefault(table, []).extend(rows)
    return {k: v for k, v in out.items() if v}


def write_tables(report: dict, out_dir: str | Path) -> list[Path]:
    """Write every table as out_dir/NAME.csv (atomically); return the paths."""
    paths = []
    for name, rows in tables(report).items():
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        path = Path(out_dir) / f"{name}.csv"

        def write(f, rows=rows, keys=keys):
            w = csv.DictWriter(f, fieldnames=keys, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        atomic_write(path, write)
        paths.append(path)
    return paths
