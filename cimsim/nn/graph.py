"""Networks from layer lists: one builder for the workload's `model.layers` and the built-in
networks alike.

A layer list is a sequence of `LayerSpec`s (config/workload.py). Shapes are inferred from
the input shape (H, W, C) or (F,) as the list is walked (config/shapes.py, which the config
also uses to check a list when the file loads), so a layer never repeats its input size
(conv in_channels, linear in_features); a layer that does not suit its input raises a
`GraphError` naming the layer's position and key, which the config turns into a located
message.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config.shapes import GraphError, PlannedLayer, plan_layers
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
    ShapesOnly,
)

__all__ = ["GraphError", "layer", "net_from_layers"]


def layer(type: str, name: str = "", inputs: Sequence[str] = (), **kw) -> LayerSpec:
    """A LayerSpec in code (the built-in networks): layer('conv', 'stem.conv', out_channels=16)."""
    return LayerSpec(type=type, name=name, inputs=tuple(inputs), **kw)


def net_from_layers(layers: Sequence[LayerSpec], input_shape: tuple[int, ...], classes: int | None,
                    seed: int, shapes_only: bool = False) -> Net:
    """Your network as a list of layers (workload: model.layers; docs/models.md).

    The list is walked by config.shapes.plan_layers (defaults, shapes, GraphError), then
    built node by node. Weights are drawn from one generator seeded by `seed`, in list order
    (He-normal convs, LeCun-normal linears). `classes` (None: unknown) checks the last
    layer's width and fills a last linear's out_features of 0. `shapes_only`: weights are
    zero views holding no memory (layers.ShapesOnly), for validation and cost-only runs."""
    rng = ShapesOnly() if shapes_only else np.random.default_rng(seed)
    return Net([_node(p, rng) for p in plan_layers(layers, input_shape, classes)])


def _node(p: PlannedLayer, rng: np.random.Generator | ShapesOnly) -> Node:
    sp, t, name, ins = p.spec, p.spec.type, p.name, p.inputs
    if t == "conv":
        return Conv2d(name, ins[0], p.in_shape[2], p.size, p.kernel, p.stride, p.padding, rng,
                      groups=sp.groups, bias=bool(sp.bias))
    if t == "linear":
        return Linear(name, ins[0], p.in_shape[0], p.size, rng, bias=sp.bias is not False)
    if t == "batchnorm":
        return BatchNorm(name, ins[0], p.in_shape[-1])
    if t in ("maxpool", "avgpool"):
        return (MaxPool if t == "maxpool" else AvgPool)(name, ins, p.kernel, p.stride, p.padding)
    return {"relu": ReLU, "global_avgpool": GlobalAvgPool, "flatten": Flatten, "add": Add}[t](name, ins)
