"""Float pretraining of the workload's network, noise-aware on the chip's own device model
when asked (pretrain.noise_sigma), cached on disk by a content hash; and which weights a
run uses (pretrained, cached, the ONNX file's, or none for a cost-only run)."""
from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from .config.arch import ArchSpec
from .config.schema import to_dict
from .config.workload import WorkloadSpec
from .device.conductance import quantise_weights
from .hw.chip import build_chip
from .hw.tile import TileModel
from .nn.data import Dataset
from .nn.files import read_npz
from .nn.fit import train_float
from .nn.layers import Net
from .nn.models import build_model, model_label
from .nn.network import input_hashes, untrained_net
from .progress import say, warn
from .util import atomic_write, stable_hash
from .workers import threads_now

TRAINER_VERSION = 2  # bump when the training code changes what it produces


DIGEST = "__sha256__"      # the cache entry's content hash, stored beside the arrays
KEY = "__key__"            # its full cache key (the file name holds 24 of its digits)


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


def pretrain_key(w: WorkloadSpec, arch: ArchSpec | None = None, files: dict[str, str] | None = None) -> str:
    """The model cache key: the specs that shape the trained weights, and the contents of the
    files the training reads (`files`: nn.network.input_hashes; none for the bundled data)."""
    key = {"model": _key_part(w.model), "dataset": _key_part(w.dataset),
           "pretrain": to_dict(w.pretrain), "seed": w.seed, "v": TRAINER_VERSION}
    if files:
        key["files"] = dict(sorted(files.items()))
    if w.pretrain.noise_sigma > 0 and arch is not None:
        # the noise depends on how weights are encoded onto cells
        key["encoding"] = {"bits_per_cell": arch.device.bits_per_cell,
                           "weight_bits": arch.crossbar.weight_bits,
                           "differential": arch.crossbar.differential}
    return stable_hash(key)


def noise_aware(w: WorkloadSpec, arch: ArchSpec | None):
    """perturb(W) for train_float: one one-shot programming draw of the weights on the chip's
    device model at pretrain.noise_sigma (None: plain training)."""
    if w.pretrain.noise_sigma <= 0 or arch is None:
        return None
    tile = build_chip(noise_arch(arch, w.pretrain.noise_sigma)).tile
    rng = np.random.default_rng([w.seed, 7])
    return lambda wc: programmed_weights(wc, tile, rng)


def pretrained_model(w: WorkloadSpec, data: Dataset, arch: ArchSpec | None = None,
                     workload_file: str = "") -> tuple[Net, bool]:
    """The float-trained network for this workload; (net, loaded_from_cache). Noise-aware
    training (pretrain.noise_sigma > 0) needs the chip's arch for its weight encoding; the
    workload file locates the data files whose contents the key covers."""
    net = build_model(w.model, data.input_shape, data.classes, w.seed)
    key = pretrain_key(w, arch, input_hashes(w, workload_file))
    path = cache_dir() / f"pretrain-{key[:24]}.npz"
    if path.exists():
        try:
            state = read_npz(path, str(path), "cache entry", path.name)
            digest = state.pop(DIGEST, None)
            stored = state.pop(KEY, None)
            if digest is not None and str(digest) != state_digest(state):
                raise ValueError("its content hash does not match")
            if stored is not None and str(stored) != key:
                raise ValueError("it holds another workload's model (its stored key differs)")
            if set(state) != set(net.state()):
                raise KeyError("the parameters differ from the network's")
            net.load_state(state)                 # shapes checked by the assignment
            if digest is None or stored is None:  # written before hashes and keys: add them
                _save(path, state, key)
            return net, True
        except Exception as e:    # truncated, garbage, empty or foreign: retrain and replace it
            warn(f"the cached model {path} is unusable ({type(e).__name__}: "
                 f"{str(e).splitlines()[0] if str(e) else ''}); pretraining it again")
            net = build_model(w.model, data.input_shape, data.classes, w.seed)
    noise = f", noise-aware (sigma {w.pretrain.noise_sigma:g})" if w.pretrain.noise_sigma > 0 else ""
    say(f"pretraining {model_label(w.model)} "
        f"for {w.pretrain.epochs} epochs{noise}; cached afterwards in {path.parent}")
    with threadpool_limits(threads_now(), user_api="blas"):     # no idle sibling threads under load
        train_float(net, data, w.pretrain, w.seed, noise_aware(w, arch))
    _save(path, net.state(), key)
    return net, False


def _save(path: Path, state: dict[str, np.ndarray], key: str) -> None:
    """Cache a trained state with its content hash and its full key; a read-only cache only warns."""
    stored = {**state, DIGEST: np.array(state_digest(state)), KEY: np.array(key)}
    try:
        atomic_write(path, lambda f: np.savez(f, **stored), binary=True)
    except OSError as e:                  # a read-only cache costs the next run a retraining only
        warn(f"could not cache the model in {path.parent} ({e.strerror or e}); continuing")


def workload_net(w: WorkloadSpec, data: Dataset, arch: ArchSpec, workload_file: str = "",
                 untrained: Net | None = None) -> tuple[Net, str]:
    """The network the chip runs and where its weights came from: 'pretrained', 'cached'
    (pretrained earlier), 'onnx' (the file's) or 'untrained' (cost-only). `untrained`: the
    network nn.network.untrained_net already built for these inputs (not rebuilt)."""
    if w.model.name == "onnx" or not w.deploy.functional:
        net = untrained if untrained is not None else untrained_net(w, data, workload_file)
        return net, "onnx" if w.model.name == "onnx" else "untrained"
    net, cached = pretrained_model(w, data, arch, workload_file)
    return net, "cached" if cached else "pretrained"
