"""Networks from layer lists: one builder for the workload's `model.layers` and the built-in
networks alike.

A layer list is a sequence of `LayerSpec`s (config/workload.py). Shapes are inferred from
the input shape (H, W, C) or (F,) as the list is walked, so a layer never repeats its input
size (conv in_channels, linear in_features); a layer that does not suit its input raises a
`GraphError` naming the layer's position and key, which the config turns into a located
message.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config.workload import LayerSpec
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


class GraphError(ValueError):
    """Layer `index` of the list does not suit its input: `key` (a LayerSpec key or '')."""

    def __init__(self, index: int, key: str, expected: str, got: object = None) -> None:
        super().__init__(f"layers[{index}].{key}: expected {expected}, got {got!r}")
        self.index, self.key, self.expected, self.got = index, key, expected, got


def layer(type: str, name: str = "", inputs: Sequence[str] = (), **kw) -> LayerSpec:
    """A LayerSpec in code (the built-in networks): layer('conv', 'stem.conv', out_channels=16)."""
    return LayerSpec(type=type, name=name, inputs=tuple(inputs), **kw)


def net_from_layers(layers: Sequence[LayerSpec], input_shape: tuple[int, ...], classes: int | None,
                    seed: int) -> Net:
    """Your network as a list of layers (workload: model.layers; docs/models.md).

    Weights are drawn from one generator seeded by `seed`, in list order (He-normal convs,
    LeCun-normal linears). `classes` (None: unknown) checks the last layer's width and fills a
    last linear's out_features of 0."""
    rng = np.random.default_rng(seed)
    shapes: dict[str, tuple[int, ...]] = {"input": tuple(input_shape)}
    nodes: list[Node] = []
    prev = "input"
    for i, sp in enumerate(layers):
        name = sp.name or f"{sp.type}{i}"
        ins = tuple(sp.inputs) or (prev,)
        if sp.type == "add" and len(ins) == 1:
            ins = (prev, ins[0])
        shape = shapes[ins[0]]
        last = i == len(layers) - 1
        try:
            node = _node(sp, name, ins, shape, rng, classes if last else None)
            shapes[name] = node.output_shape([shapes[k] for k in ins])
        except ShapeError as e:
            key = e.key if e.key in ("kernel", "padding", "inputs") else ("inputs" if sp.inputs else "")
            got = _shape_text(e.got) if isinstance(e.got, tuple) else e.got
            raise GraphError(i, key, f"{e.expected} (input shape {_shape_text(shape)})", got) from None
        nodes.append(node)
        prev = name
    if not nodes:
        raise GraphError(0, "", "at least one layer")
    out = shapes[prev]
    if classes is not None and out != (classes,):
        raise GraphError(len(layers) - 1, "", f"a last layer with {classes} outputs (one per class; "
                         f"end with a linear layer)", _shape_text(out))
    return Net(nodes)


def _shape_text(shape: tuple[int, ...]) -> str:
    """(H, W, C) as the YAML writes it, [C, H, W]."""
    return f"[{shape[2]}, {shape[0]}, {shape[1]}]" if len(shape) == 3 else f"[{', '.join(map(str, shape))}]"


def _node(sp: LayerSpec, name: str, ins: tuple[str, ...], shape: tuple[int, ...],
          rng: np.random.Generator, classes: int | None) -> Node:
    t = sp.type
    if t == "conv":
        if len(shape) != 3:
            raise ShapeError("inputs", "an image-shaped input [C, H, W] for a conv layer", _shape_text(shape))
        cin, k = shape[2], sp.kernel or 3
        if cin % sp.groups or sp.out_channels % sp.groups:
            raise ShapeError("groups", f"a divisor of the input channels ({cin}) and out_channels "
                             f"({sp.out_channels})", sp.groups)
        pad = k // 2 if sp.padding < 0 else sp.padding
        return Conv2d(name, ins[0], cin, sp.out_channels, k, sp.stride or 1, pad, rng,
                      groups=sp.groups, bias=bool(sp.bias))
    if t == "linear":
        if len(shape) != 1:
            raise ShapeError("inputs", "a flat input (put a flatten or global_avgpool layer first)",
                             _shape_text(shape))
        out = sp.out_features or classes
        if not out:
            raise ShapeError("out_features", "the number of outputs (0 only on the last layer)", 0)
        return Linear(name, ins[0], shape[0], out, rng, bias=sp.bias is not False)
    if t == "batchnorm":
        return BatchNorm(name, ins[0], shape[-1])
    if t == "relu":
        return ReLU(name, ins)
    if t in ("maxpool", "avgpool"):
        k = sp.kernel or 2
        cls = MaxPool if t == "maxpool" else AvgPool
        return cls(name, ins, k, sp.stride or k, max(sp.padding, 0))
    if t == "global_avgpool":
        return GlobalAvgPool(name, ins)
    if t == "flatten":
        return Flatten(name, ins)
    if t == "add":
        return Add(name, ins)
    raise ShapeError("type", "a known layer type", t)
