"""Typed results: what a run produces, as frozen dataclasses.

A phase kind returns a `PhaseResult` subclass composed of the shared parts below (costs:
`Latency`, `Energy`, `Efficiency`, `Reload`; accuracy statistics); the whole run is a
`RunReport`. Code reads results by attribute. JSON happens at one boundary: `to_json`
(report/writer.py writes it) and `RunReport.from_json` (cimsim plot / compare / sweep read
report.json back, with a located error for a key or type this version does not know).

Field names are the report.json keys. A field declared with `optional()` is left out of the
JSON when it is None (a key the block has only sometimes); any other None is written as null.
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from .errors import CimsimError
from .util import SAFE_NAME_TEXT, is_safe_name

_OMIT = "omit_when_none"


def optional(default: Any = None) -> Any:
    """A field whose key is absent from the JSON while it is None."""
    return field(default=default, metadata={_OMIT: True})


class ReportError(CimsimError):
    """report.json does not hold what this version of cimsim writes."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        super().__init__(f"{file}: {key or '<top>'}: expected {expected} (a report.json written by this "
                         "version of cimsim run)")


def to_json(value: Any) -> Any:
    """Plain JSON data (dicts, lists, numbers, strings, None) of a result or any part of one."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(v) for f in dataclasses.fields(value)
                if not ((v := getattr(value, f.name)) is None and f.metadata.get(_OMIT))}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


_PRIMITIVES: dict[type, tuple[tuple[type, ...], str]] = {
    float: ((int, float), "a number"), int: ((int,), "an integer"), str: ((str,), "a string"),
    bool: ((bool,), "true or false"),
}


def from_json(tp: Any, data: Any, file: str, key: str = "") -> Any:
    """Build a value of type `tp` from its JSON data, checking keys and types on the way."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return data
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        return from_json(rest[0], data, file, key) if len(rest) == 1 else data
    if dataclasses.is_dataclass(tp):
        return _from_dataclass(tp, data, file, key)
    if origin in (list, dict):
        return _from_container(tp, origin, data, file, key)
    if tp in _PRIMITIVES:
        ok, what = _PRIMITIVES[tp]
        if not isinstance(data, ok) or (tp is not bool and isinstance(data, bool)):
            raise ReportError(file, key, what)
    return data


def _from_container(tp: Any, origin: type, data: Any, file: str, key: str) -> Any:
    args = typing.get_args(tp)
    if origin is list:
        if not isinstance(data, list):
            raise ReportError(file, key, "a list")
        arg = args[0] if args else Any
        return [from_json(arg, v, file, f"{key}.{i}") for i, v in enumerate(data)]
    if not isinstance(data, dict):
        raise ReportError(file, key, "a mapping")
    arg = args[1] if args else Any
    return {k: from_json(arg, v, file, f"{key}.{k}") for k, v in data.items()}


def _from_dataclass(cls: type, data: Any, file: str, key: str) -> Any:
    label = getattr(cls, "label", cls.__name__)
    if not isinstance(data, dict):
        raise ReportError(file, key, f"a mapping ({label})")
    hints = _hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for k in data:
        if k not in names:
            raise ReportError(file, f"{key}.{k}".lstrip("."), f"one of the keys of {label} "
                              f"({', '.join(names)})")
    kwargs = {}
    for name, f in names.items():
        if name in data:
            kwargs[name] = from_json(hints[name], data[name], file, f"{key}.{name}".lstrip("."))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ReportError(file, f"{key}.{name}".lstrip("."), f"this key of {label}")
    return cls(**kwargs)


@dataclass(frozen=True)
class Result:
    """Base of every result and part of one: its JSON form."""

    def to_json(self) -> dict:
        return to_json(self)

    @classmethod
    def from_json(cls, data: Any, file: str = "report.json", key: str = "") -> Any:
        return from_json(cls, data, file, key)


# --- shared parts ------------------------------------------------------------------------

@dataclass(frozen=True)
class Latency(Result):
    """A batch of images through the pipelined chip (SimPy replay of the trace)."""

    images: int
    makespan_cycles: int
    makespan_s: float
    first_image_latency_cycles: int
    first_image_latency_s: float
    mean_image_latency_cycles: float
    throughput_images_per_s: float
    utilisation: dict[str, float]          # resource -> busy share of the makespan (and *_mean)
    simpy_events: int
    timeline: list[dict[str, Any]]         # busy intervals of the first images
    per_node_cycles_per_image: dict[str, dict[str, Any]]
    line_buffers: list[dict[str, Any]] | None = optional()   # deploy.pipeline: row: each window's
                                                              # line buffer against its home's share


@dataclass(frozen=True)
class Energy(Result):
    """Energy of a phase (pJ): dynamic per component (and per node where the phase has a
    trace), its idle units' draw, and the total per image or per sample. `gated_total_pj`
    and `ungated_total_pj` are the total under either power-gating choice (one of them is
    `total_pj`); `static_pj` (always-on draw) and `unused_tiles_pj` (leakage of the tiles the
    mapping leaves empty) are inside `idle_pj`."""

    total_pj: float
    per_component_pj: dict[str, float]
    dynamic_pj: float
    idle_pj: float
    idle_per_component_pj: dict[str, float]
    gated_total_pj: float
    ungated_total_pj: float
    static_pj: float
    unused_tiles_pj: float
    per_image_pj: float | None = optional()
    per_sample_pj: float | None = optional()
    per_node_pj: dict[str, float] | None = optional()
    per_node_component_pj: dict[str, dict[str, float]] | None = optional()
    action_counts: dict[str, int] | None = optional()


@dataclass(frozen=True)
class Efficiency(Result):
    """The figures CIM papers quote (phases/costs.efficiency)."""

    macs_per_image: int
    pj_per_mac: float | None
    tops_per_w: float | None
    tops: float
    tops_per_mm2: float | None


@dataclass(frozen=True)
class Reload(Result):
    """A network run in weight-reload rounds (reload.py)."""

    rounds: list[dict[str, Any]]
    weight_bytes_per_phase: int
    cells_programmed_per_phase: int
    images_per_reload: int
    images_to_first_wear_out: float | None


@dataclass(frozen=True)
class AccuracySummary(Result):
    """Mean, sample std, 95% t-interval of the mean (clipped to [0, 1]), min and max."""

    mean: float
    std: float
    ci95: list[float]
    min: float
    max: float


@dataclass(frozen=True)
class AccuracyOverChips(AccuracySummary):
    """An accuracy over independently programmed chips, with every chip's."""

    chips: int = 0
    per_chip: list[float] = field(default_factory=list)


# --- phases and the run ------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class PhaseResult(Result):
    """What every phase's result has: its name, kind (the registry name that reads it back)
    and split. A phase kind subclasses this (PhaseKind.result_type)."""

    name: str
    kind: str
    split: str

    @property
    def count(self) -> int:
        """Images or samples the phase processed (the unit of its per-item costs)."""
        return 1

    @property
    def unit(self) -> str:
        return "image"


def energy_of(result: PhaseResult) -> Energy | None:
    """A phase result's energy, if it is a costed phase (its `energy` part)."""
    e = getattr(result, "energy", None)
    return e if isinstance(e, Energy) else None


@dataclass(frozen=True)
class ModelInfo(Result):
    name: str
    parameters: int
    float_test_accuracy: float | None
    pretrain_key: str | None


@dataclass(frozen=True, kw_only=True)
class RunHead(Result):
    """A run's report without its phases: inputs, model, mapping, area, cost table,
    programming (and the explain ablation when asked for)."""

    label: ClassVar[str] = "RunReport"

    cimsim_version: str
    inputs: dict[str, Any]
    model: ModelInfo
    mapping: dict[str, Any]
    area: dict[str, Any]
    cost_table: list[dict[str, Any]]
    deploy: dict[str, Any]
    explain: dict[str, Any] | None = optional()


@dataclass(frozen=True, kw_only=True)
class RunReport(RunHead):
    """One run: its head and every phase's typed result."""

    phases: list[PhaseResult]

    @property
    def clock_mhz(self) -> float:
        return self.inputs["arch"]["spec"]["clock_mhz"]

    def phase(self, name: str) -> PhaseResult:
        for ph in self.phases:
            if ph.name == name:
                return ph
        raise KeyError(f"no phase '{name}' (phases: {', '.join(p.name for p in self.phases)})")

    @classmethod
    def from_json(cls, data: Any, file: str = "report.json", key: str = "") -> RunReport:
        """A report read back: the head, then every phase by its kind's result type (plugins.py)."""
        from . import plugins

        if not isinstance(data, dict) or not isinstance(data.get("phases"), list):
            raise ReportError(file, "phases", "a list of phase blocks")
        phases = []
        for i, block in enumerate(data["phases"]):
            kind = block.get("kind") if isinstance(block, dict) else None
            try:
                rtype = plugins.load("phase", kind).result_type if isinstance(kind, str) else None
            except plugins.PluginError:
                rtype = None
            if rtype is None:
                raise ReportError(file, f"phases.{i}.kind", "a registered phase kind ("
                                  + ", ".join(plugins.names("phase")) + ")")
            if not is_safe_name(block.get("name")):        # it names the phase's figure files
                raise ReportError(file, f"phases.{i}.name", "a phase name of " + SAFE_NAME_TEXT)
            phases.append(from_json(rtype, block, file, f"phases.{i}"))
        head = from_json(RunHead, {k: v for k, v in data.items() if k != "phases"}, file)
        return cls(**{f.name: getattr(head, f.name) for f in dataclasses.fields(RunHead)}, phases=phases)


def as_report(report: RunReport | dict, file: str = "report.json") -> RunReport:
    """A typed report from a RunReport or its JSON data."""
    return report if isinstance(report, RunReport) else RunReport.from_json(report, file)
