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
    lines = [
        f"model {m['name']}: {m['parameters']} parameters, "
        f"float test accuracy {m['float_test_accuracy']:.4f}",
        f"mapping: {mp['tiles_used']}/{mp['tiles_total']} tiles, {mp['crossbars_used']} crossbars, "
        f"{mp['utilisation_of_allocated_tiles']:.1%} of allocated cells used",
        f"programming: {dp['pulses']} pulses, {_si(dp['energy']['total_pj'] * 1e-12, 'J')}, "
        f"{_si(dp['time_s'], 's')}, {dp['stuck_cells']} stuck cells",
    ]
    for ph in report["phases"]:
        if ph["kind"] == "train":
            lines.append(_train_line(ph))
            continue
        lat, en = ph["latency"], ph["energy"]
        comp = en["per_component_pj"]
        top = sorted(comp, key=lambda k: -comp[k])[:3]
        share = ", ".join(f"{k} {comp[k] / en['total_pj']:.0%}" for k in top) if en["total_pj"] else ""
        lines.append(
            f"phase {ph['name']} ({ph['images']} images): accuracy {ph['accuracy']:.4f} | "
            f"energy {_si(en['per_image_pj'] * 1e-12, 'J')}/image ({share}) | "
            f"latency {_si(lat['first_image_latency_s'], 's')}/image, "
            f"throughput {lat['throughput_images_per_s']:.4g} images/s")
    return "\n".join(lines)


def _train_line(ph: dict) -> str:
    acc, wr, en, end = ph["accuracy"], ph["writes"], ph["energy"], ph["endurance"]
    years = end["years_to_first_wear_out"]
    life = f"{years:.3g} years at {end['at_sample_rate_hz']:g} samples/s" if years else "no writes"
    return (f"phase {ph['name']} ({ph['algorithm']}, {ph['scenario']}, {ph['samples']} samples): "
            f"online accuracy {acc['online_ema_final']:.4f} (EMA), last window {acc['last_window']:.4f} | "
            f"max writes/cell {wr['max_per_cell']}, density {wr['density']:.2e}, "
            f"aux memory {ph['aux_memory']['peak_bytes']} B | "
            f"energy {_si(en['per_sample_pj'] * 1e-12, 'J')}/sample | lifetime {life}")
