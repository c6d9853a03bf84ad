"""One study end to end: config -> model -> mapping -> program -> phases -> report."""
from __future__ import annotations

import dataclasses
import difflib
import time

from . import __version__, plugins
from .cluster import connected
from .config import Loaded, to_dict
from .config.schema import Source
from .deploy import deploy, programming_report
from .energy import cost_table
from .errors import ConfigError, FitError
from .explain import explain as explain_losses
from .hw.chip import build_chip
from .kernels import mvm
from .learning.rules import check_rule_fits
from .mapping import ChipMap, map_layers
from .nn.layers import Net
from .nn.models import model_label
from .nn.network import input_hashes, untrained_net, workload_data
from .phases import phase_kind
from .pretrain import pretrain_key, workload_net
from .progress import say
from .reload import combined_map, plan_rounds
from .results import ModelInfo, PhaseResult, RunReport
from .session import Session, WallClock
from .workers import threads_now

__all__ = ["WallClock", "fit_check", "run_study"]


def run_phases(s: Session) -> list[PhaseResult]:
    """Every phase of the workload in order, each by its kind; their results."""
    out = []
    for ph in s.w.phases:
        kind = phase_kind(ph.kind)
        say(kind.announce(ph, s))
        out.append(kind.run(ph, s))
    return out


def _weight_shapes(net: Net) -> list[tuple[str, int, int]]:
    return ([(n.name, *n.W.shape) for n in net.weight_layers()]
            + [(b.name, *b.W.shape) for b in net.blocks()])


def fit_check(s: Session, net: Net) -> ChipMap:
    """Map the network (and its TSB blocks where a policy inserts them) before any training:
    a network that does not fit fails here, in seconds, with the tiles it needs (with
    deploy.weight_reload: its layers in rounds, unless one layer alone is too large)."""
    w, chip = s.w, s.chip
    policies = {w.deploy.write_verify}.union(*(phase_kind(ph.kind).deploy_policies(ph) for ph in w.phases))
    nets = [net]
    for name in sorted(policies):
        pol = plugins.load("policy", name)()
        if pol.changes_network and w.deploy.functional:
            nets.append(pol.network(net, s))
    names = [x[0] for x in _weight_shapes(nets[-1])]
    check_adc_bits(s, names)
    check_copies(s, names)
    bits = w.deploy.layer_adc_bits()
    cmap = None
    for n in nets:
        copies = w.deploy.layer_copies([x[0] for x in _weight_shapes(n)])
        try:
            m = map_layers(_weight_shapes(n), chip, bits, copies)
        except FitError as e:
            if not w.deploy.weight_reload:
                hint = "; or reload weights in rounds: deploy.weight_reload: true (cost-only runs)"
                raise FitError(f"{s.arch_file}: chip.tiles: {e}{hint}") from None
            m = combined_map(plan_rounds(_weight_shapes(n), chip, s.arch_file, bits), chip.arch)
        cmap = cmap or m
    for ph in w.phases:              # a learning rule's SRAM state must fit its layers' buffers too
        if ph.kind == "train" and w.deploy.functional:
            check_rule_fits(ph.params.algorithm, net, cmap, chip.arch, w.seed, s.arch_file)
    return cmap


def unknown_layer(s: Session, key: str, name: str, layers: list[str]) -> ConfigError:
    """The located error of a workload key naming a layer the network does not have."""
    close = difflib.get_close_matches(name, layers, n=1, cutoff=0.5)
    return ConfigError(s.workload_file, key, "a weight layer of the network ("
                       + ", ".join(layers[:12]) + (", ..." if len(layers) > 12 else "") + ")",
                       name, note=f"did you mean '{close[0]}'?" if close else "")


def check_copies(s: Session, layers: list[str]) -> None:
    """deploy.replicate names weight layers of the network; replication needs the network
    resident (not with deploy.weight_reload)."""
    d = s.w.deploy
    for i, r in enumerate(d.replicate):
        if r.layer not in layers:
            raise unknown_layer(s, f"deploy.replicate.{i}.layer", r.layer, layers)
    if d.weight_reload and (d.copies > 1 or d.replicate):
        raise ConfigError(s.workload_file, "deploy.copies" if d.copies > 1 else "deploy.replicate",
                          "no replication with deploy.weight_reload (the copies would be reloaded "
                          "round by round)", d.copies if d.copies > 1 else "replicate")


def check_adc_bits(s: Session, layers: list[str]) -> None:
    """deploy.adc_bits names weight layers of the network, at most the arch's ADC bits."""
    top = s.chip.arch.adc.bits
    for i, a in enumerate(s.w.deploy.adc_bits):
        if a.layer not in layers:
            raise unknown_layer(s, f"deploy.adc_bits.{i}.layer", a.layer, layers)
        if a.bits > top:
            raise ConfigError(s.workload_file, f"deploy.adc_bits.{i}.bits",
                              f"at most the arch's adc.bits ({top}): an ADC resolves fewer bits "
                              "than it has, not more", a.bits)


def open_session(arch: Loaded, workload: Loaded, wall: WallClock | None = None, workers: int = 1,
                 scheduler: str | None = None) -> Session:
    """The run's session: the chip's models built and the workload's parts loaded (located
    errors, before any work), the data loaded, the network mapped (the fit check)."""
    t0 = time.perf_counter()
    wall = wall or WallClock()
    chip = build_chip(arch)                       # the device and tile models, located errors
    spec = plugins.resolve_workload(workload.spec, workload.source or Source(workload.path))  # its parts
    s = Session(arch, dataclasses.replace(workload, spec=spec), chip, wall, workers, scheduler)
    shapes_only = not s.w.deploy.functional        # a cost-only run needs no weights or inputs
    s.data = workload_data(s.w, workload.path, shapes_only)
    s.net = untrained_net(s.w, s.data, workload.path, shapes_only)
    s.cmap = fit_check(s, s.net)
    wall.add("load", t0)
    return s


def run_study(arch: Loaded, workload: Loaded, wall: WallClock | None = None, workers: int = 1,
              explain: bool = False, scheduler: str | None = None) -> RunReport:
    """Run every phase of the workload on the chip; return the typed report (JSON only at
    report.writer). The one run path of `cimsim run`, the API and sweep points.
    `workers` > 1 runs the independent work (chips, the train phases' baselines) in that many
    processes, `scheduler` on a dask cluster (cluster.py; same report bytes);
    `explain` adds the accuracy ablation of explain.py. The MVM uses at most the threads
    worth running now (workers.threads_now: fewer on a loaded machine; same report)."""
    with mvm.threads(min(mvm.current_threads(), threads_now())):
        with connected(scheduler):
            return _run_study(arch, workload, wall, workers, explain, scheduler)


def _run_study(arch: Loaded, workload: Loaded, wall: WallClock | None, workers: int,
               explain: bool, scheduler: str | None) -> RunReport:
    s = open_session(arch, workload, wall, workers, scheduler)
    if not s.w.deploy.functional:
        return cost_only_study(s)
    w, a, data = s.w, s.chip.arch, s.data
    t0 = time.perf_counter()
    s.net, origin = workload_net(w, data, a, workload.path, untrained=s.net)
    s.float_acc = float((s.net.predict(data.x_test) == data.y_test).mean())
    s.wall.add({"pretrained": "pretrain", "cached": "load_model"}.get(origin, "load_model"), t0)
    note = {"cached": " (cached)", "onnx": " (ONNX weights)"}.get(origin, "")
    say(f"float model: test accuracy {s.float_acc:.4f}{note}")
    t0 = time.perf_counter()
    s.dep = deploy(s, s.net)
    s.cmap = s.dep.cmap
    programming = programming_report(s.dep, s.chip)     # now: the phases change levels and faults
    s.wall.add("program", t0)
    phases = run_phases(s)
    return RunReport(
        cimsim_version=__version__,
        inputs=_inputs(s),
        model=ModelInfo(name=model_label(w.model), parameters=s.net.parameter_count(),
                        float_test_accuracy=s.float_acc,
                        pretrain_key=(pretrain_key(w, a, input_hashes(w, s.workload_file))
                                      if origin in ("pretrained", "cached") else None)),
        mapping=s.cmap.summary(),
        area=s.chip.area(),
        cost_table=cost_table(s.chip, s.cmap),
        deploy=programming,
        phases=phases,
        explain=(explain_losses(s) or None) if explain else None,
    )


def _inputs(s: Session) -> dict:
    """The inputs' paths and hashes, the specs as run (the arch with its models' params) and
    the key-path overrides given (as YAML text, `arch.` / `workload.` prefixed); the sha256 of
    the files the workload reads besides itself, where it reads any."""
    arch, workload = s.arch, s.workload
    files = input_hashes(workload.spec, workload.path)           # npz data, an ONNX model
    plug = plugins.source_hashes(to_dict(s.chip.arch))           # a tile or device plugin's code
    return {
        "arch": {"path": arch.path, "sha256": arch.sha256, "spec": to_dict(s.chip.arch),
                 **({"plugins_sha256": plug} if plug else {})},
        "workload": {"path": workload.path, "sha256": workload.sha256, "spec": to_dict(workload.spec),
                     **({"files_sha256": files} if files else {})},
        "overrides": {**{f"arch.{k}": v for k, v in sorted(arch.overrides.items())},
                      **{f"workload.{k}": v for k, v in sorted(workload.overrides.items())}},
    }


def cost_only_study(s: Session) -> RunReport:
    """deploy.functional: false: energy, latency and utilisation of every inference phase from
    the layer shapes (no pretraining, no programming, no analog model, no accuracy)."""
    chip, w, net, cmap = s.chip, s.w, s.net, s.cmap
    if cmap.rounds > 1:                           # only with deploy.weight_reload (fit_check)
        s.rounds = plan_rounds(_weight_shapes(net), chip, s.arch_file, w.deploy.layer_adc_bits())
        say(f"weight reload: the network needs {cmap.tiles_used} tiles, the chip has {chip.arch.chip.tiles}: "
            f"{len(s.rounds)} rounds of whole layers")
    phases = run_phases(s)
    return RunReport(
        cimsim_version=__version__,
        inputs=_inputs(s),
        model=ModelInfo(name=model_label(w.model), parameters=net.parameter_count(), float_test_accuracy=None,
                        pretrain_key=None),
        mapping=cmap.summary(),
        area=chip.area(),
        cost_table=cost_table(chip, cmap),
        deploy={"functional": False, "policy": None,
                "note": "cost-only run: no weights are programmed (programming cost needs the "
                        "programmed levels of a functional run)"},
        phases=phases,
    )
