"""The sweep grid file: which arch / workload key paths take which values.

    name: adc_bits_x_rank          # optional, used in titles
    set:                           # fixed overrides of every point
      workload.phases.1.samples: 500
    grid:                          # cartesian product, the first key varying slowest
      arch.adc.bits: [4, 6, 8]
      workload.phases.1.algorithm.rank: [1, 2, 4]
    zip:                           # groups of equal-length lists advanced together,
      - arch.crossbar.rows: [64, 128]     # each group crossed with the grid
        arch.crossbar.cols: [64, 128]

Key paths are those of `cimsim run --set` (arch.KEY.PATH or workload.KEY.PATH, list items
by index). A point's values are only checked when the point is resolved, so one invalid
value fails its points and not the sweep.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import override_target
from ..config.schema import Source, load_yaml
from ..errors import ConfigError
from ..util import SAFE_NAME_TEXT, is_safe_name

TOP_KEYS = ("name", "set", "grid", "zip")


@dataclass(frozen=True)
class Grid:
    name: str
    fixed: dict[str, Any]               # key path -> value, every point
    swept: tuple[str, ...]              # swept key paths, in column order
    points: tuple[dict[str, Any], ...]  # swept key path -> value, one dict per point


def _check_key(key: Any, path: tuple, src: Source) -> str:
    if override_target(key) is None:
        raise src.error(path, "a key path arch.KEY.PATH or workload.KEY.PATH", key)
    return key


def _lists(section: Any, path: tuple, src: Source) -> dict[str, list]:
    if not isinstance(section, dict) or not section:
        raise src.error(path, "a mapping of key paths to lists of values", section)
    out = {}
    for k, v in section.items():
        _check_key(k, path + (k,), src)
        if not isinstance(v, list) or not v:
            raise src.error(path + (k,), "a non-empty list of values", v)
        out[k] = v
    return out


def load_grid(path: str | Path) -> Grid:
    """Read and check a grid file (located errors, exit status 2), expand its points."""
    data, src, _ = load_yaml(path)
    for k in data:
        if k not in TOP_KEYS:
            raise src.error((k,), "one of the keys " + ", ".join(TOP_KEYS), None, f"unknown key '{k}'")
    name = data.get("name", Path(path).stem)
    if not is_safe_name(name):             # it names the sweep's output folder (results/sweep-NAME)
        raise src.error(("name",), SAFE_NAME_TEXT + (" (the grid file's name is the default: give one)"
                                                     if "name" not in data else ""), name)
    fixed = data.get("set") or {}
    if not isinstance(fixed, dict):
        raise src.error(("set",), "a mapping of key paths to values", fixed)
    for k in fixed:
        _check_key(k, ("set", k), src)
    axes: list[list[dict[str, Any]]] = []     # each axis: its list of partial points
    swept: list[str] = []
    if "grid" in data:
        for k, vals in _lists(data["grid"], ("grid",), src).items():
            axes.append([{k: v} for v in vals])
            swept.append(k)
    groups = data.get("zip") or []
    if not isinstance(groups, list):
        raise src.error(("zip",), "a list of mappings (groups of equal-length lists)", groups)
    for i, g in enumerate(groups):
        lists = _lists(g, ("zip", i), src)
        lengths = {k: len(v) for k, v in lists.items()}
        if len(set(lengths.values())) > 1:
            raise src.error(("zip", i), "lists of equal length in one zip group", lengths)
        axes.append([dict(zip(lists, vals)) for vals in zip(*lists.values())])
        swept.extend(lists)
    if not axes:
        raise src.error((), "a 'grid' or 'zip' section with the values to sweep")
    dup = sorted({k for k in swept if swept.count(k) > 1} | (set(swept) & set(fixed)))
    if dup:
        raise ConfigError(str(path), dup[0], "each key path once (in set, grid or zip)", None,
                          src.line(("grid", dup[0])) or src.line(("set", dup[0])))
    points = tuple({k: v for part in combo for k, v in part.items()} for combo in itertools.product(*axes))
    return Grid(name, dict(fixed), tuple(swept), points)
