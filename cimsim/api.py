"""The Python API: what `cimsim run` does, as functions.

    import cimsim
    arch = cimsim.load_arch("arch/rram_64x64.yaml", {"adc.bits": 6})
    rep = cimsim.run(arch, "workloads/resnet_inference.yaml")
    rep.phase("test").accuracy, rep.summary(), rep.tables()["energy"]

Overrides are key paths under the file (`load_arch`/`load_workload`) or under `arch.` /
`workload.` (`run`), as with `--set`. A string value is YAML text, exactly as after `=` on
the command line; other values are used as given. The report records the value each override
set, so `run(..., overrides={"arch.adc.bits": 6})`, `{"arch.adc.bits": "6"}` and `cimsim run
... --set arch.adc.bits=6` write the same report bytes (`"arch.adc.bits": 6`). Bad
input raises `cimsim.errors.ConfigError` (or another `CimsimError`) with the message the
CLI prints.
"""
from __future__ import annotations

import functools
import json
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import config
from .config import ArchSpec, Loaded, WorkloadSpec
from .errors import ConfigError
from .report.outdir import OutputFolder, write_staged
from .report.tables import tables
from .report.writer import dumps, summary, write_all
from .results import PhaseResult, RunReport


def _check_path(path: Any, what: str) -> None:
    if not isinstance(path, (str, Path)) or not str(path):
        raise ConfigError(what, "", "the path of a YAML file (str or pathlib.Path)", type(path).__name__)


def _check_overrides(overrides: Any, what: str) -> dict:
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ConfigError(what, "overrides", "a mapping of key paths to values", type(overrides).__name__)
    return dict(overrides)


def _load(loader: Any, path: str | Path, overrides: dict[str, Any] | None) -> Loaded:
    """Strings are YAML text (as after `--set key=`), other values are used as given; the
    report records every override as the value it set (config.Loaded.overrides)."""
    _check_path(path, "path")
    text, values = {}, {}
    for key, v in _check_overrides(overrides, str(path)).items():
        if not isinstance(key, str) or not key:
            raise ConfigError(str(path), repr(key), "a key path such as 'adc.bits'")
        if isinstance(v, str):
            text[key] = v
        else:
            values[key] = v
    return loader(path, text, values=values)


def load_arch(path: str | Path, overrides: dict[str, Any] | None = None) -> Loaded:
    """An arch file, checked, with key-path overrides ({"adc.bits": 6})."""
    return _load(config.load_arch, path, overrides)


def load_workload(path: str | Path, overrides: dict[str, Any] | None = None) -> Loaded:
    """A workload file, checked, with key-path overrides ({"phases.0.samples": 100})."""
    return _load(config.load_workload, path, overrides)


class Report:
    """A run's report: the typed result (`result`, results.RunReport: phases by attribute)
    and its JSON data (`data`, what report.json holds)."""

    def __init__(self, result: RunReport) -> None:
        self.result = result

    @functools.cached_property
    def data(self) -> dict:
        """The report as plain JSON data (report.json, parsed)."""
        return json.loads(dumps(self.result))

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def phases(self) -> list[PhaseResult]:
        return self.result.phases

    def phase(self, name: str) -> PhaseResult:
        """A phase's typed result by name (rep.phase("test").accuracy)."""
        return self.result.phase(name)

    def summary(self) -> str:
        """The terminal summary `cimsim run` prints."""
        return summary(self.result)

    def to_json(self) -> str:
        """report.json's exact text (byte-identical for identical inputs and seed)."""
        return dumps(self.result)

    def tables(self) -> dict[str, list[dict]]:
        """The CSV tables as records (pandas.DataFrame(rep.tables()["energy"]))."""
        return tables(self.result)

    def write(self, out_dir: str | Path, plot: bool = False, fmt: str = "png",
              dpi: float = 150.0, style: str = "screen") -> list[Path]:
        """report.json, the CSV tables (and with `plot`, the figures as `fmt`: png, pdf or
        svg, at `dpi`, in `style` screen or paper: one journal column or page wide, 8 pt
        text) into out_dir, as `cimsim run --out` writes them; returns the paths."""
        with OutputFolder(out_dir, "out_dir") as folder:
            return write_staged(folder, lambda stage: write_all(self.result, stage, plot, fmt, dpi, style),
                                replace=True)[0]


def read_report(path: str | Path) -> RunReport:
    """The typed result of a saved report.json (or of the folder holding one); ConfigError for
    a missing file or one cimsim did not write."""
    _check_path(path, "path")
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        rep = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(str(p), "", "an existing report.json written by cimsim run") from None
    except json.JSONDecodeError as e:
        raise ConfigError(str(p), "", f"valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(rep, dict) or "phases" not in rep or "cimsim_version" not in rep:
        raise ConfigError(str(p), "", "a report.json written by cimsim run (keys cimsim_version, phases)")
    return RunReport.from_json(rep, str(p))


def load_report(path: str | Path) -> Report:
    """A saved run, as `run` returns it: rep = cimsim.load_report("results/x/report.json");
    rep.summary(), rep.phase("test").accuracy, rep.tables()."""
    return Report(read_report(path))


def run(arch: str | Path | Loaded, workload: str | Path | Loaded, overrides: dict[str, Any] | None = None,
        workers: int = 1, wall: Any = None, explain: bool = False, scheduler: str | None = None) -> Report:
    """Run a study: every phase of the workload on the chip. `overrides` as `--set`
    ({"arch.adc.bits": 6, "workload.phases.0.samples": 100}); `workers` > 1 deploys
    the run's independent work (the chips of inference and Monte-Carlo phases, the train
    phases' no-learning baselines) in that many processes, `scheduler` (a dask scheduler's
    address, tcp://host:8786) on that cluster: the same report either way (cluster.py);
    `explain`: add the accuracy ablation of the first inference phase (explain.py) as the
    report's `explain` block."""
    from .session import WallClock
    from .study import run_study

    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ConfigError("workers", "", "an integer >= 1", workers)
    if wall is not None and not isinstance(wall, WallClock):
        raise ConfigError("wall", "", "a cimsim.session.WallClock or None", type(wall).__name__)
    for value, what, kind in ((arch, "arch", ArchSpec), (workload, "workload", WorkloadSpec)):
        if isinstance(value, Loaded):
            if not isinstance(value.spec, kind):
                raise ConfigError(what, "", f"a loaded {what} file (cimsim.load_{what})",
                                  type(value.spec).__name__)
        else:
            _check_path(value, what)
    a_over, w_over = config.split_overrides(_check_overrides(overrides, "run"), "overrides")
    if a_over or not isinstance(arch, Loaded):
        if isinstance(arch, Loaded):
            raise ConfigError("overrides", "arch.*", "overrides of a file given by path (pass its path, "
                              "or load it with cimsim.load_arch(path, overrides))")
        arch = load_arch(arch, a_over)
    if w_over or not isinstance(workload, Loaded):
        if isinstance(workload, Loaded):
            raise ConfigError("overrides", "workload.*", "overrides of a file given by path (pass its "
                              "path, or load it with cimsim.load_workload(path, overrides))")
        workload = load_workload(workload, w_over)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler):
        raise ConfigError("scheduler", "", "a dask scheduler's address (str), or None", scheduler)
    from .cluster import connected
    with connected(scheduler):              # reachable, same cimsim version: before any work
        return Report(run_study(arch, workload, wall, int(workers), explain, scheduler))
