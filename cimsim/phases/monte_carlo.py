"""Monte-Carlo phase: many simulated chips per deployment policy and programming sigma
(montecarlo.py does the work); accuracy over chips and the cost of programming them."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .. import plugins
from ..config.schema import spec
from ..config.workload import POLICIES, PhaseSpec, check_part
from ..montecarlo import MonteCarloResult, run_monte_carlo
from ..report.units import si
from ..results import RunReport
from ..session import Session
from .base import Headline, PhaseKind


@dataclass(frozen=True)
class MonteCarloParams:
    """A Monte-Carlo phase's own keys."""

    chips: int = spec(10, lo=1, hi=100000, doc="independent chips per policy and sigma")
    policies: list[str] = spec(list(POLICIES), doc="deployment policies compared")
    sigmas: list[float] = spec([], doc="program_sigma values swept (empty: the arch's)")
    evaluate: str = spec("crossbar", choices=("crossbar", "weights"),
                         doc="crossbar = full functional model; weights = the chips' programmed weights "
                             "with ideal read-out (fast; no read noise / ADC)")

    def validate(self, src: Any, path: tuple) -> None:
        if not self.policies:
            raise src.error(path + ("policies",), "at least one policy", [])
        for i, p in enumerate(self.policies):
            check_part("policy", p, src, path + ("policies", i))
        for i, s in enumerate(self.sigmas):
            if not 0.0 <= s <= 1.0:
                raise src.error(path + ("sigmas", i), "a number in [0, 1]", s)


class MonteCarloPhase(PhaseKind):
    """Many simulated chips per deployment policy and programming sigma: accuracy over chips."""

    kind = "monte_carlo"
    result_type = MonteCarloResult
    table_names = ("montecarlo", "montecarlo_chips")
    Params = MonteCarloParams

    def resolve(self, ph: PhaseSpec, src: Any, path: tuple) -> PhaseSpec:
        for i, p in enumerate(ph.params.policies):
            plugins.load_located("policy", p, src, path + ("policies", i))
        return ph

    def announce(self, ph: PhaseSpec, ctx: Session) -> str:
        p = ph.params
        return (f"phase {ph.name}: Monte-Carlo over {p.chips} chips x {len(p.policies)} policies"
                f" x {max(1, len(p.sigmas))} sigmas ({p.evaluate})")

    def run(self, ph: PhaseSpec, ctx: Session) -> MonteCarloResult:
        t0 = time.perf_counter()
        result = run_monte_carlo(ph, ctx)
        ctx.wall.add("monte_carlo", t0)
        return result

    def deploy_policies(self, ph: PhaseSpec) -> set[str]:
        return set(ph.params.policies)

    def summary(self, r: MonteCarloResult) -> list[str]:
        out = [f"phase {r.name}: {self.headlines(r)[0].text()} | {r.chips} chips per policy, "
               f"{r.images} images, evaluate={r.evaluate}, noise-free accuracy {r.noise_free_accuracy:.4f}",
               f"  {'sigma':>5} {'policy':<9} {'accuracy':>8} {'std':>6} {'95% CI':>15} {'gap':>7} "
               f"{'verified':>8} {'verify pulses':>13} {'energy':>9} {'time':>9}"]
        for p in r.results:
            a = p.accuracy
            out.append(f"  {p.sigma:>5.3g} {p.policy:<9} {a.mean:>8.4f} {a.std:>6.4f} "
                       f"[{a.ci95[0]:.3f}, {a.ci95[1]:.3f}] {p.gap_to_noise_free:>7.4f} "
                       f"{p.fraction_verified:>8.2%} {p.verify_pulses_mean:>13.0f} "
                       f"{si(p.programming_energy_pj_mean * 1e-12, 'J'):>9} "
                       f"{si(p.programming_time_s_mean, 's'):>9}")
        return out

    def tables(self, r: MonteCarloResult) -> dict[str, list[dict]]:
        rows, chips = [], []
        for p in r.results:
            a = p.accuracy
            row = {"phase": r.name, "sigma": p.sigma, "policy": p.policy, "chips": p.chips,
                   "accuracy_mean": a.mean, "accuracy_std": a.std, "ci95_lo": a.ci95[0],
                   "ci95_hi": a.ci95[1], "gap_to_noise_free": p.gap_to_noise_free}
            row.update({k: v for k, v in sorted(p.to_json().items())
                        if k not in row and not isinstance(v, (dict, list))})
            rows.append(row)
            chips += [{"phase": r.name, "sigma": p.sigma, "policy": p.policy, "chip": c, "accuracy": v}
                      for c, v in enumerate(p.accuracy_per_chip)]
        return {"montecarlo": rows, "montecarlo_chips": chips}

    def figures(self, r: MonteCarloResult, report: RunReport) -> dict:
        from ..report import plots

        return {f"montecarlo_{r.name}": plots.montecarlo_figure(r)}

    def compare_figures(self, reports: list[tuple[str, list[MonteCarloResult]]]) -> dict:
        from ..report import plots

        return {"compare_montecarlo": plots.montecarlo_overlay([(n, r) for n, rs in reports for r in rs])}

    def headlines(self, r: MonteCarloResult) -> list[Headline]:
        best = max(r.results, key=lambda p: p.accuracy.mean)
        return [Headline("best_accuracy_mean_over_chips",
                         f"accuracy of the best policy ({best.policy} at sigma {best.sigma:g}), mean over "
                         f"{best.chips} chips", best.accuracy.mean, tuple(best.accuracy.ci95))]
