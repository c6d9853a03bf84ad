"""Property-based checks of input handling (used by tests/test_fuzz.py and
benchmarks/fuzz_inputs.py): any mutated config or raw YAML text ends in exit status 0 or 2,
with at most one line on stderr and never a traceback, within a time bound.
"""
from __future__ import annotations

import contextlib
import io
import random
import signal
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..cli import main


@dataclass
class Outcome:
    """What one input did."""

    code: int | None
    stderr: str
    seconds: float
    traceback: bool = False
    hang: bool = False


@dataclass
class Tally:
    """Counts over many inputs, for the report of a fuzzing run."""

    tried: int = 0
    ok: int = 0
    exit2: int = 0
    traceback: int = 0
    hang: int = 0
    other: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, o: Outcome, label: str) -> None:
        self.tried += 1
        if o.hang:
            self.hang += 1
        elif o.traceback:
            self.traceback += 1
        elif o.code == 0:
            self.ok += 1
        elif o.code == 2 and o.stderr.count("\n") <= 1:
            self.exit2 += 1
        else:
            self.other += 1
        if (o.hang or o.traceback or o.code not in (0, 2)) and len(self.examples) < 5:
            self.examples.append(f"{label}: {o.stderr.strip().splitlines()[-1:] or o.code}")


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def fire(*_: Any) -> None:
        raise _Timeout

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(argv: list[str], seconds: float = 20.0) -> Outcome:
    """main(argv) in this process: exit status, stderr, time; an escaping exception is a
    traceback, running past `seconds` a hang."""
    err, out = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    try:
        with _alarm(seconds), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except _Timeout:
        return Outcome(None, err.getvalue(), time.perf_counter() - t0, hang=True)
    except SystemExit as e:                  # argparse usage errors exit 2 by themselves
        code = e.code if isinstance(e.code, int) else 2
    except BaseException as e:               # noqa: BLE001 - any escape is what we look for
        return Outcome(None, f"{err.getvalue()}{type(e).__name__}: {e}",
                       time.perf_counter() - t0, traceback=True)
    return Outcome(code, err.getvalue(), time.perf_counter() - t0)


def key_paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of nested YAML data (mappings and lists), leaves and inner nodes."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += key_paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += key_paths(v, prefix + (i,))
    return out


def mutate(data: Any, path: tuple, value: Any) -> Any:
    """A copy of `data` with the value at `path` replaced (deleted when value is ...)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    out = dict(data) if isinstance(data, dict) else list(data)
    if rest or value is not ...:
        out[head] = mutate(data[head], rest, value)
    else:
        out.pop(head)                  # a key of a mapping, or an index of a list
    return out


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


# --- families of the newer input surfaces (issue 25): npz data, ONNX graphs, layer lists, API

NPZ_WORKLOAD = ("name: fuzz_npz\ndataset: {path: data.npz}\n"
                "model: {layers: [{type: flatten}, {type: linear}]}\n"
                "deploy: {functional: false}\nphases: [{name: t, kind: inference}]\n")
ONNX_WORKLOAD = ("name: fuzz_onnx\ndataset: {name: synthetic, shape: [3, 8, 8], classes: 4, "
                 "train_samples: 4, test_samples: 2}\nmodel: {name: onnx, onnx: m.onnx}\n"
                 "deploy: {functional: false}\nphases: [{name: t, kind: inference}]\n")


def random_npz(rng: random.Random, path: Path) -> None:
    """An .npz: a valid set of arrays with, most of the time, one or two things made odd
    (dtype, shape, a zero size, labels out of range or non-finite, a missing array), or
    its bytes flipped or cut."""
    import numpy as np

    arrays: dict[str, np.ndarray] = {
        "x_train": np.full((6, 4, 4), 0.5, np.float32), "y_train": np.arange(6) % 3,
        "x_test": np.full((3, 4, 4), 0.25, np.float32), "y_test": np.arange(3) % 3}
    odd_values = [0, -1, 2**64 - 1, 1e30, float("nan"), float("inf"), 99_999, 100_000, 2.5]
    for _ in range(rng.choice([0, 1, 1, 2])):
        name = rng.choice(list(arrays))
        a = arrays[name]
        change = rng.choice(["dtype", "shape", "empty", "value", "drop"])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")              # casts that lose parts are the point
            if change == "dtype":
                dtype = rng.choice(["float64", "uint8", "int64", "uint64", "bool", "complex64", "<U2",
                                    "float16"])
                a = a.astype(dtype) if dtype != "<U2" else a.astype(str)
            elif change == "shape":
                a = rng.choice([lambda a: a.reshape(len(a), -1) if a.size else a[..., None],
                                lambda a: a[..., None], lambda a: a.reshape(-1), lambda a: a[:-1],
                                lambda a: np.stack([a, a], 1) if a.ndim else a[None]])(a)
            elif change == "empty":
                a = a[:0] if rng.random() < 0.5 else np.zeros((len(a), 0), a.dtype)
            elif change == "value" and a.size and a.dtype.kind in "iufb":
                a = a.astype(np.float64)
                a.flat[rng.randrange(a.size)] = rng.choice(odd_values)
            else:
                arrays.pop(name)
                continue
        arrays[name] = a
    np.savez(path, **arrays)
    if rng.random() < 0.15:
        raw = bytearray(path.read_bytes())
        if rng.random() < 0.5:
            raw = raw[: rng.randint(0, len(raw))]
        else:
            for _ in range(rng.randint(1, 8)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        path.write_bytes(bytes(raw))


def random_onnx(rng: random.Random, path: Path) -> None:
    """A graph built with onnx.helper: a valid Conv-BN-ReLU-pool-Gemm chain for 3x8x8 inputs
    and 4 classes, with, most of the time, one or two random changes (an attribute, a weight's
    shape, dtype or values, a node's inputs, outputs, domain or operator)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = {"w": np.full((4, 3, 3, 3), 0.1, np.float32), "s": np.ones(4, np.float32),
         "bb": np.zeros(4, np.float32), "mu": np.zeros(4, np.float32), "var": np.ones(4, np.float32),
         "fw": np.full((4, 4), 0.1, np.float32), "fb": np.zeros(4, np.float32)}
    spec = [["Conv", ["x", "w"], ["c"], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}],
            ["BatchNormalization", ["c", "s", "bb", "mu", "var"], ["b"], {}],
            ["Relu", ["b"], ["r"], {}],
            ["MaxPool", ["r"], ["m"], {"kernel_shape": [2, 2], "strides": [2, 2]}],
            ["GlobalAveragePool", ["m"], ["g"], {}],
            ["Flatten", ["g"], ["f"], {}],
            ["Gemm", ["f", "fw", "fb"], ["out"], {"transB": 1}]]
    domain = [""] * len(spec)
    for _ in range(rng.choice([0, 1, 1, 2])):
        i = rng.randrange(len(spec))
        op, ins, outs, attrs = spec[i]
        change = rng.choice(["attr", "weight", "inputs", "outputs", "domain", "op"])
        if change == "attr":
            key = rng.choice(["kernel_shape", "strides", "pads", "group", "alpha", "epsilon", "axis",
                              "transB"])
            attrs[key] = rng.choice([[0, 0], [3, 3], [5, 5], [1], [-1, -1, -1, -1], 0, 2, float("nan"), 1.0])
        elif change == "weight":
            name = rng.choice(list(w))
            a = w[name]
            with np.errstate(all="ignore"):
                w[name] = rng.choice([a[:-1], a.reshape(-1), a.astype(np.float64), a.astype(np.int64),
                                      a.astype(np.complex64), a * np.nan, a * np.inf, -a - 1, np.zeros((0,))])
        elif change == "inputs":
            spec[i][1] = rng.choice([ins[:1], ins + ins[-1:], [*ins[:1], "missing", *ins[2:]], [],
                                     ["x", *ins[1:]]])
        elif change == "outputs":
            spec[i][2] = rng.choice([[], [*outs[:1], "extra"], ["dangling"]])
        elif change == "domain":
            domain[i] = rng.choice(["com.example", "ai.onnx.ml"])
        else:
            spec[i][0] = rng.choice(["Sigmoid", "Add", "Identity", "AveragePool", "MatMul", "Softmax",
                                     "Tanh"])
    nodes = [helper.make_node(op, ins, outs, domain=d, **a) for (op, ins, outs, a), d in zip(spec, domain)]
    inits = [numpy_helper.from_array(a, k) for k, a in w.items()]
    out = spec[-1][2][0] if spec[-1][2] else "out"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 8, 8])
    y = helper.make_tensor_value_info(out, TensorProto.FLOAT, [None, 4])
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path.write_bytes(model.SerializeToString())


def random_layers(rng: random.Random) -> list:
    """A `model.layers` list: a valid conv network for 4x6x6 inputs with, most of the time,
    one or two changes (a type, a size, a name, an input reference, an unknown key, a layer
    dropped or repeated)."""
    layers: list[dict[str, Any]] = [
        {"type": "conv", "out_channels": 4, "name": "c1"}, {"type": "batchnorm"},
        {"type": "relu", "name": "r1"},
        {"type": "conv", "out_channels": 4, "name": "c2"}, {"type": "add", "inputs": ["c2", "r1"]},
        {"type": "maxpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 8}, {"type": "relu"},
        {"type": "linear"}]
    odd = {"type": ["lstm", "", "linear", "conv", "flatten", "global_avgpool", 3],
           "out_channels": [0, -1, 2**40, "x", 1.5, None], "out_features": [0, 3, 2**40, -2],
           "kernel": [0, 2, 99, -1], "stride": [0, 2, 100], "padding": [-1, 5, 1], "groups": [0, 2, 3],
           "name": ["c1", "../x", "", 5, "input", "x" * 300],
           "inputs": [["nope"], [], "c1", ["c1", "c1", "c1"]],
           "bias": [True, 1, "yes"], "colour": ["red"]}
    for _ in range(rng.choice([0, 1, 1, 2])):
        change = rng.choice(["key", "key", "key", "drop", "repeat"])
        i = rng.randrange(len(layers))
        if change == "key":
            key = rng.choice(list(odd))
            layers[i] = {**layers[i], key: rng.choice(odd[key])}
        elif change == "drop" and len(layers) > 1:
            layers.pop(i)
        else:
            layers.insert(i, dict(layers[i]))
    return layers


def api_call(rng: random.Random, arch: Path, workload: Path) -> Outcome:
    """One call of the Python API with random arguments: it returns a report or raises a
    CimsimError (never another exception), within a time bound."""
    import numpy as np

    import cimsim

    from ..errors import CimsimError

    odd = [None, 123, 1.5, "", "nope.yaml", [], {}, b"x", np.int64(1), Path("/dev/null"), object()]
    a = rng.choice([str(arch), arch]) if rng.random() < 0.8 else rng.choice(odd)
    w = rng.choice([str(workload), workload]) if rng.random() < 0.8 else rng.choice(odd)
    kw: dict[str, Any] = {}
    if rng.random() < 0.5:
        kw["overrides"] = rng.choice([{}, {"arch.adc.bits": rng.choice([6, "6", np.int64(6), 99, None])},
                                      {"workload.phases.0.samples": 1}, {"x.y": 1}, {3: 1}, [("a", 1)],
                                      "a=1"])
    if rng.random() < 0.5:
        kw["workers"] = rng.choice([1, 2, 0, -3, "2", None, np.int64(1), 1.5, True])
    if rng.random() < 0.3:
        kw["wall"] = rng.choice([None, 5, "x"])
    if rng.random() < 0.3:
        kw["explain"] = rng.choice([False, True, "yes", None])
    t0 = time.perf_counter()
    label = f"run({a!r}, {w!r}, {kw!r})"
    try:
        with _alarm(60.0), contextlib.redirect_stderr(io.StringIO()):
            if rng.random() < 0.2:
                rng.choice([cimsim.load_arch, cimsim.load_workload])(rng.choice([a, w]))
            else:
                cimsim.run(a, w, **kw)
    except _Timeout:
        return Outcome(None, label, time.perf_counter() - t0, hang=True)
    except CimsimError as e:
        return Outcome(2, f"{e}\n", time.perf_counter() - t0)
    except BaseException as e:    # noqa: BLE001 - any other escape is what we look for
        return Outcome(None, f"{label}: {type(e).__name__}: {e}", time.perf_counter() - t0, traceback=True)
    return Outcome(0, "", time.perf_counter() - t0)
