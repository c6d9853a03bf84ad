"""Bad input never gives a traceback or a late failure (issue 17's regressions fixed so far):
non-finite and oversized numbers, malformed --set forms, unsafe names, an unusable output
folder (refused before any work), file modes, and a corrupt model cache that heals."""
import json
import os
import stat
import textwrap

import numpy as np
import pytest

from cimsim.cli import main
from cimsim.pretrain import cache_dir, pretrain_key

TINY = textwrap.dedent("""\
    name: tiny
    seed: 0
    dataset: {name: digits, image_size: 8}
    model: {layers: [{type: flatten}, {type: linear, out_features: 16}, {type: relu}, {type: linear}]}
    pretrain: {epochs: 1}
    phases:
      - {name: t, kind: inference, samples: 16}
    """)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    wl = tmp_path / "tiny.yaml"
    wl.write_text(TINY)
    return wl


@pytest.mark.parametrize("override, key", [
    ("arch.adc.energy_pj=.nan", "adc.energy_pj"),
    ("arch.clock_mhz=.inf", "clock_mhz"),
    ("arch.clock_mhz=1.0e-300", "clock_mhz"),            # a report of NaN seconds before (fuzzing)
    ("arch.adc.range_fraction=.nan", "adc.range_fraction"),
    ("arch.device.endurance_cycles=1e400", "device.endurance_cycles"),
    ("arch.write_driver.parallel_cells=1180591620717411303424", "write_driver.parallel_cells"),
    ("arch.write_driver.per_tile=1180591620717411303424", "write_driver.per_tile"),
    ("arch.chip.tiles=99999999999", "chip.tiles"),
    ("workload.pretrain.lr=.nan", "pretrain.lr"),
    ("workload.pretrain.lr=.inf", "pretrain.lr"),
    ("workload.phases.0.samples=99999999999", "phases[0].samples"),
    ("arch.tile.params=5", "tile.params"),
    ("arch.tile.params=[[1]]", "tile.params"),
    ("workload.phases.5=1", "phases.5"),
    ("arch.name=../../etc/x", "name"),
    ("workload.name=a/b", "name"),
])
def test_bad_values_are_one_located_line(tiny, root, tmp_path, capsys, override, key):
    out = tmp_path / "out"
    rc = main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(tiny), "--out", str(out),
               "--set", override])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and key in err, err
    assert not (tmp_path / "cache").exists()                    # refused before any work
    assert not out.exists()


def test_unusable_output_folder_is_refused_before_the_work(tiny, root, tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_text("x")
    assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(tiny), "--out", str(f)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is a file" in err and err.count("\n") == 1
    assert not (tmp_path / "cache").exists()
    assert f.read_text() == "x"


def test_outputs_have_the_usual_mode_and_overrides_get_their_own_folder(tiny, root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    arch = str(root / "arch" / "rram_64x64.yaml")
    assert main(["-q", "run", arch, str(tiny)]) == 0
    assert main(["-q", "run", arch, str(tiny), "--set", "arch.adc.bits=6"]) == 0
    folders = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert folders[0] == "rram_64x64__tiny" and folders[1].startswith("rram_64x64__tiny__set-")
    rep = json.loads((tmp_path / "results" / folders[1] / "report.json").read_text())
    assert rep["inputs"]["overrides"] == {"arch.adc.bits": 6}         # the value set, not its text
    umask = os.umask(0)
    os.umask(umask)
    for p in (tmp_path / "results" / folders[0]).iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p


def test_a_corrupt_model_cache_is_rebuilt_with_a_warning(tiny, root, tmp_path, capsys):
    from cimsim.config import load_arch, load_workload

    arch = str(root / "arch" / "rram_64x64.yaml")
    assert main(["-q", "run", arch, str(tiny), "--out", str(tmp_path / "a")]) == 0
    key = pretrain_key(load_workload(tiny).spec, load_arch(arch).spec)
    cached = cache_dir() / f"pretrain-{key[:24]}.npz"
    good = cached.read_bytes()
    for bad in (good[: len(good) // 2], b"garbage", b""):
        cached.write_bytes(bad)
        capsys.readouterr()
        assert main(["-q", "run", arch, str(tiny), "--out", str(tmp_path / "b")]) == 0
        assert "cached model" in capsys.readouterr().err
        assert cached.read_bytes() == good                     # rebuilt, identically
        assert (tmp_path / "b" / "report.json").read_bytes() == (tmp_path / "a" / "report.json").read_bytes()
    cached.unlink()
    os.mkfifo(cached)                                           # would block a reader forever
    assert main(["-q", "run", arch, str(tiny), "--out", str(tmp_path / "b")]) == 0
    assert "a regular .npz file" in capsys.readouterr().err
    assert cached.is_file() and cached.read_bytes() == good     # the FIFO replaced by the model


LAUGHS = "".join(f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9 if p else ["x"] * 9) + "]\n"
                 for p, c in zip([""] + list("abcdefgh"), "abcdefghi"))


@pytest.mark.parametrize("text, expected", [
    (LAUGHS, "at most 200000 values"),                          # "billion laughs": 9^9 values
    ("name: &a [*a]\n", "nesting of at most"),                  # recursive alias
    ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nesting of at most"),
    ("name: w\nseed: !!int abc\n", "seed: expected a valid int"),
    ("name: w\nclock_mhz: !!float xyz\n", "clock_mhz: expected a valid float"),
    ("name: !foo bar\n", "plain YAML values"),
    ("name: !!python/name:os.system x\n", "plain YAML values"),
    ("base: &b {rows: 4}\ncrossbar:\n  <<: *b\n", "no merge keys"),
    ('name: "\\ud800"\nphases: [{name: t}]\n', "lone surrogates"),
])
def test_hostile_yaml_is_one_located_line(tmp_path, capsys, text, expected):
    p = tmp_path / "x.yaml"
    p.write_text(text, encoding="utf-8")
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err, err


def test_special_files_and_oversized_files_are_refused(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)                                              # would block a reader forever
    big = tmp_path / "big.yaml"
    big.write_text("name: w\n" + "# " + "x" * (5 << 20) + "\n")
    cases = ((fifo, "a regular file"), ("/dev/zero", "a regular file"), (tmp_path, "a regular file"),
             (big, "at most 4 MiB"))
    for p, expected in cases:
        assert main(["validate", str(p)]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_a_new_run_removes_only_the_stale_files_of_an_earlier_one(tiny, root, tmp_path):
    """Run 1 draws figures; run 2 into the same folder without --plot removes them (they
    would describe run 1), keeps a user's own file, and lists what it wrote."""
    out = tmp_path / "out"
    arch = str(root / "arch" / "rram_64x64.yaml")
    assert main(["-q", "run", arch, str(tiny), "--out", str(out), "--plot"]) == 0
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs
    (out / "my_notes.txt").write_text("mine")
    assert main(["-q", "run", arch, str(tiny), "--out", str(out)]) == 0
    assert not list(out.glob("*.png"))
    assert (out / "my_notes.txt").read_text() == "mine"
    listed = json.loads((out / "cimsim-manifest.json").read_text())["files"]
    assert "report.json" in listed and "my_notes.txt" not in listed
    assert set(listed) == {p.name for p in out.iterdir()} - {"my_notes.txt", "cimsim-manifest.json"}
    assert main(["-q", "plot", str(out)]) == 0                        # plot adds to the list
    listed = json.loads((out / "cimsim-manifest.json").read_text())["files"]
    assert set(pngs) <= set(listed)


def test_a_cached_model_with_changed_values_is_caught_by_its_hash(tiny, root, tmp_path, capsys):
    """A cache file that still parses but whose weights changed (bit rot, a hand edit) fails
    its content hash and is rebuilt."""
    import numpy as np

    from cimsim.config import load_arch, load_workload

    arch = str(root / "arch" / "rram_64x64.yaml")
    assert main(["-q", "run", arch, str(tiny), "--out", str(tmp_path / "a")]) == 0
    key = pretrain_key(load_workload(tiny).spec, load_arch(arch).spec)
    cached = cache_dir() / f"pretrain-{key[:24]}.npz"
    good = cached.read_bytes()
    with np.load(cached) as z:
        arrays = {k: z[k] for k in z.files}
    name = next(k for k in arrays if k.endswith(".W"))
    arrays[name] = arrays[name] + 1.0
    with open(cached, "wb") as f:
        np.savez(f, **arrays)
    capsys.readouterr()
    assert main(["-q", "run", arch, str(tiny), "--out", str(tmp_path / "b")]) == 0
    assert "content hash" in capsys.readouterr().err
    assert cached.read_bytes() == good


def test_every_command_refuses_an_output_path_that_is_a_file(root, tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_text("x")
    rep = tmp_path / "rep"
    rep.mkdir()
    from cimsim.results import ModelInfo, RunReport

    empty = RunReport(cimsim_version="0", inputs={}, model=ModelInfo("m", 0, None, None), mapping={}, area={},
                      cost_table=[], deploy={}, phases=[])
    (rep / "report.json").write_text(json.dumps(empty.to_json()))
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\ngrid:\n  arch.adc.bits: [6, 8]\n")
    arch, wl = str(root / "arch" / "rram_64x64.yaml"), str(root / "workloads" / "resnet_inference.yaml")
    for argv in (["sweep", arch, wl, "--grid", str(grid), "--out", str(f)],
                 ["plot", str(rep), "--out", str(f)],
                 ["compare", str(rep), str(rep), "--out", str(f)]):
        assert main(["-q", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert "is a file" in err and err.count("\n") == 1, err
    assert f.read_text() == "x"


def test_names_that_become_paths_stay_inside_the_output_folder(root, tmp_path, capsys):
    """One file-name rule for every name that reaches a path (issue 25, item 1): a phase or
    grid name with separators, '..', NUL or 300 characters is refused when the file loads,
    a received report.json with one is refused by `cimsim plot`, and every output path is
    checked again where it is made (symlinks included)."""
    from cimsim.config import load_workload
    from cimsim.errors import ConfigError
    from cimsim.report.plots import save_figures
    from cimsim.results import ModelInfo, RunReport
    from cimsim.sweep.grid import load_grid
    from cimsim.util import inside

    w = root / "workloads" / "resnet_inference.yaml"
    for bad in ("../../../../x", "/abs/x", "a/b", "x\0y", "x" * 300, ".hidden"):
        with pytest.raises(ConfigError, match=r"phases\[0\]\.name: expected 1-100 letters"):
            load_workload(w, values={"phases.0.name": bad})
    g = tmp_path / "g.yaml"
    g.write_text('name: "x/../../../../evil"\ngrid:\n  arch.adc.bits: [6, 8]\n')
    with pytest.raises(ConfigError, match="name: expected 1-100 letters"):
        load_grid(g)
    # a received report whose phase name climbs out: refused, nothing written anywhere
    empty = RunReport(cimsim_version="0", inputs={}, model=ModelInfo("m", 0, None, None), mapping={},
                      area={}, cost_table=[], deploy={}, phases=[]).to_json()
    rep = tmp_path / "rep"
    rep.mkdir()
    empty["phases"] = [{"name": "../../../x", "kind": "inference"}]
    (rep / "report.json").write_text(json.dumps(empty))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["plot", str(rep)]) == 2
    assert "phases.0.name" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    # the last guard where a path is made
    out = tmp_path / "out"
    out.mkdir()
    (out / "link.png").symlink_to(tmp_path / "elsewhere.png")
    for name in ("../x.png", "/etc/x.png", "link.png", "a\0b.png", "y" * 250 + ".png"):
        with pytest.raises(ValueError):
            inside(out, name)
    assert inside(out, "latency_test.png") == out / "latency_test.png"
    from cimsim.errors import CimsimError
    from cimsim.report.plots import plt

    with pytest.raises(CimsimError, match="figure '../x'"):
        save_figures({"../x": plt.figure()}, out)
    assert not (tmp_path / "x.png").exists()


NPZ_MLP = """\
name: npz_mlp
dataset: {path: data.npz}
model: {layers: [{type: linear, out_features: 8}, {type: relu}, {type: linear}]}
pretrain: {epochs: 1, batch: 16}
phases: [{name: test, kind: inference, ci_chips: 1}]
"""


def _npz(path, seed):
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.random((40, 12), np.float32), y_train=rng.integers(0, 3, 40),
             x_test=rng.random((10, 12), np.float32), y_test=rng.integers(0, 3, 10))


def test_cache_keys_cover_the_contents_of_the_files_a_run_reads(root, tmp_path, monkeypatch, capsys):
    """Two workloads naming `data.npz` in different folders train (and cache) different
    models; a sweep point's hash changes with the file; the report records the file's hash;
    a cache entry copied over another's name is rebuilt, not trusted (issue 25, item 3)."""
    from cimsim.config import load_workload
    from cimsim.nn.network import input_hashes, workload_data
    from cimsim.pretrain import pretrain_key, pretrained_model
    from cimsim.sweep.runner import input_hash

    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    specs = []
    for folder, seed in (("a", 1), ("b", 2)):
        (tmp_path / folder).mkdir()
        _npz(tmp_path / folder / "data.npz", seed)
        (tmp_path / folder / "w.yaml").write_text(NPZ_MLP)
        specs.append(load_workload(tmp_path / folder / "w.yaml"))
    (a, b) = specs
    ha, hb = input_hashes(a.spec, a.path), input_hashes(b.spec, b.path)
    assert set(ha) == {"dataset.path"} and ha != hb
    assert pretrain_key(a.spec, None, ha) != pretrain_key(b.spec, None, hb)
    assert input_hash(None, a.spec, ha) != input_hash(None, b.spec, hb)
    net_a, cached = pretrained_model(a.spec, workload_data(a.spec, a.path), None, a.path)
    assert not cached
    assert pretrained_model(a.spec, workload_data(a.spec, a.path), None, a.path)[1]      # now cached
    net_b, cached_b = pretrained_model(b.spec, workload_data(b.spec, b.path), None, b.path)
    assert not cached_b                                                # not a's model
    # a's entry copied over b's name: its stored key differs, so b is trained again
    cache = tmp_path / "cache"
    key_a = pretrain_key(a.spec, None, ha)[:24]
    key_b = pretrain_key(b.spec, None, hb)[:24]
    (cache / f"pretrain-{key_b}.npz").write_bytes((cache / f"pretrain-{key_a}.npz").read_bytes())
    capsys.readouterr()
    assert not pretrained_model(b.spec, workload_data(b.spec, b.path), None, b.path)[1]
    assert "stored key differs" in capsys.readouterr().err
    # the report records the data file's hash
    out = tmp_path / "out"
    assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(tmp_path / "a" / "w.yaml"),
                 "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["inputs"]["workload"]["files_sha256"] == ha


def test_plot_and_compare_refuse_malformed_reports_before_writing(root, tmp_path, capsys):
    """Issue 25, item 5 (part): a report.json whose free-form parts (inputs, deploy, timeline
    or node rows) are malformed is one located message with exit 2, and nothing is written."""
    w = tmp_path / "mlp.yaml"
    w.write_text("name: mlp\ndataset: {name: synthetic, shape: [16], test_samples: 2}\n"
                 "model: {layers: [{type: linear}]}\ndeploy: {functional: false}\n"
                 "phases: [{name: t, kind: inference}]\n")
    run = tmp_path / "run"
    assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(run)]) == 0
    good = json.loads((run / "report.json").read_text())
    ph = good["phases"][0]
    bad_timeline = {**ph, "latency": {**ph["latency"], "timeline": [{}]}}
    for name, data in (("inputs", {**good, "inputs": {}}),
                       ("deploy", {**good, "deploy": {"energy": "x"}}),
                       ("timeline", {**good, "phases": [bad_timeline]}),
                       ("nodes", {**good, "phases": [{**ph, "nodes": [{"a": 1}]}]})):
        d = tmp_path / name
        d.mkdir()
        (d / "report.json").write_text(json.dumps(data))
        assert main(["plot", str(d)]) == 2, name
        err = capsys.readouterr().err
        assert "expected a report.json written by this version" in err and "Traceback" not in err
        assert sorted(p.name for p in d.iterdir()) == ["report.json"]
        assert main(["compare", str(d), str(run), "--out", str(tmp_path / f"c_{name}")]) in (0, 2)
        assert "Traceback" not in capsys.readouterr().err


def _zip_member(z, name, header, body):
    import io

    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(b, header)
    z.writestr(name, b.getvalue() + body)


def _hostile_npz(tmp_path):
    """(name, path, expected text): npz inputs that gave a traceback, a hang or gigabytes."""
    import zipfile

    rng = np.random.default_rng(0)
    ok = dict(x_train=rng.random((40, 12), np.float32), y_train=rng.integers(0, 3, 40),
              x_test=rng.random((10, 12), np.float32), y_test=rng.integers(0, 3, 10))
    cases = []

    def case(name, expected, **arrays):
        p = tmp_path / f"{name}.npz"
        np.savez(p, **{**ok, **arrays})
        cases.append((name, p, expected))

    case("inf labels", "y_train: expected integer class labels", y_train=np.full(40, np.inf))
    case("1e30 labels", "class indices below 100,000", y_train=np.full(40, 1e30))
    case("1e12 labels", "class indices below 100,000", y_train=np.full(40, 1e12))
    case("uint64 max labels", "class indices below 100,000", y_train=np.full(40, 2**64 - 1, np.uint64))
    case("zero features", "x_train: expected a non-empty real-valued array",
         x_train=np.zeros((40, 0), np.float32), x_test=np.zeros((10, 0), np.float32))
    case("complex inputs", "real-valued", x_train=ok["x_train"].astype(np.complex64))
    np.save(tmp_path / "plain.npy", ok["x_train"])
    os.replace(tmp_path / "plain.npy", tmp_path / "npy.npz")
    cases.append(("a .npy named .npz", tmp_path / "npy.npz", "File is not a zip file"))
    (tmp_path / "empty.npz").write_bytes(b"")
    cases.append(("empty file", tmp_path / "empty.npz", "File is not a zip file"))
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:   # 2 MiB of zeros
        for k in ("y_train", "x_test", "y_test"):
            np.save(tmp_path / "m.npy", ok[k])
            z.write(tmp_path / "m.npy", f"{k}.npy")
        _zip_member(z, "x_train.npy", {"descr": "<f4", "fortran_order": False, "shape": (512, 1024)},
                    bytes(2 << 20))
    cases.append(("zip bomb", tmp_path / "bomb.npz", "uncompressed ($CIMSIM_MAX_INPUT_BYTES)"))
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as z:          # a header claiming 4 TB
        for k in ("y_train", "x_test", "y_test"):
            np.save(tmp_path / "m.npy", ok[k])
            z.write(tmp_path / "m.npy", f"{k}.npy")
        _zip_member(z, "x_train.npy", {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)},
                    bytes(100))
    cases.append(("lying header", tmp_path / "liar.npz", "claims 4,000,000,000,000 bytes"))
    os.mkfifo(tmp_path / "fifo.npz")
    cases.append(("FIFO", tmp_path / "fifo.npz", "a regular .npz file"))
    cases.append(("/dev/zero", "/dev/zero", "a regular .npz file"))
    return cases


def test_hostile_npz_files_are_one_located_line(root, tmp_path, monkeypatch, capsys):
    """Issue 25, items 4 and 5: each npz case is one located line with exit 2 (no traceback,
    no hang, no gigabytes: the zip bomb is refused from its directory, under a 1 MiB cap)."""
    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CIMSIM_MAX_INPUT_BYTES", str(1 << 20))
    arch = str(root / "arch" / "rram_64x64.yaml")
    for name, path, expected in _hostile_npz(tmp_path):
        wl = tmp_path / "w.yaml"
        wl.write_text(NPZ_MLP.replace("data.npz", str(path)))
        assert main(["-q", "run", arch, str(wl), "--out", str(tmp_path / "out")]) == 2, name
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1 and "Traceback" not in err, (name, err)
        assert not (tmp_path / "out").exists(), name


def test_npz_reader_keeps_values_and_memory_order(tmp_path):
    """The bounded reader returns what numpy.load returns, Fortran-ordered arrays included."""
    from cimsim.nn.files import read_npz

    rng = np.random.default_rng(1)
    arrays = {"a": np.asfortranarray(rng.random((3, 4, 5))), "b": rng.integers(0, 9, 7).astype(np.uint8),
              "c": np.array("text")}
    np.savez_compressed(tmp_path / "x.npz", **arrays)
    got = read_npz(tmp_path / "x.npz", "f", "k", "x.npz")
    with np.load(tmp_path / "x.npz") as ref:
        for k in arrays:
            assert got[k].dtype == ref[k].dtype and np.array_equal(got[k], ref[k]), k


def test_a_busy_output_folder_is_refused_and_outputs_appear_together(tiny, root, tmp_path, capsys):
    """Issue 25, item 6: a second command into a folder another holds is refused at once;
    outputs go through a staging folder and one commit, so a kill after the commit is
    finished by the next command, and killed commands' temp files are cleaned."""
    from cimsim.report.outdir import COMMIT, OutputFolder

    out = tmp_path / "out"
    arch = str(root / "arch" / "rram_64x64.yaml")
    with OutputFolder(out):
        assert main(["-q", "run", arch, str(tiny), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "no other cimsim command is writing to" in err and err.count("\n") == 1, err
    assert not out.exists()                                  # created empty, removed with the lock
    assert main(["-q", "run", arch, str(tiny), "--out", str(out)]) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert not [n for n in first if n.startswith(".")]       # no staging folder or temp file left
    # a command killed after its commit (files still in .cimsim-commit) and one killed while
    # writing (a staging folder, a temp file of atomic_write): the next command tidies both
    with OutputFolder(out) as folder:
        stage = folder.stage()
        (stage / "report.json").write_text("{}")
        folder.commit(stage, replace=True)
        (out / ".cimsim-stage-deadbeef").mkdir()
        (out / ".report.json.ab12cd34.tmp").write_text("half")
        (out / ".notes.tmp").write_text("a user's file")
    assert (out / COMMIT).is_dir()
    with OutputFolder(out):
        pass
    names = {p.name for p in out.iterdir()}
    assert names == {"report.json", "cimsim-manifest.json", ".notes.tmp"}, names
    assert (out / "report.json").read_text() == "{}"          # the committed set, whole
    assert json.loads((out / "cimsim-manifest.json").read_text())["files"] == ["report.json"]


def test_a_full_disk_is_one_line_and_keeps_the_earlier_outputs(tiny, root, tmp_path):
    """Issue 25, item 5: writing the outputs fails (here: a file size limit, as a full disk
    would) -> one line, exit 2, and the folder holds the earlier run's files unchanged."""
    import resource
    import signal
    import subprocess
    import sys

    out = tmp_path / "out"
    arch = str(root / "arch" / "rram_64x64.yaml")
    assert main(["-q", "run", arch, str(tiny), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)            # EFBIG instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    r = subprocess.run([sys.executable, "-m", "cimsim", "-q", "run", arch, str(tiny), "--out", str(out),
                        "--set", "workload.phases.0.samples=8"], capture_output=True, text=True,
                       preexec_fn=small_files, env={**os.environ})
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "room for the outputs" in r.stderr and "File too large" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_validation_and_cost_only_runs_allocate_no_weights_or_inputs(tmp_path):
    """Issue 25, item 4: a shapes-only network of a 3000 x 100000 linear layer (1.2 GB of
    float32 weights, 2.4 GB of float64 draws before) and 2,000 synthetic 224x224x3 inputs
    (1.2 GB) take under 20 MB (tracemalloc sees numpy's allocations); a shapes-only weight
    refuses to be computed with."""
    import tracemalloc

    from cimsim.config import load_workload
    from cimsim.nn.network import untrained_net, workload_data

    wl = tmp_path / "w.yaml"
    wl.write_text("name: big\ndataset: {name: synthetic, shape: [3000], test_samples: 2}\n"
                  "model: {layers: [{type: linear, out_features: 100000}, {type: relu}, {type: linear}]}\n"
                  "deploy: {functional: false}\nphases: [{name: t, kind: inference}]\n")
    w = load_workload(wl)
    tracemalloc.start()
    try:
        net = untrained_net(w.spec, workload_data(w.spec, w.path, shapes_only=True), w.path, shapes_only=True)
        img = load_workload(wl, {"dataset.shape": "[3, 224, 224]", "dataset.train_samples": "2000",
                                 "model.layers": "[{type: flatten}, {type: linear}]"})
        data = workload_data(img.spec, img.path, shapes_only=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"{peak / 2**20:.0f} MiB"
    assert net.weight_layers()[0].W.shape == (3000, 100000) and data.x_train.shape == (2000, 224, 224, 3)
    assert data.nonneg
    with pytest.raises(ValueError, match="read-only"):
        net.weight_layers()[0].W[0, 0] = 1.0


def test_cores_follow_affinity_and_the_cgroup_quota(tmp_path, monkeypatch):
    """Issue 25, item 9: the cores a process may use are its affinity capped by its cgroup's
    CPU quota (v2 cpu.max or v1 cfs files); idle BLAS/OpenMP threads are told not to spin."""
    import cimsim  # noqa: F401 - sets the thread environment on import
    from cimsim import workers

    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert workers.cgroup_cores(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert workers.cgroup_cores(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert workers.cgroup_cores(tmp_path) == 3.0
    monkeypatch.setattr(workers, "cgroup_cores", lambda: 1.5)
    assert workers.available_cores() == 1
    monkeypatch.setattr(workers, "cgroup_cores", lambda: None)
    assert workers.available_cores() == len(os.sched_getaffinity(0))
    for k in (*workers.QUIET_THREADS, "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")                   # a user's own choice is kept
    monkeypatch.setattr(workers, "cgroup_cores", lambda: 1.5)    # a container of 1.5 CPUs
    workers.quiet_waiting_threads()
    assert os.environ["OPENBLAS_THREAD_TIMEOUT"] == "4" and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1" and os.environ["OMP_NUM_THREADS"] == "7"


def test_a_non_finite_report_number_is_one_error_naming_its_key():
    from cimsim.errors import CimsimError
    from cimsim.report.writer import dumps

    with pytest.raises(CimsimError, match=r"report key phases\.0\.latency\.s"):
        dumps({"phases": [{"latency": {"cycles": 3, "s": float("nan")}}]})
    assert dumps({"a": [1.0]}) == '{\n "a": [\n  1.0\n ]\n}\n'


PLUGIN_MODEL = """
from cimsim.config.workload import LayerSpec
from cimsim.nn.models import NetworkModel


class Tiny(NetworkModel):
    def layers(self, spec, classes):
        return [LayerSpec(type="flatten"), LayerSpec(type="linear", out_features={width}),
                LayerSpec(type="relu"), LayerSpec(type="linear", out_features=classes)]
"""


def test_a_changed_plugin_is_a_changed_input(root, tmp_path, monkeypatch):
    """Issue 25, item 3: the source of a plugin named by import path is part of the model
    cache key and of a sweep point's hash, so editing the plugin never reuses a model or a
    point built with the old code; with import paths refused nothing is imported to hash."""
    import sys

    from cimsim import plugins
    from cimsim.config import load_workload
    from cimsim.nn.network import input_hashes
    from cimsim.sweep.runner import input_hash

    monkeypatch.syspath_prepend(str(tmp_path))
    mod = tmp_path / "pmod_hash.py"
    mod.write_text(PLUGIN_MODEL.format(width=8))
    wl = tmp_path / "w.yaml"
    wl.write_text(TINY.replace("model: {layers: [{type: flatten}, {type: linear, out_features: 16}, "
                               "{type: relu}, {type: linear}]}", 'model: {name: "pmod_hash:Tiny"}'))
    w = load_workload(wl)
    first = input_hashes(w.spec, w.path)
    assert set(first) == {"plugin pmod_hash"}
    key1 = (pretrain_key(w.spec, None, first), input_hash(None, w.spec, first))
    mod.write_text(PLUGIN_MODEL.format(width=9))
    sys.modules.pop("pmod_hash", None)
    second = input_hashes(w.spec, w.path)
    assert second != first
    key2 = (pretrain_key(w.spec, None, second), input_hash(None, w.spec, second))
    assert key1[0] != key2[0] and key1[1] != key2[1]
    with plugins.no_import_paths():
        assert input_hashes(w.spec, w.path) == {}
    assert "pmod_hash" not in sys.modules                       # hashed from its file, not imported
