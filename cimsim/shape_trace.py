"""Cost-only runs: the operation trace of a phase from the network's layer shapes alone.

It counts what `functional.run` counts, node by node, without weights, cells or data:
per-sample shapes come from each node's `output_shape`, digital operations from its
`digital_ops`, and a weight layer's crossbar actions from the tile's own `count` (the same
call the functional run makes per batch; every count is linear in the vectors). The one
data-dependent count is the sign of a crossbar's input (a signed input takes a positive and
a negative pass): here it follows from sign propagation (`Node.nonneg`: ReLU outputs and
pools of them are non-negative) and the dataset's inputs, which is what the functional run
sees unless a batch happens to hold no negative value where one could be. ADC clipping is
data-dependent and not counted (reported as null).
"""
from __future__ import annotations

import math

from .config.arch import ArchSpec
from .functional import act_bytes
from .hw.tile import TileModel
from .mapping import ChipMap
from .nn.layers import BlockApply, Conv2d, Linear, Net
from .trace import NodeTrace, Trace


def vectors_per_sample(n, shape_in: tuple[int, ...], shape_out: tuple[int, ...]) -> int:
    """Input vectors one sample sends through a weight node's crossbars (one per conv output
    pixel, one per linear sample, one per channel group of a TSB block)."""
    if isinstance(n, Conv2d):
        return shape_out[0] * shape_out[1]
    if isinstance(n, BlockApply):
        return math.prod(shape_in) // n.block.c
    return 1


def macs_per_sample(net: Net, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Multiply-accumulates of one sample in each weight node (the network's own MACs: a
    signed input's second pass and the cell slices are the chip's cost, not the network's)."""
    shapes = net.shapes(input_shape)
    out = {}
    for n in net.nodes:
        if isinstance(n, (Conv2d, Linear, BlockApply)):
            w = n.block.W if isinstance(n, BlockApply) else n.W
            out[n.name] = vectors_per_sample(n, shapes[n.inputs[0]], shapes[n.name]) * w.shape[0] * w.shape[1]
    return out


def shape_trace(net: Net, input_shape: tuple[int, ...], input_nonneg: bool, images: int,
                arch: ArchSpec, tile: TileModel, cmap: ChipMap) -> Trace:
    """The trace `functional.run` would emit for `images` inputs (ADC clipping aside)."""
    nb = act_bytes(arch)
    shapes = net.shapes(input_shape)
    nonneg = net.nonneg(input_nonneg)
    nodes = []
    for n in net.nodes:
        t = NodeTrace(n.name, n.kind, n.inputs, images=images)
        sizes = [math.prod(shapes[i]) for i in n.inputs]
        out = math.prod(shapes[n.name])
        t.sram_read_bytes = sum(sizes) * nb * images
        t.in_bytes = [s * nb * images for s in sizes]
        t.sram_write_bytes = out * nb * images
        t.digital_ops = n.digital_ops(sizes, out) * images
        layer = n.block.name if isinstance(n, BlockApply) else (
            n.name if isinstance(n, (Conv2d, Linear)) else "")
        if layer:
            passes = 1 if nonneg[n.inputs[0]] else 2
            vectors = vectors_per_sample(n, shapes[n.inputs[0]], shapes[n.name]) * passes * images
            tile.count(t, cmap.layer(layer), vectors, 0)
            tile.estimate_data(t, cmap.layer(layer), vectors)
            t.layer = layer
        nodes.append(t)
    return Trace(nodes)
