"""report.json: written atomically, byte-identical for identical inputs and seed."""
from __future__ import annotations

import json
from pathlib import Path

from ..util import atomic_write


def dumps(report: dict) -> str:
    return json.dumps(report, indent=1, sort_keys=True, allow_nan=False) + "\n"


def write_report(report: dict, out_dir: str | Path) -> Path:
    path = Path(out_dir) / "report.json"
    text = dumps(report)
    atomic_write(path, lambda f: f.write(text))
    return path


def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, "")):
        if abs(value) < factor * 1000 or prefix == "":
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def summary(report: dict) -> str:
    """A short human summary of a report."""
    m, mp, dp = report["model"], report["mapping"], report["deploy"]
    acc = m["float_test_accuracy"]
    lines = [
        f"model {m['name']}: {m['parameters']} parameters, "
        + (f"float test accuracy {acc:.4f}" if acc is not None else "cost-only run (no accuracy)"),
        (f"mapping: {mp['tiles_used']}/{mp['tiles_total']} tiles, " if mp.get("reload_rounds", 1) == 1 else
         f"mapping: {mp['tiles_used']} tiles in {mp['reload_rounds']} weight-reload rounds on "
         f"{mp['tiles_total']}, ")
        + f"{mp['crossbars_used']} crossbars, "
        f"{mp['utilisation_of_allocated_tiles']:.1%} of allocated cells used"
        + (f"; chip area {report['area']['total_mm2']:.3g} mm2" if "area" in report else ""),
    ]
    if "pulses" in dp:
        lines.append(
            f"programming ({dp['policy']}): {dp['pulses']} pulses ({dp['verify_pulses']} in verify "
            f"loops), {dp['verify_reads']} verify reads, {dp['fraction_verified']:.2%} of weights verified, "
            f"{_si(dp['energy']['total_pj'] * 1e-12, 'J')}, {_si(dp['time_s'], 's')}, "
            f"{dp['stuck_cells']} stuck cells")
    for ph in report["phases"]:
        if ph["kind"] == "train":
            lines.append(_train_line(ph))
            continue
        if ph["kind"] == "monte_carlo":
            lines += _monte_carlo_lines(ph)
            continue
        lat, en = ph["latency"], ph["energy"]
        comp = {**en["per_component_pj"], **({"idle": en["idle_pj"]} if en.get("idle_pj") else {})}
        top = sorted(comp, key=lambda k: -comp[k])[:3]
        share = ", ".join(f"{k} {comp[k] / en['total_pj']:.0%}" for k in top) if en["total_pj"] else ""
        acc = f"accuracy {ph['accuracy']:.4f}" if ph["accuracy"] is not None else "cost only"
        eff = ph.get("efficiency") or {}
        effs = (f" | {eff['tops_per_w']:.3g} TOPS/W, {eff['pj_per_mac']:.3g} pJ/MAC, "
                f"{eff['tops_per_mm2']:.3g} TOPS/mm2"
                if eff.get("tops_per_w") and eff.get("tops_per_mm2") else "")
        lines.append(
            f"phase {ph['name']} ({ph['images']} images): {acc} | "
            f"energy {_si(en['per_image_pj'] * 1e-12, 'J')}/image ({share}) | "
            f"latency {_si(lat['first_image_latency_s'], 's')}/image, "
            f"throughput {lat['throughput_images_per_s']:.4g} images/s{effs}")
    return "\n".join(lines)


def _train_line(ph: dict) -> str:
    acc, wr, en, end = ph["accuracy"], ph["writes"], ph["energy"], ph["endurance"]
    years = end["years_to_first_wear_out"]
    life = (f"{years:.3g} years at {end['at_sample_rate_hz']:g} samples/s" if years
            else "unlimited (no wear-out)" if end["budget_cycles"] is None else "no writes")
    return (f"phase {ph['name']} ({ph['algorithm']}, {ph['scenario']}, {ph['samples']} samples): "
            f"online accuracy {acc['online_ema_final']:.4f} (EMA), last window {acc['last_window']:.4f} | "
            f"max writes/cell {wr['max_per_cell']}, density {wr['density']:.2e}, "
            f"aux memory {ph['aux_memory']['peak_bytes']} B | "
            f"energy {_si(en['per_sample_pj'] * 1e-12, 'J')}/sample | lifetime {life}")


def _monte_carlo_lines(ph: dict) -> list[str]:
    out = [f"phase {ph['name']}: {ph['chips']} chips per policy, {ph['images']} images, "
           f"evaluate={ph['evaluate']}, noise-free accuracy {ph['noise_free_accuracy']:.4f}",
           f"  {'sigma':>5} {'policy':<9} {'accuracy':>8} {'std':>6} {'95% CI':>15} {'gap':>7} "
           f"{'verified':>8} {'verify pulses':>13} {'energy':>9} {'time':>9}"]
    for r in ph["results"]:
        a = r["accuracy"]
        out.append(f"  {r['sigma']:>5.3g} {r['policy']:<9} {a['mean']:>8.4f} {a['std']:>6.4f} "
                   f"[{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}] {r['gap_to_noise_free']:>7.4f} "
                   f"{r['fraction_verified']:>8.2%} {r['verify_pulses_mean']:>13.0f} "
                   f"{_si(r['programming_energy_pj_mean'] * 1e-12, 'J'):>9} "
                   f"{_si(r['programming_time_s_mean'], 's'):>9}")
    return out
