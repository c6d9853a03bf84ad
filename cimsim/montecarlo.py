"""Monte-Carlo over chips: deployment policies compared on many simulated chips.

Each chip is one independent draw of the device model (programming variation, stuck
cells), kept for the whole test set. Every policy sees the same chips (the one-shot draw
depends only on the seed and the chip index), so differences between policies are paired.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from . import plugins
from .config.workload import PhaseSpec
from .deploy import Deployment, deploy, fisher_diagonal, programming_report
from .energy import phase_energy
from .functional import run
from .hw.chip import Chip, build_chip
from .learning.tsb import training_macs
from .results import AccuracySummary, PhaseResult, Result, optional
from .session import Session


def evaluate(dep: Deployment, x: np.ndarray, y: np.ndarray, mode: str, chip: Chip,
             desc: str = "inference") -> tuple[float, dict]:
    """Test accuracy of one programmed chip (and, in crossbar mode, the inference energy)."""
    if mode == "crossbar":
        logits, trace = run(dep.net, dep.engines, x, chip.arch, desc=desc)
        return float((logits.argmax(1) == y).mean()), phase_energy(trace, chip, dep.cmap)
    net = dep.net.copy()                              # the chip's weights on a copy
    for n in net.weight_layers():
        n.W = dep.engines[n.name].w_eff
    for b in net.blocks():
        b.W = dep.engines[b.name].w_eff
    return float((net.predict(x) == y).mean()), {}


def summarise(acc: list[float]) -> AccuracySummary:
    """Mean, sample std and the 95% confidence interval of the mean (Student t, clipped to
    [0, 1], the range of an accuracy)."""
    a = np.asarray(acc, float)
    n = len(a)
    sd = float(a.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)) if n > 1 else 0.0
    m = float(a.mean())
    return AccuracySummary(mean=m, std=sd, ci95=[max(0.0, m - half), min(1.0, m + half)],
                           min=float(a.min()), max=float(a.max()))


@dataclass(frozen=True)
class PolicyResult(Result):
    """One deployment policy at one programming sigma, over the phase's chips."""

    sigma: float
    policy: str
    chips: int
    accuracy: AccuracySummary
    accuracy_per_chip: list[float]
    gap_to_noise_free: float
    fraction_verified: float
    pulses_mean: float
    verify_pulses_mean: float
    verify_reads_mean: float
    programming_energy_pj_mean: float
    programming_time_s_mean: float
    finetune_images: int
    finetune_macs: int
    finetune_over_retrain_macs: float
    inference_energy_per_image_pj_mean: float | None = optional()   # crossbar evaluation only


@dataclass(frozen=True, kw_only=True)
class MonteCarloResult(PhaseResult):
    """Accuracy over chips per policy and sigma, and the cost of programming them."""

    images: int
    evaluate: str
    chips: int
    sigmas: list[float]
    policies: list[str]
    noise_free_accuracy: float
    noise_aware_retraining_macs: int
    results: list[PolicyResult]

    @property
    def count(self) -> int:
        return self.images


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


@dataclass
class ChipJobs:
    """A Monte-Carlo phase's chips: each job (sigma index, policy, chip index) deploys one
    chip and tests it. Picklable: a worker gets it once (cluster.py)."""

    session: Session                  # the run, on the arch's own chip
    sigmas: list[float]
    x: np.ndarray
    y: np.ndarray
    evaluate: str
    fisher: dict | None
    sessions: dict = field(default_factory=dict)     # sigma index -> the session on that chip

    def on_sigma(self, si: int) -> Session:
        if si not in self.sessions:
            a = self.session.chip.arch
            arch = dataclasses.replace(a, device=dataclasses.replace(a.device, program_sigma=self.sigmas[si]))
            self.sessions[si] = self.session.on_chip(build_chip(arch))
        return self.sessions[si]

    def __call__(self, job: tuple[int, str, int]) -> tuple[float, float | None, dict]:
        """Deploy one chip under one policy, test it, cost its programming."""
        si, policy, c = job
        s = self.on_sigma(si)
        dep = deploy(s, s.net, policy=policy, chip_index=c, fisher=self.fisher)
        acc, en = evaluate(dep, self.x, self.y, self.evaluate, s.chip,
                           f"sigma {self.sigmas[si]:g}, {policy}, chip {c}")
        pr = programming_report(dep, s.chip)
        row = {"fraction_verified": pr["fraction_verified"], "pulses": pr["pulses"],
               "verify_pulses": pr["verify_pulses"],
               "verify_reads": pr["verify_reads"], "energy_pj": pr["energy"]["total_pj"],
               "time_s": pr["time_s"],
               "finetune_macs": pr.get("finetune", {}).get("macs", 0),
               "finetune_images": pr.get("finetune", {}).get("images", 0)}
        return acc, (en["per_image_pj"] if en else None), row


def run_monte_carlo(ph: PhaseSpec, s: Session) -> MonteCarloResult:
    """All chips x policies x sigmas of a monte_carlo phase, on the session's pool (cluster.py:
    local processes or a dask cluster); every chip has its own seeds, so the report is the same
    bytes wherever they ran."""
    w, net, data = s.w, s.net, s.data
    x, y = data.split(ph.split)
    if ph.samples:
        x, y = x[: ph.samples], y[: ph.samples]
    sigmas = list(ph.params.sigmas) or [s.chip.arch.device.program_sigma]
    pols = [plugins.load("policy", p)() for p in ph.params.policies]
    needers = [pol for pol in pols if pol.needs_fisher(w)]
    fisher = fisher_diagonal(net, data, needers[0].params(w).sensitivity_images) if needers else None
    retrain = training_macs(net, data.x_train, w.pretrain.epochs, len(data.x_train))
    jobs = [(si, p, c) for si in range(len(sigmas)) for p in ph.params.policies
            for c in range(ph.params.chips)]
    chips = ChipJobs(dataclasses.replace(s, dep=None), sigmas, x, y, ph.params.evaluate, fisher)
    results = s.pool().map(chips, jobs, f"monte carlo ({ph.params.evaluate})", "chip")
    got: dict[tuple[int, str], tuple[list, list, list]] = {}
    for (si, policy, _), (acc, en, row) in zip(jobs, results):
        accs, rows, energy = got.setdefault((si, policy), ([], [], []))
        accs.append(acc)
        rows.append(row)
        if en is not None:
            energy.append(en)
    table = []
    for (si, policy), (accs, rows, energy) in got.items():
        acc_s = summarise(accs)
        table.append(PolicyResult(
            sigma=sigmas[si], policy=policy, chips=ph.params.chips,
            accuracy=acc_s, accuracy_per_chip=accs,
            gap_to_noise_free=s.float_acc - acc_s.mean,
            fraction_verified=_mean(rows, "fraction_verified"),
            pulses_mean=_mean(rows, "pulses"), verify_pulses_mean=_mean(rows, "verify_pulses"),
            verify_reads_mean=_mean(rows, "verify_reads"),
            programming_energy_pj_mean=_mean(rows, "energy_pj"),
            programming_time_s_mean=_mean(rows, "time_s"),
            finetune_images=int(rows[0]["finetune_images"]),
            finetune_macs=int(rows[0]["finetune_macs"]),
            finetune_over_retrain_macs=rows[0]["finetune_macs"] / retrain if retrain else 0.0,
            inference_energy_per_image_pj_mean=float(np.mean(energy)) if energy else None))
    return MonteCarloResult(
        name=ph.name, kind=ph.kind, split=ph.split, images=int(len(x)),
        evaluate=ph.params.evaluate, chips=ph.params.chips, sigmas=sigmas, policies=list(ph.params.policies),
        noise_free_accuracy=s.float_acc, noise_aware_retraining_macs=retrain, results=table)
