"""Small shared helpers: safe file names, atomic file writes, stable hashing."""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# one rule for every name that becomes part of a path (arch, workload, phase, grid names):
# a safe file-name charset, no separators, no leading dot, at most 100 characters
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SAFE_NAME_TEXT = "1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"


def is_safe_name(name: object) -> bool:
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None


def inside(folder: str | Path, file_name: str) -> Path:
    """folder/file_name, refused (ValueError) unless it is a plain file name that stays in
    the folder: the last guard of every output path made from a name."""
    base = Path(folder).resolve()
    path = (base / file_name).resolve()
    if "\0" in file_name or len(file_name) > 200 or path.parent != base:
        raise ValueError(f"{file_name!r} is not a file name inside {folder}")
    return Path(folder) / file_name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()     # what open() would give a new file (mkstemp makes 0600)


def atomic_write(path: str | Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Write via a temp file in the same folder, then rename: never a half-written file. The
    file gets the usual mode of a new file (0644 under the common umask 022)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def stable_hash(obj: Any) -> str:
    """sha256 of a JSON-able object, independent of dict order."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def file_sha256(path: str | Path) -> str | None:
    """sha256 of a regular file's bytes (None: not a regular file, e.g. missing or a FIFO, which
    the reader reports)."""
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
