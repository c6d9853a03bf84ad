"""The output folder's manifest: which files cimsim wrote there, so a new run into the same
folder removes the stale tables and figures of an earlier one (and nothing else: files
cimsim did not list are never touched; see report/outdir.py)."""
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


def write_manifest(folder: Path, names: list[str]) -> None:
    """The manifest listing `names` (file names in the output folder), written atomically."""
    text = json.dumps({"files": sorted(names)}, indent=1) + "\n"
    atomic_write(Path(folder) / MANIFEST, lambda f: f.write(text))
