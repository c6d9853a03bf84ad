"""One registry of the parts a run is built from: tiles and devices (arch file), phase kinds,
learning rules, scenarios, deployment policies and network models (workload file).

A part is named by a registered name (built-in, or published by an installed package under
the kind's entry-point group, e.g. `cimsim.rules`) or by an import path
`package.module:Class`. Every way ends in `load()`, which checks that the class implements
its kind's API (the base class in BASES) and fails with a `PluginError` (a one-line
message) otherwise. `names()` lists a kind's registered names without importing them, so
the config schema checks names while staying pure data.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, is_dataclass
from importlib import metadata
from typing import Any

GROUPS = {"tile": "cimsim.tiles", "device": "cimsim.devices", "phase": "cimsim.phases",
          "rule": "cimsim.rules", "scenario": "cimsim.scenarios", "policy": "cimsim.policies",
          "model": "cimsim.models", "sram": "cimsim.srams", "digital": "cimsim.digital_units",
          "noc": "cimsim.nocs", "offchip": "cimsim.offchips"}
BUILTIN = {
    "tile": {"crossbar": "cimsim.hw.tile:CrossbarTile"},
    "device": {"rram": "cimsim.device.nvm:RramDevice", "pcm": "cimsim.device.pcm:PcmDevice"},
    "phase": {"inference": "cimsim.phases.inference:InferencePhase",
              "train": "cimsim.phases.online:OnlinePhase",
              "monte_carlo": "cimsim.phases.monte_carlo:MonteCarloPhase"},
    "rule": {"none": "cimsim.learning.rules:NoLearning", "bias_only": "cimsim.learning.rules:BiasOnly",
             "sgd": "cimsim.learning.rules:Sgd", "lrt": "cimsim.learning.rules:Lrt",
             "mixed_precision": "cimsim.learning.rules:MixedPrecision",
             "tiki_taka": "cimsim.learning.rules:TikiTaka"},
    "scenario": {"control": "cimsim.learning.scenarios:Control",
                 "distribution_shift": "cimsim.learning.scenarios:DistributionShift",
                 "analog_drift": "cimsim.learning.scenarios:AnalogDrift",
                 "digital_drift": "cimsim.learning.scenarios:DigitalDrift"},
    "policy": {"none": "cimsim.policies:OneShot", "all": "cimsim.policies:VerifyAll",
               "selective": "cimsim.policies:Selective", "tsb": "cimsim.policies:TinySharedBlock"},
    "model": {"resnet": "cimsim.nn.models:Resnet", "lrt_cnn": "cimsim.nn.models:LrtCnn",
              "vgg": "cimsim.nn.models:Vgg", "resnet18": "cimsim.nn.models:Resnet18",
              "resnet50": "cimsim.nn.models:Resnet50"},
    "sram": {"buffer": "cimsim.hw.chip:SramBuffer"},
    "digital": {"vector_unit": "cimsim.hw.chip:DigitalUnit"},
    "noc": {"mesh": "cimsim.hw.chip:Noc"},
    "offchip": {"link_dram": "cimsim.hw.chip:OffChip"},
}
BASES = {"tile": "cimsim.hw.tile:TileModel", "device": "cimsim.device.base:DeviceModel",
         "phase": "cimsim.phases.base:PhaseKind", "rule": "cimsim.learning.rules:Rule",
         "scenario": "cimsim.learning.scenarios:Scenario", "policy": "cimsim.policies:Policy",
         "model": "cimsim.nn.models:NetworkModel",
         # a chip part of your own subclasses the built-in part of its kind (same estimator API)
         "sram": "cimsim.hw.chip:SramBuffer", "digital": "cimsim.hw.chip:DigitalUnit",
         "noc": "cimsim.hw.chip:Noc", "offchip": "cimsim.hw.chip:OffChip"}
WITH_PARAMS = ("tile", "device")     # kinds whose classes declare a Params dataclass (arch `params`)


class PluginError(Exception):
    """A model class that cannot be found, imported or used; the loader adds file and key."""

    def __init__(self, expected: str, note: str = "") -> None:
        self.expected, self.note = expected, note
        super().__init__(f"expected {expected}" + (f" ({note})" if note else ""))


@dataclass(frozen=True)
class Entry:
    name: str
    ref: str       # module:Class
    origin: str    # "built-in" or "plugin <distribution>"


def _base(kind: str) -> type:
    """The API a registered class must implement (imported when a class is first checked)."""
    return import_ref(BASES[kind])      # type: ignore[return-value]


def entries(kind: str) -> list[Entry]:
    """Registered models of one kind: the built-ins, then installed plugins (sorted by name)."""
    out = [Entry(n, r, "built-in") for n, r in BUILTIN[kind].items()]
    seen = set(BUILTIN[kind])
    for ep in sorted(metadata.entry_points(group=GROUPS[kind]), key=lambda e: e.name):
        if ep.name not in seen:
            dist = getattr(ep, "dist", None)
            out.append(Entry(ep.name, ep.value, f"plugin {dist.name}" if dist else "plugin"))
            seen.add(ep.name)
    return out


def names(kind: str) -> list[str]:
    """Registered names of one kind (built-ins, then installed plugins), nothing imported."""
    return [e.name for e in entries(kind)]


def import_ref(ref: str) -> object:
    """The object at 'package.module:attr' (PluginError if it cannot be imported)."""
    module, _, attr = ref.partition(":")
    try:
        obj: object = importlib.import_module(module)
    except Exception as e:   # a plugin's import may fail in any way; report it, do not crash
        hint = ("; install the package (pip install ...) or put its folder on PYTHONPATH"
                if isinstance(e, ModuleNotFoundError) and e.name == module.split(".")[0] else "")
        raise PluginError("an importable 'package.module:Class'",
                          f"importing {module} failed: {type(e).__name__}: {e}{hint}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError("an importable 'package.module:Class'",
                              f"module {module} has no attribute {attr}") from None
    return obj


IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def source_hashes(data: Any) -> dict[str, str]:
    """{"plugin MODULE": sha256 of its source file} for every 'package.module:Class' import
    path among the strings of `data` (a spec as to_dict gives it): a changed plugin is a
    changed input to cache keys and sweep-point hashes. Only modules the run imports
    anyway (after resolve); none while import paths are refused."""
    from .util import file_sha256

    found: set[str] = set()

    def walk(x: Any) -> None:
        if isinstance(x, str) and IMPORT_PATH.fullmatch(x):
            found.add(x.partition(":")[0])
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(data)
    if not found or not import_paths_allowed():
        return {}
    out = {}
    for module in sorted(found):
        mod = sys.modules.get(module)
        origin = getattr(mod, "__file__", None) if mod is not None else None
        if origin is None:
            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                continue                      # the run's own import reports it
            origin = spec.origin if spec is not None else None
        digest = file_sha256(origin) if origin else None
        if digest:
            out[f"plugin {module}"] = digest
    return out


_REFUSE_IMPORTS: ContextVar[bool] = ContextVar("cimsim_no_import_paths", default=False)


def import_paths_allowed() -> bool:
    """Import paths in an arch file run that module's code: off with CIMSIM_NO_IMPORT_PATHS=1
    (or `cimsim --no-plugins`), for arch files from a source you do not trust, and inside
    `no_import_paths()` (the work a sweep sends to a worker carries the caller's choice).
    Registered names (built-ins and installed plugins) stay usable."""
    return os.environ.get("CIMSIM_NO_IMPORT_PATHS", "") in ("", "0") and not _REFUSE_IMPORTS.get()


def refuse_import_paths() -> None:
    """Refuse import paths from here on in this context: for a worker process's initializer
    (the caller's --no-plugins reaching its spawned workers)."""
    _REFUSE_IMPORTS.set(True)


@contextmanager
def no_import_paths(on: bool = True) -> Iterator[None]:
    """Refuse import paths (on=True) for the work inside the block, whatever the environment."""
    token = _REFUSE_IMPORTS.set(on or _REFUSE_IMPORTS.get())
    try:
        yield
    finally:
        _REFUSE_IMPORTS.reset(token)


def load(kind: str, ref: str) -> type:
    """The model class for `ref` (a registered name or 'package.module:Class'), checked; import
    paths are refused here, on every call, when they are off."""
    if ":" in ref and not import_paths_allowed():
        raise PluginError(f"a registered {kind} name: import paths are off (CIMSIM_NO_IMPORT_PATHS / "
                          f"--no-plugins), since importing '{ref}' would run its code")
    return _load(kind, ref)


def unknown(kind: str, ref: str, extra: tuple[str, ...] = ()) -> PluginError | None:
    """The error for a name that is neither registered (nor among `extra`) nor an import
    path, with a did-you-mean; None if `ref` is fine. Imports nothing (the config schema's
    check)."""
    if ":" in ref:
        return None
    names = [*(e.name for e in entries(kind)), *extra]
    if ref in names:
        return None
    close = difflib.get_close_matches(ref, names, n=1, cutoff=0.5)
    return PluginError(f"a registered {kind} ({', '.join(names)}) or an import path 'package.module:Class'",
                       f"unknown {kind} '{ref}'" + (f"; did you mean '{close[0]}'?" if close else ""))


@functools.cache
def _load(kind: str, ref: str) -> type:
    base = _base(kind)
    if ":" not in ref:
        err = unknown(kind, ref)
        if err is not None:
            raise err
        ref = next(e.ref for e in entries(kind) if e.name == ref)
    cls = import_ref(ref)
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        raise PluginError(f"a subclass of {base.__module__}.{base.__name__}", f"{ref} is not one")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise PluginError(f"a class implementing the {kind} API", f"{ref} does not implement: {missing}")
    params = getattr(cls, "Params", None)
    if kind in WITH_PARAMS and not (is_dataclass(params) and params.__dataclass_params__.frozen):
        raise PluginError("a class whose Params is a frozen dataclass", f"{ref}.Params is {params!r}")
    if kind == "tile":              # its cost and timing models (hw/tile_costs.py, hw/tile_timing.py)
        for attr in ("Costs", "Timing"):
            model = getattr(cls, attr, None)
            if not inspect.isclass(model):
                raise PluginError("a tile naming its cost and timing models", f"{ref}.{attr} is not set "
                                  f"(a subclass of cimsim.hw.tile_{attr.lower()}.Tile{attr})")
            if inspect.isabstract(model):
                missing = ", ".join(sorted(model.__abstractmethods__))
                raise PluginError(f"a class implementing the tile's {attr.lower()} API",
                                  f"{ref}.{attr} does not implement: {missing}")
    return cls


def describe(obj: object) -> str:
    """First sentence of an object's docstring (its first paragraph up to '. ' + capital)."""
    para = " ".join((inspect.getdoc(obj) or "").split("\n\n")[0].split())
    parts = re.split(r"(?<=\.)\s+(?=[A-Z])", para, maxsplit=1)
    return parts[0]


load.cache_clear = _load.cache_clear      # type: ignore[attr-defined]  (tests reset the registry)


def workload_parts(w: Any) -> list[tuple[str, tuple, str]]:
    """(kind, key path, name or import path) of the parts a workload spec names at its top
    level: its model, its deployment policy, each phase's kind. A phase kind names its own
    parts (a train phase's rule and scenario, a Monte-Carlo phase's policies) when it
    resolves its params (PhaseKind.resolve)."""
    out = [] if w.model.name in ("layers", "onnx") else [("model", ("model", "name"), w.model.name)]
    out.append(("policy", ("deploy", "write_verify"), w.deploy.write_verify))
    out += [("phase", ("phases", i, "kind"), ph.kind) for i, ph in enumerate(w.phases)]
    return out


def load_located(kind: str, ref: str, src: Any, path: tuple) -> type:
    """load(), an unusable part a located error (src.error: file, key path, line)."""
    try:
        return load(kind, ref)
    except PluginError as e:
        raise src.error(path, e.expected, ref, e.note) from None


def part_params(kind: str, cls: type, raw: Any, src: Any = None, path: tuple = (),
                beside: tuple[str, ...] = (), strict: bool = False) -> Any:
    """A workload part's Params from its keys beside its name (config EXTRA_KEYS), checked
    as every built-in key is (types, ranges, located errors). Unless `strict`, keys that
    another built-in part of this kind owns are left out, so a file written for one rule (or
    scenario) runs another by changing its name alone; any other key is an unknown key with a
    did-you-mean (strict: a key of another part is named as that part's). Already built
    Params of this class pass through."""
    from .config.schema import Source, build

    p_cls = cls.Params
    if isinstance(raw, p_cls):
        return raw
    if dataclasses.is_dataclass(raw):          # another part's built params (a name changed later)
        raw = {f.name: getattr(raw, f.name) for f in dataclasses.fields(raw)}
    raw = dict(raw or {})
    own = {f.name for f in dataclasses.fields(p_cls)}
    src = src or Source("workload")
    foreign = [k for k in raw if k not in own]
    owner = {f.name: name for name in BUILTIN.get(kind, {})          # only when a key is not its own
             for f in dataclasses.fields(load(kind, name).Params)} if foreign else {}
    for k in foreign:
        if k in owner and not strict:
            continue
        keys = [*beside, *sorted(own)]
        if k in owner:                          # another part's key, and this kind is strict
            raise src.error(path + (k,), "one of the keys " + ", ".join(keys), raw[k],
                            note=f"'{k}' is a key of the {owner[k]} {kind}")
        close = difflib.get_close_matches(k, [*keys, *owner], n=1, cutoff=0.5)   # nobody's: a typo
        raise src.error(path + (k,), "one of the keys " + ", ".join(keys), None,
                        note=f"unknown key '{k}'" + (f"; did you mean '{close[0]}'?" if close else ""))
    return build(p_cls, {k: v for k, v in raw.items() if k in own}, src, path)


def resolve_workload(w: Any, src: Any) -> Any:
    """Load every part the workload names, before any work: an unusable one is a located
    error (src.error: file, key path, line), as build_chip does for the arch file's. Returns
    the spec as run: each phase's params built by its kind (part_params), checked against
    the workload (PhaseKind.check) and its own parts loaded with theirs (PhaseKind.resolve)."""
    for kind, path, ref in workload_parts(w):
        load_located(kind, ref, src, path)
    phases = []
    for i, ph in enumerate(w.phases):
        path = ("phases", i)
        cls = load("phase", ph.kind)
        ph = dataclasses.replace(ph, params=part_params("phase", cls, ph.params, src, path,
                                                        ("name", "kind", "split", "samples"), strict=True))
        kind = cls()
        kind.check(ph, w, src, path)
        phases.append(kind.resolve(ph, src, path))
    return dataclasses.replace(w, phases=phases, deploy=_policy_params(w, phases, src))


def _policy_params(w: Any, phases: list, src: Any) -> Any:
    """The deploy section with its policies' keys checked against the Params of every policy
    the workload uses (its write_verify, the Monte-Carlo phases'), and kept for those only."""
    from .config.schema import to_dict

    used = {w.deploy.write_verify}.union(*(load("phase", ph.kind)().deploy_policies(ph) for ph in phases))
    beside = tuple(f.name for f in dataclasses.fields(w.deploy) if f.name != "params")
    kept: dict[str, Any] = {}
    for name in sorted(used):
        built = part_params("policy", load("policy", name), w.deploy.params, src, ("deploy",), beside)
        kept.update(to_dict(built))
    return dataclasses.replace(w.deploy, params=kept)
