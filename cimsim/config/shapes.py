"""Tensor shapes of a network, in plain Python: what each layer type makes of its input's
shape, and a layer list walked from the input shape.

The workload config checks a `model.layers` list with these when the file loads (no
numerics imported), and the numpy nodes of nn/layers.py compute their output shapes with
the same functions, so the check and the network cannot disagree. Shapes are (H, W, C) for
feature maps and (F,) for flat vectors; messages write them as the YAML does, [C, H, W].
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .workload import LayerSpec

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """A node's inputs do not suit it: `key` names the offending setting, `expected` what
    would suit."""

    def __init__(self, key: str, expected: str, got: object = None) -> None:
        super().__init__(f"{key}: expected {expected}, got {got!r}")
        self.key, self.expected, self.got = key, expected, got


class GraphError(ValueError):
    """Layer `index` of a layer list does not suit its input: `key` (a LayerSpec key or '')."""

    def __init__(self, index: int, key: str, expected: str, got: object = None) -> None:
        super().__init__(f"layers[{index}].{key}: expected {expected}, got {got!r}")
        self.index, self.key, self.expected, self.got = index, key, expected, got


def shape_text(shape: Shape) -> str:
    """(H, W, C) as the YAML writes it, [C, H, W]."""
    return f"[{shape[2]}, {shape[0]}, {shape[1]}]" if len(shape) == 3 else f"[{', '.join(map(str, shape))}]"


def window_out(size: int, k: int, stride: int, pad: int) -> int:
    """Output length of a k-wide window sliding with `stride` over `size` (+ pad each side)."""
    return (size + 2 * pad - k) // stride + 1


def spatial(shape: Shape, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError("input", f"an (H, W, C) feature map for {what}", shape)
    return shape


def conv_shape(shape: Shape, cin: int, cout: int, k: int, stride: int, pad: int) -> Shape:
    h, w, c = spatial(shape, "a convolution")
    if c != cin:
        raise ShapeError("input", f"{cin} input channels", c)
    oh, ow = window_out(h, k, stride, pad), window_out(w, k, stride, pad)
    if oh < 1 or ow < 1:
        raise ShapeError("kernel", f"a kernel of at most the padded input ({h + 2 * pad}x{w + 2 * pad})", k)
    return (oh, ow, cout)


def linear_shape(shape: Shape, fin: int, fout: int) -> Shape:
    if len(shape) != 1:
        raise ShapeError("input", "a flat input (put a flatten or global_avgpool layer before "
                         "a linear layer)", shape)
    if shape[0] != fin:
        raise ShapeError("input", f"{fin} input features", shape[0])
    return (fout,)


def channels_shape(shape: Shape, channels: int) -> Shape:
    """A per-channel layer (batch norm): the shape unchanged, its last axis `channels`."""
    if shape[-1] != channels:
        raise ShapeError("input", f"{channels} channels (last axis)", shape[-1])
    return shape


def add_shape(shapes: Sequence[Shape]) -> Shape:
    for sh in shapes[1:]:
        if sh != shapes[0]:
            raise ShapeError("inputs", "inputs of one shape", sh)
    return shapes[0]


def pool_shape(shape: Shape, k: int, stride: int, pad: int) -> Shape:
    h, w, c = spatial(shape, "pooling")
    oh, ow = window_out(h, k, stride, pad), window_out(w, k, stride, pad)
    if oh < 1 or ow < 1:
        raise ShapeError("kernel", f"a window of at most the padded input ({h + 2 * pad})", k)
    if pad * 2 > k:
        raise ShapeError("padding", f"at most half the window ({k // 2})", pad)
    return (oh, ow, c)


def global_pool_shape(shape: Shape) -> Shape:
    return (spatial(shape, "global pooling")[2],)


def flatten_shape(shape: Shape) -> Shape:
    return (math.prod(shape),)


@dataclass(frozen=True)
class PlannedLayer:
    """One layer of a list with its defaults resolved and its shapes inferred."""

    spec: LayerSpec
    name: str
    inputs: tuple[str, ...]
    in_shape: Shape                     # its (first) input's shape
    out_shape: Shape
    size: int = 0                       # conv: out_channels; linear: out_features (0 filled)
    kernel: int = 0
    stride: int = 0
    padding: int = 0


def _plan(sp: LayerSpec, name: str, ins: tuple[str, ...], shapes: list[Shape],
          classes: int | None) -> PlannedLayer:
    """Defaults of the layer's type resolved (docs of LayerSpec) and its output shape."""
    t, shape = sp.type, shapes[0]
    if t == "conv":
        if len(shape) != 3:
            raise ShapeError("inputs", "an image-shaped input [C, H, W] for a conv layer", shape_text(shape))
        cin, k = shape[2], sp.kernel or 3
        if cin % sp.groups or sp.out_channels % sp.groups:
            raise ShapeError("groups", f"a divisor of the input channels ({cin}) and out_channels "
                             f"({sp.out_channels})", sp.groups)
        pad = k // 2 if sp.padding < 0 else sp.padding
        stride = sp.stride or 1
        return PlannedLayer(sp, name, ins, shape, conv_shape(shape, cin, sp.out_channels, k, stride, pad),
                            sp.out_channels, k, stride, pad)
    if t == "linear":
        if len(shape) != 1:
            raise ShapeError("inputs", "a flat input (put a flatten or global_avgpool layer first)",
                             shape_text(shape))
        out = sp.out_features or classes
        if not out:
            raise ShapeError("out_features", "the number of outputs (0 only on the last layer)", 0)
        return PlannedLayer(sp, name, ins, shape, linear_shape(shape, shape[0], out), out)
    if t in ("maxpool", "avgpool"):
        k = sp.kernel or 2
        stride, pad = sp.stride or k, max(sp.padding, 0)
        return PlannedLayer(sp, name, ins, shape, pool_shape(shape, k, stride, pad), 0, k, stride, pad)
    out = {"batchnorm": lambda: channels_shape(shape, shape[-1]), "relu": lambda: shape,
           "global_avgpool": lambda: global_pool_shape(shape), "flatten": lambda: flatten_shape(shape),
           "add": lambda: add_shape(shapes)}.get(t)
    if out is None:
        raise ShapeError("type", "a known layer type", t)
    return PlannedLayer(sp, name, ins, shape, out())


def plan_layers(layers: Sequence[LayerSpec], input_shape: Shape, classes: int | None) -> list[PlannedLayer]:
    """Walk a layer list from the input shape: every layer's name, inputs, defaults and
    shapes. Tensors flow from each layer to the next unless `inputs` names others (`add` with
    one name: that layer and the previous one). A layer that does not suit its input raises a
    GraphError naming its position and key; `classes` (None: unknown) checks the last
    layer's width and fills a last linear's out_features of 0."""
    shapes: dict[str, Shape] = {"input": tuple(input_shape)}
    out: list[PlannedLayer] = []
    prev = "input"
    for i, sp in enumerate(layers):
        name = sp.name or f"{sp.type}{i}"
        ins = tuple(sp.inputs) or (prev,)
        if sp.type == "add" and len(ins) == 1:
            ins = (prev, ins[0])
        shape = shapes[ins[0]]
        last = i == len(layers) - 1
        try:
            planned = _plan(sp, name, ins, [shapes[k] for k in ins], classes if last else None)
        except ShapeError as e:
            key = e.key if e.key in ("kernel", "padding", "inputs") else ("inputs" if sp.inputs else "")
            got = shape_text(e.got) if isinstance(e.got, tuple) else e.got
            raise GraphError(i, key, f"{e.expected} (input shape {shape_text(shape)})", got) from None
        shapes[name] = planned.out_shape
        out.append(planned)
        prev = name
    if not out:
        raise GraphError(0, "", "at least one layer")
    if classes is not None and shapes[prev] != (classes,):
        raise GraphError(len(layers) - 1, "", f"a last layer with {classes} outputs (one per class; "
                         f"end with a linear layer)", shape_text(shapes[prev]))
    return out
