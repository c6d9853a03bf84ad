"""Make examples/onnx_model/digits_cnn.onnx: a small CNN trained in float on the bundled digits
(cimsim's own trainer), exported with onnx.helper in the layout PyTorch's exporter writes
(NCHW input, OIHW kernels, Gemm with transB=1, Flatten before it).

    pip install 'cimsim[onnx]'
    python examples/onnx_model/make_model.py --out my_cnn.onnx    # default: digits_cnn.onnx in the
                                                                  # current folder
    cimsim run arch/rram_64x64.yaml examples/onnx_model/workload.yaml   # runs the shipped file

To run your export, point `model.onnx` of a copy of workload.yaml at it. The parameter count
printed is the one `cimsim run` reports (weights, biases, batch-norm scales and shifts).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def export(net, input_shape: tuple[int, int, int], path: Path) -> None:
    """Write a cimsim Net of conv / batchnorm / relu / maxpool / global_avgpool / flatten /
    linear / add nodes as an ONNX graph (NCHW)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from cimsim.nn.layers import (
        Add,
        AvgPool,
        BatchNorm,
        Conv2d,
        Flatten,
        GlobalAvgPool,
        Linear,
        MaxPool,
        ReLU,
    )

    h, w, c = input_shape
    inits, nodes = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    flat = set()
    for n in net.nodes:
        ins = list(n.inputs)
        if isinstance(n, Conv2d):
            k, cin = n.k, n.cin
            wt = n.W.reshape(k, k, cin, n.cout).transpose(3, 2, 0, 1)   # OIHW
            args = [ins[0], const(f"{n.name}.W", wt)]
            if n.b is not None:
                args.append(const(f"{n.name}.b", n.b))
            nodes.append(helper.make_node("Conv", args, [n.name], name=n.name, kernel_shape=[k, k],
                                          strides=[n.stride] * 2, pads=[n.pad] * 4))
        elif isinstance(n, Linear):
            args = [ins[0], const(f"{n.name}.W", n.W.T)]
            if n.b is not None:
                args.append(const(f"{n.name}.b", n.b))
            nodes.append(helper.make_node("Gemm", args, [n.name], name=n.name, transB=1))
        elif isinstance(n, BatchNorm):
            args = [ins[0]] + [const(f"{n.name}.{p}", getattr(n, p))
                               for p in ("gamma", "beta", "mean", "var")]
            nodes.append(helper.make_node("BatchNormalization", args, [n.name], name=n.name, epsilon=n.eps))
        elif isinstance(n, ReLU):
            nodes.append(helper.make_node("Relu", ins, [n.name], name=n.name))
        elif isinstance(n, (MaxPool, AvgPool)):
            op = "MaxPool" if isinstance(n, MaxPool) else "AveragePool"
            nodes.append(helper.make_node(op, ins, [n.name], name=n.name, kernel_shape=[n.k] * 2,
                                          strides=[n.stride] * 2, pads=[n.pad] * 4))
        elif isinstance(n, GlobalAvgPool):           # ONNX keeps (N, C, 1, 1): flatten after it
            nodes.append(helper.make_node("GlobalAveragePool", ins, [n.name + ".4d"], name=n.name))
            nodes.append(helper.make_node("Flatten", [n.name + ".4d"], [n.name], name=n.name + ".flat"))
            flat.add(n.name)
        elif isinstance(n, Flatten):
            nodes.append(helper.make_node("Flatten", ins, [n.name], name=n.name))
        elif isinstance(n, Add):
            nodes.append(helper.make_node("Add", ins, [n.name], name=n.name))
        else:
            raise ValueError(f"no ONNX export for node {n.name} ({n.kind})")
    graph = helper.make_graph(
        nodes, "cimsim_export",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, c, h, w])],
        [helper.make_tensor_value_info(net.output, TensorProto.FLOAT, [None, None])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def main(argv: list[str] | None = None) -> None:
    from cimsim.config import load_workload
    from cimsim.nn.fit import train_float
    from cimsim.nn.models import build_model
    from cimsim.nn.network import workload_data

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="digits_cnn.onnx",
                   help="where to write the model (default: digits_cnn.onnx in the current folder; the "
                        "shipped examples/onnx_model/digits_cnn.onnx stays as it is)")
    p.add_argument("--epochs", type=int, default=15)
    args = p.parse_args(argv)
    # the network to export: a layer list trained in float, as any cimsim workload
    w = load_workload(HERE / "train.yaml", values={"pretrain.epochs": args.epochs}).spec
    data = workload_data(w, str(HERE / "train.yaml"))
    net = build_model(w.model, data.input_shape, data.classes, w.seed)
    train_float(net, data, w.pretrain, w.seed)
    acc = float((net.predict(data.x_test) == data.y_test).mean())
    export(net, data.input_shape, Path(args.out))
    print(f"{args.out}: {net.parameter_count()} parameters, float test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
