"""A small typed schema: YAML mappings -> frozen dataclasses, with located errors.

Every config class is a frozen dataclass whose fields are declared with `spec()`
(default, range, choices, doc). `build()` walks the YAML data, rejects unknown
keys with a did-you-mean, checks types and ranges, and reports the file, line
and key path of every error. Cross-field rules live in each class's `validate()`.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import math
import numbers
import re
import stat
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

MISSING = dataclasses.MISSING
_SCALARS = yaml.constructor.SafeConstructor()
INT_MAX = 2**31 - 1          # integers without a stated upper bound stay below this
FLOAT_MAX = 1e30             # and numbers below this in magnitude (all finite)
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def spec(default: Any = MISSING, *, lo: float | None = None, hi: float | None = None,
         lo_open: bool = False, choices: tuple | None = None, doc: str = "", key: str = "") -> Any:
    """Declare a config field: default, inclusive range [lo, hi] (lo_open: (lo, hi]), choices.
    key: the YAML key when it cannot be the field's name (e.g. `class`)."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "choices": choices, "doc": doc, "key": key}
    if dataclasses.is_dataclass(default) or isinstance(default, (list, dict)):
        value = default
        return dataclasses.field(default_factory=lambda: value, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class Source:
    """Where config values came from: the file name and the line of each key path."""

    def __init__(self, file: str, lines: dict[tuple, int] | None = None) -> None:
        self.file = file
        self.lines = lines or {}
        self.given: set[tuple] = set()     # key paths the data set (not left at their defaults)

    def line(self, path: tuple) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def error(self, path: tuple, expected: str, got: Any = None, note: str = "") -> ConfigError:
        return ConfigError(self.file, keypath(path), expected, got, self.line(path), note)


def keypath(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


MAX_BYTES = 4 << 20          # a config file's size
MAX_DEPTH = 64               # nesting (a recursive alias hits it too)
MAX_VALUES = 200_000         # values after expanding aliases (a "billion laughs" file hits it)
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}


class _Budget:
    """Values left to build from one document."""

    def __init__(self) -> None:
        self.left = MAX_VALUES


def _to_python(node: yaml.Node, path: tuple, lines: dict, file: str, budget: _Budget | None = None,
               depth: int = 0) -> Any:
    """Plain data from a composed YAML node, with every key path's line; bounded in depth and
    size, plain tags only, and every problem a located ConfigError."""
    budget = budget or _Budget()
    line = node.start_mark.line + 1
    budget.left -= 1
    if budget.left < 0:
        raise ConfigError(file, keypath(path), f"at most {MAX_VALUES} values (aliases expanded)", None, line)
    if depth > MAX_DEPTH:
        raise ConfigError(file, keypath(path[:4]) + "...", f"nesting of at most {MAX_DEPTH} levels", None,
                          line, "a deeper document or a recursive alias")
    if node.tag not in _PLAIN_TAGS:
        raise ConfigError(file, keypath(path), "plain YAML values (no tags such as !!python/... or !name, "
                          "no dates: quote a value to make it a string)", node.tag, line)
    lines[path] = line
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                raise ConfigError(file, keypath(path), "no merge keys (<<): write the keys out", None,
                                  knode.start_mark.line + 1)
            key = _to_python(knode, path, {}, file, budget, depth + 1)
            if not isinstance(key, str):
                raise ConfigError(file, keypath(path), "string keys", key, knode.start_mark.line + 1)
            if key in out:
                raise ConfigError(file, keypath(path + (key,)), "each key once", None,
                                  knode.start_mark.line + 1, "duplicate key")
            lines[path + (key,)] = knode.start_mark.line + 1
            out[key] = _to_python(vnode, path + (key,), lines, file, budget, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, path + (i,), lines, file, budget, depth + 1) for i, v in enumerate(node.value)]
    try:
        value = _SCALARS.construct_object(node, deep=True)
    except (ValueError, TypeError, OverflowError, yaml.YAMLError):
        kind = node.tag.rsplit(":", 1)[-1]
        raise ConfigError(file, keypath(path), f"a valid {kind}", node.value, line) from None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(file, keypath(path), "text without lone surrogates (\\ud800-\\udfff)",
                              None, line) from None
    return value


def compose(text: str, file: str) -> yaml.Node | None:
    """Parse YAML text into nodes (no construction), errors located."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError(file, "", f"nesting of at most {MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(file, "", "valid YAML", None, mark.line + 1 if mark else None, problem) from None


def document_data(node: yaml.Node | None, file: str) -> tuple[Any, dict[tuple, int]]:
    """A composed document's plain data (empty: {}) and the line of each key path."""
    lines: dict[tuple, int] = {}
    return (_to_python(node, (), lines, file) if node is not None else {}), lines


def parse_value(text: str, file: str, key: str) -> Any:
    """A --set value (YAML text), with the file loader's bounds and checks."""
    node = compose(text, file)
    if node is None:
        return None
    return _to_python(node, tuple(key.split(".")), {}, file)


def read_bytes(path: str | Path) -> bytes:
    """A config file's bytes (a regular file of at most MAX_BYTES), or a located error."""
    try:
        st = Path(path).stat()
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(str(path), "", "a regular file", None, note="a folder, device or pipe")
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ConfigError(str(path), "", f"a config file of at most {MAX_BYTES >> 20} MiB")
        return raw
    except FileNotFoundError:
        raise ConfigError(str(path), "", "an existing file", None, note="file not found") from None
    except OSError as exc:
        raise ConfigError(str(path), "", "a readable file", None, note=exc.strerror or str(exc)) from None


def load_yaml(path: str | Path, raw: bytes | None = None) -> tuple[dict, Source, str]:
    """Read a YAML mapping (from `raw` if given, named `path` in errors); return (data,
    source with line numbers, sha256 of the bytes)."""
    file = str(path)
    if raw is None:
        raw = read_bytes(path)
    if len(raw) > MAX_BYTES:
        raise ConfigError(file, "", f"a config file of at most {MAX_BYTES >> 20} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(file, "", "UTF-8 text") from None
    node = compose(text, file)
    if node is None:
        raise ConfigError(file, "", "a YAML mapping", "empty file")
    lines: dict[tuple, int] = {}
    data = _to_python(node, (), lines, file)
    if not isinstance(data, dict):
        raise ConfigError(file, "", "a YAML mapping at the top level", type(data).__name__, 1)
    return data, Source(file, lines), hashlib.sha256(raw).hexdigest()


def _type_name(tp: Any) -> str:
    if tp is int:
        return "integer"
    if tp is float:
        return "number"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "string"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return str(tp)


def _num(v: float) -> str:
    """A bound as written: integers in full (1048576, not 1.04858e+06), others compact."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


def _range_text(meta: dict, base: str) -> str:
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is None and hi is None:
        return base
    if hi is None:
        return f"{base} {'>' if meta.get('lo_open') else '>='} {_num(lo)}"
    if lo is None:
        return f"{base} <= {_num(hi)}"
    return f"{base} in {'(' if meta.get('lo_open') else '['}{_num(lo)}, {_num(hi)}]"


def _convert(tp: Any, value: Any, path: tuple, src: Source, meta: dict) -> Any:
    """A YAML value as the field's type: optional, list, nested spec or checked scalar."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, path, src, meta)
    if origin in (list, tuple):
        item = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise src.error(path, f"a list of {_type_name(item)}", value)
        return tuple(_convert(item, v, path + (i,), src, {}) for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise src.error(path, "a mapping", value)
        return build(tp, value, src, path)
    value = _scalar(tp, value, path, src, meta)
    if tp is not bool:
        _check_range(tp, value, path, src, meta)
    return value


def _scalar(tp: Any, value: Any, path: tuple, src: Source, meta: dict) -> Any:
    """A bool, int, float or str value checked against its type (floats also finite and not
    huge; a numeric string accepted, as PyYAML reads 1.0e6)."""
    if tp is bool:
        if not isinstance(value, bool):
            raise src.error(path, "true or false", value)
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):   # numpy integers too
            raise src.error(path, _range_text(meta, "integer"), value)
        value = int(value)
    elif tp is float:
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            value = float(value)   # PyYAML (YAML 1.1) reads 1.0e6 as a string; accept it
        if isinstance(value, bool) or not isinstance(value, numbers.Real):     # numpy numbers too
            raise src.error(path, _range_text(meta, "number"), value,
                            note="write the number alone: the unit is in the key name"
                            if isinstance(value, str) else "")
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value) or abs(value) > FLOAT_MAX:
            raise src.error(path, _range_text(meta, "a finite number") + f" of magnitude <= {FLOAT_MAX:g}",
                            value)
    elif tp is str:
        if not isinstance(value, str):
            choices = meta.get("choices")
            raise src.error(path, "one of " + ", ".join(choices) if choices else "string", value)
    return value


def _check_range(tp: Any, value: Any, path: tuple, src: Source, meta: dict) -> None:
    """The field's choices and its [lo, hi] range (an int without hi: at most INT_MAX)."""
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise src.error(path, "one of " + ", ".join(map(str, choices)), value)
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value <= lo if meta.get("lo_open") else value < lo):
        raise src.error(path, _range_text(meta, _type_name(tp)), value)
    if hi is not None and value > hi:
        raise src.error(path, _range_text(meta, _type_name(tp)), value)
    if tp is int and hi is None and value > INT_MAX:
        raise src.error(path, _range_text(meta, "integer") + f" <= {INT_MAX}", value)


@dataclasses.dataclass(frozen=True)
class NoParams:
    """The Params of a part (tile, device, phase kind, rule, policy) without keys of its own."""


def build(cls: type, data: dict, src: Source, path: tuple = ()) -> Any:
    """Build (and validate) dataclass `cls` from a YAML mapping."""
    hints = typing.get_type_hints(cls)
    fields = {yaml_key(f): f for f in dataclasses.fields(cls)}
    extra = getattr(cls, "EXTRA_KEYS", None)     # a part's own keys, checked when it is loaded
    if extra:
        if extra in data:
            raise src.error(path + (extra,), f"the part's keys beside its name (no '{extra}:' mapping)")
        data = {**{k: v for k, v in data.items() if k in fields},
                extra: {k: v for k, v in data.items() if k not in fields}}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.5)
            note = f"did you mean '{close[0]}'?" if close else ""
            raise src.error(path + (key,), ("one of the keys " + ", ".join(fields)) if fields
                            else "no keys here (nothing to set)", None,
                            note=f"unknown key '{key}'" + (f"; {note}" if note else ""))
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            src.given.add(path + (name,))
            kwargs[f.name] = _convert(hints[f.name], data[name], path + (name,), src, dict(f.metadata))
        elif f.default is MISSING and f.default_factory is MISSING:
            own = list(data.get(extra) or {}) if extra else []
            typo = difflib.get_close_matches(name, own, n=1, cutoff=0.5)
            if typo:                        # a part's key that is this one misspelt
                raise src.error(path + (typo[0],), "one of the keys " + ", ".join(fields), None,
                                note=f"unknown key '{typo[0]}'; did you mean '{name}'?")
            raise src.error(path + (name,), f"a value for required key '{name}'",
                            note=f.metadata.get("doc", ""))
    obj = cls(**kwargs)
    if hasattr(obj, "validate"):
        obj.validate(src, path)
    return obj


def yaml_key(f: dataclasses.Field) -> str:
    """The YAML key of a config field."""
    return f.metadata.get("key") or f.name


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain JSON-able dict (tuples become lists), with the YAML key names; a
    part's own keys (EXTRA_KEYS) beside its name, as the YAML writes them."""
    if dataclasses.is_dataclass(obj):
        extra = getattr(obj, "EXTRA_KEYS", None)
        out = {yaml_key(f): to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != extra}
        if extra:
            out.update(to_dict(getattr(obj, extra)) or {})
        return out
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def set_path(data: dict, dotted: str, value: Any) -> None:
    """Override one key path (a.b.c, list items as a.0.b) in nested YAML data."""
    parts = dotted.split(".")
    cur: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = int(part) if isinstance(cur, list) and part.isdigit() else part
        try:
            cur = cur[nxt]
        except (KeyError, IndexError, TypeError):
            if isinstance(cur, dict):
                cur[nxt] = {}
                cur = cur[nxt]
            else:
                raise ConfigError("--set", ".".join(parts[: i + 1]), "an existing key path") from None
    last = parts[-1]
    if isinstance(cur, list) and last.isdigit():
        if int(last) >= len(cur):
            raise ConfigError("--set", dotted, f"a list index below {len(cur)} (the list's length)")
        cur[int(last)] = value
    elif isinstance(cur, dict):
        cur[last] = value
    else:
        raise ConfigError("--set", dotted, "a key path into a mapping")
