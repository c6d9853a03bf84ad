"""Flat tables of a report, one CSV each next to report.json (load with pandas.read_csv).

Every table has a `phase` column so that phases of one run stack in one file. Only tables
with rows are written.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from .. import plugins
from ..errors import CimsimError
from ..results import RunReport
from ..util import atomic_write, inside
from .writer import dumps


def tables(report: RunReport | dict) -> dict[str, list[dict]]:
    """name -> rows (dicts with the same keys): the report's own tables (area, cost table,
    programming energy), then every phase's rows, each from its kind (PhaseKind.tables: the
    shared cost tables and its own). The report is read as report.json holds it (keys
    sorted), so a run's CSVs and those `cimsim plot` writes from its report.json are the
    same bytes."""
    rep = RunReport.from_json(json.loads(dumps(report)))
    kinds = {e.name: plugins.load("phase", e.name)() for e in plugins.entries("phase")}
    out: dict[str, list[dict]] = {k: [] for k in (
        "energy", "energy_nodes", "layers", "efficiency", "area", "cost_table", "utilisation", "timeline",
        "nodes", *(t for kind in kinds.values() for t in kind.table_names))}
    for comp, mm2 in rep.area.get("per_component_mm2", {}).items():
        out["area"].append({"component": comp, "area_mm2": mm2})
    out["cost_table"] += [dict(row) for row in rep.cost_table]
    energy = rep.deploy.get("energy", {})
    for comp in ("cell_pulses_pj", "write_drivers_pj", "verify_reads_pj", "readback_pj"):
        if comp in energy:
            out["energy"].append({"phase": "programming", "component": comp.removesuffix("_pj"),
                                  "kind": "dynamic", "energy_pj": energy[comp]})
    for ph in rep.phases:
        kind = kinds.get(ph.kind) or plugins.load("phase", ph.kind)()
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
        try:
            path = inside(out_dir, f"{name}.csv")         # a table name never leaves the folder
        except ValueError as e:
            raise CimsimError(f"table {name!r}: {e}") from None

        def write(f, rows=rows, keys=keys):
            w = csv.DictWriter(f, fieldnames=keys, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        atomic_write(path, write)
        paths.append(path)
    return paths
