"""Float pretraining (Adam, cosine schedule), cached on disk by a content hash."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..config.schema import to_dict
from ..config.workload import WorkloadSpec
from ..progress import progress, say
from ..util import atomic_write, stable_hash
from .data import Dataset
from .layers import Net, softmax_xent
from .models import build_model

TRAINER_VERSION = 1  # bump when the training code changes what it produces


def cache_dir() -> Path:
    root = os.environ.get("CIMSIM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "cimsim")
    return Path(root)


def pretrain_key(w: WorkloadSpec) -> str:
    return stable_hash({"model": to_dict(w.model), "dataset": to_dict(w.dataset),
                        "pretrain": to_dict(w.pretrain), "seed": w.seed, "v": TRAINER_VERSION})


def train_float(net: Net, data: Dataset, w: WorkloadSpec) -> None:
    """Adam with L2 weight decay and a cosine learning-rate schedule."""
    p = w.pretrain
    rng = np.random.default_rng(w.seed + 1)
    params = [(n, k, v, n.grads()[k]) for n in net.nodes for k, v in n.params().items()
              if k in n.grads()]
    m = [np.zeros_like(v) for *_, v, _ in params]
    s = [np.zeros_like(v) for *_, v, _ in params]
    b1, b2, step = 0.9, 0.999, 0
    n = len(data.x_train)
    steps_total = p.epochs * ((n + p.batch - 1) // p.batch)
    for _ in progress(range(p.epochs), "pretrain", unit="epoch"):
        order = rng.permutation(n)
        for i in range(0, n, p.batch):
            idx = order[i:i + p.batch]
            logits = net.forward(data.x_train[idx], train=True)
            _, g = softmax_xent(logits, data.y_train[idx])
            net.backward(g)
            step += 1
            lr = p.lr * 0.5 * (1 + np.cos(np.pi * step / steps_total))
            for j, (_, k, v, gv) in enumerate(params):
                grad = gv + p.weight_decay * v if k == "W" else gv
                m[j] = b1 * m[j] + (1 - b1) * grad
                s[j] = b2 * s[j] + (1 - b2) * grad * grad
                mh, sh = m[j] / (1 - b1 ** step), s[j] / (1 - b2 ** step)
                v -= (lr * mh / (np.sqrt(sh) + 1e-8)).astype(v.dtype)


def pretrained_model(w: WorkloadSpec, data: Dataset) -> tuple[Net, bool]:
    """The float-trained network for this workload; (net, loaded_from_cache)."""
    net = build_model(w.model, data.x_train.shape[-1], data.classes, w.seed, data.x_train.shape[1])
    path = cache_dir() / f"pretrain-{pretrain_key(w)[:24]}.npz"
    if path.exists():
        with np.load(path) as z:
            net.load_state({k: z[k] for k in z.files})
        return net, True
    say(f"pretraining {w.model.name} (depth {w.model.depth}, width {w.model.width}) "
        f"for {w.pretrain.epochs} epochs; cached afterwards in {path.parent}")
    train_float(net, data, w)
    state = net.state()
    atomic_write(path, lambda f: np.savez(f, **state), binary=True)
    return net, False
