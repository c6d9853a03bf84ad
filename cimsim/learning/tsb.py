"""TSB (Qin et al. 2024): insert a tiny shared block into a backbone and fine-tune it per chip.

Design choices (the TSB paper, Qin et al., leaves them open): the block is a C x C 1x1
convolution in residual form, y = x + x B with B = 0 at start (the identity map), applied
to every group of C channels of its insertion point's output. Insertion points: after every
convolution, before its batch norm (`insert_after: conv`), or after every residual block's
output and the stem (`block`). Sharing: one block for every point (`global`), one per
channel width (`per_width`) or one per point (`per_layer`). Fine-tuning trains only B, with
Adam, against the backbone weights read back from one chip, batch norms frozen at their
float statistics (the chip's periphery is fixed after deployment).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..config.schema import spec
from ..errors import FitError
from ..nn.fit import Adam
from ..nn.layers import BatchNorm, BlockApply, Conv2d, Net, ReLU, SharedBlock, softmax_xent


@dataclass(frozen=True)
class TsbSpec:
    """Tiny shared block (Qin et al. 2024): a C x C 1x1 convolution y = x + x B (B = 0 at
    start: the identity), applied to every group of C channels at each insertion point,
    fine-tuned per chip against that chip's read-back backbone, then write-verified."""

    channels: int = spec(16, lo=1, hi=1024, doc="C: the block is C x C; layer widths must be multiples")
    sharing: str = spec("global", choices=("global", "per_width", "per_layer"),
                        doc="one block for all points, one per channel width, or one per point")
    insert_after: str = spec("conv", choices=("conv", "block"),
                             doc="conv: after every conv (before its BN); block: after each "
                                 "residual block's output (and the stem)")
    epochs: int = spec(2, lo=1, hi=1000, doc="per-chip fine-tuning passes over `images`")
    images: int = spec(512, lo=1, doc="training images used for per-chip fine-tuning")
    batch: int = spec(32, lo=1, hi=4096)
    lr: float = spec(0.003, lo=0.0, lo_open=True, hi=10.0, doc="Adam learning rate of the block")


def insert_blocks(net: Net, spec: TsbSpec, workload_file: str = "workload") -> Net:
    """A copy of `net` with TSB insertion points; the original is untouched."""
    src = copy.deepcopy(net)
    c = spec.channels
    width = {n.name: n.cout for n in src.nodes if isinstance(n, Conv2d)}
    points = []
    for n in src.nodes:
        if spec.insert_after == "conv" and isinstance(n, Conv2d):
            points.append((n.name, n.cout))
        elif spec.insert_after == "block" and isinstance(n, ReLU) and (
                n.name.endswith(".out") or n.name == "stem.relu"):
            # a residual block's output has the channels of its second conv
            conv = "stem.conv" if n.name == "stem.relu" else n.name.replace(".out", ".b.conv")
            points.append((n.name, width[conv]))
    if not points:
        raise FitError(f"{workload_file}: deploy.tsb.insert_after: the model has no "
                       f"'{spec.insert_after}' insertion points; use 'conv'")
    bad = [f"{name} ({ch})" for name, ch in points if ch % c]
    if bad:
        raise FitError(f"{workload_file}: deploy.tsb.channels: expected a divisor of every insertion "
                       f"point's channel count, got {c}; not divisible: {', '.join(bad[:3])}")
    blocks: dict[str, SharedBlock] = {}
    after = dict(points)
    nodes, rename = [], {}
    for n in src.nodes:
        n.inputs = tuple(rename.get(i, i) for i in n.inputs)
        nodes.append(n)
        if n.name in after:
            key = {"global": "tsb", "per_width": f"tsb.w{after[n.name]}",
                   "per_layer": f"{n.name}.tsb.block"}[spec.sharing]
            blk = blocks.setdefault(key, SharedBlock(key, c))
            nodes.append(BlockApply(f"{n.name}.tsb", n.name, blk))
            rename[n.name] = f"{n.name}.tsb"
    return Net(nodes)


@dataclass
class FinetuneStats:
    images: int          # image passes (forward + backward)
    steps: int
    macs: int            # multiply-accumulates of the fine-tuning (forward + input gradients + dB)


def forward_macs(net: Net, x: np.ndarray) -> dict[str, int]:
    """MACs per image of every weight node (conv, linear, block application)."""
    out: dict[str, int] = {}
    acts = {"input": x[:1]}
    for n in net.nodes:
        y = n.forward([acts[i] for i in n.inputs], train=False)
        acts[n.name] = y
        if isinstance(n, Conv2d):
            out[n.name] = y.size * n.W.shape[0]
        elif isinstance(n, BlockApply):
            out[n.name] = y.size * n.block.c
        elif hasattr(n, "W"):
            out[n.name] = n.W.size
    return out


def finetune(tnet: Net, x: np.ndarray, y: np.ndarray, spec: TsbSpec, seed: int) -> FinetuneStats:
    """Train the shared blocks of `tnet` (whose weight layers hold one chip's read-back
    weights) on (x, y); everything else is frozen. `tnet` is the caller's working copy: its
    batch norms stay frozen and its weight layers stop forming dW."""
    blocks = tnet.blocks()
    for n in tnet.nodes:
        if isinstance(n, BatchNorm):
            n.frozen = True
    for n in tnet.weight_layers():
        n.want_dW = False
    opt = Adam([b.W for b in blocks])
    rng = np.random.default_rng([seed, 17])
    x, y = x[: spec.images], y[: spec.images]
    for _ in range(spec.epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), spec.batch):
            idx = order[i:i + spec.batch]
            for b in blocks:
                b.dW[...] = 0.0
            logits = tnet.forward(x[idx], train=True)
            _, g = softmax_xent(logits, y[idx])
            tnet.backward(g)
            opt.step([b.dW for b in blocks], spec.lr)
    macs = forward_macs(tnet, x)
    pos = {n.name: i for i, n in enumerate(tnet.nodes)}
    applications = {n.name for n in tnet.nodes if isinstance(n, BlockApply)}
    first = min(pos[k] for k in applications)
    # forward over every node; backward: input gradients of the nodes after the first block,
    # plus dB of every block application (weight gradients of the backbone are not formed)
    back = sum(v for k, v in macs.items() if pos[k] > first)
    dblk = sum(v for k, v in macs.items() if k in applications)
    images = spec.epochs * len(x)
    return FinetuneStats(images, opt.t, images * (sum(macs.values()) + back + dblk))


def training_macs(net: Net, x: np.ndarray, epochs: int, images: int) -> int:
    """MACs of (noise-aware) training of the whole network: forward, input and weight gradients."""
    return epochs * images * 3 * sum(forward_macs(net, x).values())
