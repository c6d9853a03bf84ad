"""Running a sweep: resolve every point, skip finished ones, run the rest, store each report.

Every point is a full `cimsim run` of the arch and workload with the point's key-path
overrides. Its report lives in OUT/points/HASH/ (report.json + CSV tables), HASH being a
hash of the point's resolved inputs (the validated arch and workload specs and the cimsim
version), so a rerun — of this sweep or of any sweep that reaches the same inputs — skips
it. A point is finished when its report.json exists: it is written last and atomically by
the client as soon as the point's result arrives, so an interrupted sweep loses no finished
point. A point whose inputs are invalid, or whose run fails, is recorded with its error
(OUT/points/HASH/error.txt for run failures) and the sweep goes on.

Execution: in this process (workers = 1), a local pool of spawned processes, or a
dask.distributed cluster (`--scheduler ADDRESS`). Tasks receive the YAML bytes rather than
paths, so cluster workers need no shared file system, and send the report back as JSON
text; the client writes every file. The report bytes do not depend on where a point ran.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from .. import __version__, plugins, progress
from ..config import load_arch, load_workload, split_overrides, to_dict
from ..config.schema import read_bytes
from ..errors import CimsimError
from ..hw.chip import build_chip
from ..nn.network import input_hashes
from ..util import atomic_write, stable_hash
from ..workers import available_cores, start_worker, undo_small_malloc_trim
from .grid import Grid


@dataclass
class Point:
    index: int
    values: dict[str, Any]          # the swept key paths' values
    overrides: dict[str, Any]       # everything set on this point (fixed + swept)
    key: str = ""                   # hash of the resolved inputs ("" if they are invalid)
    status: str = "pending"         # pending | done | cached | failed | invalid
    error: str = ""


@dataclass(frozen=True)
class Inputs:
    """The two files, by name and bytes (what every task needs)."""

    arch_file: str
    arch_raw: bytes
    workload_file: str
    workload_raw: bytes
    no_import_paths: bool = False   # the caller's --no-plugins, which travels with every task


def input_hash(arch: Any, work: Any, files: dict[str, str] | None = None) -> str:
    """16 hex digits of the resolved specs, the contents of the files the workload reads
    (npz data, an ONNX model: a replaced file is a new point), the source of every plugin
    named by import path (a changed plugin is a new point) and the cimsim version."""
    key = {"cimsim": __version__, "arch": to_dict(arch), "workload": to_dict(work)}
    files = {**(files or {}), **plugins.source_hashes([key["arch"], key["workload"]])}
    if files:
        key["files"] = dict(sorted(files.items()))
    return stable_hash(key)[:16]


def read_inputs(arch_file: str, workload_file: str) -> Inputs:
    return Inputs(arch_file, read_bytes(arch_file), workload_file, read_bytes(workload_file),
                  not plugins.import_paths_allowed())


def _load(inp: Inputs, overrides: dict[str, Any]):
    a_over, w_over = split_overrides(overrides, "sweep point")
    return (load_arch(inp.arch_file, raw=inp.arch_raw, values=a_over),
            load_workload(inp.workload_file, raw=inp.workload_raw, values=w_over))


def resolve(grid: Grid, inp: Inputs, cli_set: dict[str, Any]) -> list[Point]:
    """Every point with its overrides (grid `set`, then --set, then the swept values), its
    hash, or the error that makes it invalid."""
    points = []
    for i, vals in enumerate(grid.points):
        p = Point(i, dict(vals), {**grid.fixed, **cli_set, **vals})
        try:
            a, w = _load(inp, p.overrides)
            chip = build_chip(a)                                         # a bad model or params: invalid
            spec = plugins.resolve_workload(w.spec, w.source)            # a bad part too
            p.key = input_hash(chip.arch, spec, input_hashes(w.spec, inp.workload_file))
        except CimsimError as e:
            p.status, p.error = "invalid", str(e)
        points.append(p)
    return points


def point_dir(out: Path, key: str) -> Path:
    return out / "points" / key


WATCH_EVERY_S = 10.0      # a running point rewrites its progress file at most this often
STATUS_EVERY_S = 300.0    # a local sweep says how far its running points are this often


class PointWatch:
    """Writes a running point's progress (its current bar, e.g. `online lrt: 3500/10000 sample`,
    and the minutes since the point started) to a file, atomically: at each bar's start and
    at most every WATCH_EVERY_S after."""

    def __init__(self, path: str) -> None:
        self.path, self.t0, self.last = Path(path), time.monotonic(), -float("inf")

    def __call__(self, desc: str, done: int, total: int | None, unit: str) -> None:
        now = time.monotonic()
        if done and now - self.last < WATCH_EVERY_S:
            return
        self.last = now
        of = total if total is not None else "?"
        line = f"{desc}: {done}/{of} {unit}, {(now - self.t0) / 60:.1f} min in"
        atomic_write(self.path, lambda f: f.write(line + "\n"))


def progress_file(out: Path, key: str) -> Path:
    return point_dir(out, key) / "progress.txt"


def run_point(inp: Inputs, overrides: dict[str, Any], threads: int = 0, watch: str | None = None) -> dict:
    """One full run (the task a worker executes): {"report": JSON text} or {"error": message,
    "traceback": text}. Never raises, so one failing point cannot stop a sweep. `watch`: a
    file to keep the point's progress in (PointWatch), local runs only."""
    from threadpoolctl import threadpool_limits

    from ..api import run
    from ..kernels import mvm
    from ..report.writer import dumps
    from ..study import WallClock

    undo_small_malloc_trim()
    if threads:                  # a pool worker (start_worker set this up already) or a dask task
        threadpool_limits(1)
    try:
        with progress.quiet(), mvm.threads(threads or mvm.DEFAULT_THREADS), \
                plugins.no_import_paths(inp.no_import_paths), \
                (progress.watched(PointWatch(watch)) if watch else nullcontext()):
            a, w = _load(inp, overrides)
            return {"report": dumps(run(a, w, workers=1, wall=WallClock()).result)}   # the one run path
    except CimsimError as e:
        return {"error": str(e), "traceback": ""}
    except Exception as e:   # a bug in one point (or a plugin) is recorded, not fatal
        return {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def store(out: Path, p: Point, result: dict) -> None:
    """Write a finished point's files (report.json last), or its error."""
    from ..report.tables import write_tables

    d = point_dir(out, p.key)
    progress_file(out, p.key).unlink(missing_ok=True)
    if "report" in result:
        text = result["report"]
        write_tables(json.loads(text), d)
        atomic_write(d / "report.json", lambda f: f.write(text))
        (d / "error.txt").unlink(missing_ok=True)
        p.status = "done"
    else:
        msg = result["error"] + ("\n\n" + result["traceback"] if result.get("traceback") else "")
        atomic_write(d / "error.txt", lambda f: f.write(msg + "\n"))
        p.status, p.error = "failed", result["error"]


def warm_cache(points: list[Point], inp: Inputs) -> None:
    """Pretrain (once) every model the pending points need, before a local pool starts, so
    parallel workers do not train the same model side by side."""
    from ..nn.network import workload_data
    from ..pretrain import pretrain_key, pretrained_model

    seen = set()
    for p in points:
        if p.status == "pending":
            a, w = _load(inp, p.overrides)
            if w.spec.model.name == "onnx" or not w.spec.deploy.functional:
                continue                            # nothing to pretrain
            k = pretrain_key(w.spec, a.spec, input_hashes(w.spec, w.path))
            if k not in seen:
                seen.add(k)
                try:
                    pretrained_model(w.spec, workload_data(w.spec, w.path), a.spec, w.path)
                except Exception:   # the point's own run will fail and record why
                    pass


LOST_WORKER_RETRIES = 2     # a point whose worker process dies is run again at most this often


def _local(todo: list[Point], inp: Inputs, workers: int, out: Path) -> Iterator[tuple[Point, dict]]:
    """Points on a pool of spawned processes. A worker that dies (killed, out of memory)
    breaks the pool: the points it took down are run again on a fresh pool, up to
    LOST_WORKER_RETRIES times each, then recorded as failed; the sweep goes on. Every
    STATUS_EVERY_S without a finished point, a status line per running point says how far
    it is (from its progress file)."""
    for p in todo:
        progress_file(out, p.key).unlink(missing_ok=True)     # an interrupted sweep's
    if workers <= 1:
        for p in todo:
            yield p, run_point(inp, p.overrides, watch=str(progress_file(out, p.key)))
        return
    threads = max(1, available_cores() // workers)
    lost_count: dict[int, int] = {}
    pending = list(todo)
    while pending:
        lost = []
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=start_worker,
                                 initargs=(os.getpid(), threads)) as pool:
            futs = {pool.submit(run_point, inp, p.overrides, threads, str(progress_file(out, p.key))): p
                    for p in pending}
            try:
                running = set(futs)
                while running:
                    done, running = wait(running, timeout=STATUS_EVERY_S, return_when=FIRST_COMPLETED)
                    if not done:
                        _status(sorted((futs[f] for f in running), key=lambda p: p.index), out)
                    for f in sorted(done, key=lambda f: futs[f].index):
                        try:
                            res = f.result()
                        except BrokenProcessPool:
                            lost.append(futs[f])
                            continue
                        yield futs[f], res
            except BaseException:
                for f in futs:
                    f.cancel()
                raise
        pending = []
        for p in sorted(lost, key=lambda p: p.index):
            lost_count[p.index] = lost_count.get(p.index, 0) + 1
            if lost_count[p.index] > LOST_WORKER_RETRIES:
                yield p, {"error": f"its worker process died {lost_count[p.index]} times (killed, or out "
                                   "of memory)", "traceback": ""}
            else:
                pending.append(p)
        if pending:
            progress.say(f"a worker process died; running {len(pending)} unfinished point(s) again")


def _status(points: list[Point], out: Path) -> None:
    """A line per running point (one that has written its progress file)."""
    for p in points:
        try:
            text = progress_file(out, p.key).read_text().strip()
        except OSError:
            continue
        progress.say(f"point {p.index} ({_label(p)}): {text}")


def _dask(todo: list[Point], inp: Inputs, address: str) -> Iterator[tuple[Point, dict]]:
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise CimsimError("--scheduler needs dask.distributed: pip install 'cimsim[dask]'") from None
    try:
        client = Client(address, timeout=20)
    except (OSError, TimeoutError, ValueError) as e:
        raise CimsimError(f"--scheduler {address}: cannot reach a dask scheduler there ({e}); "
                          "expected an address such as tcp://host:8786") from None
    with client:
        futs = {client.submit(run_point, inp, p.overrides, 1, key=f"cimsim-point-{p.key}", pure=False): p
                for p in todo}
        by_key = {f.key: p for f, p in futs.items()}
        try:
            for f in dask_completed(list(futs)):
                try:
                    res = f.result()
                except Exception as e:   # KilledWorker: the scheduler already retried it on other workers
                    res = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                                    "(its worker died on every try: killed, or out of memory)",
                           "traceback": ""}
                yield by_key[f.key], res
        except BaseException:
            client.cancel(list(futs))
            raise


def run_sweep(points: list[Point], inp: Inputs, out: Path, workers: int,
              scheduler: str | None = None) -> None:
    """Run every pending point (finished ones become `cached`), storing results as they come."""
    todo, first = [], {}
    for p in points:
        if p.status != "pending":
            continue
        if (point_dir(out, p.key) / "report.json").exists():
            p.status = "cached"
        elif p.key in first:                   # same resolved inputs as an earlier point
            continue
        else:
            first[p.key] = p
            todo.append(p)
    if todo and not scheduler and workers > 1:
        warm_cache(todo, inp)
    results = _dask(todo, inp, scheduler) if scheduler else _local(todo, inp, workers, out)
    bar = progress.progress(results, "sweep", total=len(todo), unit="point")
    for p, res in bar:
        store(out, p, res)
        progress.say(f"point {p.index} ({_label(p)}): {p.status}"
                     + (f": {p.error.splitlines()[0]}" if p.error else ""))
    for p in points:                          # duplicates share the first point's result
        if p.status == "pending" and p.key in first:
            p.status, p.error = first[p.key].status, first[p.key].error


def _label(p: Point) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in p.values.items())
