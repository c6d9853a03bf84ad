"""A run's independent work on local processes and on a dask cluster: the same report bytes,
located refusals before any work (unreachable scheduler, another cimsim version)."""
import json
import os
import subprocess
import sys
import time

import pytest

from cimsim import cluster
from cimsim.cli import main

WORKLOAD = """
name: tiny_cluster
seed: 0
model: {name: lrt_cnn, width: 6, hidden: 16}
pretrain: {epochs: 3, batch: 32, lr: 0.003}
phases:
  - {name: before, kind: inference, split: test, samples: 40, ci_chips: 3}
  - name: adapt
    kind: train
    split: train
    samples: 24
    window_samples: 8
    algorithm: {name: lrt, rank: 2, batch_conv: 4, batch_fc: 8}
    scenario: {kind: analog_drift, drift_sigma: 0.02, drift_every_samples: 5}
  - {name: mc, kind: monte_carlo, split: test, samples: 30, chips: 2, sigmas: [0.05], policies: [none, all]}
"""


def run(root, tmp_path, name, *extra):
    w = tmp_path / "w.yaml"
    w.write_text(WORKLOAD)
    out = tmp_path / name
    code = main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(out), *extra])
    assert code == 0
    return (out / "report.json").read_text()


def test_local_processes_and_a_dask_cluster_give_the_same_report(root, tmp_path):
    """Chips of the inference and Monte-Carlo phases and the train phase's baseline, sent to
    2 local processes and to a 2-worker LocalCluster: the report of the run in one process."""
    distributed = pytest.importorskip("dask.distributed")
    alone = run(root, tmp_path, "alone")
    assert run(root, tmp_path, "local", "--workers", "2") == alone.replace("alone", "local")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        dask = run(root, tmp_path, "dask", "--scheduler", c.scheduler_address)
    assert dask == alone.replace("alone", "dask")


def test_unreachable_scheduler_is_one_line_before_any_work(root, tmp_path, capsys, monkeypatch):
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    t0 = time.perf_counter()
    w = tmp_path / "w.yaml"
    w.write_text(WORKLOAD)
    code = main(["run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(tmp_path / "o"),
                 "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--scheduler tcp://127.0.0.1:9: cannot reach a dask scheduler there" in err
    assert time.perf_counter() - t0 < 30 and not (tmp_path / "o").exists()


def test_a_cluster_of_another_cimsim_version_is_refused(root, tmp_path, capsys, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.setattr(cluster, "__version__", "0.0.0-this")
    w = tmp_path / "w.yaml"
    w.write_text(WORKLOAD)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as c:
        code = main(["run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(tmp_path / "o"),
                     "--scheduler", c.scheduler_address])
    err = capsys.readouterr().err.strip()
    import cimsim
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"runs cimsim {cimsim.__version__}, this run is cimsim 0.0.0-this" in err


KILLER = """
import multiprocessing, os, pathlib, signal
from cimsim.device.nvm import RramDevice

marker = pathlib.Path({marker!r})
if multiprocessing.parent_process() is not None and not marker.exists():   # a worker, once
    marker.write_text("killed")
    os.kill(os.getpid(), signal.SIGKILL)


class Device(RramDevice):
    \"\"\"The built-in RRAM cell; its module kills the first worker process that imports it.\"\"\"
"""


def device_plugin_arch(root, tmp_path, monkeypatch, module, source):
    """tmp_path/arch.yaml: the 64x64 chip with its device model from `module` (written with
    `source` in tmp_path, importable here and in worker processes)."""
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CIMSIM_NO_IMPORT_PATHS", "")
    arch = tmp_path / "arch.yaml"
    arch.write_text((root / "arch" / "rram_64x64.yaml").read_text().replace(
        "  class: rram ", f'  class: "{module}:Device" ', 1))
    return arch


def test_a_worker_lost_mid_run_loses_and_repeats_nothing(root, tmp_path, monkeypatch):
    """The arch's device plugin kills the first cluster worker that loads the chip (as it
    receives the work); the nanny restarts it, the work is sent again, and the report is the
    one-process run's, every chip once."""
    distributed = pytest.importorskip("dask.distributed")
    marker = tmp_path / "killed.txt"
    # a module name of its own: test_sweep's killer module would stay imported under `killer`
    arch = device_plugin_arch(root, tmp_path, monkeypatch, "cluster_killer",
                              KILLER.format(marker=str(marker)))
    w = tmp_path / "w.yaml"
    w.write_text(WORKLOAD.split("  - name: adapt")[0])          # the inference phase of 3 chips
    args = ["-q", "run", str(arch), str(w)]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        assert main([*args, "--out", str(tmp_path / "dask"), "--scheduler", c.scheduler_address]) == 0
    assert marker.exists()
    assert main([*args, "--out", str(tmp_path / "alone")]) == 0
    dask = (tmp_path / "dask" / "report.json").read_text()
    assert dask == (tmp_path / "alone" / "report.json").read_text().replace("alone", "dask")
    assert len(json.loads(dask)["phases"][0]["accuracy_over_chips"]["per_chip"]) == 3


SHARDED = WORKLOAD.split("phases:")[0] + """phases:
  - {name: before, kind: inference, split: test, samples: 300, ci_chips: 1}
  - {name: again, kind: inference, split: test, samples: 130, ci_chips: 1}
  - name: adapt
    kind: train
    split: train
    samples: 24
    algorithm: {name: lrt, rank: 2, batch_conv: 4, batch_fc: 8}
"""


def test_image_shards_of_an_inference_phase_give_the_same_report(root, tmp_path, monkeypatch):
    """Issue 27, item 4: one chip's test images cut into shards of batches for 2 local processes
    and for a 2-worker LocalCluster (5 and 3 batches of 64: shards 3 + 2 and 2 + 1; a train
    phase's test after the stream, the 359 test images: 3 + 3): the report of the run in one
    process, byte for byte (the read noise of a batch is keyed by its position, and each
    phase's keys continue after the one before)."""
    distributed = pytest.importorskip("dask.distributed")
    from cimsim import functional

    monkeypatch.setattr(functional, "SHARD_MIN_BATCHES", 1)
    spans = []
    for cls in (cluster.LocalPool, cluster.DaskPool):
        def spy(self, job, items, desc, unit, _orig=cls.map):
            spans.append(list(items) if isinstance(job, functional.BatchRange) else None)
            return _orig(self, job, items, desc, unit)
        monkeypatch.setattr(cls, "map", spy)
    w = tmp_path / "w.yaml"
    w.write_text(SHARDED)

    def report(name, *extra):
        out = tmp_path / name
        arch = str(root / "arch" / "rram_64x64.yaml")
        assert main(["-q", "run", arch, str(w), "--out", str(out), *extra]) == 0
        return (out / "report.json").read_text()

    alone = report("alone")
    assert spans == []
    assert report("local", "--workers", "2") == alone.replace("alone", "local")
    assert spans == [[(0, 3), (3, 5)], [(0, 2), (2, 3)], [(0, 3), (3, 6)]]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        assert report("dask", "--scheduler", c.scheduler_address) == alone.replace("alone", "dask")
    assert spans[3:] == [[(0, 3), (3, 5)], [(0, 2), (2, 3)], [(0, 3), (3, 6)]]



LOCAL_KILLER = """
import os, pathlib, signal, sys
from cimsim.device.nvm import RramDevice

d = pathlib.Path({folder!r})
if "spawn_main" in " ".join(sys.orig_argv):          # a spawned worker process
    try:
        if not (d / "always").exists():
            os.rename(d / "arm", d / "fired")      # atomic: one worker takes it
        os.kill(os.getpid(), signal.SIGKILL)
    except FileNotFoundError:
        pass


class Device(RramDevice):
    \"\"\"The built-in RRAM cell; its module kills a worker process that imports it while armed.\"\"\"
"""
HANG_S = 600      # a guard, not a speed test: these runs take ~15 s; the old code hung for ever


@pytest.fixture
def local_killer(root, tmp_path, monkeypatch):
    """An arch whose device plugin kills the spawned worker that loads the chip while
    `tmp_path/arm` exists (one worker), or every worker while `tmp_path/always` exists."""
    return device_plugin_arch(root, tmp_path, monkeypatch, "local_killer",
                              LOCAL_KILLER.format(folder=str(tmp_path)))


def run_workers(*args):
    """`cimsim -q run ARGS --workers 2` in a child process (killed if it hangs)."""
    return subprocess.run([sys.executable, "-m", "cimsim", "-q", "run", *map(str, args), "--workers", "2"],
                          capture_output=True, text=True, timeout=HANG_S)


def test_a_local_worker_lost_mid_run_loses_and_repeats_nothing(local_killer, tmp_path):
    """`--workers 2`: a worker killed as it loads the job (the chips of an inference phase; a
    train phase's baseline, sent alone) has its items run again on a fresh pool: the report
    of the run in one process, every chip once. (It used to hang: the job went down the spawn
    pipe, which CPython < 3.14 keeps open in the parent, gh-118981.)"""
    header, adapt = WORKLOAD.split("  - name: adapt")
    train_only = header.split("  - {name: before")[0] + "  - name: adapt" + adapt.split("  - {name: mc")[0]
    for name, text in (("chips", header), ("baseline", train_only)):
        w = tmp_path / f"{name}.yaml"
        w.write_text(text)
        assert main(["-q", "run", str(local_killer), str(w), "--out", str(tmp_path / f"{name}_alone")]) == 0
        (tmp_path / "arm").write_text("")
        done = run_workers(local_killer, w, "--out", tmp_path / name)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "fired").exists() and not (tmp_path / "arm").exists()
        (tmp_path / "fired").unlink()
        got = (tmp_path / name / "report.json").read_text()
        assert got == (tmp_path / f"{name}_alone" / "report.json").read_text().replace(f"{name}_alone", name)
    assert len(json.loads((tmp_path / "chips" / "report.json").read_text())
               ["phases"][0]["accuracy_over_chips"]["per_chip"]) == 3


def test_local_workers_that_always_die_end_the_run_with_one_line(local_killer, tmp_path):
    """Every worker dies: after LOCAL_TRIES pools, one line and exit 2, no report."""
    w = tmp_path / "w.yaml"
    w.write_text(WORKLOAD.split("  - name: adapt")[0])
    (tmp_path / "always").write_text("")
    done = run_workers(local_killer, w, "--out", tmp_path / "out")
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"a worker process died on each of {cluster.LOCAL_TRIES} tries" in done.stderr
    assert not (tmp_path / "out" / "report.json").exists()
