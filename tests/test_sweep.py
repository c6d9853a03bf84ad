"""cimsim sweep: grids, local pool vs dask, resume, failing points, interruption."""
import csv
import json
import os
import re

import pytest

from cimsim.cli import main
from cimsim.errors import ConfigError
from cimsim.sweep import runner
from cimsim.sweep.grid import load_grid

GRID = """name: tiny
set:
  workload.phases.0.samples: 12
grid:
  arch.adc.bits: [6, 8]
zip:
  - arch.crossbar.rows: [64, 128]
    arch.crossbar.cols: [64, 128]
"""


def write(tmp_path, text, name="grid.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def sweep(root, grid, out, *extra):
    return main(["-q", "sweep", str(root / "arch" / "rram_64x64.yaml"),
                 str(root / "workloads" / "resnet_inference.yaml"), "--grid", str(grid), "--out", str(out),
                 *extra])


def table(out):
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


def test_grid_is_the_cartesian_product_crossed_with_zip_groups(tmp_path, capsys):
    g = load_grid(write(tmp_path, GRID))
    assert main(["validate", str(tmp_path / "grid.yaml")]) == 0
    assert "ok (grid 'tiny', 4 points" in capsys.readouterr().out
    assert g.swept == ("arch.adc.bits", "arch.crossbar.rows", "arch.crossbar.cols")
    assert [tuple(p.values()) for p in g.points] == [(6, 64, 64), (6, 128, 128), (8, 64, 64), (8, 128, 128)]
    assert g.fixed == {"workload.phases.0.samples": 12}


@pytest.mark.parametrize("text, where, expect", [
    ("grid:\n  adc.bits: [4]\n", "grid.adc.bits", "a key path arch.KEY.PATH"),
    ("grid:\n  arch.adc.bits: 4\n", "grid.arch.adc.bits", "a non-empty list"),
    ("zip:\n  - {arch.crossbar.rows: [64, 128], arch.crossbar.cols: [64]}\n", "zip[0]", "equal length"),
    ("grdi:\n  arch.adc.bits: [4]\n", "grdi", "one of the keys name, set, grid, zip"),
    ("name: x\n", "<top>", "a 'grid' or 'zip' section"),
    ("set: {arch.adc.bits: 4}\ngrid:\n  arch.adc.bits: [4]\n", "arch.adc.bits", "each key path once"),
])
def test_bad_grids_are_located_errors(tmp_path, root, capsys, text, where, expect):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_grid(p)
    assert f": {where}: expected" in str(e.value) and expect in str(e.value), str(e.value)
    assert sweep(root, p, tmp_path / "out") == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_local_pool_and_dask_cluster_give_identical_results_and_resume_skips(root, tmp_path, trained):
    distributed = pytest.importorskip("dask.distributed")
    grid = write(tmp_path, GRID)
    assert sweep(root, grid, tmp_path / "local", "--workers", "2") == 0
    local = table(tmp_path / "local")
    assert [r["status"] for r in local] == ["done"] * 4 and len({r["hash"] for r in local}) == 4
    p0 = json.loads((tmp_path / "local" / "points" / local[0]["hash"] / "report.json").read_text())
    # the results row is the point's report: its phase's named headline (the mean over the
    # chips of ci_chips, and chip 0), and its energy in pJ (phases + programming), as report.json
    over = p0["phases"][0]["accuracy_over_chips"]
    assert float(local[0]["test.accuracy_mean_over_chips"]) == over["mean"]
    assert float(local[0]["test.accuracy_chip0"]) == p0["phases"][0]["accuracy"]
    assert list(local[0])[3:7] == ["arch.adc.bits", "arch.crossbar.rows", "arch.crossbar.cols",
                                   "test.accuracy_mean_over_chips"]
    assert float(local[0]["energy_total_pj"]) == pytest.approx(
        p0["phases"][0]["energy"]["total_pj"] + p0["deploy"]["energy"]["total_pj"], rel=1e-12)
    # every point's report is a full run: same bytes as cimsim run with the point's overrides
    assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"),
                 str(root / "workloads" / "resnet_inference.yaml"), "--out", str(tmp_path / "one"),
                 "--set", "arch.adc.bits=8", "--set", "arch.crossbar.rows=128",
                 "--set", "arch.crossbar.cols=128", "--set", "workload.phases.0.samples=12"]) == 0
    one = json.loads((tmp_path / "one" / "report.json").read_text())
    p3 = json.loads((tmp_path / "local" / "points" / local[3]["hash"] / "report.json").read_text())
    assert p3["phases"] == one["phases"] and p3["deploy"] == one["deploy"]
    # the same sweep on a dask cluster (separate worker processes): identical files
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert sweep(root, grid, tmp_path / "dask", "--scheduler", cluster.scheduler_address) == 0
    local_csv = (tmp_path / "local" / "results.csv").read_bytes()
    assert (tmp_path / "dask" / "results.csv").read_bytes() == local_csv
    for r in local:
        rel = f"points/{r['hash']}/report.json"
        assert (tmp_path / "dask" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes()
    assert (tmp_path / "local" / "pareto_energy_total_pj.png").stat().st_size > 5000
    # resume: a rerun finds every point finished and runs nothing
    stamps = {r["hash"]: (tmp_path / "local" / "points" / r["hash"] / "report.json").stat().st_mtime_ns
              for r in local}
    assert sweep(root, grid, tmp_path / "local", "--workers", "2") == 0
    again = table(tmp_path / "local")
    assert [r["status"] for r in again] == ["cached"] * 4
    assert [{k: v for k, v in r.items() if k != "status"} for r in again] == \
        [{k: v for k, v in r.items() if k != "status"} for r in local]
    assert stamps == {h: (tmp_path / "local" / "points" / h / "report.json").stat().st_mtime_ns
                      for h in stamps}


def test_invalid_and_failing_points_are_recorded_and_the_rest_complete(root, tmp_path, trained, capsys):
    grid = write(tmp_path, "set: {workload.phases.0.samples: 8}\n"
                           "grid:\n  arch.chip.tiles: [64, 0, 3]\n")
    assert sweep(root, grid, tmp_path / "out", "--workers", "1") == 1
    rows = table(tmp_path / "out")
    assert [r["status"] for r in rows] == ["done", "invalid", "failed"]
    assert "chip.tiles: expected integer in [1, 1048576], got 0" in rows[1]["error"] and rows[1]["hash"] == ""
    assert "needs 25 tiles" in rows[2]["error"]
    assert (tmp_path / "out" / "points" / rows[2]["hash"] / "error.txt").exists()
    assert (tmp_path / "out" / "points" / rows[0]["hash"] / "report.json").exists()
    out = capsys.readouterr().out
    assert "1 done, 1 failed, 1 invalid of 3 points" in out and "point 1: invalid" in out


@pytest.mark.slow
def test_an_interrupted_sweep_keeps_its_finished_points(root, tmp_path, trained, monkeypatch):
    grid = write(tmp_path, "set: {workload.phases.0.samples: 8}\ngrid:\n  arch.adc.bits: [6, 7, 8]\n")
    real = runner.store
    calls = []

    def store_then_interrupt(out, p, result):
        real(out, p, result)
        calls.append(p.index)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "store", store_then_interrupt)
    assert sweep(root, grid, tmp_path / "out", "--workers", "1") == 130
    rows = table(tmp_path / "out")
    assert [r["status"] for r in rows] == ["done", "pending", "pending"] and calls == [0]
    monkeypatch.setattr(runner, "store", real)
    assert sweep(root, grid, tmp_path / "out", "--workers", "1") == 0
    assert [r["status"] for r in table(tmp_path / "out")] == ["cached", "done", "done"]


def test_pareto_axes_carry_si_units():
    """Costs on Pareto axes read as 4.5 mJ or 214 us, not as raw seconds with an offset."""
    from matplotlib.ticker import EngFormatter

    from cimsim.sweep.results import figures

    table = [{"energy_total_pj": e * 1e12, "energy_per_image_pj": None, "max_writes_per_cell": None,
              "latency_per_image_s": t, "test.accuracy": a, "arch.adc.bits": b}
             for e, t, a, b in ((2e-3, 2e-4, 0.8, 6), (4e-3, 3e-4, 0.9, 8), (3e-3, 5e-4, 0.7, 7))]
    figs = figures(table, ("arch.adc.bits",), "s", ("test.accuracy", "test: accuracy on test (one chip)"))
    assert set(figs) == {"pareto_energy_total_pj", "pareto_latency_per_image_s"}
    ax = figs["pareto_energy_total_pj"].axes[0]
    assert isinstance(ax.xaxis.get_major_formatter(), EngFormatter)
    assert ax.get_xlabel() == "energy of the whole run"
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(lab.endswith("mJ") for lab in labels)


def test_pareto_labels_never_overlap_and_name_the_swept_values():
    """Close points on the front (the issue's "bits=4, rank=2" over "rank=4"): every label is
    placed clear of the others and inside the axes, names the point by its swept values, and
    the accuracy axis says which accuracy it is."""
    from cimsim.sweep.results import figures

    pts = [(1.00e-3, 0.800, 4, 2), (1.02e-3, 0.803, 4, 4), (1.04e-3, 0.806, 6, 2), (1.06e-3, 0.809, 6, 4),
           (2e-3, 0.85, 8, 2), (2.05e-3, 0.852, 8, 4)]
    table = [{"energy_total_pj": e * 1e12, "energy_per_image_pj": None, "max_writes_per_cell": None,
              "latency_per_image_s": None, "adapt.online_ema": a, "arch.adc.bits": b,
              "workload.phases.1.algorithm.rank": r}
             for e, a, b, r in pts]
    swept = ("arch.adc.bits", "workload.phases.1.algorithm.rank")
    acc = ("adapt.online_ema", "adapt: online accuracy (EMA)")
    fig = figures(table, swept, "g", acc)["pareto_energy_total_pj"]
    ax = fig.axes[0]
    assert ax.get_ylabel() == "adapt: online accuracy (EMA)"
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    texts = [t for t in ax.texts if "bits=" in t.get_text()]
    assert sorted(t.get_text() for t in texts) == sorted(f"bits={b}, rank={k}" for *_, b, k in pts)
    boxes = [t.get_window_extent(r) for t in texts]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)


EVIL = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")
from cimsim.nn.models import NetworkModel


class Evil(NetworkModel):
    def layers(self, spec, classes):
        return []
"""


def _evil_module(tmp_path):
    marker = tmp_path / "imported.txt"
    (tmp_path / "evilmod.py").write_text(EVIL.format(marker=str(marker)))
    return marker


def test_no_plugins_travels_with_a_sweep_points_work(root, tmp_path, monkeypatch):
    """Issue 25, item 2: the caller's --no-plugins is part of the work a sweep sends out, so a
    worker refuses an import path before importing it, whatever its own environment."""
    from cimsim import plugins
    from cimsim.sweep.runner import read_inputs, run_point

    marker = _evil_module(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CIMSIM_NO_IMPORT_PATHS", "")      # recorded, so main's "1" is undone after
    arch, w = str(root / "arch" / "rram_64x64.yaml"), str(root / "workloads" / "resnet_inference.yaml")
    with plugins.no_import_paths():
        inp = read_inputs(arch, w)
    assert inp.no_import_paths and plugins.import_paths_allowed()     # scoped: allowed again here
    out = run_point(inp, {"workload.model.name": "evilmod:Evil"})
    assert "import paths are off" in out["error"] and not marker.exists()


@pytest.mark.slow
def test_no_plugins_reaches_dask_workers(root, tmp_path, monkeypatch):
    """The same on a dask LocalCluster whose workers could import the module."""
    distributed = pytest.importorskip("distributed")
    marker = _evil_module(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("CIMSIM_NO_IMPORT_PATHS", "")      # recorded, so main's "1" is undone after
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\nset:\n  workload.model.name: evilmod:Evil\ngrid:\n  arch.adc.bits: [8]\n")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        code = main(["-q", "--no-plugins", "sweep", str(root / "arch" / "rram_64x64.yaml"),
                     str(root / "workloads" / "resnet_inference.yaml"), "--grid", str(grid),
                     "--out", str(tmp_path / "s"), "--scheduler", cluster.scheduler_address])
    assert code != 0 and not marker.exists()


KILLER = """
import multiprocessing, os, pathlib, signal
from cimsim.config.workload import LayerSpec
from cimsim.nn.models import NetworkModel

marker = pathlib.Path({marker!r})
if multiprocessing.parent_process() is not None and not marker.exists():   # a pool worker, once
    marker.write_text("killed")
    os.kill(os.getpid(), signal.SIGKILL)


class Tiny(NetworkModel):
    def layers(self, spec, classes):
        return [LayerSpec(type="flatten"), LayerSpec(type="linear", out_features=classes)]
"""

TINY_WL = """name: tiny
dataset: {name: digits, image_size: 8}
model: {name: "killer:Tiny"}
pretrain: {epochs: 1}
phases: [{name: t, kind: inference, samples: 8, ci_chips: 1}]
"""


@pytest.fixture
def killer_sweep(tmp_path, monkeypatch):
    """(marker, workload, grid) of a 2-point sweep whose model plugin SIGKILLs the first
    worker process that imports it (the marker file records that it did)."""
    marker = tmp_path / "killed.txt"
    (tmp_path / "killer.py").write_text(KILLER.format(marker=str(marker)))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CIMSIM_NO_IMPORT_PATHS", "")
    grid = write(tmp_path, "name: g\ngrid:\n  arch.adc.bits: [6, 8]\n")
    return marker, write(tmp_path, TINY_WL, "w.yaml"), grid


@pytest.mark.slow
def test_a_lost_sweep_worker_is_retried_not_fatal(root, tmp_path, killer_sweep, capsys):
    """Issue 25, item 6: a worker killed in the middle of a --workers 2 sweep breaks the pool;
    the unfinished points run again on a fresh pool and the sweep finishes (was: a
    BrokenProcessPool traceback, exit 1)."""
    marker, wl, grid = killer_sweep
    code = main(["sweep", str(root / "arch" / "rram_64x64.yaml"), str(wl), "--grid", str(grid),
                 "--out", str(tmp_path / "s"), "--workers", "2"])
    err = capsys.readouterr().err
    assert marker.exists() and "a worker process died" in err, err
    assert code == 0 and [r["status"] for r in table(tmp_path / "s")] == ["done", "done"]


@pytest.mark.slow
def test_sweep_workers_end_with_their_parent(root, tmp_path):
    """Killing a sweep's main process (SIGKILL: no cleanup runs) ends its pool workers too;
    before, they and the resource tracker ran on as orphans."""
    import signal
    import subprocess
    import sys
    import time

    grid = write(tmp_path, "name: g\nset:\n  workload.phases.0.samples: 400\n"
                 "grid:\n  arch.adc.bits: [5, 6, 7, 8]\n")
    proc = subprocess.Popen([sys.executable, "-m", "cimsim", "-q", "sweep",
                             str(root / "arch" / "rram_64x64.yaml"),
                             str(root / "workloads" / "resnet_inference.yaml"), "--grid", str(grid),
                             "--out", str(tmp_path / "s"), "--workers", "2"])

    def children(pid):
        out = []
        for stat in os.listdir("/proc"):
            if stat.isdigit():
                try:
                    fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == pid:
                    out.append(int(stat))
        return out

    deadline = time.time() + 120
    while len(children(proc.pid)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    kids = children(proc.pid)
    assert len(kids) >= 2, "the sweep never started its workers"
    time.sleep(1.0)                                       # workers past their start-up
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    def running(pid):
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.time() + 20
    while time.time() < deadline and any(running(k) for k in kids):
        time.sleep(0.2)
    alive = [k for k in kids if running(k)]
    for k in alive:
        os.kill(k, signal.SIGKILL)
    assert not alive, f"orphans still running: {alive}"


@pytest.mark.slow
def test_a_lost_dask_worker_is_retried_not_fatal(root, tmp_path, killer_sweep):
    """The same on a dask LocalCluster: the nanny restarts the killed worker, the scheduler
    runs its task again, and the sweep finishes with every point done."""
    distributed = pytest.importorskip("distributed")
    marker, wl, grid = killer_sweep
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        code = main(["-q", "sweep", str(root / "arch" / "rram_64x64.yaml"), str(wl), "--grid", str(grid),
                     "--out", str(tmp_path / "s"), "--scheduler", cluster.scheduler_address])
    assert marker.exists()
    assert code == 0 and [r["status"] for r in table(tmp_path / "s")] == ["done", "done"]


def test_every_shipped_grid_resolves_against_the_files_its_header_names(root):
    """Each grid under workloads/sweeps/ names its command in its header; every point of it
    resolves to valid, distinct inputs, so a grid whose key path its workload lacks (or a
    workload edited under its grid) fails here, not hours into a study."""
    import re

    for path in sorted((root / "workloads" / "sweeps").glob("*.yaml")):
        m = re.search(r"cimsim sweep (\S+\.yaml) (\S+\.yaml)", path.read_text())
        assert m, f"{path.name}: its header names no `cimsim sweep ARCH WORKLOAD` command"
        grid = load_grid(path)
        points = runner.resolve(grid, runner.read_inputs(str(root / m[1]), str(root / m[2])), {})
        assert len(points) == len(grid.points) and {p.status for p in points} == {"pending"}, path.name
        assert len({p.key for p in points}) == len(points), path.name
    fashion = load_grid(root / "workloads" / "sweeps" / "lrt_fashion_grid.yaml")
    assert len(fashion.points) == 60 and fashion.swept[0] == "workload.seed"
    assert [p["workload.seed"] for p in fashion.points[:20]] == [0] * 20    # one whole seed first


STREAM_WL = """name: stream
seed: 0
model: {name: lrt_cnn, width: 6, hidden: 16}
pretrain: {epochs: 3, batch: 32, lr: 0.003}
phases:
  - name: adapt
    kind: train
    split: train
    samples: 150
    baseline: false
    algorithm: {name: lrt, rank: 2, batch_conv: 4, batch_fc: 8}
"""


def test_a_running_point_says_how_far_it_is(root, tmp_path, monkeypatch, capsys):
    """A local sweep's points are quiet, but each keeps its progress in
    points/HASH/progress.txt (its current bar), and the sweep says it every STATUS_EVERY_S
    without a finished point; the file is gone once the point is stored."""
    monkeypatch.setattr(runner, "STATUS_EVERY_S", 0.2)
    grid = write(tmp_path, "name: g\ngrid:\n  arch.adc.bits: [6, 8]\n")
    wl = write(tmp_path, STREAM_WL, "w.yaml")
    assert main(["sweep", str(root / "arch" / "rram_64x64.yaml"), str(wl), "--grid", str(grid),
                 "--out", str(tmp_path / "s"), "--workers", "2"]) == 0
    err = capsys.readouterr().err
    line = r"^point [01] \(bits=[68]\): online lrt: \d+/150 sample, \d+\.\d min in$"
    assert re.search(line, err, re.M), err
    assert [r["status"] for r in table(tmp_path / "s")] == ["done", "done"]
    assert not list((tmp_path / "s" / "points").glob("*/progress.txt"))


def test_watched_bars_report_every_step_even_when_quiet(tmp_path, monkeypatch):
    """progress.watched: an iterated bar and a hand-advanced one call the watcher at their
    start and after each step, under quiet too; PointWatch writes at a bar's start and then
    at most every WATCH_EVERY_S."""
    from cimsim import progress

    calls = []
    with progress.quiet(), progress.watched(lambda *a: calls.append(a)):
        assert list(progress.progress(range(3), "it", unit="x")) == [0, 1, 2]
        with progress.bar(10, "hand", unit="y") as b:
            b.update(4)
            b.update(6)
    assert calls == [("it", 0, 3, "x"), ("it", 1, 3, "x"), ("it", 2, 3, "x"), ("it", 3, 3, "x"),
                     ("hand", 0, 10, "y"), ("hand", 4, 10, "y"), ("hand", 10, 10, "y")]
    monkeypatch.setattr(runner, "WATCH_EVERY_S", 3600.0)
    path = tmp_path / "p" / "progress.txt"
    w = runner.PointWatch(str(path))
    w("adapt", 0, 150, "sample")
    assert path.read_text().startswith("adapt: 0/150 sample, 0.0 min in")
    w("adapt", 10, 150, "sample")                    # within WATCH_EVERY_S: not written
    assert path.read_text().startswith("adapt: 0/150 sample")
    w("after", 0, None, "batch")                     # a new bar: written
    assert path.read_text() == "after: 0/? batch, 0.0 min in\n"
