"""benchmarks/reproduce_lrt.py end to end on a tiny stream: its table, its targets block and
its results folder (rows kept, reused on a rerun, keyed by the input files' contents)."""
import subprocess
import sys

import pytest


def reproduce(root, results, workload):
    cmd = [sys.executable, str(root / "benchmarks" / "reproduce_lrt.py"), "--samples", "12",
           "--scenarios", "control", "--rules", "sgd", "lrt", "--ranks", "4", "--workers", "1",
           "--skip-speed", "--results", str(results), "--workload", str(workload)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=root)
    return done.stdout


@pytest.mark.slow
def test_reproduce_lrt_keeps_and_reuses_rows(root, tmp_path, trained):
    workload = tmp_path / "lrt.yaml"
    workload.write_text((root / "workloads" / "resnet_lrt.yaml").read_text())
    first = reproduce(root, tmp_path / "rows", workload)
    rows = [ln for ln in first.splitlines() if ln.startswith("control ")]
    assert [ln.split()[1] for ln in rows[:2]] == ["sgd", "lrt"]
    assert "control: |LRT - sgd| accuracy <= 0.05" in first
    kept = sorted((tmp_path / "rows").glob("*.json"))
    assert len(kept) == 2 and not list((tmp_path / "rows").glob("*.tmp"))
    # a rerun prints the kept rows, wall times included (nothing is run again)
    assert reproduce(root, tmp_path / "rows", workload) == first
    # an edited workload file is a different study: its rows are computed anew
    workload.write_text(workload.read_text() + "\n# edited\n")
    reproduce(root, tmp_path / "rows", workload)
    assert len(list((tmp_path / "rows").glob("*.json"))) == 4


def test_kept_rows_are_keyed_by_cimsim_source(root, tmp_path):
    """A change to any source file of the package changes the key of every kept row."""
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from reproduce_lrt import source_digest
    finally:
        sys.path.pop(0)
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    (pkg / "notes.txt").write_text("not source")
    first = source_digest(pkg)
    (pkg / "notes.txt").write_text("edited, still not source")
    assert source_digest(pkg) == first
    (pkg / "sub" / "b.py").write_text("y = 3\n")
    assert source_digest(pkg) != first


def test_bench_mvm_runs_on_the_current_api(root, capsys, monkeypatch):
    """The kernel benchmark's case runs against today's arch and encoding API (its figures are
    printed, never asserted: speed is measured in benchmarks/, not in tests)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_mvm", root / "benchmarks" / "bench_mvm.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "timings", lambda fn, repeat=15: (fn(), (1.0, 1.0))[1])
    from cimsim.config.arch import ArchSpec

    bench.case("tiny", 8, 64, 8, ArchSpec(), True, inl=0.5)
    assert "ratio" in capsys.readouterr().out


def test_peer_parity_measures_what_its_table_says(root):
    """One cell of benchmarks/peer_parity.py: at zero programming error and 8 bits, per-slice
    ranges beat one range per layer (docs/results/peer_parity.md: 0.0067 vs 0.0117), and
    CrossSim's convention equals cimsim's per-array one (nothing to clip at sigma 0)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("peer_parity", root / "benchmarks" / "peer_parity.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    conventions = ("per_layer", "per_slice", "per_array", "crosssim")
    err = {c: bench.rel_error(c, 64, 64, 0.0, 8, True, 0) for c in conventions}
    assert err["per_slice"] < 0.7 * err["per_layer"] < 0.02
    assert err["crosssim"] == err["per_array"]


@pytest.mark.slow
def test_compare_training_tunes_then_tabulates(root, tmp_path, trained):
    """benchmarks/compare_training.py on a tiny stream: the rate of each learning method is the
    best of its grid by mean online accuracy; each table row is the mean over seeds, with the
    learning energy taken against the no-learning run of the same seed; rows are kept."""
    cmd = [sys.executable, str(root / "benchmarks" / "compare_training.py"), "--samples", "8", "--seeds", "2",
           "--chips", "rram", "--methods", "sgd", "none", "--scenarios", "control", "--workers", "1",
           "--results", str(tmp_path / "rows")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=root).stdout
    tune = next(ln for ln in out.splitlines() if ln.strip().startswith("rram  sgd"))
    rates = [float(x.split(":")[0]) for x in tune.split("lr ")[1:]]
    accs = [float(x.split(":")[1].split()[0]) for x in tune.split("lr ")[1:]]
    assert rates == [0.001, 0.003, 0.01, 0.03] and float(tune.split("-> ")[1]) == rates[accs.index(max(accs))]
    rows = {ln.split()[2]: ln.split("  ") for ln in out.splitlines() if ln.startswith("rram  control")}
    assert set(rows) == {"sgd", "none"}
    assert rows["none"][9] == "0.0" and rows["none"][6] == "0"          # no writes, no learning energy
    assert len(list((tmp_path / "rows").glob("*.json"))) == 4 + 4


def test_lrt_grid_table_means_over_seeds(root, tmp_path, trained, capsys):
    """benchmarks/lrt_grid_table.py on sweep points made from one real report with known
    figures: per-term SGD is its own column, means and population std over seeds by hand, a
    cell with fewer seeds says so, the gap line, and an empty folder is exit status 2."""
    import copy
    import json

    from cimsim.cli import main as cli

    run = tmp_path / "run"
    sets = [f"workload.phases.{i}.samples={n}" for i, n in enumerate((10, 12, 10))]
    files = [str(root / "arch" / "rram_64x64.yaml"), str(root / "workloads" / "resnet_lrt.yaml")]
    assert cli(["-q", "run", *files, "--out", str(run)] + [a for s in sets for a in ("--set", s)]) == 0
    base = json.loads((run / "report.json").read_text())
    capsys.readouterr()
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        import lrt_grid_table as table
    finally:
        sys.path.pop(0)
    assert table.main([str(tmp_path / "empty")]) == 2
    points = {("sgd", "term", 0): (0.50, 40), ("sgd", "term", 1): (0.70, 60), ("lrt", "sample", 0): (0.80, 4),
              ("lrt", "sample", 1): (0.90, 6), ("lrt", "sample", 2): (0.85, 5)}
    for i, ((name, step, seed), (ema, writes)) in enumerate(points.items()):
        rep = copy.deepcopy(base)
        rep["inputs"]["workload"]["spec"]["seed"] = seed
        algo = rep["inputs"]["workload"]["spec"]["phases"][1]["algorithm"]
        algo.update(name=name, sgd_step=step)
        rep["phases"][1]["accuracy"]["online_ema_final"] = ema
        rep["phases"][1]["writes"]["max_per_cell"] = writes
        d = tmp_path / "sweep" / "points" / f"p{i}"
        d.mkdir(parents=True)
        (d / "report.json").write_text(json.dumps(rep))
    assert table.main([str(tmp_path / "sweep")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("5 finished point(s)")
    scenario = base["phases"][1]["scenario"].replace("_", " ")
    row = next(ln for ln in text.splitlines() if ln.startswith(f"| {scenario} |") and "/" in ln)
    assert "| sgd_term (per term) | lrt |" in text and "sgd (per sample)" not in text
    sgd_cell, lrt_cell = row.split(" | ")[1:3]
    assert sgd_cell.startswith("0.600 +- 0.100 (n=2) (") and sgd_cell.split("; ")[1].startswith("50 / ")
    assert lrt_cell.startswith("0.850 +- 0.041 (") and lrt_cell.split("; ")[1].startswith("5 / ")
    assert f"{scenario}: LRT - sgd_term +25.0 points EMA" in text
