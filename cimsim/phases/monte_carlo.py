"""Monte-Carlo phase: many simulated chips per deployment policy and programming sigma
(montecarlo.py does the work); accuracy over chips and the cost of programming them."""
from __future__ import annotations

import time

from ..config.workload import PhaseSpec
from ..montecarlo import run_monte_carlo
from ..report.units import si
from .base import Context, PhaseKind


class MonteCarloPhase(PhaseKind):
    """Many simulated chips per deployment policy and programming sigma: accuracy over chips."""

    kind = "monte_carlo"
    table_names = ("montecarlo", "montecarlo_chips")

    def announce(self, ph: PhaseSpec, ctx: Context) -> str:
        return (f"phase {ph.name}: Monte-Carlo over {ph.chips} chips x {len(ph.policies)} policies"
                f" x {max(1, len(ph.sigmas))} sigmas ({ph.evaluate})")

    def run(self, ph: PhaseSpec, ctx: Context) -> dict:
        t0 = time.perf_counter()
        block = run_monte_carlo(ph, ctx.net, ctx.data, ctx.chip.arch, ctx.w, ctx.arch_file,
                                ctx.workload_file, ctx.float_acc, ctx.workers)
        ctx.wall.add("monte_carlo", t0)
        return block

    def deploy_policies(self, ph: PhaseSpec) -> set[str]:
        return set(ph.policies)

    def summary(self, block: dict) -> list[str]:
        out = [f"phase {block['name']}: {block['chips']} chips per policy, {block['images']} images, "
               f"evaluate={block['evaluate']}, noise-free accuracy {block['noise_free_accuracy']:.4f}",
               f"  {'sigma':>5} {'policy':<9} {'accuracy':>8} {'std':>6} {'95% CI':>15} {'gap':>7} "
               f"{'verified':>8} {'verify pulses':>13} {'energy':>9} {'time':>9}"]
        for r in block["results"]:
            a = r["accuracy"]
            out.append(f"  {r['sigma']:>5.3g} {r['policy']:<9} {a['mean']:>8.4f} {a['std']:>6.4f} "
                       f"[{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}] {r['gap_to_noise_free']:>7.4f} "
                       f"{r['fraction_verified']:>8.2%} {r['verify_pulses_mean']:>13.0f} "
                       f"{si(r['programming_energy_pj_mean'] * 1e-12, 'J'):>9} "
                       f"{si(r['programming_time_s_mean'], 's'):>9}")
        return out

    def tables(self, block: dict) -> dict[str, list[dict]]:
        name, rows, chips = block["name"], [], []
        for r in block["results"]:
            a = r["accuracy"]
            row = {"phase": name, "sigma": r["sigma"], "policy": r["policy"], "chips": r["chips"],
                   "accuracy_mean": a["mean"], "accuracy_std": a["std"], "ci95_lo": a["ci95"][0],
                   "ci95_hi": a["ci95"][1], "gap_to_noise_free": r["gap_to_noise_free"]}
            row.update({k: v for k, v in r.items() if k not in row and not isinstance(v, (dict, list))})
            rows.append(row)
            chips += [{"phase": name, "sigma": r["sigma"], "policy": r["policy"], "chip": c, "accuracy": v}
                      for c, v in enumerate(r["accuracy_per_chip"])]
        return {"montecarlo": rows, "montecarlo_chips": chips}

    def headline(self, blocks: list[dict]) -> dict:
        return {"best MC policy accuracy": max(r["accuracy"]["mean"] for b in blocks for r in b["results"])}
