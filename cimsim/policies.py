"""Deployment policies: how a trained network is put on one chip (workload
`deploy.write_verify`, or each Monte-Carlo policy).

- none: one-shot programming of every cell (no verify);
- all: one-shot, then write-verify every cell;
- selective: write-verify the cells of the top `verify_fraction` of weights, ranked by
  |w| or by sensitivity = diagonal empirical Fisher x the weight's programming-noise variance
  (the second-order estimate of the loss increase its error causes);
- tsb: one-shot backbone; read back its conductances; fine-tune a tiny shared block against
  that chip (learning/tsb.py); program the block with write-verify. Only the block is verified.

A policy is a registered part (plugins.py, kind "policy"; entry-point group
`cimsim.policies`): subclass `Policy` and implement `program`, which gets the chip after
one-shot programming (deploy.py) and may verify cells or program more matrices.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from . import plugins
from .config.schema import NoParams, spec
from .config.workload import WorkloadSpec
from .deploy import Deployment, fisher_diagonal
from .functional import AnalogLayer
from .learning.tsb import TsbSpec, finetune, insert_blocks
from .nn.data import Dataset
from .nn.layers import Net

if TYPE_CHECKING:
    from .session import Session


@dataclass
class Programming:
    """One chip after one-shot programming (a job of the run's session), and what a policy
    may use to change it."""

    session: Session                 # the run: workload, data, chip models, files
    dep: Deployment                  # the chip: its network, engines and counters
    net: Net                         # the pretrained float network (never changed)
    rng: np.random.Generator         # the chip's verify stream
    engine: Callable[[int, str, np.ndarray], AnalogLayer]   # program one more matrix (index, name, W)
    chip: int | None                 # Monte-Carlo chip index (None: the workload's single chip)
    fisher: dict[str, np.ndarray] | None

    @property
    def w(self) -> WorkloadSpec:
        return self.session.w

    @property
    def data(self) -> Dataset:
        return self.session.data


def verify(e: AnalogLayer, mask: np.ndarray, rng: np.random.Generator) -> None:
    """Write-verify the masked cells of one layer, then re-read them; their pulses count
    towards the cells' endurance."""
    e.tile.verify(e, mask, rng)
    e.writes[...] = e.cells.pulses_per_cell
    e.refresh()


@dataclass(frozen=True)
class SelectiveParams:
    verify_fraction: float = spec(0.01, lo=0.0, hi=1.0, doc="share of weights verified")
    verify_score: str = spec("sensitivity", choices=("magnitude", "sensitivity"),
                             doc="rank by |w|, or by expected loss increase (diagonal Fisher x the "
                                 "weight's programming-noise variance)")
    sensitivity_images: int = spec(128, lo=1, doc="sensitivity: images for the Fisher")


@dataclass(frozen=True)
class TsbParams:
    tsb: TsbSpec = spec(TsbSpec())


class Policy(ABC):
    """A deployment policy. Its numbers are its `Params` (a frozen dataclass of `spec` fields),
    read from the workload's `deploy:` keys beside `write_verify` and checked when the run loads
    its parts (plugins.part_params); `params(w)` gives them."""

    Params: ClassVar[type] = NoParams
    changes_network: ClassVar[bool] = False   # `network` adds layers (the fit check maps them too)

    def params(self, w: WorkloadSpec) -> Any:
        """This policy's params, from the workload's deploy keys (checked when the parts loaded)."""
        return plugins.part_params("policy", type(self), w.deploy.params)

    def network(self, net: Net, session: Session) -> Net:
        """The network the chip will run (default: a copy of the trained one)."""
        return net.copy()

    def needs_fisher(self, w: WorkloadSpec) -> bool:
        """Whether `program` uses the diagonal Fisher (computed once per Monte-Carlo phase)."""
        return False

    @abstractmethod
    def program(self, p: Programming) -> None:
        """Change the one-shot-programmed chip p.dep (verify, program more); count
        p.dep.weights_verified and p.dep.readback_cells."""


class OneShot(Policy):
    """One-shot programming of every cell, no verify."""

    def program(self, p: Programming) -> None:
        return None


class VerifyAll(Policy):
    """One-shot, then program-and-verify every cell."""

    def program(self, p: Programming) -> None:
        for e in p.dep.engines.values():
            verify(e, np.ones(e.cells.g.shape, bool), p.rng)
        p.dep.weights_verified = sum(e.w_int.size for e in p.dep.engines.values())


def noise_variance(e: AnalogLayer) -> np.ndarray:
    """Programming-noise variance of each weight (float units): its pulsed cells' errors."""
    return e.tile.weight_variance(e) * e.w_scale ** 2


def selective_masks(engines: dict[str, AnalogLayer], fraction: float, score: str,
                    fisher: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """(K, N) boolean masks of the weights to verify: the global top `fraction` by score."""
    names = list(engines)
    scores = []
    for k in names:
        e = engines[k]
        if score == "magnitude":
            scores.append(np.abs(e.w_int).astype(np.float64).ravel())
        else:
            scores.append((fisher[k] * noise_variance(e)).ravel())
    flat = np.concatenate(scores)
    count = int(round(fraction * flat.size))
    chosen = np.zeros(flat.size, bool)
    if count:
        order = np.argsort(-flat, kind="stable")
        chosen[order[:count]] = True
    masks, start = {}, 0
    for k, s in zip(names, scores):
        masks[k] = chosen[start:start + s.size].reshape(engines[k].w_int.shape)
        start += s.size
    return masks


class Selective(Policy):
    """Verify the top verify_fraction of weights by magnitude or sensitivity."""

    Params = SelectiveParams

    def needs_fisher(self, w: WorkloadSpec) -> bool:
        return self.params(w).verify_score == "sensitivity"

    def program(self, p: Programming) -> None:
        d = self.params(p.w)
        fisher = p.fisher
        if d.verify_score == "sensitivity" and fisher is None:
            fisher = fisher_diagonal(p.net, p.data, d.sensitivity_images)
        masks = selective_masks(p.dep.engines, d.verify_fraction, d.verify_score, fisher)
        for k, e in p.dep.engines.items():
            verify(e, np.broadcast_to(masks[k], e.cells.g.shape), p.rng)
        p.dep.weights_verified = int(sum(m.sum() for m in masks.values()))


class TinySharedBlock(Policy):
    """One-shot backbone + a tiny shared block fine-tuned per chip, only the block verified."""

    Params = TsbParams
    changes_network = True

    def network(self, net: Net, session: Session) -> Net:
        return insert_blocks(net, self.params(session.w).tsb, session.workload_file)

    def program(self, p: Programming) -> None:
        dep, engines = p.dep, p.dep.engines
        layers, blocks = dep.net.weight_layers(), dep.net.blocks()
        dep.readback_cells = sum(e.cells.g.size for e in engines.values())
        tnet = dep.net.copy()                       # train against this chip's read-back weights
        for n in tnet.weight_layers():
            n.W[...] = engines[n.name].w_eff
        seed = p.w.seed + (p.chip or 0)
        dep.finetune = finetune(tnet, p.data.x_train, p.data.y_train, self.params(p.w).tsb, seed)
        for b, tb in zip(blocks, tnet.blocks()):    # the trained blocks are what gets programmed
            b.W[...] = tb.W
        for j, b in enumerate(blocks):
            e = p.engine(len(layers) + j, b.name, b.W)
            verify(e, np.ones(e.cells.g.shape, bool), p.rng)
            engines[b.name] = e
        dep.weights_verified = sum(b.W.size for b in blocks)
