"""What a workload or arch file can name: tiles, devices, models, algorithms, scenarios.

`cimsim list KIND` prints one line per entry: the name to write in the YAML, a one-line
description (the implementing object's docstring, for code) and where it comes from.
Names are the config schema's own choices, so this list cannot drift from what loads.
"""
from __future__ import annotations

from . import plugins
from .config.workload import POLICIES, AlgorithmSpec, ModelSpec, ScenarioSpec

KINDS = ("tiles", "devices", "models", "algorithms", "scenarios")

_MODELS = {"resnet": "cimsim.nn.models:resnet_layers", "lrt_cnn": "cimsim.nn.models:lrt_cnn_layers",
           "vgg": "cimsim.nn.models:vgg_layers", "resnet18": "cimsim.nn.models:resnet18_layers",
           "resnet50": "cimsim.nn.models:resnet50_layers", "layers": "cimsim.nn.graph:net_from_layers",
           "onnx": "cimsim.nn.onnx_import:load_onnx"}
_RULES = {"none": "cimsim.train.rules:NoLearning", "bias_only": "cimsim.train.rules:BiasOnly",
          "sgd": "cimsim.train.rules:Sgd", "lrt": "cimsim.train.rules:Lrt"}
_POLICIES = {
    "none": "one-shot programming of every cell, no verify",
    "all": "one-shot, then program-and-verify every cell",
    "selective": "verify the top verify_fraction of weights by magnitude or sensitivity",
    "tsb": "one-shot backbone + a tiny shared block fine-tuned per chip, only the block verified",
}
_SCENARIOS = {
    "control": "the digits stream with elastic distortions, nothing else changes",
    "distribution_shift": "segments of spatial transform, background gradient, white noise and mixes",
    "analog_drift": "Gaussian random walk of every stored conductance (device drift hook)",
    "digital_drift": "random bit flips of stored levels (device bit_flips hook)",
}


def _choices(cls: type, field: str) -> tuple:
    return next(f.metadata["choices"] for f in cls.__dataclass_fields__.values() if f.name == field)


def _code_row(group: str, name: str, ref: str) -> tuple[str, str, str, str]:
    return group, name, plugins.describe(plugins.import_ref(ref)), f"built-in {ref}"


def rows(kind: str) -> list[tuple[str, str, str, str]]:
    """(group, name, description, origin) of every entry of one kind."""
    if kind in ("tiles", "devices"):
        out = []
        group = f"{kind} (arch file: {kind[:-1]}.class)"
        for e in plugins.entries(kind[:-1]):
            try:
                desc = plugins.describe(plugins.load(kind[:-1], e.name))
            except plugins.PluginError as err:
                desc = f"(unusable: {err})"
            out.append((group, e.name, desc, f"{e.origin} {e.ref}"))
        return out
    if kind == "models":
        return [_code_row("models (workload: model.name)", n, _MODELS[n])
                for n in _choices(ModelSpec, "name")]
    if kind == "algorithms":
        rules = [_code_row("learning rules (train phases: algorithm.name)", n, _RULES[n])
                 for n in _choices(AlgorithmSpec, "name")]
        return rules + [("deployment policies (deploy.write_verify, monte_carlo policies)", n,
                         _POLICIES[n], "built-in cimsim.deploy") for n in POLICIES]
    if kind == "scenarios":
        return [("scenarios (train phases: scenario.kind)", n, _SCENARIOS[n],
                 "built-in cimsim.nn.stream, cimsim.train.online") for n in _choices(ScenarioSpec, "kind")]
    raise KeyError(kind)


def table(kind: str) -> str:
    """One line per entry (name, description, [origin]) under a heading per group."""
    r = rows(kind)
    w = max(len(n) for _, n, _, _ in r)
    lines, group = [], None
    for g, n, d, o in r:
        if g != group:
            lines.append(("" if group is None else "\n") + g + ":")
            group = g
        lines.append(f"  {n:<{w}}  {d}  [{o}]")
    return "\n".join(lines)
