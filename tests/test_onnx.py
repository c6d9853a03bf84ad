"""ONNX import: graphs built with onnx.helper, the engine's float output against a plain
NCHW numpy evaluation of the same graph; located errors for what cannot be mapped."""
import importlib.util
import textwrap

import numpy as np
import pytest

from cimsim.cli import main
from cimsim.errors import ConfigError

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cimsim.nn.onnx_import import load_onnx  # noqa: E402


# --- an independent reference: ONNX semantics on NCHW arrays, written from the operator spec
def _conv(x, w, b, stride, pad, groups):
    n, c, h, wd = x.shape
    o, cg, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(oh):
            for j in range(ow):
                win = xp[:, g * cg:(g + 1) * cg, i * stride:i * stride + k, j * stride:j * stride + k]
                out[:, oc, i, j] = (win * w[oc]).sum(axis=(1, 2, 3))
    return out + (b.reshape(1, -1, 1, 1) if b is not None else 0)


def _pool(x, k, stride, pad, op):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride - pad, j * stride - pad
            win = x[:, :, max(r0, 0):min(r0 + k, h), max(c0, 0):min(c0 + k, w)]
            out[:, :, i, j] = win.max(axis=(2, 3)) if op == "MaxPool" else win.mean(axis=(2, 3))
    return out


def reference(model, x):
    """Evaluate the graph on x (NCHW) in float64."""
    g = model.graph
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
    env[g.input[0].name] = x.astype(np.float64)
    for node in g.node:
        a = {at.name: helper.get_attribute_value(at) for at in node.attribute}
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Conv":
            y = _conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a.get("strides", [1])[0],
                      a.get("pads", [0])[0], a.get("group", 1))
        elif op == "Relu":
            y = np.maximum(ins[0], 0)
        elif op == "BatchNormalization":
            s, bb, m, v = (t.reshape(1, -1, 1, 1) for t in ins[1:5])
            y = (ins[0] - m) / np.sqrt(v + a.get("epsilon", 1e-5)) * s + bb
        elif op in ("MaxPool", "AveragePool"):
            y = _pool(ins[0], a["kernel_shape"][0], a.get("strides", [1])[0], a.get("pads", [0])[0], op)
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op in ("Flatten", "Reshape"):
            y = ins[0].reshape(len(ins[0]), -1)
        elif op == "Gemm":
            bm = ins[1].T if a.get("transB", 0) else ins[1]
            y = a.get("alpha", 1.0) * ins[0] @ bm + a.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            y = ins[0] @ ins[1]
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Constant":
            y = numpy_helper.to_array(a["value"]).astype(np.float64)
        elif op in ("Dropout", "Identity"):
            y = ins[0]
        else:
            raise AssertionError(f"the reference evaluator has no {op}: add it before testing graphs with it")
        env[node.output[0]] = y
    return env[g.output[0].name]


def _t(rng, name, *shape, scale=0.3):
    return numpy_helper.from_array((rng.normal(size=shape) * scale).astype(np.float32), name)


def _model(nodes, inits, in_shape, classes):
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, *in_shape])],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT,
                                                             [None, classes])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    return m


def resnet_like(rng):
    """Conv(bias, stride 2, pad 1) -> BN -> Relu -> MaxPool 3/2/1 -> grouped Conv -> Relu ->
    residual Add -> GlobalAveragePool -> Flatten -> Gemm(transB, alpha, beta)."""
    inits = [_t(rng, "w1", 8, 3, 3, 3), _t(rng, "b1", 8), _t(rng, "s", 8), _t(rng, "bb", 8),
             _t(rng, "mu", 8), numpy_helper.from_array(rng.uniform(0.5, 2, 8).astype(np.float32), "var"),
             _t(rng, "w2", 8, 4, 3, 3), _t(rng, "fw", 5, 8), _t(rng, "fb", 5)]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3],
                              strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "s", "bb", "mu", "var"], ["bn"], name="bn1",
                              epsilon=1e-3),
             helper.make_node("Relu", ["bn"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["mp"], name="pool1", kernel_shape=[3, 3],
                              strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["mp", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1], group=2),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Add", ["r2", "mp"], ["res"], name="add"),
             helper.make_node("GlobalAveragePool", ["res"], ["gap"], name="gap"),
             helper.make_node("Flatten", ["gap"], ["flat"], name="flat"),
             helper.make_node("Gemm", ["flat", "fw", "fb"], ["out"], name="fc", transB=1, alpha=0.5,
                              beta=2.0)]
    return _model(nodes, inits, [3, 11, 10], 5)


def mlp_head(rng):
    """Conv (no pad) -> Relu -> AveragePool 2/2 -> Reshape (Constant shape) -> MatMul + bias Add
    -> Dropout -> Relu -> MatMul: the NCHW flatten order matters for the first MatMul."""
    inits = [_t(rng, "w1", 4, 1, 3, 3), _t(rng, "m1", 4 * 3 * 3, 6), _t(rng, "mb", 6), _t(rng, "m2", 6, 3)]
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [0, -1])
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("AveragePool", ["r"], ["ap"], name="avg", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Constant", [], ["shp"], name="const", value=shape),
             helper.make_node("Reshape", ["ap", "shp"], ["flat"], name="reshape"),
             helper.make_node("MatMul", ["flat", "m1"], ["h"], name="fc1"),
             helper.make_node("Add", ["h", "mb"], ["hb"], name="bias1"),
             helper.make_node("Dropout", ["hb"], ["hd"], name="drop"),
             helper.make_node("Relu", ["hd"], ["hr"], name="relu2"),
             helper.make_node("MatMul", ["hr", "m2"], ["out"], name="fc2")]
    return _model(nodes, inits, [1, 8, 8], 3)


@pytest.mark.parametrize("make, in_shape, classes", [(resnet_like, (3, 11, 10), 5), (mlp_head, (1, 8, 8), 3)])
def test_engine_matches_numpy_evaluation(tmp_path, make, in_shape, classes):
    rng = np.random.default_rng(0)
    model = make(rng)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    c, h, w = in_shape
    net = load_onnx(path, (h, w, c), classes, "w.yaml")
    x = rng.normal(size=(4, c, h, w)).astype(np.float32)
    got = net.forward(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    np.testing.assert_allclose(got, reference(model, x), rtol=2e-4, atol=2e-5)


def test_unsupported_op_is_one_located_error(tmp_path, root, capsys):
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Sigmoid", ["c"], ["s"], name="squash"),
             helper.make_node("GlobalAveragePool", ["s"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["out"], name="flat")]
    path = tmp_path / "bad.onnx"
    path.write_bytes(_model(nodes, [_t(rng, "w", 10, 1, 3, 3)], [1, 16, 16], 10).SerializeToString())
    with pytest.raises(ConfigError) as e:
        load_onnx(path, (16, 16, 1), 10, "w.yaml")
    assert "node 'squash', op Sigmoid" in str(e.value) and e.value.key == "model.onnx"
    wl = tmp_path / "w.yaml"
    wl.write_text("name: w\nmodel: {onnx: bad.onnx}\nphases:\n  - {name: t, kind: inference}\n")
    out = tmp_path / "out"
    assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(wl), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Sigmoid" in err and "squash" in err
    assert not out.exists() or not any(out.iterdir())            # probed before the work; nothing written
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x01garbage")
    assert main(["validate", str(root / "arch" / "rram_64x64.yaml"), str(wl)]) == 2
    assert "model.onnx" in capsys.readouterr().err


def test_wrong_input_shape_and_class_count(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "m.onnx"
    path.write_bytes(mlp_head(rng).SerializeToString())
    with pytest.raises(ConfigError, match="data's shape"):
        load_onnx(path, (9, 9, 1), 3, "w.yaml")
    with pytest.raises(ConfigError, match="10 outputs"):
        load_onnx(path, (8, 8, 1), 10, "w.yaml")


def test_example_export_round_trip_and_workload(tmp_path, root, monkeypatch, capsys):
    """examples/onnx_model: a cimsim net exported with the example's exporter and imported
    back gives the same logits; its shipped model runs as a workload."""
    script = root / "examples" / "onnx_model" / "make_model.py"
    spec = importlib.util.spec_from_file_location("make_model", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from cimsim.config import load_workload
    from cimsim.nn.models import build_model

    w = load_workload(root / "examples" / "onnx_model" / "train.yaml").spec
    net = build_model(w.model, (16, 16, 1), 10, 3)
    for n in net.nodes:                                   # non-trivial BN statistics and biases
        for k, v in n.params().items():
            if k in ("mean", "b", "beta"):
                v[...] = np.random.default_rng(4).normal(size=v.shape) * 0.1
    path = tmp_path / "rt.onnx"
    mod.export(net, (16, 16, 1), path)
    back = load_onnx(path, (16, 16, 1), 10, "w.yaml")
    x = np.random.default_rng(5).random((3, 16, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(back.forward(x), net.forward(x), rtol=1e-4, atol=1e-5)
    # the script writes where it is told (default: the current folder, never the shipped file)
    # and counts parameters as the run's report does
    shipped = (root / "examples" / "onnx_model" / "digits_cnn.onnx").read_bytes()
    monkeypatch.chdir(tmp_path)
    mod.main(["--epochs", "1"])
    made = load_onnx(tmp_path / "digits_cnn.onnx", (16, 16, 1), 10, "w.yaml")
    assert f"digits_cnn.onnx: {made.parameter_count()} parameters" in capsys.readouterr().out
    assert (root / "examples" / "onnx_model" / "digits_cnn.onnx").read_bytes() == shipped
    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    wl = tmp_path / "wl.yaml"
    wl.write_text(textwrap.dedent(f"""\
        name: onnx_example
        model: {{onnx: {root / 'examples' / 'onnx_model' / 'digits_cnn.onnx'}}}
        phases:
          - {{name: t, kind: inference, samples: 32}}
        """))
    arch = str(root / "arch" / "rram_64x64.yaml")
    assert main(["-q", "run", arch, str(wl), "--out", str(tmp_path / "o")]) == 0
    import json

    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["model"]["float_test_accuracy"] > 0.9 and rep["model"]["pretrain_key"] is None


def _dense_model(weight, domain="", alpha=1.0):
    """Flatten -> Gemm on 4 inputs and 3 classes, with the given weight array."""
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
         helper.make_node("Gemm", ["f", "w"], ["out"], name="fc", alpha=alpha, domain=domain)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(weight, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_weights_that_are_not_finite_real_numbers_are_refused(tmp_path):
    """Issue 25, item 4: NaN/inf weights, a NaN alpha, complex weights, an op of a custom
    domain and a negative BatchNorm variance are located errors, not NaN logits."""
    good = np.ones((4, 3), np.float32)
    nan = good.copy()
    nan[1, 2] = np.nan
    cases = {"nan": (_dense_model(nan), "finite numbers in 'w'"),
             "inf": (_dense_model(good * np.inf), "finite numbers in 'w'"),
             "alpha": (_dense_model(good, alpha=float("nan")), "a finite alpha"),
             "complex": (_dense_model(good.astype(np.complex64)), "real-valued numbers in 'w'"),
             "domain": (_dense_model(good, domain="com.evil"), "an operator of the standard ONNX domain")}
    for name, (model, expect) in cases.items():
        p = tmp_path / f"{name}.onnx"
        onnx.save(model, str(p))
        with pytest.raises(ConfigError, match=expect):
            load_onnx(p, (4,), 3, "w.yaml")
    onnx.save(_dense_model(good), str(tmp_path / "ok.onnx"))
    assert load_onnx(tmp_path / "ok.onnx", (4,), 3, "w.yaml").nodes
    rng = np.random.default_rng(0)
    model = resnet_like(rng)
    var = next(t for t in model.graph.initializer if t.name == "var")
    arr = numpy_helper.to_array(var).copy()
    arr[0] = -1.0
    var.CopyFrom(numpy_helper.from_array(arr, "var"))
    onnx.save(model, str(tmp_path / "bn.onnx"))
    with pytest.raises(ConfigError, match="variances >= 0"):
        load_onnx(tmp_path / "bn.onnx", (11, 10, 3), 5, "w.yaml")


def _ones(name, *shape, dtype=np.float32):
    return numpy_helper.from_array(np.ones(shape, dtype), name)


def _conv_model(nodes, inits):
    """x (3x8x8) -> the given nodes (ending in tensor `out`, 4 classes)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 8, 8])
    graph = helper.make_graph(nodes, "g", [x],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _head(src):
    return [helper.make_node("GlobalAveragePool", [src], ["gp"]), helper.make_node("Flatten", ["gp"], ["fl"]),
            helper.make_node("Gemm", ["fl", "fw"], ["out"], transB=1)]


def _cnode(inputs=("x", "w"), **attrs):
    return helper.make_node("Conv", list(inputs), ["c"], **attrs)


def _hostile_cases():
    """(name, model, expected text): each a traceback or a silent wrong result before issue 25."""
    w, fw, k3 = _ones("w", 4, 3, 3, 3), _ones("fw", 4, 4), {"kernel_shape": [3, 3]}
    short = _ones("fw", 4, 4)
    short.raw_data = np.ones(4, np.float32).tobytes()
    huge = _ones("fw", 4, 4)
    del huge.dims[:]
    huge.dims.extend([1 << 20, 1 << 20])
    ext = _ones("fw", 4, 4)
    ext.data_location = TensorProto.EXTERNAL
    ext.ClearField("raw_data")
    entry = ext.external_data.add()
    entry.key, entry.value = "location", "../../../../etc/passwd"
    shape_f = numpy_helper.from_array(np.array([0.5, -1], np.float32), "sh")
    return [
        ("add of two constants", [_cnode(**k3), helper.make_node("Add", ["b1", "b2"], ["c2"]),
                                  helper.make_node("Add", ["c", "c2"], ["c3"]), *_head("c3")],
         [w, _ones("b1", 4), _ones("b2", 4), fw], "at most one constant"),
        ("add of three inputs", [_cnode(**k3), helper.make_node("Add", ["c", "c", "c"], ["c3"]),
                                 *_head("c3")],
         [w, fw], "2 inputs, got 3"),
        ("batchnorm size", [_cnode(**k3), helper.make_node("BatchNormalization", ["c"] + ["s"] * 4, ["c3"]),
                            *_head("c3")], [w, _ones("s", 5), fw], "4 values in 's'"),
        ("gemm bias size", [_cnode(**k3), *_head("c")[:2],
                            helper.make_node("Gemm", ["fl", "fw", "fb"], ["out"])],
         [w, fw, _ones("fb", 3)], "a bias of 1 or 4 values"),
        ("kernel attribute", [_cnode(kernel_shape=[5, 5]), *_head("c")], [w, fw], "kernel_shape [5, 5]"),
        ("group 0", [_cnode(group=0, **k3), *_head("c")], [w, fw], "group count"),
        ("group not dividing", [_cnode(group=3, **k3), *_head("c")], [_ones("w", 4, 1, 3, 3), fw],
         "group count"),
        ("stride 0", [_cnode(strides=[0, 0], **k3), *_head("c")], [w, fw], "strides of at least 1"),
        ("negative pads", [_cnode(pads=[-1] * 4, **k3), *_head("c")], [w, fw], "four pads >= 0"),
        ("missing weight", [_cnode(**k3), *_head("c")], [fw], "a constant (initializer) for 'w'"),
        ("missing input", [_cnode(("x",), **k3), *_head("c")], [fw], "2 or 3 inputs, got 1"),
        ("short raw data", [_cnode(**k3), *_head("c")], [w, short], "as many values in 'fw'"),
        ("huge dimensions", [_cnode(**k3), *_head("c")], [w, huge], "tensor dimensions of at most"),
        ("external data", [_cnode(**k3), *_head("c")], [w, ext], "weights stored in the .onnx file"),
        ("float reshape shape", [_cnode(**k3), helper.make_node("Reshape", ["c", "sh"], ["fl"]),
                                 helper.make_node("Gemm", ["fl", "fw"], ["out"], transB=1)],
         [w, shape_f, _ones("fw", 4, 144)], "integer (int64) shape"),
        ("string weights", [_cnode(**k3), *_head("c")],
         [w, helper.make_tensor("fw", TensorProto.STRING, [1], [b"a"])], "real-valued numbers in 'fw'"),
        ("zero-size pooling", [_cnode(**k3), helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[0, 0]),
                               *_head("p")], [w, fw], "at least 1 x 1"),
        ("node without output", [_cnode(**k3), helper.make_node("Relu", ["c"], []), *_head("c")], [w, fw],
         "an output"),
    ]


@pytest.mark.parametrize("name, nodes, inits, expected", _hostile_cases(),
                         ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_malformed_graphs_are_one_located_error(tmp_path, name, nodes, inits, expected):
    """Issue 25, item 5: each ONNX case that gave a traceback (or ran a wrong graph) is one
    ConfigError naming the workload key and the node."""
    p = tmp_path / "m.onnx"
    onnx.save(_conv_model(nodes, inits), str(p))
    with pytest.raises(ConfigError, match="model.onnx") as e:
        load_onnx(p, (8, 8, 3), 4, "w.yaml")
    assert expected in str(e.value), str(e.value)
    good = _conv_model([_cnode(kernel_shape=[3, 3]), *_head("c")],
                       [_ones("w", 4, 3, 3, 3), _ones("fw", 4, 4)])
    onnx.save(good, str(p))
    assert load_onnx(p, (8, 8, 3), 4, "w.yaml").nodes                   # the same graph made well is read


def test_special_and_oversized_model_files_are_refused(tmp_path, monkeypatch):
    """A FIFO, /dev/zero or a folder as model.onnx never blocks or reads forever; a file over
    $CIMSIM_MAX_INPUT_BYTES is refused before it is parsed."""
    fifo = tmp_path / "m.onnx"
    import os

    os.mkfifo(fifo)
    for p in (fifo, "/dev/zero", tmp_path):
        with pytest.raises(ConfigError, match="a regular .onnx file"):
            load_onnx(p, (4,), 3, "w.yaml")
    big = tmp_path / "big.onnx"
    onnx.save(_dense_model(np.ones((4, 3), np.float32)), str(big))
    monkeypatch.setenv("CIMSIM_MAX_INPUT_BYTES", "10")
    with pytest.raises(ConfigError, match="at most 10 bytes"):
        load_onnx(big, (4,), 3, "w.yaml")
