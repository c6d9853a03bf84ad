"""Float training of a network (Adam, L2 weight decay, cosine learning-rate schedule).

Plain numpy: nothing here knows the chip. Noise-aware pretraining (pretrain.py) passes a
`perturb` function that returns one programming draw of a weight matrix.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..config.workload import PretrainSpec
from ..progress import progress
from .data import Dataset
from .layers import Net, softmax_xent


class Adam:
    """Adam (Kingma and Ba) with bias correction over a list of parameter arrays (in place)."""

    def __init__(self, params: list[np.ndarray], b1: float = 0.9, b2: float = 0.999) -> None:
        self.params, self.b1, self.b2, self.t = params, b1, b2, 0
        self.m = [np.zeros_like(v) for v in params]
        self.s = [np.zeros_like(v) for v in params]

    def step(self, grads: list[np.ndarray], lr: float) -> None:
        self.t += 1
        b1, b2 = self.b1, self.b2
        for v, g, m, s in zip(self.params, grads, self.m, self.s):
            m[...] = b1 * m + (1 - b1) * g
            s[...] = b2 * s + (1 - b2) * g * g
            mh, sh = m / (1 - b1 ** self.t), s / (1 - b2 ** self.t)
            v -= (lr * mh / (np.sqrt(sh) + 1e-8)).astype(v.dtype)


def train_float(net: Net, data: Dataset, p: PretrainSpec, seed: int,
                perturb: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    """Adam with L2 weight decay and a cosine learning-rate schedule. With `perturb`
    (noise-aware training), every batch runs forward and backward on perturbed weights
    (perturb(W) per weight layer) and the update is applied to the clean weights
    (straight-through)."""
    rng = np.random.default_rng(seed + 1)
    layers = net.weight_layers()
    params = [(k, v, n.grads()[k]) for n in net.nodes for k, v in n.params().items() if k in n.grads()]
    opt = Adam([v for _, v, _ in params])
    step = 0
    n = len(data.x_train)
    steps_total = p.epochs * ((n + p.batch - 1) // p.batch)
    for _ in progress(range(p.epochs), "pretrain", unit="epoch"):
        order = rng.permutation(n)
        for i in range(0, n, p.batch):
            idx = order[i:i + p.batch]
            clean = [lay.W.copy() for lay in layers] if perturb is not None else []
            for lay, wc in zip(layers, clean):
                lay.W[...] = perturb(wc)
            logits = net.forward(data.x_train[idx], train=True)
            _, g = softmax_xent(logits, data.y_train[idx])
            net.backward(g)
            for lay, wc in zip(layers, clean):
                lay.W[...] = wc
            step += 1
            lr = p.lr * 0.5 * (1 + np.cos(np.pi * step / steps_total))
            opt.step([gv + p.weight_decay * v if k == "W" else gv for k, v, gv in params], lr)
