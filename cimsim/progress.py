"""Progress bars on long work: tqdm on a terminal, silent otherwise or with --quiet."""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
QUIET = False


def progress(it: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    return tqdm(it, desc=desc, total=total, unit=unit, leave=False,
                disable=QUIET or not sys.stderr.isatty())


def say(msg: str) -> None:
    """A status line on stderr (the report summary goes to stdout); above any progress bar."""
    if not QUIET:
        tqdm.write(msg, file=sys.stderr)


def warn(msg: str) -> None:
    """A warning on stderr, shown even with --quiet."""
    tqdm.write(f"cimsim: warning: {msg}", file=sys.stderr)
