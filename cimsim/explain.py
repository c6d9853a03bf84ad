"""Why a chip loses accuracy: a quick ablation (`cimsim run --explain`).

The first functional inference phase is re-run on chips that differ from the arch in one
way each: an ideal chip (every non-ideality the device and tile models name turned off:
for the built-in models no programming error, read noise, stuck cells, IR drop, ADC offset
or INL, a 24-bit ADC over the full column range; read as programmed), then that ideal chip
with each non-ideality of the arch put back alone (a plugin model's own included). The
non-ideality whose return costs most is named as the dominant one. Every case is the mean
over the same few chips (the run's chip and chips 1.. of the inference phase's ci_chips, at
most `chips`): where a stuck cell lands depends on the draws each case makes, so one chip
alone would mix the physics with the draw. Costs are not recomputed (the arch's own phases carry them).
"""
from __future__ import annotations

import time

from .config.arch import ArchSpec
from .config.nonideal import alone, ideal_arch, present
from .deploy import deploy
from .hw.chip import Chip, build_chip
from .phases.inference import accuracy as chip_accuracy
from .session import Session


def cases(chip: Chip, t_s: float) -> tuple[ArchSpec, dict[str, tuple[ArchSpec, float]]]:
    """The ideal arch (every non-ideality the chip's device and tile models name, turned off)
    and, for each one the arch has, name -> (the ideal arch with it back, read time); plus
    the phase's read time t_s on the ideal chip."""
    every = chip.nonidealities()
    a = chip.arch
    base = ideal_arch(a, every)
    out = {n.label: (alone(a, every, n), 0.0) for n in every if present(a, n)}
    if t_s > 0:
        out[f"time after programming ({t_s:g} s)"] = (base, t_s)
    return base, out


def explain(ctx: Session, images: int = 200, chips: int = 3) -> dict | None:
    """The ablation on the workload's first functional inference phase (None: there is none)."""
    ph = next((p for p in ctx.w.phases if p.kind == "inference"), None)
    if ph is None or ctx.dep is None:
        return None
    t0 = time.perf_counter()
    x, y = ctx.data.split(ph.split)
    n = min(images, ph.samples or len(x), len(x))
    x, y = x[:n], y[:n]

    k = max(1, min(chips, ph.params.ci_chips))

    def mean_accuracy(arch: ArchSpec, t_s: float) -> float:
        on = ctx.on_chip(build_chip(arch))
        accs = []
        for c in range(k):
            dep = deploy(on, ctx.net, chip_index=c or None)
            accs.append(chip_accuracy(dep, x, y, on.chip, t_s, ph.params.drift_compensation and t_s > 0,
                                      ph.params.drift_compensation_readout))
        return sum(accs) / k

    t_s = ph.params.time_after_programming_s
    full = mean_accuracy(ctx.chip.arch, t_s)
    base, each = cases(ctx.chip, t_s)
    clean = mean_accuracy(base, 0.0)
    alone = {name: mean_accuracy(arch, t) for name, (arch, t) in each.items()}
    ctx.wall.add("explain", t0)
    worst = min(alone, key=lambda k: alone[k]) if alone else None
    return {"phase": ph.name, "images": n, "chips": k, "ideal_chip": clean, "this_chip": full,
            "each_alone": alone, "dominant": worst,
            "note": "mean accuracy over the same chips; each non-ideality alone on an otherwise ideal chip; "
                    "losses do not add up"}
