"""On-chip training methods side by side, on devices whose updates are asymmetric.

LRT, mixed precision, Tiki-Taka v2, per-sample SGD, bias-only and no learning, on the four
scenarios of the LRT study (control, distribution shift, analog drift, digital drift), on
two chips whose cells answer learning's pulses as measured devices do (device/update.py):

- rram: the default chip (arch/rram_64x64.yaml) with soft-bounds RRAM cells: aihwkit's
  ReRamSBPresetDevice step (dw_min 0.002 of its range 2.0: step_fraction 0.001) and
  cycle-to-cycle noise (dw_min_std 3.75), with the up/down asymmetry 0.259 that aihwkit's
  ReRamESPresetDevice fits to the same device (Gong et al., Nat. Commun. 2018);
- pcm: arch/pcm_256x256.yaml with SET-only PCM pairs, RESET and refresh (aihwkit's
  PCMPresetUnitCell): the SET response is a linear step fitted to aihwkit's PCMPresetDevice
  (Nandakumar et al. 2020; dw_min 0.01 of its range 2, step factor 1 + 27.235 exp(-5 x)):
  the same ratio of the last step to the first (gamma_up 0.958) and the same 73 pulses from
  g_min to g_max (step_fraction 0.0443), cycle-to-cycle std 0.6 steps (its dw_min_std);
  32 tiles instead of 16, so that Tiki-Taka's A arrays fit beside the network (every method
  runs on this same chip).

Each learning method runs at its best learning rate from LR_GRID, chosen per chip by the mean
online accuracy on the analog-drift stream (seed 0, the tuning run); then every cell of the
table runs `--seeds` seeds (chip and stream). Per cell: final online accuracy (EMA) and mean
online accuracy, mean and spread over seeds; max and mean pulses per cell (every pulse of
the update models is a write, device/update.py); auxiliary memory; learning energy per
sample (the run's energy per sample minus the no-learning run's on the same chip, stream and
seed); projected lifetime (the busiest cell against the endurance budget at 10 samples/s).

    python benchmarks/compare_training.py [--samples 500] [--seeds 3] [--workers 2]
        [--chips rram pcm] [--methods ...] [--scenarios ...] [--results DIR] [--markdown]

A results folder keeps each run's row (keyed by its settings and a digest of cimsim's
sources and the files), so a long table can be built in parts.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD = ROOT / "workloads" / "resnet_lrt.yaml"
SCENARIOS = ("control", "distribution_shift", "analog_drift", "digital_drift")
METHODS = ("lrt", "mixed_precision", "tiki_taka", "sgd", "bias_only", "none")
TUNE_SCENARIO = "analog_drift"
LR_GRID = {"lrt": (0.0003, 0.001, 0.003, 0.01), "mixed_precision": (0.001, 0.003, 0.01, 0.03),
           "tiki_taka": (0.003, 0.01, 0.03, 0.1), "sgd": (0.001, 0.003, 0.01, 0.03)}
# what fits the default chip's SRAM shares (16-bit chi or H needs 18,432 B for one ResNet-8
# layer against its 16,384 B share): 8-bit state, as the fit check reports
METHOD_PARAMS = {"mixed_precision": {"chi_bits": 8}, "tiki_taka": {"version": 2, "h_bits": 8}}
CHIPS = {
    "rram": ("arch/rram_64x64.yaml",
             {"device.clip_to_range": True, "device.update.model": "soft_bounds",
              "device.update.step_fraction": 0.001, "device.update.cycle_sigma": 3.75,
              "device.update.up_down": 0.259}),
    "pcm": ("arch/pcm_256x256.yaml",
            {"device.clip_to_range": True, "device.update.model": "pcm_set_only",
             "device.update.step_fraction": 0.0443, "device.update.gamma_up": 0.958,
             "device.update.cycle_sigma": 0.6, "chip.tiles": 32}),
}


def source_digest() -> str:
    import cimsim

    h = hashlib.sha256()
    pkg = Path(cimsim.__file__).parent
    for f in sorted(pkg.rglob("*.py")):
        h.update(f.relative_to(pkg).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    for f in (WORKLOAD, *(ROOT / a for a, _ in CHIPS.values())):
        h.update(f.read_bytes())
    return h.hexdigest()[:10]


def one(job: tuple) -> dict:
    """One online run (train phase only, no separate baseline): its row."""
    import yaml

    from cimsim.config import Loaded, load_arch
    from cimsim.config.schema import Source, build
    from cimsim.config.workload import WorkloadSpec
    from cimsim.study import run_study

    chip, scenario, method, lr, seed, samples, results, digest = job
    name = f"{chip}_{scenario}_{method}_lr{lr:g}_s{seed}_n{samples}_{digest}.json"
    kept = Path(results) / name if results else None
    if kept is not None and kept.exists():
        return json.loads(kept.read_text())
    arch_file, overrides = CHIPS[chip]
    arch = load_arch(ROOT / arch_file, values=overrides)
    data = yaml.safe_load(WORKLOAD.read_text())
    adapt = copy.deepcopy(data["phases"][1])
    adapt["samples"] = samples
    adapt["baseline"] = False
    alg = {"name": method, "bias_lr": adapt["algorithm"]["bias_lr"], **METHOD_PARAMS.get(method, {})}
    if method == "lrt":
        alg = {**adapt["algorithm"]}
    if lr:
        alg["lr"] = lr
    adapt["algorithm"] = alg
    adapt["scenario"]["kind"] = scenario
    adapt["scenario"]["segment_samples"] = max(1, samples // 7)     # every shift appears once
    data["phases"] = [adapt]
    data["seed"] = seed
    t0 = time.perf_counter()
    workload = Loaded(build(WorkloadSpec, data, Source("compare_training")), "compare_training", "")
    rep = run_study(arch, workload).to_json()
    ph = rep["phases"][0]
    w = ph["writes"]
    row = {"chip": chip, "scenario": scenario, "method": method, "lr": lr, "seed": seed,
           "ema": ph["accuracy"]["online_ema_final"], "mean": ph["accuracy"]["online_mean"],
           "max_pulses": w["max_per_cell"], "mean_pulses": w["mean_per_cell"],
           "aux_bytes": ph["aux_memory"]["peak_bytes"], "energy_pj": ph["energy"]["per_sample_pj"],
           "years": ph["endurance"]["years_to_first_wear_out"], "wall_s": time.perf_counter() - t0}
    if kept is not None:
        from cimsim.util import atomic_write

        atomic_write(kept, lambda f: f.write(json.dumps(row)))
    return row


def _init() -> None:
    from threadpoolctl import threadpool_limits

    from cimsim.kernels import mvm

    threadpool_limits(1)
    mvm.use_threads(1)


def run_all(jobs: list[tuple], workers: int) -> list[dict]:
    if workers <= 1:
        _init()
        return [one(j) for j in jobs]
    with ProcessPoolExecutor(workers, initializer=_init) as ex:
        return list(ex.map(one, jobs))


def spread(xs: list[float]) -> str:
    """mean +- sample std (n - 1), or the value alone for one seed."""
    m = float(np.mean(xs))
    return f"{m:.3f} ± {np.std(xs, ddof=1):.3f}" if len(xs) > 1 else f"{m:.3f}"


def table(rows: list[dict], chips: list[str], best: dict, markdown: bool) -> list[str]:
    out = []
    none = {(r["chip"], r["scenario"], r["seed"]): r["energy_pj"] for r in rows if r["method"] == "none"}
    head = ["chip", "scenario", "method", "lr", "online EMA (final)", "online mean", "max pulses/cell",
            "mean pulses/cell", "aux memory (B)", "learning energy (nJ/sample)", "lifetime"]
    out.append("| " + " | ".join(head) + " |" if markdown else "  ".join(head))
    if markdown:
        out.append("|" + "---|" * len(head))
    for chip in chips:
        for sc in SCENARIOS:
            for m in METHODS:
                rs = [r for r in rows if (r["chip"], r["scenario"], r["method"]) == (chip, sc, m)]
                if not rs:
                    continue
                learn = [r["energy_pj"] - none[chip, sc, r["seed"]] for r in rs
                         if (chip, sc, r["seed"]) in none]
                yrs = [r["years"] for r in rs if r["years"]]
                life = ("no writes" if not yrs and not max(r["max_pulses"] for r in rs) else
                        f"{min(yrs) * 365.25:.3g} days" if yrs and min(yrs) < 1 else
                        f"{min(yrs):.3g} years" if yrs else "unlimited")
                cells = [chip, sc, m, f"{best.get((chip, m), 0):g}" if m in LR_GRID else "-",
                         spread([r["ema"] for r in rs]), spread([r["mean"] for r in rs]),
                         str(max(r["max_pulses"] for r in rs)),
                         f"{np.mean([r['mean_pulses'] for r in rs]):.3g}",
                         str(rs[0]["aux_bytes"]), f"{np.mean(learn) / 1e3:.1f}" if learn else "-", life]
                out.append("| " + " | ".join(cells) + " |" if markdown else "  ".join(cells))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chips", nargs="*", default=list(CHIPS))
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    ap.add_argument("--results", default="", help="folder keeping each run's row (reused on a rerun)")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    digest = source_digest()
    t0 = time.perf_counter()
    tune = [(c, TUNE_SCENARIO, m, lr, 0, a.samples, a.results, digest)
            for c in a.chips for m in a.methods if m in LR_GRID for lr in LR_GRID[m]]
    tuned = run_all(tune, a.workers)
    best = {}
    print(f"learning rates (mean online accuracy, {TUNE_SCENARIO}, seed 0, {a.samples} samples):")
    for c in a.chips:
        for m in (m for m in a.methods if m in LR_GRID):
            rs = [r for r in tuned if (r["chip"], r["method"]) == (c, m)]
            pick = max(rs, key=lambda r: (r["mean"], -r["lr"]))
            best[c, m] = pick["lr"]
            print(f"  {c:5s} {m:16s} " + "  ".join(f"lr {r['lr']:g}: {r['mean']:.3f}" for r in rs)
                  + f"  -> {pick['lr']:g}")
    jobs = [(c, sc, m, best.get((c, m), 0.0), s, a.samples, a.results, digest)
            for c in a.chips for sc in a.scenarios for m in a.methods for s in range(a.seeds)]
    rows = run_all(jobs, a.workers)
    print(f"\n{a.samples} samples per run, {a.seeds} seed(s) per cell (mean ± std over seeds), "
          f"{len(tune) + len(jobs)} runs, {time.perf_counter() - t0:.0f} s")
    for line in table(rows, a.chips, best, a.markdown):
        print(line)
    if any(math.isnan(r["ema"]) for r in rows):
        raise SystemExit("a run returned no accuracy")


if __name__ == "__main__":
    main()
