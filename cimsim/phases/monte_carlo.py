"""Monte-Carlo phase: many simulated chips per deployment policy and programming sigma
(montecarlo.py does the work); accuracy over chips and the cost of programming them."""
from __future__ import annotations

import time

from ..config.workload import PhaseSpec
from ..montecarlo import MonteCarloResult, run_monte_carlo
from ..report.units import si
from ..results import RunReport
from ..session import Session
from .base import PhaseKind


class MonteCarloPhase(PhaseKind):
    """Many simulated chips per deployment policy and programming sigma: accuracy over chips."""

    kind = "monte_carlo"
    result_type = MonteCarloResult
    table_names = ("montecarlo", "montecarlo_chips")

    def announce(self, ph: PhaseSpec, ctx: Session) -> str:
        return (f"phase {ph.name}: Monte-Carlo over {ph.chips} chips x {len(ph.policies)} policies"
                f" x {max(1, len(ph.sigmas))} sigmas ({ph.evaluate})")

    def run(self, ph: PhaseSpec, ctx: Session) -> MonteCarloResult:
        t0 = time.perf_counter()
        result = run_monte_carlo(ph, ctx)
        ctx.wall.add("monte_carlo", t0)
        return result

    def deploy_policies(self, ph: PhaseSpec) -> set[str]:
        return set(ph.policies)

    def summary(self, r: MonteCarloResult) -> list[str]:
        out = [f"phase {r.name}: {r.chips} chips per policy, {r.images} images, "
               f"evaluate={r.evaluate}, noise-free accuracy {r.noise_free_accuracy:.4f}",
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

    def headline(self, results: list[MonteCarloResult]) -> dict:
        return {"best MC policy accuracy": max(p.accuracy.mean for r in results for p in r.results)}
