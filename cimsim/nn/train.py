"""Float pretraining (Adam, cosine schedule), cached on disk by a content hash."""
from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np

from ..config.arch import ArchSpec
from ..config.schema import to_dict
from ..config.workload import WorkloadSpec
from ..device.conductance import quantise_weights
from ..hw.chip import build_chip
from ..hw.tile import TileModel
from ..progress import progress, say, warn
from ..util import atomic_write, stable_hash
from .data import Dataset
from .layers import Net, softmax_xent
from .models import build_model, model_label

TRAINER_VERSION = 2  # bump when the training code changes what it produces


DIGEST = "__sha256__"      # the cache entry's content hash, stored beside the arrays


def state_digest(state: dict[str, np.ndarray]) -> str:
    """sha256 over every array's name, dtype, shape and bytes (sorted by name)."""
    h = hashlib.sha256()
    for k in sorted(state):
        v = np.ascontiguousarray(state[k])
        h.update(f"{k}|{v.dtype.str}|{v.shape}|".encode())
        h.update(v.tobytes())
    return h.hexdigest()


def cache_dir() -> Path:
    root = os.environ.get("CIMSIM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "cimsim")
    return Path(root)


def programmed_weights(w: np.ndarray, tile: TileModel, rng: np.random.Generator) -> np.ndarray:
    """One one-shot programming draw of float weights w on `tile` (the chip's own tile and
    device models): what a chip would hold (float32). Noise-aware training trains against
    the device model itself through it."""
    w_int, scale = quantise_weights(w, tile.arch.crossbar.weight_bits)
    return (tile.decode(tile.program(w_int, rng)) * scale).astype(np.float32)


def noise_arch(arch: ArchSpec, sigma: float) -> ArchSpec:
    """The chip's weight encoding with only programming variation (no faults, no read noise)."""
    dev = dataclasses.replace(arch.device, program_sigma=sigma, read_sigma=0.0,
                              stuck_at=dataclasses.replace(arch.device.stuck_at, low_rate=0.0, high_rate=0.0))
    return dataclasses.replace(arch, device=dev)


# keys added to the model and dataset specs after cached models existed: left out of the
# cache key while at their defaults, so those cached models stay valid
_NEW_KEYS = {"layers": [], "onnx": "", "input_shape": [], "path": "", "shape": [], "classes": 10,
             "train_samples": 256, "test_samples": 64}


def _key_part(obj: object) -> dict:
    return {k: v for k, v in to_dict(obj).items() if k not in _NEW_KEYS or v != _NEW_KEYS[k]}


def pretrain_key(w: WorkloadSpec, arch: ArchSpec | None = None) -> str:
    key = {"model": _key_part(w.model), "dataset": _key_part(w.dataset),
           "pretrain": to_dict(w.pretrain), "seed": w.seed, "v": TRAINER_VERSION}
    if w.pretrain.noise_sigma > 0 and arch is not None:
        # the noise depends on how weights are encoded onto cells
        key["encoding"] = {"bits_per_cell": arch.device.bits_per_cell,
                           "weight_bits": arch.crossbar.weight_bits,
                           "differential": arch.crossbar.differential}
    return stable_hash(key)


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


def train_float(net: Net, data: Dataset, w: WorkloadSpec, arch: ArchSpec | None = None) -> None:
    """Adam with L2 weight decay and a cosine learning-rate schedule. With
    pretrain.noise_sigma > 0 (noise-aware training), every batch runs forward and backward
    on one programming draw of the weights (the chip's own device model) and the update is
    applied to the clean weights (straight-through)."""
    p = w.pretrain
    rng = np.random.default_rng(w.seed + 1)
    noisy = None
    if p.noise_sigma > 0 and arch is not None:
        noisy = build_chip(noise_arch(arch, p.noise_sigma)).tile
    noise_rng = np.random.default_rng([w.seed, 7])
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
            clean = [lay.W.copy() for lay in layers] if noisy is not None else []
            for lay, wc in zip(layers, clean):
                lay.W[...] = programmed_weights(wc, noisy, noise_rng)
            logits = net.forward(data.x_train[idx], train=True)
            _, g = softmax_xent(logits, data.y_train[idx])
            net.backward(g)
            for lay, wc in zip(layers, clean):
                lay.W[...] = wc
            step += 1
            lr = p.lr * 0.5 * (1 + np.cos(np.pi * step / steps_total))
            opt.step([gv + p.weight_decay * v if k == "W" else gv for k, v, gv in params], lr)


def pretrained_model(w: WorkloadSpec, data: Dataset, arch: ArchSpec | None = None) -> tuple[Net, bool]:
    """The float-trained network for this workload; (net, loaded_from_cache). Noise-aware
    training (pretrain.noise_sigma > 0) needs the chip's arch for its weight encoding."""
    net = build_model(w.model, data.input_shape, data.classes, w.seed)
    path = cache_dir() / f"pretrain-{pretrain_key(w, arch)[:24]}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                state = {k: z[k] for k in z.files}
            digest = state.pop(DIGEST, None)
            if digest is not None and str(digest) != state_digest(state):
                raise ValueError("its content hash does not match")
            if set(state) != set(net.state()):
                raise KeyError("the parameters differ from the network's")
            net.load_state(state)                 # shapes checked by the assignment
            if digest is None:                    # written before content hashes: add one
                _save(path, state)
            return net, True
        except Exception as e:    # truncated, garbage, empty or foreign: retrain and replace it
            warn(f"the cached model {path} is unusable ({type(e).__name__}: "
                 f"{str(e).splitlines()[0] if str(e) else ''}); pretraining it again")
            net = build_model(w.model, data.input_shape, data.classes, w.seed)
    noise = f", noise-aware (sigma {w.pretrain.noise_sigma:g})" if w.pretrain.noise_sigma > 0 else ""
    say(f"pretraining {model_label(w.model)} "
        f"for {w.pretrain.epochs} epochs{noise}; cached afterwards in {path.parent}")
    train_float(net, data, w, arch)
    _save(path, net.state())
    return net, False


def _save(path: Path, state: dict[str, np.ndarray]) -> None:
    """Cache a trained state with its content hash; a read-only cache only warns."""
    stored = {**state, DIGEST: np.array(state_digest(state))}
    try:
        atomic_write(path, lambda f: np.savez(f, **stored), binary=True)
    except OSError as e:                  # a read-only cache costs the next run a retraining only
        warn(f"could not cache the model in {path.parent} ({e.strerror or e}); continuing")
