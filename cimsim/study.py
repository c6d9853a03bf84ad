"""One study end to end: config -> model -> mapping -> program -> phases -> report."""
from __future__ import annotations

import difflib
import time

from . import __version__, plugins
from .config import Loaded, to_dict
from .config.arch import ArchSpec
from .config.schema import Source
from .config.workload import WorkloadSpec
from .deploy import deploy, programming_report
from .energy import cost_table
from .errors import ConfigError, FitError
from .explain import explain as explain_losses
from .hw.chip import Chip, build_chip
from .mapping import ChipMap, map_layers
from .nn.data import Dataset
from .nn.layers import Net
from .nn.models import model_label
from .nn.network import untrained_net, workload_data, workload_net
from .nn.train import pretrain_key
from .phases import Context, WallClock, phase_kind
from .progress import say
from .reload import combined_map, plan_rounds
from .results import ModelInfo, PhaseResult, RunReport

__all__ = ["WallClock", "fit_check", "run_study"]

def run_phases(w: WorkloadSpec, ctx: Context) -> list[PhaseResult]:
    """Every phase of the workload in order, each by its kind; their results."""
    out = []
    for ph in w.phases:
        kind = phase_kind(ph.kind)
        say(kind.announce(ph, ctx))
        out.append(kind.run(ph, ctx))
    return out

def _weight_shapes(net: Net) -> list[tuple[str, int, int]]:
    return ([(n.name, *n.W.shape) for n in net.weight_layers()]
            + [(b.name, *b.W.shape) for b in net.blocks()])

def fit_check(net: Net, w: WorkloadSpec, chip: Chip, arch_file: str, workload_file: str) -> ChipMap:
    """Map the network (and its TSB blocks where a policy inserts them) before any training:
    a network that does not fit fails here, in seconds, with the tiles it needs (with
    deploy.weight_reload: its layers in rounds, unless one layer alone is too large)."""
    policies = {w.deploy.write_verify}.union(*(phase_kind(ph.kind).deploy_policies(ph) for ph in w.phases))
    nets = [net]
    for name in sorted(policies):
        pol = plugins.load("policy", name)()
        if pol.changes_network and w.deploy.functional:
            nets.append(pol.network(net, w, workload_file))
    check_adc_bits(w, [s[0] for s in _weight_shapes(nets[-1])], chip.arch, workload_file)
    bits = w.deploy.layer_adc_bits()
    cmap = None
    for n in nets:
        try:
            m = map_layers(_weight_shapes(n), chip, bits)
        except FitError as e:
            if not w.deploy.weight_reload:
                hint = "; or reload weights in rounds: deploy.weight_reload: true (cost-only runs)"
                raise FitError(f"{arch_file}: chip.tiles: {e}{hint}") from None
            m = combined_map(plan_rounds(_weight_shapes(n), chip, arch_file, bits), chip.arch)
        cmap = cmap or m
    return cmap


def check_adc_bits(w: WorkloadSpec, layers: list[str], arch: ArchSpec, workload_file: str) -> None:
    """deploy.adc_bits names weight layers of the network, at most the arch's ADC bits."""
    for i, a in enumerate(w.deploy.adc_bits):
        if a.layer not in layers:
            close = difflib.get_close_matches(a.layer, layers, n=1, cutoff=0.5)
            raise ConfigError(workload_file, f"deploy.adc_bits.{i}.layer", "a weight layer of the network ("
                              + ", ".join(layers[:12]) + (", ..." if len(layers) > 12 else "") + ")",
                              a.layer, note=f"did you mean '{close[0]}'?" if close else "")
        if a.bits > arch.adc.bits:
            raise ConfigError(workload_file, f"deploy.adc_bits.{i}.bits",
                              f"at most the arch's adc.bits ({arch.adc.bits}): an ADC resolves fewer bits "
                              "than it has, not more", a.bits)

def run_study(arch: Loaded, workload: Loaded, wall: WallClock | None = None, workers: int = 1,
              explain: bool = False) -> RunReport:
    """Run every phase of the workload on the chip; return the typed report (JSON only at
    report.writer). The one run path of `cimsim run`, the API and sweep points.
    `workers` > 1 runs Monte-Carlo chips in that many processes (same report bytes);
    `explain` adds the accuracy ablation of explain.py."""
    wall = wall or WallClock()
    t0 = time.perf_counter()
    chip = build_chip(arch)                       # the device and tile models, located errors
    a: ArchSpec = chip.arch
    w: WorkloadSpec = workload.spec
    plugins.resolve_workload(w, workload.source or Source(workload.path))   # its parts, located errors
    data = workload_data(w, workload.path)
    net0 = untrained_net(w, data, workload.path)
    cmap = fit_check(net0, w, chip, arch.path, workload.path)
    wall.add("load", t0)
    if not w.deploy.functional:
        return cost_only_study(arch, workload, chip, data, net0, cmap, wall)
    t0 = time.perf_counter()
    net, origin = workload_net(w, data, a, workload.path, untrained=net0)
    del net0
    float_acc = float((net.predict(data.x_test) == data.y_test).mean())
    wall.add({"pretrained": "pretrain", "cached": "load_model"}.get(origin, "load_model"), t0)
    note = {"cached": " (cached)", "onnx": " (ONNX weights)"}.get(origin, "")
    say(f"float model: test accuracy {float_acc:.4f}{note}")
    t0 = time.perf_counter()
    memo: dict = {}
    dep = deploy(net, data, chip, w, arch.path, workload.path, memo=memo)
    programming = programming_report(dep, chip)     # now: the phases change levels and faults
    wall.add("program", t0)
    ctx = Context(chip, w, data, net, dep.cmap, arch.path, workload.path, wall, dep, float_acc, workers,
                  memo=memo)
    phases = run_phases(w, ctx)
    return RunReport(
        cimsim_version=__version__,
        inputs=_inputs(arch, workload, a),
        model=ModelInfo(name=model_label(w.model), parameters=_parameters(net), float_test_accuracy=float_acc,
                        pretrain_key=pretrain_key(w, a) if origin in ("pretrained", "cached") else None),
        mapping=dep.cmap.summary(),
        area=chip.area(),
        cost_table=cost_table(chip, dep.cmap),
        deploy=programming,
        phases=phases,
        explain=(explain_losses(ctx) or None) if explain else None,
    )

def _inputs(arch: Loaded, workload: Loaded, spec: ArchSpec) -> dict:
    """The inputs' paths and hashes, the specs as run (the arch with its models' params) and
    the key-path overrides given (as YAML text, `arch.` / `workload.` prefixed)."""
    return {
        "arch": {"path": arch.path, "sha256": arch.sha256, "spec": to_dict(spec)},
        "workload": {"path": workload.path, "sha256": workload.sha256, "spec": to_dict(workload.spec)},
        "overrides": {**{f"arch.{k}": v for k, v in sorted(arch.overrides.items())},
                      **{f"workload.{k}": v for k, v in sorted(workload.overrides.items())}},
    }

def _parameters(net: Net) -> int:
    return int(sum(v.size for k, v in net.state().items() if k.endswith((".W", ".b", ".gamma", ".beta"))))

def cost_only_study(arch: Loaded, workload: Loaded, chip: Chip, data: Dataset, net: Net, cmap: ChipMap,
                    wall: WallClock) -> RunReport:
    """deploy.functional: false: energy, latency and utilisation of every inference phase from
    the layer shapes (no pretraining, no programming, no analog model, no accuracy)."""
    a: ArchSpec = chip.arch
    w: WorkloadSpec = workload.spec
    rounds = None
    if cmap.rounds > 1:                           # only with deploy.weight_reload (fit_check)
        rounds = plan_rounds(_weight_shapes(net), chip, arch.path, workload.spec.deploy.layer_adc_bits())
        say(f"weight reload: the network needs {cmap.tiles_used} tiles, the chip has {a.chip.tiles}: "
            f"{len(rounds)} rounds of whole layers")
    ctx = Context(chip, w, data, net, cmap, arch.path, workload.path, wall, rounds=rounds)
    phases = run_phases(w, ctx)
    return RunReport(
        cimsim_version=__version__,
        inputs=_inputs(arch, workload, a),
        model=ModelInfo(name=model_label(w.model), parameters=_parameters(net), float_test_accuracy=None,
                        pretrain_key=None),
        mapping=cmap.summary(),
        area=chip.area(),
        cost_table=cost_table(chip, cmap),
        deploy={"functional": False, "policy": None,
                "note": "cost-only run: no weights are programmed (programming cost needs the "
                        "programmed levels of a functional run)"},
        phases=phases,
    )
