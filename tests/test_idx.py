"""MNIST-format (IDX) datasets: the real Fashion-MNIST files (Debian's dataset-fashion-mnist,
installed by .ci/run), and hand-made IDX files for the reader's checks."""
import gzip
import hashlib
import os
import struct
import textwrap

import numpy as np
import pytest

from cimsim.config import load_workload
from cimsim.errors import ConfigError
from cimsim.nn import idx
from cimsim.nn.data import load_dataset

DEBIAN = idx.DEBIAN_DIRS["fashion_mnist"]
needs_fashion = pytest.mark.skipif(not DEBIAN.is_dir() and not os.environ.get("CI"),
                                   reason="apt-get install dataset-fashion-mnist (CI installs it)")


PHASES = "phases: [{name: t, kind: inference}]\n"


def _spec(tmp_path, body: str):
    p = tmp_path / "w.yaml"
    p.write_text(textwrap.dedent(body) + PHASES)
    return load_workload(p).spec.dataset, p


@needs_fashion
def test_fashion_mnist_is_the_published_set(tmp_path, monkeypatch):
    monkeypatch.delenv("CIMSIM_DATA", raising=False)
    ds, _ = _spec(tmp_path, "name: w\ndataset: {name: fashion_mnist}\n")
    assert (ds.train_samples, ds.test_samples) == (0, 0)                 # unset: whole splits
    d = load_dataset(ds, 0)
    assert d.x_train.shape == (60000, 28, 28, 1) and d.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(d.y_train).tolist() == [6000] * 10 and np.bincount(d.y_test).tolist() == [1000] * 10
    assert d.classes == 10 and d.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    first = np.rint(d.x_train[0, :, :, 0] * 255).astype(np.uint8).tobytes()
    assert hashlib.sha256(first).hexdigest() == \
        "5bd44e331a6d6998daf675700cd0c13dcd7af8ab954b7585124124da61459e7b"
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0


@needs_fashion
def test_stratified_subsets_are_seeded_and_balanced(tmp_path):
    ds, _ = _spec(tmp_path, "name: w\ndataset: {name: fashion_mnist, train_samples: 1000, "
                            "test_samples: 250}\n")
    a, b = load_dataset(ds, 3), load_dataset(ds, 3)
    assert np.bincount(a.y_train).tolist() == [100] * 10 and len(a.y_test) == 250
    assert np.bincount(a.y_test).min() >= 25 - 1                       # 25 each, largest remainders
    np.testing.assert_array_equal(a.x_train, b.x_train)                    # seeded
    assert not np.array_equal(load_dataset(ds, 4).x_train, a.x_train)      # another seed, another subset


def _write(folder, name, arr, magic_type=0x08, gz=True, cut=0):
    head = bytes([0, 0, magic_type, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = (head + arr.astype(np.uint8).tobytes())[: None if not cut else -cut]
    path = folder / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _set(folder, n_train=30, n_test=10, gz=True):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        _write(folder, f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 6, 5)), gz=gz)
        _write(folder, f"{split}-labels-idx1-ubyte", np.arange(n) % 3, gz=gz)


@pytest.mark.parametrize("gz", [True, False])
def test_any_idx_folder_reads_gzip_or_raw(tmp_path, gz):
    _set(tmp_path / "d", gz=gz)
    ds, w = _spec(tmp_path, "name: w\ndataset: {name: idx, dir: d, train_samples: 12}\n")
    d = load_dataset(ds, 0, tmp_path, file=str(w))
    assert d.x_train.shape == (12, 6, 5, 1) and d.x_test.shape == (10, 6, 5, 1)
    assert np.bincount(d.y_train).tolist() == [4, 4, 4] and d.classes == 3


@pytest.mark.parametrize("damage, expected", [
    (lambda f: _write(f, "train-images-idx3-ubyte", np.zeros((30, 6, 5)), magic_type=0x0D),
     "value type 0x0d"),
    (lambda f: _write(f, "train-images-idx3-ubyte", np.zeros((30, 6, 5)), cut=7), "truncated"),
    (lambda f: _write(f, "train-labels-idx1-ubyte", np.zeros(29)), "as many labels as images"),
    (lambda f: (f / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not gzip"), "unreadable"),
    (lambda f: _write(f, "train-images-idx3-ubyte", np.zeros((30, 30))), "2 dimensions")])
def test_corrupt_files_are_one_located_message(tmp_path, damage, expected):
    _set(tmp_path / "d")
    damage(tmp_path / "d")
    ds, w = _spec(tmp_path, "name: w\ndataset: {name: idx, dir: d}\n")
    with pytest.raises(ConfigError) as e:
        load_dataset(ds, 0, tmp_path, file=str(w))
    assert expected in str(e.value) and "dataset.dir" in str(e.value)


def test_missing_files_name_the_folders_and_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("CIMSIM_DATA", str(tmp_path / "nothing"))
    monkeypatch.setattr(idx, "DEBIAN_DIRS", {"fashion_mnist": tmp_path / "not-installed"})
    ds, w = _spec(tmp_path, "name: w\ndataset: {name: fashion_mnist}\n")
    with pytest.raises(ConfigError) as e:
        load_dataset(ds, 0, tmp_path, file=str(w))
    msg = str(e.value)
    assert "dataset.name" in msg and str(tmp_path / "nothing" / "fashion-mnist") in msg
    assert str(tmp_path / "not-installed") in msg and "apt-get install dataset-fashion-mnist" in msg


def test_cimsim_data_and_subset_bounds(tmp_path, monkeypatch):
    _set(tmp_path / "data" / "fashion-mnist")
    monkeypatch.setenv("CIMSIM_DATA", str(tmp_path / "data"))
    ds, w = _spec(tmp_path, "name: w\ndataset: {name: fashion_mnist, test_samples: 11}\n")
    with pytest.raises(ConfigError) as e:
        load_dataset(ds, 0, tmp_path, file=str(w))
    assert "dataset.test_samples" in str(e.value) and "10" in str(e.value)


@pytest.mark.parametrize("body, key", [
    ("dataset: {name: idx}", "dataset.dir"),
    ("dataset: {name: digits, dir: d}", "dataset.dir"),
    ("dataset: {name: synthetic, shape: [4], train_samples: 0}", "dataset.train_samples")])
def test_bad_idx_keys_are_located(tmp_path, body, key):
    p = tmp_path / "w.yaml"
    p.write_text(f"name: w\n{body}\n" + PHASES)
    with pytest.raises(ConfigError) as e:
        load_workload(p)
    assert key in str(e.value)


@pytest.mark.parametrize("model", ["onnx", "layers"])
def test_images_the_model_does_not_take_are_one_located_message(tmp_path, root, capsys, model):
    """6x5 IDX images against the ONNX example's 16x16 graph input, or a layer list's
    model.input_shape: exit 2, the key named, nothing written."""
    from cimsim.cli import main

    _set(tmp_path / "d")
    if model == "onnx":
        pytest.importorskip("onnx")
        onnx = root / "examples" / "onnx_model" / "digits_cnn.onnx"
        body, key = f"model: {{onnx: {onnx}}}", "model.onnx"
    else:
        body = "model: {input_shape: [1, 16, 16], layers: [{type: flatten}, {type: linear}]}"
        key = "model.input_shape"
    w = tmp_path / "w.yaml"
    w.write_text(f"name: w\ndataset: {{name: idx, dir: d}}\n{body}\n" + PHASES)
    out = tmp_path / "out"
    code = main(["run", str(root / "arch" / "rram_64x64.yaml"), str(w), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and key in err and "Traceback" not in err
    assert not out.exists()
