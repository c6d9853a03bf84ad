"""The output folder's manifest: which files cimsim wrote there, so a new run into the same
folder removes the stale tables and figures of an earlier one (and nothing else: files
cimsim did not list are never touched)."""
from __future__ import annotations

import json
from pathlib import Path

from ..util import atomic_write

MANIFEST = "cimsim-manifest.json"


def listed(out_dir: Path) -> list[str]:
    """File names the folder's manifest lists (none if it is missing or unreadable)."""
    try:
        data = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return []
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        return []
    return [f for f in files if isinstance(f, str) and "/" not in f and f not in (MANIFEST, "..", ".")]


def record(out_dir: str | Path, written: list[Path], replace: bool) -> list[str]:
    """List `written` in the manifest. replace=True (a run): files an earlier run listed and
    this one did not write are removed; replace=False (cimsim plot): added to the list.
    Returns the names removed."""
    out = Path(out_dir)
    names = sorted({Path(p).name for p in written})
    old = listed(out)
    removed = []
    if replace:
        for name in sorted(set(old) - set(names)):
            p = out / name
            if p.is_file():
                p.unlink()
                removed.append(name)
    else:
        names = sorted(set(names) | set(old))
    atomic_write(out / MANIFEST, lambda f: f.write(json.dumps({"files": names}, indent=1) + "\n"))
    return removed
