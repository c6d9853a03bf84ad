"""The on-chip network: a 2D mesh of routers, where every node's data lives, and the flows
that move it.

Placement. Tiles are numbered in mapping order (each layer takes consecutive tiles);
`tiles_per_router` consecutive tiles share one router; routers sit on a W x H mesh
(W = ceil(sqrt(routers))) along a snake path (row 0 left to right, row 1 right to left,
...), so consecutive routers are neighbours and a layer's tiles stay together. The chip's
off-chip port (input images in, logits out) is at router 0.

Homes. A node's output lives in the SRAM buffers of its home tiles: a weight layer's home is
its own tiles; a digital node (BN, ReLU, pooling, add) runs on the data where its first input
lives, so its home is that input's home; the network input's home is tile 0 (the port).

Flows. A node reads each input whose home differs from its own over the mesh: the bytes are
spread evenly over the node's home routers, each part sent from the nearest router of the
input's home (XY routing). Outputs that leave the chip go back to the port. A flow holds its
source router's injection port, every link on its path and its destination's ejection port
for ceil(bytes / link width) + hops cycles, and costs bits x routers traversed (hops + 1) x
the per-bit router energy. A part whose nearest source router is its destination router
crosses no link and is no flow: it moves between buffers on the tiles' shared bus, whose
SRAM reads and writes the node already counts (issue 26: the port and tile 0 share router
0, and the images were charged a router traversal they never make).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..mapping import ChipMap
    from ..trace import Trace


@dataclass(frozen=True)
class Home:
    """Where a node's data lives: a run of consecutive tiles (its SRAM buffers)."""

    name: str            # the layer whose tiles these are, or "port" for tile 0's buffer
    first_tile: int
    tiles: int


@dataclass(frozen=True)
class Flow:
    """One per-image transfer between two routers."""

    src: int
    dst: int
    bytes_per_image: int
    hops: int
    resources: tuple[str, ...]      # injection port, links in path order, ejection port

    def cycles(self, bytes_per_cycle: int) -> int:
        return math.ceil(self.bytes_per_image / bytes_per_cycle) + self.hops


class Mesh:
    """Router placement and XY routes for a chip of `tiles` tiles."""

    def __init__(self, tiles: int, tiles_per_router: int) -> None:
        self.tiles_per_router = tiles_per_router
        self.routers = math.ceil(tiles / tiles_per_router)
        self.width = math.ceil(math.sqrt(self.routers))
        self.height = math.ceil(self.routers / self.width)

    def xy(self, router: int) -> tuple[int, int]:
        y, i = divmod(router, self.width)
        return (i if y % 2 == 0 else self.width - 1 - i), y

    def router_at(self, x: int, y: int) -> int:
        return y * self.width + (x if y % 2 == 0 else self.width - 1 - x)

    def routers_of(self, first_tile: int, tiles: int) -> tuple[int, ...]:
        lo = first_tile // self.tiles_per_router
        hi = (first_tile + max(tiles, 1) - 1) // self.tiles_per_router
        return tuple(range(lo, hi + 1))

    def hops(self, a: int, b: int) -> int:
        (xa, ya), (xb, yb) = self.xy(a), self.xy(b)
        return abs(xa - xb) + abs(ya - yb)

    def path(self, a: int, b: int) -> list[int]:
        """Routers visited from a to b: X first then Y, or Y first when a sits in a partly
        filled last row (so a route never crosses an empty slot)."""
        (x, y), (xb, yb) = self.xy(a), self.xy(b)
        partial = self.routers < self.width * self.height and y == self.height - 1
        out = [a]
        for axis in ("y", "x") if partial else ("x", "y"):
            while axis == "x" and x != xb:
                x += 1 if xb > x else -1
                out.append(self.router_at(x, y))
            while axis == "y" and y != yb:
                y += 1 if yb > y else -1
                out.append(self.router_at(x, y))
        return out

    def links(self) -> int:
        """Directed router-to-router links of the mesh."""
        cells = {self.xy(r) for r in range(self.routers)}
        return sum((x + dx, y + dy) in cells for x, y in cells
                   for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)))

    def flows(self, src: tuple[int, ...], dst: tuple[int, ...], nbytes: int) -> list[Flow]:
        """nbytes per image from routers src to routers dst, split evenly over dst (whole
        bytes; the first nbytes mod len(dst) destinations take one more)."""
        out = []
        q, rem = divmod(nbytes, len(dst))
        for j, d in enumerate(dst):
            b = q + (j < rem)
            if not b:
                continue
            s = min(src, key=lambda r: (self.hops(r, d), r))
            if s == d:
                continue
            p = self.path(s, d)
            res = (f"inj{s}", *(f"link{p[i]}-{p[i + 1]}" for i in range(len(p) - 1)), f"ej{d}")
            out.append(Flow(s, d, b, len(p) - 1, res))
        return out


PORT = Home("port", 0, 1)


def homes(trace: Trace, cmap: ChipMap) -> dict[str, Home]:
    """Each node's home (and the network input's)."""
    out = {"input": PORT}
    for n in trace.nodes:
        if n.layer:
            lm = cmap.layer(n.layer)
            out[n.name] = Home(lm.name, lm.first_tile, lm.tiles)
        else:
            out[n.name] = out[n.inputs[0]] if n.inputs else PORT
    return out


def node_flows(trace: Trace, cmap: ChipMap, mesh: Mesh) -> dict[str, list[Flow]]:
    """Per node, the flows that bring its inputs to its home (nodes whose outputs leave the
    chip also send them to the port)."""
    home = homes(trace, cmap)
    routers = {k: mesh.routers_of(h.first_tile, h.tiles) for k, h in home.items()}
    out: dict[str, list[Flow]] = {}
    leaving = trace.leaving
    for n in trace.nodes:
        fl: list[Flow] = []
        out[n.name] = fl
        if not n.images:
            continue
        for i, b in zip(n.inputs, n.in_bytes):
            if home[i] != home[n.name] and b:
                fl += mesh.flows(routers[i], routers[n.name], b // n.images)
        if n.name in leaving and n.sram_write_bytes:
            fl += mesh.flows(routers[n.name], routers["input"], n.sram_write_bytes // n.images)
    return out
