"""A small numpy DNN engine: layers with forward and backward, NHWC tensors.

Weight layers (Conv2d, Linear) keep their weights as one matrix W of shape
(rows, cols) = (k*k*Cin, Cout) or (in, out): exactly the matrix a crossbar
holds. Their matrix product can be swapped for an analog engine (`engine`),
which is how the chip model runs a trained network.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

Engine = Callable[[np.ndarray], np.ndarray]


def im2col(x: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """(B, H, W, C) -> (B, OH, OW, k*k*C), columns ordered (kh, kw, c)."""
    b, h, w, c = x.shape
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    cols = np.empty((b, oh, ow, k * k * c), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            s = (i * k + j) * c
            cols[..., s:s + c] = x[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :]
    return cols


def col2im(cols: np.ndarray, shape: tuple, k: int, stride: int, pad: int) -> np.ndarray:
    """Adjoint of im2col: scatter-add columns back to (B, H, W, C)."""
    b, h, w, c = shape
    oh, ow = cols.shape[1], cols.shape[2]
    x = np.zeros((b, h + 2 * pad, w + 2 * pad, c), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            s = (i * k + j) * c
            x[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :] += cols[..., s:s + c]
    return x[:, pad:pad + h, pad:pad + w, :] if pad else x


class Node(ABC):
    """A graph node: named, with named inputs; caches what backward needs."""

    kind = "node"

    def __init__(self, name: str, inputs: tuple[str, ...]) -> None:
        self.name, self.inputs = name, inputs

    def params(self) -> dict[str, np.ndarray]:
        return {}

    def grads(self) -> dict[str, np.ndarray]:
        return {}

    @abstractmethod
    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        """Output of the node for its inputs; `train` caches what backward needs."""

    @abstractmethod
    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        """Gradients w.r.t. the inputs, given the gradient w.r.t. the output."""


class Conv2d(Node):
    kind = "conv"

    def __init__(self, name: str, inp: str, cin: int, cout: int, k: int, stride: int, pad: int,
                 rng: np.random.Generator) -> None:
        super().__init__(name, (inp,))
        self.cin, self.cout, self.k, self.stride, self.pad = cin, cout, k, stride, pad
        fan_in = k * k * cin
        self.W = (rng.standard_normal((fan_in, cout)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        self.dW = np.zeros_like(self.W)
        self.engine: Engine | None = None
        self.want_dW = True    # LRT folds the per-pixel terms instead of forming dW

    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W}

    def grads(self) -> dict[str, np.ndarray]:
        return {"W": self.dW}

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        cols = im2col(x, self.k, self.stride, self.pad)
        b, oh, ow, kk = cols.shape
        flat = cols.reshape(-1, kk)
        y = self.engine(flat) if self.engine is not None else flat @ self.W
        if train:
            self._cache = (x.shape, flat, (b, oh, ow))
        return y.reshape(b, oh, ow, self.cout)

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        shape, flat, (b, oh, ow) = self._cache
        g2 = g.reshape(-1, self.cout)
        self.terms = (flat, g2)          # one rank-1 term per output pixel (for LRT)
        if self.want_dW:
            self.dW[...] = flat.T @ g2
        dcols = (g2 @ self.W.T).reshape(b, oh, ow, -1)
        return [col2im(dcols, shape, self.k, self.stride, self.pad)]


class Linear(Node):
    kind = "linear"

    def __init__(self, name: str, inp: str, fin: int, fout: int, rng: np.random.Generator) -> None:
        super().__init__(name, (inp,))
        self.W = (rng.standard_normal((fin, fout)) * np.sqrt(1.0 / fin)).astype(np.float32)
        self.b = np.zeros(fout, np.float32)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)
        self.engine: Engine | None = None
        self.want_dW = True

    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "b": self.b}

    def grads(self) -> dict[str, np.ndarray]:
        return {"W": self.dW, "b": self.db}

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        y = self.engine(x) if self.engine is not None else x @ self.W
        if train:
            self._x = x
        return y + self.b

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        self.terms = (self._x, g)
        if self.want_dW:
            self.dW[...] = self._x.T @ g
        self.db[...] = g.sum(0)
        return [g @ self.W.T]


class BatchNorm(Node):
    """Batch norm over all but the channel (last) axis; running stats for inference."""

    kind = "bn"

    def __init__(self, name: str, inp: str, c: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__(name, (inp,))
        self.gamma, self.beta = np.ones(c, np.float32), np.zeros(c, np.float32)
        self.mean, self.var = np.zeros(c, np.float32), np.ones(c, np.float32)
        self.dgamma, self.dbeta = np.zeros_like(self.gamma), np.zeros_like(self.beta)
        self.momentum, self.eps = momentum, eps
        self.streaming_eta: float | None = None   # set: normalise by running stats, update by EMA
        self.frozen = False     # train with the running statistics as constants (no update)

    def params(self) -> dict[str, np.ndarray]:
        return {"gamma": self.gamma, "beta": self.beta, "mean": self.mean, "var": self.var}

    def grads(self) -> dict[str, np.ndarray]:
        return {"gamma": self.dgamma, "beta": self.dbeta}

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        if not train:
            return (x - self.mean) / np.sqrt(self.var + self.eps) * self.gamma + self.beta
        axes = tuple(range(x.ndim - 1))
        if self.frozen:
            inv = 1.0 / np.sqrt(self.var + self.eps)
            xh = (x - self.mean) * inv
            self._cache = (xh, inv, None)
            return xh * self.gamma + self.beta
        if self.streaming_eta is not None:
            # streaming BN (LRT): running statistics normalise; each sample updates them
            inv = 1.0 / np.sqrt(self.var + self.eps)
            xh = (x - self.mean) * inv
            self._cache = (xh, inv, None)
            eta = self.streaming_eta
            mu, msq = x.mean(axes), (x * x).mean(axes)
            self.var[...] = eta * (self.var + self.mean ** 2) + (1 - eta) * msq
            self.mean[...] = eta * self.mean + (1 - eta) * mu
            self.var[...] = np.maximum(self.var - self.mean ** 2, 0.0)
            return xh * self.gamma + self.beta
        mu, var = x.mean(axes), x.var(axes)
        self.mean += self.momentum * (mu - self.mean)
        self.var += self.momentum * (var - self.var)
        inv = 1.0 / np.sqrt(var + self.eps)
        xh = (x - mu) * inv
        self._cache = (xh, inv, axes)
        return xh * self.gamma + self.beta

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        xh, inv, axes = self._cache
        red = tuple(range(g.ndim - 1))
        self.dgamma[...] = (g * xh).sum(red)
        self.dbeta[...] = g.sum(red)
        gx = g * self.gamma
        if axes is None:                  # streaming: statistics are constants
            return [gx * inv]
        return [inv * (gx - gx.mean(axes) - xh * (gx * xh).mean(axes))]


class ReLU(Node):
    kind = "relu"

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        y = np.maximum(xs[0], 0)
        if train:
            self._mask = y > 0
        return y

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        return [g * self._mask]


class Add(Node):
    kind = "add"

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        return xs[0] + xs[1]

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        return [g, g]


class MaxPool2(Node):
    kind = "maxpool"

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        b, h, w, c = x.shape
        v = x[:, : h // 2 * 2, : w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c)
        y = v.max(axis=(2, 4))
        if train:
            self._cache = (x.shape, v == y[:, :, None, :, None, :])
        return y

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        shape, mask = self._cache
        gx = np.zeros(shape, g.dtype)
        b, h, w, c = shape
        gv = mask * g[:, :, None, :, None, :] / np.maximum(mask.sum(axis=(2, 4), keepdims=True), 1)
        gx[:, : h // 2 * 2, : w // 2 * 2] = gv.reshape(b, h // 2 * 2, w // 2 * 2, c)
        return [gx]


class GlobalAvgPool(Node):
    kind = "avgpool"

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        if train:
            self._shape = x.shape
        return x.mean(axis=(1, 2))

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        b, h, w, c = self._shape
        return [np.broadcast_to(g[:, None, None, :] / (h * w), self._shape).copy()]


class Flatten(Node):
    kind = "flatten"

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        self._shape = xs[0].shape
        return xs[0].reshape(len(xs[0]), -1)

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        return [g.reshape(self._shape)]


class SharedBlock:
    """Parameters of one tiny shared block (TSB, Qin et al. 2024): a C x C 1x1 convolution
    applied in residual form, y = x + x B, to every group of C channels at each of its
    insertion points. B starts at zero, so the block starts as the identity map."""

    def __init__(self, name: str, c: int) -> None:
        self.name, self.c = name, c
        self.W = np.zeros((c, c), np.float32)
        self.dW = np.zeros_like(self.W)
        self.engine: Engine | None = None


class BlockApply(Node):
    """One insertion point of a SharedBlock (the block's weights are shared, not copied)."""

    kind = "tsb"

    def __init__(self, name: str, inp: str, block: SharedBlock) -> None:
        super().__init__(name, (inp,))
        self.block = block

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        c = self.block.c
        flat = x.reshape(-1, c)
        e = self.block.engine
        y = e(flat) if e is not None else flat @ self.block.W
        if train:
            self._flat = flat
        return x + y.reshape(x.shape)

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        b = self.block
        g2 = g.reshape(-1, b.c)
        b.dW += self._flat.T @ g2
        return [g + (g2 @ b.W.T).reshape(g.shape)]


class Net:
    """A DAG of nodes in topological order; the input is called 'input'."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.output = nodes[-1].name

    def weight_layers(self) -> list[Conv2d | Linear]:
        return [n for n in self.nodes if isinstance(n, (Conv2d, Linear))]

    def blocks(self) -> list[SharedBlock]:
        """The shared blocks of the net (TSB), each once, in order of first use."""
        seen: dict[int, SharedBlock] = {}
        for n in self.nodes:
            if isinstance(n, BlockApply):
                seen.setdefault(id(n.block), n.block)
        return list(seen.values())

    def forward(self, x: np.ndarray, train: bool = False,
                taps: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Run the net. `taps`, if given, receives every weight layer's input."""
        acts = {"input": x}
        for n in self.nodes:
            xs = [acts[i] for i in n.inputs]
            if taps is not None and isinstance(n, (Conv2d, Linear, BlockApply)):
                taps[n.name] = xs[0]
            acts[n.name] = n.forward(xs, train)
        return acts[self.output]

    def backward(self, g: np.ndarray) -> None:
        grads: dict[str, np.ndarray] = {self.output: g}
        for n in reversed(self.nodes):
            if n.name not in grads:
                continue
            for name, gi in zip(n.inputs, n.backward(grads.pop(n.name))):
                grads[name] = grads[name] + gi if name in grads else gi

    def state(self) -> dict[str, np.ndarray]:
        return {f"{n.name}.{k}": v for n in self.nodes for k, v in n.params().items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for n in self.nodes:
            for k, v in n.params().items():
                v[...] = state[f"{n.name}.{k}"]

    def predict(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        return np.concatenate([self.forward(x[i:i + batch]).argmax(1)
                               for i in range(0, len(x), batch)])


def softmax_xent(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient w.r.t. the logits."""
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    n = len(labels)
    loss = float(-np.log(p[np.arange(n), labels] + 1e-12).mean())
    p[np.arange(n), labels] -= 1.0
    return loss, p / n
