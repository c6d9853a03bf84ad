"""Property-based checks of input handling (used by tests/test_fuzz.py and
benchmarks/fuzz_inputs.py): any mutated config or raw YAML text ends in exit status 0 or 2,
with at most one line on stderr and never a traceback, within a time bound.
"""
from __future__ import annotations

import contextlib
import io
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..cli import main


@dataclass
class Outcome:
    """What one input did."""

    code: int | None
    stderr: str
    seconds: float
    traceback: bool = False
    hang: bool = False


@dataclass
class Tally:
    """Counts over many inputs, for the report of a fuzzing run."""

    tried: int = 0
    ok: int = 0
    exit2: int = 0
    traceback: int = 0
    hang: int = 0
    other: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, o: Outcome, label: str) -> None:
        self.tried += 1
        if o.hang:
            self.hang += 1
        elif o.traceback:
            self.traceback += 1
        elif o.code == 0:
            self.ok += 1
        elif o.code == 2 and o.stderr.count("\n") <= 1:
            self.exit2 += 1
        else:
            self.other += 1
        if (o.hang or o.traceback or o.code not in (0, 2)) and len(self.examples) < 5:
            self.examples.append(f"{label}: {o.stderr.strip().splitlines()[-1:] or o.code}")


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def fire(*_: Any) -> None:
        raise _Timeout

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(argv: list[str], seconds: float = 20.0) -> Outcome:
    """main(argv) in this process: exit status, stderr, time; an escaping exception is a
    traceback, running past `seconds` a hang."""
    err, out = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    try:
        with _alarm(seconds), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except _Timeout:
        return Outcome(None, err.getvalue(), time.perf_counter() - t0, hang=True)
    except SystemExit as e:                  # argparse usage errors exit 2 by themselves
        code = e.code if isinstance(e.code, int) else 2
    except BaseException as e:               # noqa: BLE001 - any escape is what we look for
        return Outcome(None, f"{err.getvalue()}{type(e).__name__}: {e}",
                       time.perf_counter() - t0, traceback=True)
    return Outcome(code, err.getvalue(), time.perf_counter() - t0)


def key_paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of nested YAML data (mappings and lists), leaves and inner nodes."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += key_paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += key_paths(v, prefix + (i,))
    return out


def mutate(data: Any, path: tuple, value: Any) -> Any:
    """A copy of `data` with the value at `path` replaced (deleted when value is ...)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    out = dict(data) if isinstance(data, dict) else list(data)
    if rest or value is not ...:
        out[head] = mutate(data[head], rest, value)
    else:
        out.pop(head)                  # a key of a mapping, or an index of a list
    return out


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
