"""Reproduce the TSB study (Qin et al. 2024) on the default chip.

For each programming variation sigma (relative to the conductance range), deploys the
noise-aware-trained ResNet of workloads/resnet_tsb.yaml on N independent chips under each
policy (none, all, selective, tsb) and prints accuracy (mean, std, 95% CI), the gap to the
noise-free model, the fraction of weights verified, write-verify pulses and reads,
programming energy and time; then the issue's ratios, and the per-chip fine-tuning time
against noise-aware retraining of the whole network, both measured in this run.
One sigma per worker process.

    python benchmarks/reproduce_tsb.py [--chips 50] [--sigmas 0.05 0.1 0.2 0.3]
        [--evaluate weights|crossbar] [--workers 2] [--no-faults] [--skip-timing]
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cimsim import plugins
from cimsim.config import load_arch, load_workload

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "arch" / "rram_64x64.yaml"
WORKLOAD = ROOT / "workloads" / "resnet_tsb.yaml"
POLICIES = ("none", "all", "selective", "tsb")


def loaded(no_faults: bool):
    over = {"device.stuck_at.low_rate": "0", "device.stuck_at.high_rate": "0"} if no_faults else {}
    w = load_workload(WORKLOAD)
    return load_arch(ARCH, over).spec, plugins.resolve_workload(w.spec, w.source)   # its parts' params built


def one(job: tuple) -> list[dict]:
    from threadpoolctl import threadpool_limits

    from cimsim.montecarlo import run_monte_carlo
    from cimsim.nn.data import load_dataset
    from cimsim.pretrain import pretrained_model
    from cimsim.session import Session

    sigma, chips, evaluate, no_faults = job
    threadpool_limits(1)          # one BLAS thread per worker: workers = cores, no oversubscription
    arch, w = loaded(no_faults)
    data = load_dataset(w.dataset, w.seed)
    net, _ = pretrained_model(w, data, arch)
    float_acc = float((net.predict(data.x_test) == data.y_test).mean())
    ph = w.phases[2]
    ph = dataclasses.replace(ph, params=dataclasses.replace(ph.params, chips=chips, sigmas=(sigma,),
                                                            policies=POLICIES, evaluate=evaluate))
    s = Session.of(arch, w, data=data, net=net, arch_file=str(ARCH), workload_file=str(WORKLOAD))
    s.float_acc = float_acc
    mc = run_monte_carlo(ph, s)
    return [r.to_json() for r in mc.results]


def timing(no_faults: bool) -> tuple[float, float, int]:
    """Wall seconds of one chip's TSB fine-tuning and of noise-aware retraining (whole network)."""
    from cimsim.deploy import deploy
    from cimsim.learning.tsb import finetune, insert_blocks
    from cimsim.nn.data import load_dataset
    from cimsim.nn.fit import train_float
    from cimsim.nn.models import build_model
    from cimsim.policies import TinySharedBlock
    from cimsim.pretrain import noise_aware, pretrained_model
    from cimsim.session import Session

    arch, w = loaded(no_faults)
    arch = dataclasses.replace(arch, device=dataclasses.replace(arch.device, program_sigma=0.2))
    data = load_dataset(w.dataset, w.seed)
    net, _ = pretrained_model(w, data, arch)
    dep = deploy(Session.of(arch, w, data=data, arch_file=str(ARCH)), net, policy="none", chip_index=0)
    tsb = TinySharedBlock().params(w).tsb
    tnet = insert_blocks(net, tsb)
    for n in tnet.weight_layers():
        n.W[...] = dep.engines[n.name].w_eff
    t0 = time.perf_counter()
    finetune(tnet, data.x_train, data.y_train, tsb, 0)
    t_ft = time.perf_counter() - t0
    fresh = build_model(w.model, data.input_shape, data.classes, w.seed)
    t0 = time.perf_counter()
    train_float(fresh, data, w.pretrain, w.seed, noise_aware(w, arch))
    return t_ft, time.perf_counter() - t0, w.pretrain.epochs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chips", type=int, default=50)
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.3])
    ap.add_argument("--evaluate", choices=("weights", "crossbar"), default="weights")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-faults", action="store_true", help="stuck-at rates 0 (the TSB paper's model)")
    ap.add_argument("--skip-timing", action="store_true")
    a = ap.parse_args()
    from cimsim.nn.data import load_dataset
    from cimsim.pretrain import pretrained_model

    arch, w = loaded(a.no_faults)
    data = load_dataset(w.dataset, w.seed)
    net, _ = pretrained_model(w, data, arch)           # train (or load) once before the workers
    nf = float((net.predict(data.x_test) == data.y_test).mean())
    t0 = time.perf_counter()
    jobs = [(s, a.chips, a.evaluate, a.no_faults) for s in a.sigmas]
    with ProcessPoolExecutor(a.workers) as ex:
        rows = [r for res in ex.map(one, jobs) for r in res]
    print(f"TSB study: {a.chips} chips per policy and sigma, evaluate={a.evaluate}, "
          f"stuck-at faults {'off' if a.no_faults else 'as in the arch'}; noise-free accuracy {nf:.4f}; "
          f"{time.perf_counter() - t0:.0f} s")
    print(f"{'sigma':>5} {'policy':<9} {'acc':>6} {'std':>6} {'95% CI':>15} {'gap':>7} {'verified':>8} "
          f"{'pulses':>8} {'vfy pulses':>10} {'vfy reads':>9} {'energy uJ':>9} {'time us':>8}")
    for r in rows:
        acc = r["accuracy"]
        print(f"{r['sigma']:>5.2f} {r['policy']:<9} {acc['mean']:>6.3f} {acc['std']:>6.3f} "
              f"[{acc['ci95'][0]:.3f}, {acc['ci95'][1]:.3f}] {r['gap_to_noise_free']:>7.4f} "
              f"{r['fraction_verified']:>8.2%} {r['pulses_mean']:>8.0f} {r['verify_pulses_mean']:>10.0f} "
              f"{r['verify_reads_mean']:>9.0f} {r['programming_energy_pj_mean'] * 1e-6:>9.2f} "
              f"{r['programming_time_s_mean'] * 1e6:>8.1f}")
    print("\nratios:")
    for s in a.sigmas:
        by = {r["policy"]: r for r in rows if r["sigma"] == s}
        if not {"none", "tsb", "all"} <= set(by):
            continue
        g_none, g_tsb = by["none"]["gap_to_noise_free"], by["tsb"]["gap_to_noise_free"]
        ratio = g_tsb / g_none if g_none > 0 else float("nan")
        vp = by["tsb"]["verify_pulses_mean"] / by["all"]["verify_pulses_mean"]
        print(f"  sigma {s:.2f}: TSB gap / no-verify gap = {g_tsb:.4f} / {g_none:.4f} = {ratio:.3f} "
              f"(target <= 0.2 at 0.2), verified {by['tsb']['fraction_verified']:.2%}; "
              f"TSB / full-verify pulses: verify loops {vp:.4f}, "
              f"all pulses {by['tsb']['pulses_mean'] / by['all']['pulses_mean']:.3f}; "
              f"fine-tune / retrain MACs {by['tsb']['finetune_over_retrain_macs']:.4f}")
    if not a.skip_timing:
        t_ft, t_rt, epochs = timing(a.no_faults)
        print(f"\nwall time, measured here: TSB fine-tuning of one chip {t_ft:.2f} s; noise-aware "
              f"retraining of the whole network ({epochs} epochs) {t_rt:.1f} s; ratio {t_ft / t_rt:.4f}")


if __name__ == "__main__":
    main()
