"""Progress bars on long work: tqdm on a terminal, silent otherwise or with --quiet.

Quiet is scoped, not a module flag: `with quiet(): ...` (the CLI's -q, a sweep point's run)
silences progress bars and status lines for the work inside it only; `with watched(fn):`
has every bar inside also tell fn how far it is (a sweep point's progress file)."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sized
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


Watch = Callable[[str, int, int | None, str], None]      # (desc, done, total, unit)
_WATCH: ContextVar[Watch | None] = ContextVar("cimsim_watch", default=None)


@contextmanager
def watched(fn: Watch) -> Iterator[None]:
    """Inside the block every progress bar also tells fn how far it is, at its start and after
    each step, shown or quiet (a sweep point's progress file: its bars are quiet)."""
    token = _WATCH.set(fn)
    try:
        yield
    finally:
        _WATCH.reset(token)


def _shown(it: Iterable[T] | None = None, **kw: object) -> tqdm:
    """The visible bar: on a terminal, unless quiet."""
    return tqdm(it, leave=False, disable=is_quiet() or not sys.stderr.isatty(), **kw)


def progress(it: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    shown = _shown(it, desc=desc, total=total, unit=unit)
    fn = _WATCH.get()
    if fn is None:
        return shown
    if total is None and isinstance(it, Sized):
        total = len(it)
    return _watching(shown, fn, desc, total, unit)


def _watching(it: Iterable[T], fn: Watch, desc: str, total: int | None, unit: str) -> Iterator[T]:
    fn(desc, 0, total, unit)
    for done, x in enumerate(it, 1):
        yield x
        fn(desc, done, total, unit)


class Bar:
    """A progress bar advanced by hand (`.update(k)`; a context manager, or close it)."""

    def __init__(self, total: int, desc: str, unit: str = "it") -> None:
        self.total, self.desc, self.unit, self.done = total, desc, unit, 0
        self._shown = _shown(total=total, desc=desc, unit=unit)
        self._watch = _WATCH.get()
        if self._watch:
            self._watch(desc, 0, total, unit)

    def update(self, k: int = 1) -> None:
        self._shown.update(k)
        self.done += k
        if self._watch:
            self._watch(self.desc, self.done, self.total, self.unit)

    def close(self) -> None:
        self._shown.close()

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(total: int, desc: str, unit: str = "it") -> Bar:
    return Bar(total, desc, unit)


def say(msg: str) -> None:
    """A status line on stderr (the report summary goes to stdout); above any progress bar."""
    if not is_quiet():
        tqdm.write(msg, file=sys.stderr)


def warn(msg: str) -> None:
    """A warning on stderr, shown even with --quiet."""
    tqdm.write(f"cimsim: warning: {msg}", file=sys.stderr)
