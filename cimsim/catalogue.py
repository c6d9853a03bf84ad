"""What a workload or arch file can name: tiles, devices, chip parts, models, algorithms
(learning rules and deployment policies, also listed apart), scenarios, phase kinds.

`cimsim list KIND` prints one line per entry: the name to write in the YAML, a one-line
description (the implementing class's docstring) and where it comes from. Every entry comes
from the one registry (plugins.py), so this list cannot drift from what loads.
"""
from __future__ import annotations

from . import plugins

KINDS = ("tiles", "devices", "chip-parts", "models", "algorithms", "rules", "policies", "scenarios", "phases")

_GROUPS = {   # registry kind -> heading (where the name is written)
    "tile": "tiles (arch file: tile.class)", "device": "devices (arch file: device.class)",
    "model": "models (workload: model.name; also `layers` with model.layers, `onnx` with model.onnx)",
    "rule": "learning rules (train phases: algorithm.name)",
    "policy": "deployment policies (deploy.write_verify, monte_carlo policies)",
    "scenario": "scenarios (train phases: scenario.kind)", "phase": "phase kinds (phases: kind)",
    "sram": "SRAM buffers (arch file: sram_buffer.class)",
    "digital": "vector units (arch file: digital.class)",
    "noc": "networks on chip (arch file: chip.noc.class)",
    "offchip": "off-chip interfaces (arch file: offchip.class)"}
_KINDS = {"tiles": ("tile",), "devices": ("device",), "chip-parts": ("sram", "digital", "noc", "offchip"),
          "models": ("model",), "algorithms": ("rule", "policy"), "rules": ("rule",),
          "policies": ("policy",), "scenarios": ("scenario",),
          "phases": ("phase",)}


def rows(kind: str) -> list[tuple[str, str, str, str]]:
    """(group, name, description, origin) of every entry of one kind."""
    out = []
    for k in _KINDS[kind]:
        for e in plugins.entries(k):
            try:
                desc = plugins.describe(plugins.load(k, e.name))
            except plugins.PluginError as err:
                desc = f"(unusable: {err})"
            out.append((_GROUPS[k], e.name, desc, f"{e.origin} {e.ref}"))
        if k == "model":       # networks from the workload itself, not registered families
            out += [(_GROUPS[k], "layers", "Your own network as a list of layers (model.layers).",
                     "built-in cimsim.nn.graph:net_from_layers"),
                    (_GROUPS[k], "onnx", "A trained network from an .onnx file (model.onnx).",
                     "built-in cimsim.nn.onnx_import:load_onnx")]
    return out


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
