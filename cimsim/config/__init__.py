"""Loading and validating the arch and workload YAMLs."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .arch import ArchSpec
from .schema import Source, build, compose, document_data, load_yaml, parse_value, set_path, to_dict
from .workload import WorkloadSpec

__all__ = ["ArchSpec", "WorkloadSpec", "Loaded", "load_arch", "load_workload", "load_any", "to_dict",
           "split_overrides", "override_target", "parse_set"]


@dataclass(frozen=True)
class Loaded:
    """A validated spec with where it came from."""

    spec: Any
    path: str
    sha256: str
    source: Source | None = field(default=None, compare=False, repr=False)   # key lines, for late errors
    # every key-path override as the value it set (a number is a number, however it was
    # given: --set text, an API value), key order
    overrides: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


TARGETS = ("arch", "workload")


def override_target(key: object) -> tuple[str, str] | None:
    """'arch.adc.bits' -> ('arch', 'adc.bits'); None for a key of any other form."""
    if not isinstance(key, str):
        return None
    target, _, path = key.partition(".")
    return (target, path) if target in TARGETS and path else None


def split_overrides(overrides: dict[str, Any], where: str,
                    expected: str = "a key path starting with 'arch.' or 'workload.'") -> tuple[dict, dict]:
    """{arch.X: v, workload.Y: w} -> ({X: v}, {Y: w}): the one parser of `--set`, the API's
    overrides and a sweep's points; any other key is an error located at `where`."""
    arch: dict[str, Any] = {}
    work: dict[str, Any] = {}
    for key, value in overrides.items():
        found = override_target(key)
        if found is None:
            raise ConfigError(where, str(key), expected)
        (arch if found[0] == "arch" else work)[found[1]] = value
    return arch, work


def parse_set(pairs: list[str]) -> dict[str, str]:
    """--set KEY=VALUE items -> {KEY: VALUE text}, each key checked (arch.|workload.)."""
    out: dict[str, str] = {}
    for item in pairs:
        key, eq, value = item.partition("=")
        if not eq or override_target(key) is None:
            raise ConfigError("--set", item, "arch.KEY.PATH=VALUE or workload.KEY.PATH=VALUE")
        out[key] = value
    return out


def _parse_overrides(overrides: dict[str, str], file: str) -> dict[str, Any]:
    """--set values are YAML text (bounded and checked as the files are)."""
    out = {}
    for key, text in overrides.items():
        try:
            out[key] = parse_value(text, "--set", key)
        except ConfigError as e:
            raise ConfigError("--set", key, "a plain YAML value after '='", text, note=e.expected) from None
    return out


def _plain(v: Any) -> Any:
    """A numpy scalar as its Python value (for the recorded override)."""
    if hasattr(v, "item"):
        return v.item()
    raise TypeError(f"{type(v).__name__} is not a YAML value")


def _load(cls: type, path: str | Path, overrides: dict[str, str] | None, raw: bytes | None,
          values: dict[str, Any] | None) -> Loaded:
    data, src, sha = load_yaml(path, raw)
    every = {**_parse_overrides(overrides or {}, str(path)), **(values or {})}
    if every:
        for key, value in every.items():
            set_path(data, key, value)
        sha = hashlib.sha256(f"{sha}{sorted(every.items())}".encode()).hexdigest()
    shown = {k: json.loads(json.dumps(v, default=_plain)) for k, v in every.items()}
    return Loaded(build(cls, data, src), str(path), sha, src, dict(sorted(shown.items())))


def load_arch(path: str | Path, overrides: dict[str, str] | None = None, raw: bytes | None = None,
              values: dict[str, Any] | None = None) -> Loaded:
    """The arch file at `path` (or its bytes `raw`, named `path`), with key-path overrides as
    YAML text (`overrides`, from --set) or as parsed values (`values`, from a sweep grid)."""
    return _load(ArchSpec, path, overrides, raw, values)


def load_workload(path: str | Path, overrides: dict[str, str] | None = None, raw: bytes | None = None,
                  values: dict[str, Any] | None = None) -> Loaded:
    """The workload file, as load_arch."""
    return _load(WorkloadSpec, path, overrides, raw, values)


def load_any(path: str | Path) -> Loaded:
    """Validate a file as arch or workload, telling them apart by their keys."""
    data, src, _ = load_yaml(path)
    arch_keys = {"crossbar", "device", "adc", "dac", "chip", "tile"}
    cls = ArchSpec if arch_keys & set(data) else WorkloadSpec
    return Loaded(build(cls, data, src), str(path), "", src)


def from_text(cls: type, text: str, file: str = "<string>") -> Any:
    """Build a spec from YAML text (used by tests and the Python API), with the file loader's
    bounds and checks."""
    data, lines = document_data(compose(text, file), file)
    if not isinstance(data, dict):
        raise ConfigError(file, "", "a YAML mapping at the top level", type(data).__name__, 1)
    return build(cls, data, Source(file, lines))
