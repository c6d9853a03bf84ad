"""ONNX models onto cimsim's engine, with the file's trained weights (needs `cimsim[onnx]`,
the `onnx` package only: no torch, no onnxruntime).

ONNX tensors are NCHW; cimsim's are NHWC, so convolution kernels are transposed to
crossbar matrices (kh, kw, c) x out, and a Flatten/Reshape of a feature map flattens in
NCHW order (the next matrix was trained on that order). Supported operators: Conv, Gemm,
MatMul (constant weights), BatchNormalization, Relu, MaxPool, AveragePool,
GlobalAveragePool, Add (two tensors: a residual add; a tensor and a constant right after a
Conv/MatMul/Gemm: that layer's bias), Flatten, Reshape (to a flat vector), and the pass-
through Identity, Dropout and Constant; a final Softmax is dropped (argmax and the
cross-entropy of on-chip training use the logits). Anything else is one located error
naming the operator and node.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import CimsimError, ConfigError
from .files import max_input_bytes, regular_file
from .layers import (
    Add,
    AvgPool,
    BatchNorm,
    Conv2d,
    Flatten,
    GlobalAvgPool,
    Linear,
    MaxPool,
    Net,
    Node,
    ReLU,
    ShapeError,
)

SUPPORTED = ("Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "MaxPool", "AveragePool",
             "GlobalAveragePool", "ReduceMean (over H and W)", "Add", "Flatten", "Reshape", "Identity",
             "Dropout", "Constant", "Softmax (last node only)")


def note_text(e: BaseException) -> str:
    """An exception's first line, short, for the note of a located error."""
    return (str(e).splitlines() or [type(e).__name__])[0][:200]


class _NoDraws:
    """Stands in for a layer's weight generator: zeros, so building a layer whose weights come
    from the file costs no random draws (large models build faster)."""

    def standard_normal(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape)


class _Importer:
    def __init__(self, graph, file: str, onnx_name: str) -> None:
        from onnx import numpy_helper

        self.graph, self.file, self.onnx_name = graph, file, onnx_name
        self.to_array = numpy_helper.to_array
        self.tensors = {t.name: t for t in graph.initializer}  # converted on first use, checked
        self.const: dict[str, np.ndarray] = {}
        self.alias: dict[str, str] = {}               # ONNX tensor -> cimsim node name
        self.shape: dict[str, tuple[int, ...]] = {}   # cimsim node name -> per-sample shape
        self.nodes: list[Node] = []
        self.producer: dict[str, Node] = {}
        self.consumers: dict[str, int] = {}
        for n in graph.node:
            for t in n.input:
                self.consumers[t] = self.consumers.get(t, 0) + 1
        self.rng = _NoDraws()                          # layers get the file's weights, never random ones
        self.names: set[str] = {"input"}

    def error(self, node, expected: str, got: object = None) -> ConfigError:
        article = "an" if node.op_type[:1] in "AEIOU" else "a"
        label = f"node '{node.name}', op {node.op_type}" if node.name else f"{article} {node.op_type} node"
        return ConfigError(self.file, "model.onnx", expected, got, note=f"{self.onnx_name}: {label}")

    def attrs(self, node) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def name_for(self, node, i: int) -> str:
        base = node.name or f"{node.op_type.lower()}{i}"
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def add(self, node, onnx_out: str, n: Node) -> None:
        try:
            self.shape[n.name] = n.output_shape([self.shape[i] for i in n.inputs])
        except ShapeError as e:
            raise self.error(node, e.expected, e.got) from None
        self.nodes.append(n)
        self.alias[onnx_out] = n.name
        self.producer[onnx_out] = n

    def is_const(self, tensor: str) -> bool:
        return tensor in self.const or tensor in self.tensors

    def tensor(self, node, proto) -> np.ndarray:
        """An ONNX tensor as numpy: stored in the file (no external data), of sane dimensions,
        with exactly as many values as its dimensions say."""
        from onnx import TensorProto

        if proto.data_location == TensorProto.EXTERNAL:
            raise self.error(node, f"weights stored in the .onnx file ('{proto.name}' is in an external "
                                   "data file; from PyTorch: torch.onnx.export(..., external_data=False))")
        dims = list(proto.dims)
        if any(d < 0 for d in dims) or math.prod(dims) * 8 > max_input_bytes():   # 8: float64 values
            raise self.error(node, f"tensor dimensions of at most {max_input_bytes():,} bytes in "
                                   f"'{proto.name}'", dims)
        try:
            return self.to_array(proto)
        except (ValueError, TypeError) as e:
            raise self.error(node, f"as many values in '{proto.name}' as its dimensions {dims}",
                             note_text(e)) from None

    def act(self, node, tensor: str) -> str:
        if tensor not in self.alias:
            raise self.error(node, "inputs computed from the graph input (or constant weights)", tensor)
        return self.alias[tensor]

    def constant(self, node, tensor: str) -> np.ndarray:
        """A constant input (an initializer or a Constant node's value), converted on first use."""
        if tensor not in self.const:
            if tensor not in self.tensors:
                raise self.error(node, f"a constant (initializer) for '{tensor}'")
            self.const[tensor] = self.tensor(node, self.tensors[tensor])
        return self.const[tensor]

    def weight(self, node, tensor: str) -> np.ndarray:
        raw = self.constant(node, tensor)
        if raw.dtype.kind not in "iuf":                 # complex, string, bool: not a weight
            raise self.error(node, f"real-valued numbers in '{tensor}'", str(raw.dtype))
        w = raw.astype(np.float32)
        if not np.all(np.isfinite(w)):
            raise self.error(node, f"finite numbers in '{tensor}' (float32)", "NaN or inf")
        return w

    def scalar(self, node, a: dict, name: str, default: float) -> float:
        """A float attribute (alpha, beta, epsilon), finite."""
        v = float(a.get(name, default))
        if not np.isfinite(v):
            raise self.error(node, f"a finite {name}", v)
        return v

    def window(self, node, a: dict, k_default: list[int] | None = None) -> tuple[int, int, int]:
        """(k, stride, pad) of a square, symmetric window; errors for what cimsim cannot hold."""
        ks = list(a.get("kernel_shape", k_default or []))
        strides = list(a.get("strides", [1] * len(ks)))
        pads = list(a.get("pads", [0] * 2 * len(ks)))
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto not in ("NOTSET", "VALID"):
            raise self.error(node, "auto_pad NOTSET or VALID (give explicit pads)", auto)
        if len(ks) != 2 or ks[0] != ks[1] or ks[0] < 1:
            raise self.error(node, "a square 2-D kernel of at least 1 x 1", ks)
        if len(strides) != 2 or strides[0] < 1:
            raise self.error(node, "two strides of at least 1", strides)
        if len(pads) != 4 or pads[0] < 0:
            raise self.error(node, "four pads >= 0", pads)
        if len(set(strides)) != 1:
            raise self.error(node, "equal strides along H and W", strides)
        if len(set(pads)) != 1:
            raise self.error(node, "equal pads on all sides", pads)
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise self.error(node, "dilations 1", list(a.get("dilations")))
        if a.get("ceil_mode", 0):
            raise self.error(node, "ceil_mode 0", a.get("ceil_mode"))
        return ks[0], strides[0], pads[0]

    def run(self, input_shape: tuple[int, ...]) -> Net:
        graph = self.graph
        inputs = [i for i in graph.input if not self.is_const(i.name)]
        if len(inputs) != 1:
            raise ConfigError(self.file, "model.onnx", "a graph with one (non-constant) input",
                              [i.name for i in inputs], note=self.onnx_name)
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
        want = ((input_shape[2], input_shape[0], input_shape[1]) if len(input_shape) == 3
                else tuple(input_shape))
        if len(dims) == len(want) + 1 and all(dims[1:]) and tuple(dims[1:]) != want:
            raise ConfigError(self.file, "model.onnx", f"a graph input of the data's shape {list(want)} "
                              "per sample", dims[1:], note=self.onnx_name)
        self.alias[inputs[0].name] = "input"
        self.shape["input"] = tuple(input_shape)
        last = len(graph.node) - 1
        for i, node in enumerate(graph.node):
            self.convert(node, i, i == last)
        if len(graph.output) != 1:
            raise ConfigError(self.file, "model.onnx", "a graph with one output",
                              [o.name for o in graph.output], note=self.onnx_name)
        out = graph.output[0].name
        if not self.nodes or self.alias.get(out) != self.nodes[-1].name:
            raise ConfigError(self.file, "model.onnx", "a graph output produced by its last layer", out)
        return Net(self.nodes)

    def convert(self, node, i: int, last: bool) -> None:
        """One ONNX node into cimsim's nodes (or an alias, a constant, a folded bias)."""
        if node.domain not in ("", "ai.onnx"):         # a custom op of the same name is not the standard one
            raise self.error(node, "an operator of the standard ONNX domain", node.domain)
        op = "Identity" if node.op_type == "Softmax" and last else node.op_type
        handler = _OPS.get(op)
        if handler is None:
            raise self.error(node, "an operator cimsim maps: " + ", ".join(SUPPORTED), node.op_type)
        n_in = {"Constant": 0, "Add": 2, "Relu": 1, "GlobalAveragePool": 1, "Flatten": 1,
                "Reshape": 2, "MaxPool": 1, "AveragePool": 1, "BatchNormalization": 5}.get(op)
        if n_in is not None and len(node.input) != n_in:
            raise self.error(node, f"{n_in} input{'s' if n_in != 1 else ''}", len(node.input))
        if (op in ("Conv", "Gemm") and len(node.input) not in (2, 3)
                or op == "MatMul" and len(node.input) != 2):
            raise self.error(node, "2 or 3 inputs" if op != "MatMul" else "2 inputs", len(node.input))
        if op in ("Identity", "Dropout") and len(node.input) < 1:
            raise self.error(node, "1 input", 0)
        if len(node.output) < 1 or not node.output[0]:
            raise self.error(node, "an output")
        if len(node.output) > 1 and op not in ("Dropout", "BatchNormalization", "MaxPool"):
            raise self.error(node, "one output", len(node.output))
        if op in ("BatchNormalization", "MaxPool") and any(self.consumers.get(t) for t in node.output[1:]):
            raise self.error(node, "no use of its extra (training or index) outputs")
        try:
            handler(self, node, i, self.attrs(node), node.output[0])
        except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError) as e:
            # a malformed node the checks above did not name: one located message, no traceback
            raise self.error(node, "a well-formed node (sizes of its weights and attributes agree)",
                             note_text(e)) from None

    def _constant(self, node, i: int, a: dict, out: str) -> None:
        if "value" not in a:
            raise self.error(node, "a Constant with a tensor `value`")
        self.const[out] = self.tensor(node, a["value"])

    def _identity(self, node, i: int, a: dict, out: str) -> None:
        """Identity, Dropout (inference) and a final Softmax (argmax is unchanged)."""
        if len(node.output) > 1 and self.consumers.get(node.output[1]):
            raise self.error(node, "no use of the dropout mask output")
        if self.is_const(node.input[0]):            # PyTorch's exporter names a shared weight twice
            if node.input[0] in self.tensors:
                self.tensors[out] = self.tensors[node.input[0]]
            else:
                self.const[out] = self.const[node.input[0]]
            return
        self.alias[out] = self.act(node, node.input[0])
        if node.input[0] in self.producer:
            self.producer[out] = self.producer[node.input[0]]

    def _conv(self, node, i: int, a: dict, out: str) -> None:
        x = self.act(node, node.input[0])
        w = self.weight(node, node.input[1])
        if w.ndim != 4:
            raise self.error(node, "a 2-D convolution (weights O x I x kH x kW)", w.shape)
        k, stride, pad = self.window(node, a, list(w.shape[2:]))
        groups = int(a.get("group", 1))
        cout, cin_g = w.shape[0], w.shape[1]
        if groups < 1 or cout % groups:
            raise self.error(node, f"a group count >= 1 that divides the {cout} output channels", groups)
        if tuple(w.shape[2:]) != (k, k):
            raise self.error(node, f"weights of the kernel_shape {[k, k]}", list(w.shape[2:]))
        cin = cin_g * groups
        has_b = len(node.input) > 2 and node.input[2] != ""
        conv = Conv2d(self.name_for(node, i), x, cin, cout, k, stride, pad, self.rng,
                      groups=groups, bias=has_b)
        full = np.zeros((k, k, cin, cout), np.float32)
        wt = w.transpose(2, 3, 1, 0)                       # (kh, kw, cin_g, O)
        og = cout // groups
        for g in range(groups):
            full[:, :, g * cin_g:(g + 1) * cin_g, g * og:(g + 1) * og] = wt[..., g * og:(g + 1) * og]
        conv.W[...] = full.reshape(k * k * cin, cout)
        if has_b:
            conv.b[...] = self.weight(node, node.input[2]).reshape(cout)
        self.add(node, out, conv)

    def _dense(self, node, i: int, a: dict, out: str) -> None:
        """Gemm (with its transB, alpha, beta) and MatMul: a linear layer."""
        x = self.act(node, node.input[0])
        w = self.weight(node, node.input[1])
        gemm = node.op_type == "Gemm"
        if gemm:
            if a.get("transA", 0):
                raise self.error(node, "transA 0", a.get("transA"))
            w = (w.T if a.get("transB", 0) else w) * self.scalar(node, a, "alpha", 1.0)
        if w.ndim != 2:
            raise self.error(node, "a 2-D weight matrix", w.shape)
        has_b = gemm and len(node.input) > 2 and node.input[2] != ""
        lin = Linear(self.name_for(node, i), x, w.shape[0], w.shape[1], self.rng, bias=has_b)
        lin.W[...] = w
        if has_b:
            c = self.weight(node, node.input[2]) * self.scalar(node, a, "beta", 1.0)
            if c.size not in (1, w.shape[1]):
                raise self.error(node, f"a bias of 1 or {w.shape[1]} values", list(c.shape))
            lin.b[...] = np.broadcast_to(c.reshape(-1), (w.shape[1],))
        self.add(node, out, lin)

    def _add(self, node, i: int, a: dict, out: str) -> None:
        """A residual sum, or a constant folded into the bias of the Conv/Gemm/MatMul before it."""
        consts = [t for t in node.input if self.is_const(t)]
        if len(consts) == 2:
            raise self.error(node, "an Add of at most one constant (fold constant sums before export)")
        if not consts:
            self.add(node, out, Add(self.name_for(node, i), tuple(self.act(node, t) for t in node.input)))
            return
        (t_act,) = [t for t in node.input if not self.is_const(t)]
        prev = self.producer.get(t_act)
        if not isinstance(prev, (Conv2d, Linear)) or self.consumers.get(t_act, 0) != 1:
            raise self.error(node, "a constant added only right after a Conv, Gemm or MatMul (its bias)")
        c = self.weight(node, consts[0])
        n_out = prev.W.shape[1]
        if c.size != n_out:
            raise self.error(node, f"a bias of {n_out} values", c.shape)
        if prev.b is None:
            prev.b = np.zeros(n_out, np.float32)
            prev.db = np.zeros(n_out, np.float32)
        prev.b += c.reshape(n_out)
        self.alias[out] = prev.name
        self.producer[out] = prev

    def _batchnorm(self, node, i: int, a: dict, out: str) -> None:
        x = self.act(node, node.input[0])
        eps = self.scalar(node, a, "epsilon", 1e-5)
        bn = BatchNorm(self.name_for(node, i), x, self.shape[x][-1], eps=eps)
        for attr, t in zip(("gamma", "beta", "mean", "var"), node.input[1:5]):
            v = self.weight(node, t).reshape(-1)
            if v.size != bn.gamma.size:
                raise self.error(node, f"{bn.gamma.size} values in '{t}' (one per channel)", v.size)
            getattr(bn, attr)[...] = v
        if np.any(bn.var < 0):
            raise self.error(node, "variances >= 0", float(bn.var.min()))
        self.add(node, out, bn)

    def _relu(self, node, i: int, a: dict, out: str) -> None:
        self.add(node, out, ReLU(self.name_for(node, i), (self.act(node, node.input[0]),)))

    def _pool(self, node, i: int, a: dict, out: str) -> None:
        x = self.act(node, node.input[0])
        k, stride, pad = self.window(node, a)
        if a.get("storage_order", 0):
            raise self.error(node, "storage_order 0", a.get("storage_order"))
        average = node.op_type == "AveragePool"
        if average and pad and a.get("count_include_pad", 0):
            raise self.error(node, "count_include_pad 0 when padded", 1)
        pool = AvgPool if average else MaxPool
        self.add(node, out, pool(self.name_for(node, i), (x,), k, stride, pad))

    def _global_pool(self, node, i: int, a: dict, out: str) -> None:
        self.add(node, out, GlobalAvgPool(self.name_for(node, i), (self.act(node, node.input[0]),)))

    def _reduce_mean(self, node, i: int, a: dict, out: str) -> None:
        """ReduceMean over the two spatial axes of an NCHW map (PyTorch's export of
        AdaptiveAvgPool2d((1, 1)) and of x.mean((2, 3))): a global average pool."""
        x = self.act(node, node.input[0])
        if len(node.input) > 1 and node.input[1]:          # opset 18: the axes are an input
            axes_t = self.constant(node, node.input[1])
            if axes_t.dtype.kind not in "iu":
                raise self.error(node, "constant integer (int64) axes", str(axes_t.dtype))
            axes = [int(v) for v in axes_t.reshape(-1)]
        else:
            axes = [int(v) for v in a.get("axes", [])]
        if len(self.shape[x]) != 3 or sorted(v % 4 for v in axes) != [2, 3]:
            raise self.error(node, "a mean over the H and W axes (2 and 3) of an N x C x H x W map",
                             axes)
        self.add(node, out, GlobalAvgPool(self.name_for(node, i), (x,)))

    def _flatten(self, node, i: int, a: dict, out: str) -> None:
        """Flatten (axis 1) and a Reshape to one flat vector per sample."""
        x = self.act(node, node.input[0])
        if node.op_type == "Flatten" and a.get("axis", 1) != 1:
            raise self.error(node, "axis 1 (keep the batch axis)", a.get("axis"))
        if node.op_type == "Reshape":
            shape_t = self.constant(node, node.input[1])
            if shape_t.dtype.kind not in "iu":
                raise self.error(node, "a constant integer (int64) shape", str(shape_t.dtype))
            target = [int(v) for v in shape_t.reshape(-1)]
            size = int(np.prod(self.shape[x]))
            if len(target) != 2 or target[1] not in (-1, size) or target[0] not in (-1, 0, 1):
                raise self.error(node, f"a reshape to a flat vector per sample ([N, -1] or "
                                       f"[N, {size}])", target)
        if len(self.shape[x]) == 1:                 # already flat (e.g. after global pooling)
            self.alias[out] = x
            return
        self.add(node, out, Flatten(self.name_for(node, i), (x,), order="nchw"))


_OPS = {"Constant": _Importer._constant, "Identity": _Importer._identity, "Dropout": _Importer._identity,
        "Conv": _Importer._conv, "Gemm": _Importer._dense, "MatMul": _Importer._dense, "Add": _Importer._add,
        "BatchNormalization": _Importer._batchnorm, "Relu": _Importer._relu, "MaxPool": _Importer._pool,
        "AveragePool": _Importer._pool, "GlobalAveragePool": _Importer._global_pool,
        "ReduceMean": _Importer._reduce_mean,
        "Flatten": _Importer._flatten, "Reshape": _Importer._flatten}


def load_onnx(path: str | Path, input_shape: tuple[int, ...], classes: int, file: str) -> Net:
    """An ONNX model's graph and trained weights (workload: model.onnx; needs cimsim[onnx]).

    Inputs of `input_shape` (H, W, C) or (F,); `file` names the workload in errors."""
    try:
        import onnx
    except ImportError:
        raise CimsimError(f"{file}: model.onnx: reading ONNX models needs the onnx package: "
                          f"pip install 'cimsim[onnx]'") from None
    p = Path(path)
    regular_file(p, file, "model.onnx", str(p), ".onnx file")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except FileNotFoundError:
        raise ConfigError(file, "model.onnx", "an existing .onnx file", str(p)) from None
    except Exception as e:   # protobuf raises its own DecodeError, and others for bad files
        raise ConfigError(file, "model.onnx", "an ONNX model file", str(p),
                          note=(str(e).splitlines() or [type(e).__name__])[0][:200]) from None
    net = _Importer(model.graph, file, p.name).run(input_shape)
    out = net.shapes(input_shape)[net.output] if net.nodes else ()
    if out != (classes,):
        raise ConfigError(file, "model.onnx", f"a model with {classes} outputs (the dataset's classes)",
                          list(out))
    return net
