"""Non-idealities as arch settings: each is a label and the arch key paths that, set to the
given values, turn it off. The device and tile models say which they have
(`DeviceModel.nonidealities`, `TileModel.nonidealities`, a plugin's included); `cimsim run
--explain` (explain.py) builds the ideal chip and puts each back alone from them."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NonIdeality:
    label: str                  # as the explain block names it, with the arch's value
    ideal: dict[str, Any]       # arch key path (e.g. "device.read_sigma", "tile.params.x") -> ideal value


def get_path(spec: Any, path: str) -> Any:
    for key in path.split("."):
        spec = getattr(spec, key)
    return spec


def replace_path(spec: Any, path: str, value: Any) -> Any:
    """A copy of the frozen spec with the value at a dotted key path replaced."""
    head, _, rest = path.partition(".")
    new = replace_path(getattr(spec, head), rest, value) if rest else value
    return dataclasses.replace(spec, **{head: new})


def present(arch: Any, n: NonIdeality) -> bool:
    """Whether the arch has this non-ideality (a setting away from its ideal value)."""
    return any(get_path(arch, p) != v for p, v in n.ideal.items())


def ideal_arch(arch: Any, every: list[NonIdeality]) -> Any:
    """The arch with every listed non-ideality turned off."""
    for n in every:
        for p, v in n.ideal.items():
            arch = replace_path(arch, p, v)
    return arch


def alone(arch: Any, every: list[NonIdeality], n: NonIdeality) -> Any:
    """The ideal arch with `n` put back as `arch` has it."""
    out = ideal_arch(arch, every)
    for p in n.ideal:
        out = replace_path(out, p, get_path(arch, p))
    return out
