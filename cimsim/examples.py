"""The shipped arch and workload files and examples/ (ONNX models, one exported from PyTorch,
a tile plugin), wherever cimsim is installed: the repository checkout (editable install) or
the wheel's data files (`share/cimsim`, setup.cfg). `cimsim init DIR` copies them into a folder
of your own."""
from __future__ import annotations

import filecmp
import shutil
import sys
import sysconfig
from pathlib import Path

from .errors import ConfigError

FOLDERS = ("arch", "workloads", "workloads/sweeps")
EXAMPLE_SUFFIXES = (".py", ".yaml", ".onnx", ".npz", ".toml")     # examples/: what setup.cfg ships


def examples_root() -> Path:
    """The folder holding arch/ and workloads/ (ConfigError if this install has none)."""
    candidates = [Path(__file__).resolve().parents[1],              # a checkout (pip install -e .)
                  Path(sysconfig.get_path("data")) / "share" / "cimsim",
                  Path(sys.prefix) / "share" / "cimsim"]
    for c in candidates:
        if (c / "arch" / "rram_64x64.yaml").is_file():
            return c
    raise ConfigError("cimsim init", "examples", "the shipped arch/ and workloads/ files (looked in "
                      + ", ".join(map(str, candidates)) + "); reinstall cimsim")


def copy_examples(dest: Path) -> tuple[list[Path], list[Path]]:
    """Copy every shipped YAML and the examples/ folder into dest (same relative paths). Files
    already there with the same content are skipped; a different file there is never overwritten (ConfigError
    naming it, before anything is copied). Returns (copied, already present)."""
    root = examples_root()
    pairs = [(src, dest / folder / src.name) for folder in FOLDERS
             for src in sorted((root / folder).glob("*.yaml"))]
    pairs += [(src, dest / src.relative_to(root)) for src in sorted((root / "examples").rglob("*"))
              if src.is_file() and src.suffix in EXAMPLE_SUFFIXES
              and "__pycache__" not in src.parts]
    clash = [d for s, d in pairs
             if d.exists() and not (d.is_file() and filecmp.cmp(s, d, shallow=False))]
    if clash:
        raise ConfigError("cimsim init", str(clash[0]), "no file there, or the shipped file unchanged "
                          "(init never overwrites your files)",
                          note=f"{len(clash)} such file(s); nothing was copied; pick another folder")
    copied, present = [], []
    for s, d in pairs:
        if d.exists():
            present.append(d)
            continue
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = d.with_name(d.name + ".tmp")
        shutil.copyfile(s, tmp)
        tmp.replace(d)                                   # whole files only
        copied.append(d)
    return copied, present
