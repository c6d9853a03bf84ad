"""MNIST-format (IDX) datasets: Fashion-MNIST, MNIST, KMNIST, EMNIST.

A folder holds four files, gzip-compressed or not: `*train-images-idx3-ubyte`,
`*train-labels-idx1-ubyte`, `*t10k-images-idx3-ubyte`, `*t10k-labels-idx1-ubyte` (EMNIST
prefixes its split names, e.g. `emnist-balanced-train-images-idx3-ubyte`). An IDX file is a
4-byte magic (0, 0, type 0x08 = unsigned byte, number of dimensions), one big-endian
uint32 per dimension, then the values. Every file is read within the input size cap
(nn/files.py), its header checked against its length, and the images against their
labels (count, label range) before any array is built.

`name: fashion_mnist` looks in `dataset.dir`, else `$CIMSIM_DATA/fashion-mnist`, else the
folder Debian's package `dataset-fashion-mnist` installs (/usr/share/datasets/fashion-mnist).
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .files import max_input_bytes, regular_file

DEBIAN_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
DATA_SUBDIRS = {"fashion_mnist": "fashion-mnist"}
INSTALL_HINT = {"fashion_mnist": "install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
                                 "or put the four files in $CIMSIM_DATA/fashion-mnist or dataset.dir"}
PARTS = {"train_images": ("train-images-idx3-ubyte", 3), "train_labels": ("train-labels-idx1-ubyte", 1),
         "test_images": ("t10k-images-idx3-ubyte", 3), "test_labels": ("t10k-labels-idx1-ubyte", 1)}


def search_dirs(name: str, given: str, base: Path) -> list[Path]:
    """Folders searched, in order: dataset.dir (relative to the workload's folder), then for
    a named set $CIMSIM_DATA/<set> and the Debian package's folder."""
    if given:
        p = Path(given).expanduser()
        return [p if p.is_absolute() else base / p]
    out = []
    if os.environ.get("CIMSIM_DATA", "").strip():
        out.append(Path(os.environ["CIMSIM_DATA"]).expanduser() / DATA_SUBDIRS[name])
    out.append(DEBIAN_DIRS[name])
    return out


def find_files(name: str, given: str, base: Path, file: str) -> dict[str, Path]:
    """The four files of the first folder that has all of them; else one located error
    naming every folder searched and how to get the data."""
    dirs = search_dirs(name, given, base)
    for d in dirs:
        if not d.is_dir():
            continue
        found = {}
        for part, (stem, _) in PARTS.items():
            hits = sorted(p for p in d.iterdir()
                          if p.name.endswith(stem) or p.name.endswith(stem + ".gz"))
            if len(hits) > 1:
                raise ConfigError(file, "dataset.dir", f"one {stem}[.gz] file in {d}",
                                  ", ".join(p.name for p in hits))
            if hits:
                found[part] = hits[0]
        if len(found) == len(PARTS):
            return found
    key = "dataset.dir" if given else "dataset.name"
    names = ", ".join(stem + "[.gz]" for stem, _ in PARTS.values())
    hint = INSTALL_HINT.get(name, "set dataset.dir to the folder that holds them")
    raise ConfigError(file, key, f"the IDX files {names} in one of: " + ", ".join(str(d) for d in dirs),
                      given or name, note=hint)


def read_idx(path: Path, file: str, key: str, ndim: int) -> np.ndarray:
    """One IDX file of unsigned bytes with `ndim` dimensions (gzip or raw), checked."""
    size = regular_file(path, file, key, str(path), "IDX file")
    cap = max_input_bytes()

    def bad(note: str) -> ConfigError:
        return ConfigError(file, key, f"an MNIST-format (IDX) file of {ndim}-dimensional unsigned bytes",
                           str(path), note=note)

    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            head = f.read(4 + 4 * ndim)
            if len(head) < 4 or head[:2] != b"\0\0":
                raise bad("no IDX magic number (0x0000)")
            if head[2] != 0x08:
                raise bad(f"value type 0x{head[2]:02x}, not 0x08 (unsigned byte)")
            if head[3] != ndim:
                raise bad(f"{head[3]} dimensions")
            if len(head) < 4 + 4 * ndim:
                raise bad("truncated header")
            dims = struct.unpack(f">{ndim}I", head[4:])
            n = int(np.prod(dims, dtype=np.int64))
            if n > cap:
                raise bad(f"its header claims {n:,} bytes, over the input cap of {cap:,} "
                          "($CIMSIM_MAX_INPUT_BYTES)")
            if path.suffix != ".gz" and size != 4 + 4 * ndim + n:
                raise bad(f"{size:,} bytes where its header says {4 + 4 * ndim + n:,}")
            data = f.read(n + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise bad(f"unreadable: {e}") from None
    if len(data) != n:
        raise bad(f"{'truncated' if len(data) < n else 'longer than its header says'}: "
                  f"{len(data):,} value bytes where its header says {n:,}")
    if 0 in dims:
        raise bad("no values")
    return np.frombuffer(data, np.uint8).reshape(dims)


def load_split(files: dict[str, Path], split: str, file: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W) uint8, labels (N,) int64) of one split, their counts matched."""
    key = "dataset.dir"
    x = read_idx(files[f"{split}_images"], file, key, 3)
    y = read_idx(files[f"{split}_labels"], file, key, 1).astype(np.int64)
    if len(x) != len(y):
        raise ConfigError(file, key, f"as many labels as images in the {split} split",
                          f"{len(y):,} labels for {len(x):,} images")
    return x, y


def stratified_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset of n items with the classes in their proportions
    (largest remainders take the leftover places)."""
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    share = counts * n / len(y)
    take = np.floor(share).astype(int)
    left = n - int(take.sum())
    take[np.argsort(-(share - take), kind="stable")[:left]] += 1
    out = []
    for c, k in zip(classes, take):
        idx = np.flatnonzero(y == c)
        out.append(rng.permutation(idx)[:k])
    return np.sort(np.concatenate(out))
