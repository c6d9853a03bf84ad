"""A small numpy DNN engine: layers with forward and backward, NHWC tensors.

Weight layers (Conv2d, Linear) keep their weights as one matrix W of shape
(rows, cols) = (k*k*Cin, Cout) or (in, out): exactly the matrix a crossbar
holds. Their matrix product can be swapped for an analog engine (`engine`),
which is how the chip model runs a trained network.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from ..config.shapes import (
    ShapeError,
    add_shape,
    channels_shape,
    conv_shape,
    flatten_shape,
    global_pool_shape,
    linear_shape,
    pool_shape,
)

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

    def output_shape(self, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        """Shape of one sample's output (no batch axis) for its inputs' shapes; raises
        ShapeError when the inputs do not suit the node."""
        return shapes[0]

    def nonneg(self, ins: list[bool]) -> bool:
        """Whether the output is never negative, given which inputs never are (a crossbar
        whose input is never negative needs one pass per vector, else two)."""
        return False

    def digital_ops(self, in_sizes: list[int], out_size: int) -> int:
        """Vector-unit operations of the node on these many elements (one per output)."""
        return out_size

    @abstractmethod
    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        """Output of the node for its inputs; `train` caches what backward needs."""

    @abstractmethod
    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        """Gradients w.r.t. the inputs, given the gradient w.r.t. the output."""


class ShapesOnly:
    """Stands in for the weight generator of a network built for its shapes only (validation,
    cost-only runs): every weight matrix is a read-only zero view that holds no memory, so a
    layer of 3000 x 100000 costs nothing, and any attempt to compute with it fails loudly."""


def initial_weights(rng: np.random.Generator | ShapesOnly, shape: tuple[int, int],
                    scale: float) -> np.ndarray:
    """scale x standard normal draws (float32), or the shapes-only zero view."""
    if isinstance(rng, ShapesOnly):
        return np.broadcast_to(np.float32(0), shape)
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def gradient_like(w: np.ndarray) -> np.ndarray:
    """The gradient buffer of a weight matrix (none for a shapes-only view: the view itself)."""
    return w if not w.flags.writeable else np.zeros_like(w)


class Conv2d(Node):
    """2-D convolution as one crossbar matrix W (k*k*Cin, Cout), rows ordered (kh, kw, c).
    Grouped convolutions (groups > 1) are held as the dense block-diagonal matrix (the
    off-group weights are zeros and stay zero in float training), which is what a crossbar
    that maps the layer as one matrix stores."""

    kind = "conv"

    def __init__(self, name: str, inp: str, cin: int, cout: int, k: int, stride: int, pad: int,
                 rng: np.random.Generator, groups: int = 1, bias: bool = False) -> None:
        super().__init__(name, (inp,))
        self.cin, self.cout, self.k, self.stride, self.pad = cin, cout, k, stride, pad
        self.groups = groups
        fan_in = k * k * cin // groups
        self.W = initial_weights(rng, (k * k * cin, cout), np.sqrt(2.0 / fan_in))
        self.mask: np.ndarray | None = None
        if groups > 1 and not isinstance(rng, ShapesOnly):
            row_group = (np.arange(k * k * cin) % cin) // (cin // groups)
            col_group = np.arange(cout) // (cout // groups)
            self.mask = (row_group[:, None] == col_group[None, :]).astype(np.float32)
            self.W *= self.mask
        self.b = np.zeros(cout, np.float32) if bias else None
        self.dW = gradient_like(self.W)
        self.db = np.zeros_like(self.b) if bias else None
        self.engine: Engine | None = None
        self.want_dW = True    # LRT folds the per-pixel terms instead of forming dW

    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W} if self.b is None else {"W": self.W, "b": self.b}

    def grads(self) -> dict[str, np.ndarray]:
        return {"W": self.dW} if self.b is None else {"W": self.dW, "b": self.db}

    def output_shape(self, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return conv_shape(shapes[0], self.cin, self.cout, self.k, self.stride, self.pad)

    def digital_ops(self, in_sizes: list[int], out_size: int) -> int:
        return out_size if self.b is not None else 0      # the bias add

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        cols = im2col(x, self.k, self.stride, self.pad)
        b, oh, ow, kk = cols.shape
        flat = cols.reshape(-1, kk)
        y = self.engine(flat) if self.engine is not None else flat @ self.W
        if train:
            self._cache = (x.shape, flat, (b, oh, ow))
        y = y.reshape(b, oh, ow, self.cout)
        return y if self.b is None else y + self.b

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        shape, flat, (b, oh, ow) = self._cache
        g2 = g.reshape(-1, self.cout)
        self.terms = (flat, g2)          # one rank-1 term per output pixel (for LRT)
        if self.want_dW:
            self.dW[...] = flat.T @ g2
            if self.mask is not None:
                self.dW *= self.mask
        if self.b is not None:
            self.db[...] = g2.sum(0)
        dcols = (g2 @ self.W.T).reshape(b, oh, ow, -1)
        return [col2im(dcols, shape, self.k, self.stride, self.pad)]


class Linear(Node):
    kind = "linear"

    def __init__(self, name: str, inp: str, fin: int, fout: int, rng: np.random.Generator,
                 bias: bool = True) -> None:
        super().__init__(name, (inp,))
        self.W = initial_weights(rng, (fin, fout), np.sqrt(1.0 / fin))
        self.b = np.zeros(fout, np.float32) if bias else None
        self.dW = gradient_like(self.W)
        self.db = np.zeros_like(self.b) if bias else None
        self.engine: Engine | None = None
        self.want_dW = True

    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W} if self.b is None else {"W": self.W, "b": self.b}

    def grads(self) -> dict[str, np.ndarray]:
        return {"W": self.dW} if self.b is None else {"W": self.dW, "b": self.db}

    def digital_ops(self, in_sizes: list[int], out_size: int) -> int:
        return out_size if self.b is not None else 0      # the bias add

    def output_shape(self, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return linear_shape(shapes[0], self.W.shape[0], self.W.shape[1])

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        y = self.engine(x) if self.engine is not None else x @ self.W
        if train:
            self._x = x
        return y if self.b is None else y + self.b

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        self.terms = (self._x, g)
        if self.want_dW:
            self.dW[...] = self._x.T @ g
        if self.b is not None:
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

    def output_shape(self, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return channels_shape(shapes[0], len(self.gamma))

    def digital_ops(self, in_sizes: list[int], out_size: int) -> int:
        return 2 * out_size                     # scale and shift

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

    def nonneg(self, ins: list[bool]) -> bool:
        return True

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        y = np.maximum(xs[0], 0)
        if train:
            self._mask = y > 0
        return y

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        return [g * self._mask]


class Add(Node):
    kind = "add"

    def output_shape(self, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return add_shape(shapes)

    def nonneg(self, ins: list[bool]) -> bool:
        return all(ins)

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        return [g] * len(self.inputs)


class _Pool(Node):
    """k x k window, stride, zero padding each side (H, W of NHWC)."""

    def __init__(self, name: str, inputs: tuple[str, ...], k: int = 2, stride: int | None = None,
                 pad: int = 0) -> None:
        super().__init__(name, inputs)
        self.k, self.stride, self.pad = k, stride or k, pad

    def output_shape(self, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return pool_shape(shapes[0], self.k, self.stride, self.pad)

    def nonneg(self, ins: list[bool]) -> bool:
        return ins[0]

    def digital_ops(self, in_sizes: list[int], out_size: int) -> int:
        return out_size * self.k * self.k        # one op per window element

    def _fast(self) -> bool:
        return self.k == self.stride and self.pad == 0

    def _windows(self, x: np.ndarray, fill: float) -> np.ndarray:
        """(B, OH, OW, C, k, k) view of the (padded) windows."""
        p = self.pad
        if p:
            x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=fill)
        v = np.lib.stride_tricks.sliding_window_view(x, (self.k, self.k), axis=(1, 2))
        return v[:, :: self.stride, :: self.stride]

    def _scatter(self, gv: np.ndarray, shape: tuple) -> np.ndarray:
        """Adjoint of _windows: add (B, OH, OW, C, k, k) window gradients back to the input."""
        b, h, w, c = shape
        p, s = self.pad, self.stride
        oh, ow = gv.shape[1], gv.shape[2]
        gx = np.zeros((b, h + 2 * p, w + 2 * p, c), gv.dtype)
        for i in range(self.k):
            for j in range(self.k):
                gx[:, i:i + s * oh:s, j:j + s * ow:s, :] += gv[..., i, j]
        return gx[:, p:p + h, p:p + w, :] if p else gx


class MaxPool(_Pool):
    """Max over each window; the gradient is shared among tied maxima."""

    kind = "maxpool"

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        b, h, w, c = x.shape
        k = self.k
        if self._fast():
            oh, ow = h // k, w // k
            v = x[:, : oh * k, : ow * k].reshape(b, oh, k, ow, k, c)
            y = v.max(axis=(2, 4))
            if train:
                self._cache = (x.shape, v == y[:, :, None, :, None, :])
            return y
        v = self._windows(x, -np.inf)
        y = v.max(axis=(4, 5))
        if train:
            self._cache = (x.shape, v == y[..., None, None])
        return y

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        shape, mask = self._cache
        b, h, w, c = shape
        if self._fast():
            k = self.k
            oh, ow = h // k, w // k
            gx = np.zeros(shape, g.dtype)
            gv = mask * g[:, :, None, :, None, :] / np.maximum(mask.sum(axis=(2, 4), keepdims=True), 1)
            gx[:, : oh * k, : ow * k] = gv.reshape(b, oh * k, ow * k, c)
            return [gx]
        gv = mask * (g[..., None, None] / np.maximum(mask.sum(axis=(4, 5), keepdims=True), 1))
        return [self._scatter(gv, shape)]


class AvgPool(_Pool):
    """Mean over each window; padded positions are not counted (ONNX count_include_pad=0)."""

    kind = "avgpool"

    def _counts(self, h: int, w: int) -> np.ndarray:
        ones = np.ones((1, h, w, 1), np.float32)
        return self._windows(ones, 0.0).sum(axis=(4, 5))          # (1, OH, OW, 1)

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        cnt = self._counts(x.shape[1], x.shape[2])
        y = (self._windows(x, 0.0).sum(axis=(4, 5)) / cnt).astype(x.dtype)
        if train:
            self._cache = (x.shape, cnt)
        return y

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        shape, cnt = self._cache
        gw = np.broadcast_to((g / cnt)[..., None, None], (*g.shape, self.k, self.k))
        return [self._scatter(gw, shape)]


class GlobalAvgPool(Node):
    kind = "avgpool"

    def output_shape(self, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return global_pool_shape(shapes[0])

    def nonneg(self, ins: list[bool]) -> bool:
        return ins[0]

    def digital_ops(self, in_sizes: list[int], out_size: int) -> int:
        return in_sizes[0]

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        if train:
            self._shape = x.shape
        return x.mean(axis=(1, 2))

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        b, h, w, c = self._shape
        return [np.broadcast_to(g[:, None, None, :] / (h * w), self._shape).copy()]


class Flatten(Node):
    """Samples to flat vectors: in NHWC order (cimsim's own models), or in NCHW order
    (`order="nchw"`, for networks whose next matrix was trained on NCHW, e.g. ONNX)."""

    kind = "flatten"

    def __init__(self, name: str, inputs: tuple[str, ...], order: str = "nhwc") -> None:
        super().__init__(name, inputs)
        self.order = order

    def output_shape(self, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return flatten_shape(shapes[0])

    def nonneg(self, ins: list[bool]) -> bool:
        return ins[0]

    def digital_ops(self, in_sizes: list[int], out_size: int) -> int:
        return 0                                  # a view

    def forward(self, xs: list[np.ndarray], train: bool) -> np.ndarray:
        x = xs[0]
        self._shape = x.shape
        if self.order == "nchw" and x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)
        return x.reshape(len(x), -1)

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        if self.order == "nchw" and len(self._shape) == 4:
            b, h, w, c = self._shape
            return [np.ascontiguousarray(g.reshape(b, c, h, w).transpose(0, 2, 3, 1))]
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

    def output_shape(self, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        if shapes[0][-1] % self.block.c:
            raise ShapeError("input", f"channels a multiple of {self.block.c}", shapes[0][-1])
        return shapes[0]

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

    def shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """Every node's per-sample output shape for an input of `input_shape` (no batch axis);
        ShapeError (with the node's name in `node`) where a node does not suit its inputs."""
        out = {"input": tuple(input_shape)}
        for n in self.nodes:
            try:
                out[n.name] = n.output_shape([out[i] for i in n.inputs])
            except ShapeError as e:
                e.node = n.name
                raise
        return out

    def nonneg(self, input_nonneg: bool) -> dict[str, bool]:
        """Which nodes' outputs are never negative (sign propagation from the input)."""
        out = {"input": input_nonneg}
        for n in self.nodes:
            out[n.name] = n.nonneg([out[i] for i in n.inputs])
        return out

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

    def copy(self) -> Net:
        """An independent copy (arrays, flags, shared blocks kept shared within the copy) that
        shares only the analog engines attached to it: a phase or step works on its own copy
        and never has to restore what it changed."""
        engines = [getattr(n, "engine", None) for n in [*self.nodes, *self.blocks()]]
        return copy.deepcopy(self, {id(e): e for e in engines if e is not None})

    def state(self) -> dict[str, np.ndarray]:
        return {f"{n.name}.{k}": v for n in self.nodes for k, v in n.params().items()}

    def parameter_count(self) -> int:
        """Trained parameters: weights, biases and batch-norm scales and shifts (the running
        statistics in state() are not parameters); what the report's model block counts."""
        trained = (".W", ".b", ".gamma", ".beta")
        return int(sum(v.size for k, v in self.state().items() if k.endswith(trained)))

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
