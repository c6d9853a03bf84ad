"""Where a run's independent work runs: this process, a pool of local processes
(`--workers N`), or a dask.distributed cluster (`--scheduler ADDRESS`).

The independent work of a run: the chips of an inference phase's `ci_chips` and of a
Monte-Carlo phase, image shards of a test of the run's own chip (an inference phase, a train
phase's test after the stream: `functional.BatchRange`),
and the no-learning baseline of a train phase (it runs beside the learning stream). Each is
a job: a picklable callable that carries its context (the session, the test images),
sent once to each worker (a local worker's initializer, or one broadcast `scatter` to the
cluster), and called on small items (a chip index, a range of batches). Every job draws from
its own seeds, never from shared state, so the report is the same bytes wherever it ran
(tests/test_cluster.py). The cluster's scheduler reruns the tasks of a worker lost mid-run
on the others; a local pool whose worker died runs the unfinished items on a fresh pool;
the results are gathered by item, in the order of the items, so none is lost or counted
twice.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager
from typing import Any

from . import __version__, plugins, progress
from .errors import CimsimError
from .workers import available_cores, start_worker, undo_small_malloc_trim

CONNECT_TIMEOUT_S = 20
SCATTER_TRIES = 3


class Pool:
    """Runs a job on items: `map` (all results, in item order) and `submit` (one result later).
    `shards`: into how many pieces to cut one long piece of work (an inference run's images)."""

    shards = 1

    def map(self, job: Callable[[Any], Any], items: Sequence[Any], desc: str, unit: str) -> list[Any]:
        return [job(i) for i in progress.progress(items, desc, unit=unit)]

    def submit(self, job: Callable[[Any], Any], item: Any) -> Callable[[], Any]:
        """Start job(item); the returned function waits for its result. Here: at once, in this
        process (the caller's later work may change what the job reads)."""
        value = job(item)
        return lambda: value


LOCAL_TRIES = 3      # pools a local map or submit may use: a worker that dies costs one


def _init_local(job_path: str, parent_pid: int, threads: int, no_import_paths: bool) -> None:
    start_worker(parent_pid, threads)
    if no_import_paths:
        plugins.refuse_import_paths()
    with open(job_path, "rb") as f:
        _call_local.job = pickle.load(f)


def _call_local(item: Any) -> Any:
    return _call_local.job(item)


@contextmanager
def _job_file(job: Callable[[Any], Any]) -> Iterator[str]:
    """The job pickled into a temporary file, for the workers' initializer to load. Not in the
    initializer's arguments: those go down the spawn pipe, and CPython < 3.14 keeps the pipe's
    read end open while it writes them (gh-118981), so a worker that died reading a payload
    larger than the pipe (a job with its test images) hung the parent for ever."""
    with tempfile.TemporaryDirectory(prefix="cimsim-job-") as d:
        path = os.path.join(d, "job.pickle")
        with open(path, "wb") as f:
            pickle.dump(job, f, protocol=pickle.HIGHEST_PROTOCOL)
        yield path


class LocalPool(Pool):
    """Spawned worker processes on this machine, each with its share of the cores; each map
    or submit starts its own (the job reaches a worker once, through its initializer). A worker
    that dies (killed, out of memory) breaks its pool: the items it took down run again on a
    fresh pool, the finished ones are kept, at most LOCAL_TRIES pools in all."""

    def __init__(self, workers: int) -> None:
        self.workers = self.shards = workers

    def _executor(self, job_path: str, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_local,
            initargs=(job_path, os.getpid(), max(1, available_cores() // self.workers),
                      not plugins.import_paths_allowed()))

    def _run(self, job_path: str, items: Sequence[Any], step: Callable[[], Any], first: int = 0) -> list[Any]:
        """Every item's result, in item order, on fresh pools: tries `first` (the pools already
        broken) to LOCAL_TRIES."""
        done: dict[int, Any] = {}
        for attempt in range(first, LOCAL_TRIES):
            todo = [i for i in range(len(items)) if i not in done]
            if not todo:
                break
            if attempt:
                progress.say(f"a worker process died; running {len(todo)} unfinished item(s) again")
            with self._executor(job_path, min(self.workers, len(todo))) as ex:
                futs = {ex.submit(_call_local, items[i]): i for i in todo}
                try:
                    for f in as_completed(futs):
                        try:
                            done[futs[f]] = f.result()
                        except BrokenProcessPool:
                            continue
                        step()
                except BaseException:
                    for f in futs:
                        f.cancel()
                    raise
        if len(done) < len(items):
            raise CimsimError(f"--workers {self.workers}: a worker process died on each of "
                              f"{LOCAL_TRIES} tries (killed, or out of memory?); run with fewer workers")
        return [done[i] for i in range(len(items))]

    def map(self, job: Callable[[Any], Any], items: Sequence[Any], desc: str, unit: str) -> list[Any]:
        if len(items) <= 1:
            return super().map(job, items, desc, unit)
        bar = progress.bar(len(items), desc, unit)
        try:
            with _job_file(job) as path:
                return self._run(path, items, lambda: bar.update(1))
        finally:
            bar.close()

    def submit(self, job: Callable[[Any], Any], item: Any) -> Callable[[], Any]:
        files = ExitStack()
        path = files.enter_context(_job_file(job))      # pickled now: the job as it is at submit
        ex = self._executor(path, 1)
        fut = ex.submit(_call_local, item)

        def result() -> Any:
            with files:
                try:
                    return fut.result()
                except BrokenProcessPool:
                    return self._run(path, [item], lambda: None, first=1)[0]
                finally:
                    ex.shutdown()
        return result


def _call_remote(job: Callable[[Any], Any], item: Any, no_import_paths: bool) -> Any:
    """A job on a cluster worker: one BLAS and one MVM thread per task (dask runs a task per
    worker thread), quiet, and the caller's --no-plugins."""
    from threadpoolctl import threadpool_limits

    from .kernels import mvm

    undo_small_malloc_trim()
    if no_import_paths:
        plugins.refuse_import_paths()
    with threadpool_limits(1), mvm.threads(1), progress.quiet():
        return job(item)


class DaskPool(Pool):
    """A dask.distributed cluster: the job is scattered to every worker once per map or submit;
    a worker lost mid-run has its tasks rerun by the scheduler."""

    def __init__(self, address: str) -> None:
        if address not in _CLIENTS:
            raise CimsimError(f"--scheduler {address}: not connected (use cluster.connected)")
        self.address, self.client = address, _CLIENTS[address]
        self.shards = max(1, sum(self.client.nthreads().values()))

    def _scatter(self, job: Callable[[Any], Any]) -> Any:
        """The job on every worker, once. A worker lost while it receives it breaks the
        transfer: scatter again to the workers there are then (the nanny restarts the lost one)."""
        for attempt in range(SCATTER_TRIES):
            try:
                return self.client.scatter(job, broadcast=True, hash=False)
            except Exception as e:         # CommClosedError, OSError: a worker went away
                if attempt + 1 == SCATTER_TRIES:
                    raise CimsimError(f"--scheduler {self.address}: could not send the work to the cluster's "
                                      f"workers {SCATTER_TRIES} times ({type(e).__name__}: {e})") from None
                self.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)

    def _tasks(self, job: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        remote_job = self._scatter(job)
        flag = not plugins.import_paths_allowed()
        return [self.client.submit(_call_remote, remote_job, item, flag, pure=False) for item in items]

    def map(self, job: Callable[[Any], Any], items: Sequence[Any], desc: str, unit: str) -> list[Any]:
        from dask.distributed import as_completed

        futs = self._tasks(job, items)
        for _ in progress.progress(as_completed(futs), desc, total=len(futs), unit=unit):
            pass
        return self._gather(futs)

    def submit(self, job: Callable[[Any], Any], item: Any) -> Callable[[], Any]:
        futs = self._tasks(job, [item])
        return lambda: self._gather(futs)[0]

    def _gather(self, futs: list[Any]) -> list[Any]:
        from distributed import KilledWorker

        try:
            return self.client.gather(futs)
        except KilledWorker as e:   # the scheduler reran it on other workers, and they died too
            first = str(e).splitlines()[0] if str(e) else ""
            raise CimsimError(f"--scheduler {self.address}: a task failed on the cluster: "
                              f"{type(e).__name__}: {first}") from None


_CLIENTS: dict[str, Any] = {}       # the clients of the runs under way, by address


@contextmanager
def connected(address: str | None) -> Iterator[None]:
    """Inside the block, this process holds a client of the dask scheduler at `address`
    (nothing for None; an outer block's client is reused), closed at the end. Entered before
    any work (cli.cmd_run, api.run), so a wrong address or version costs seconds."""
    if not address or address in _CLIENTS:
        yield
        return
    _CLIENTS[address] = connect(address)
    try:
        yield
    finally:
        _CLIENTS.pop(address).close()


def connect(address: str) -> Any:
    """A client of the dask scheduler at `address`, refused unless every worker runs this
    cimsim version."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise CimsimError("--scheduler needs dask.distributed: pip install 'cimsim[dask]'") from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as e:
        raise CimsimError(f"--scheduler {address}: cannot reach a dask scheduler there ({e}); "
                          "expected an address such as tcp://host:8786") from None
    try:
        versions = client.run(lambda: __import__("cimsim").__version__)   # by value: any worker
    except Exception as e:
        client.close()
        raise CimsimError(f"--scheduler {address}: cannot ask its workers for their cimsim version "
                          f"({type(e).__name__}: {e}); is cimsim installed on them?") from None
    other = {w: v for w, v in versions.items() if v != __version__}
    if not versions:
        client.close()
        raise CimsimError(f"--scheduler {address}: the cluster has no workers")
    if other:
        client.close()
        w, v = sorted(other.items())[0]
        raise CimsimError(f"--scheduler {address}: worker {w} runs cimsim {v}, this run is cimsim "
                          f"{__version__} ({len(other)} of {len(versions)} workers differ); install the "
                          "same version on the cluster")
    return client


def pool(workers: int = 1, scheduler: str | None = None) -> Pool:
    """The pool a run's independent work goes to."""
    if scheduler:
        return DaskPool(scheduler)
    return LocalPool(workers) if workers > 1 else Pool()
