"""Progress bars on long work: tqdm on a terminal, silent otherwise or with --quiet.

Quiet is scoped, not a module flag: `with quiet(): ...` (the CLI's -q, a sweep point's run)
silences progress bars and status lines for the work inside it only."""
from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
_QUIET: ContextVar[bool] = ContextVar("cimsim_quiet", default=False)


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Silence (on=True) or allow progress output for the work inside the block."""
    token = _QUIET.set(on)
    try:
        yield
    finally:
        _QUIET.reset(token)


def is_quiet() -> bool:
    return _QUIET.get()


def progress(it: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    return tqdm(it, desc=desc, total=total, unit=unit, leave=False,
                disable=is_quiet() or not sys.stderr.isatty())


def bar(total: int, desc: str, unit: str = "it") -> tqdm:
    """A progress bar advanced by hand (`.update(k)`; close it when done)."""
    return tqdm(total=total, desc=desc, unit=unit, leave=False, disable=is_quiet() or not sys.stderr.isatty())


def say(msg: str) -> None:
    """A status line on stderr (the report summary goes to stdout); above any progress bar."""
    if not is_quiet():
        tqdm.write(msg, file=sys.stderr)


def warn(msg: str) -> None:
    """A warning on stderr, shown even with --quiet."""
    tqdm.write(f"cimsim: warning: {msg}", file=sys.stderr)
