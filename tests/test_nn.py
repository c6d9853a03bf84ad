"""The numpy DNN engine: im2col against a direct convolution, gradients against finite
differences, and the float accuracy of the shipped model."""
import numpy as np
import pytest

from cimsim.nn.data import resize_bilinear
from cimsim.nn.layers import (
    Add,
    BatchNorm,
    Conv2d,
    GlobalAvgPool,
    Linear,
    MaxPool,
    Net,
    ReLU,
    im2col,
    softmax_xent,
)


def direct_conv(x, w, k, stride, pad):
    """Naive NHWC convolution; w is (k*k*Cin, Cout) with rows ordered (kh, kw, cin)."""
    b, h, wd, c = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    wk = w.reshape(k, k, c, -1)
    out = np.zeros((b, oh, ow, w.shape[1]))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[:, i, j] = np.einsum("bijc,ijco->bo", patch, wk)
    return out


@pytest.mark.parametrize("k, stride, pad", [(3, 1, 1), (3, 2, 1), (1, 2, 0), (3, 1, 0)])
def test_conv_forward_matches_direct(k, stride, pad):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 7, 3))
    conv = Conv2d("c", "input", 3, 4, k, stride, pad, rng)
    conv.W = conv.W.astype(np.float64)
    np.testing.assert_allclose(conv.forward([x], False), direct_conv(x, conv.W, k, stride, pad),
                               rtol=1e-10, atol=1e-10)
    assert im2col(x, k, stride, pad).shape[-1] == k * k * 3


def small_net(rng):
    nodes = [Conv2d("c1", "input", 2, 3, 3, 1, 1, rng), BatchNorm("bn", "c1", 3), ReLU("r", ("bn",)),
             Conv2d("c2", "r", 3, 3, 3, 2, 1, rng), Conv2d("sc", "r", 3, 3, 1, 2, 0, rng),
             Add("add", ("c2", "sc")), MaxPool("mp", ("add",), 2, 2, 0), GlobalAvgPool("gap", ("mp",)),
             Linear("fc", "gap", 3, 4, rng)]
    for n in nodes:                       # float64 everywhere for finite differences
        for attr, v in vars(n).items():
            if isinstance(v, np.ndarray):
                setattr(n, attr, v.astype(np.float64))
    return Net(nodes)


def check_gradients(net, x, y, rng, per_param: int = 1, abs_tol: float = 1e-7, skip=None) -> None:
    """Backprop gradients of `per_param` random entries of every parameter against central
    finite differences of the cross-entropy (float64 nets); `skip(node, key, idx)` leaves out
    entries that are structurally zero."""
    def loss():
        return softmax_xent(net.forward(x, train=True), y)[0]

    _, g = softmax_xent(net.forward(x, train=True), y)
    net.backward(g)
    for n in net.nodes:
        for k, grad in n.grads().items():
            p = n.params()[k]
            for idx in [tuple(rng.integers(0, s) for s in p.shape) for _ in range(per_param)]:
                if skip is not None and skip(n, k, idx):
                    continue
                old = p[idx]
                p[idx] = old + 1e-6
                lp = loss()
                p[idx] = old - 1e-6
                lm = loss()
                p[idx] = old
                assert grad[idx] == pytest.approx((lp - lm) / 2e-6, rel=1e-4, abs=abs_tol), (n.name, k, idx)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    check_gradients(small_net(rng), rng.normal(size=(3, 6, 6, 2)), np.array([0, 1, 3]), rng)


def test_bilinear_resize_preserves_constants_and_mean():
    x = np.full((1, 8, 8), 0.7, np.float32)
    np.testing.assert_allclose(resize_bilinear(x, 16), 0.7, rtol=1e-6)
    ramp = np.tile(np.arange(8, dtype=np.float32), (1, 8, 1))
    assert resize_bilinear(ramp, 16).mean() == pytest.approx(ramp.mean(), rel=1e-6)


def test_pretrained_resnet_reaches_95_percent(trained):
    net, data = trained
    acc = (net.predict(data.x_test) == data.y_test).mean()
    assert acc >= 0.95, acc
