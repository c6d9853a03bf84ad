"""One run session: the chip, the workload, where both came from (for located messages), the
seeded random streams, and what the study builds on the way (data, the pretrained network,
its mapping, the programmed chip).

Every step of a run takes the session instead of threading file paths, specs and caches
through its signature: deployment (`deploy.deploy`), the fit check, each phase kind
(`PhaseKind.run`), the deployment policies (`policies.Programming.session`), the
Monte-Carlo workers (a session is picklable) and `explain`.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .cluster import Pool, pool
from .config import Loaded
from .config.workload import WorkloadSpec
from .hw.chip import Chip

if TYPE_CHECKING:
    from .deploy import Deployment
    from .mapping import ChipMap
    from .nn.data import Dataset
    from .nn.layers import Net


@dataclass
class WallClock:
    """Where the wall time went (printed, never written to the deterministic report)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, t0: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0


@dataclass
class Session:
    """One run of a workload on a chip."""

    arch: Loaded                        # the arch file as loaded (path, line map, overrides)
    workload: Loaded                    # the workload file as loaded
    chip: Chip                          # the device and tile models the arch names (hw.chip.build_chip)
    wall: WallClock = field(default_factory=WallClock)
    workers: int = 1                    # local processes for a run's independent work (cluster.py)
    scheduler: str | None = None        # or a dask scheduler's address (cluster.py)
    data: Dataset | None = None
    net: Net | None = None              # the pretrained float network (never changed by a phase)
    cmap: ChipMap | None = None
    dep: Deployment | None = None       # the programmed chip (None: a cost-only run)
    float_acc: float | None = None
    rounds: Any = None                  # weight-reload rounds of a cost-only run (reload.py)
    chip_changed: bool = False          # a train phase has written the chip (later inference: one chip)
    memo: dict = field(default_factory=dict)   # chip-independent deployment calibration (deploy.py)

    @property
    def w(self) -> WorkloadSpec:
        return self.workload.spec

    @property
    def arch_file(self) -> str:
        """The arch file's name, the prefix of messages about its keys."""
        return self.arch.path

    @property
    def workload_file(self) -> str:
        """The workload file's name: the prefix of messages about its keys, and the folder its
        relative paths (npz, ONNX) start from."""
        return self.workload.path

    def rng(self, *stream: int) -> np.random.Generator:
        """The run's random stream `stream` (seeded from the workload's seed): the same
        stream numbers give the same draws in every process."""
        return np.random.default_rng([self.w.seed, *stream])

    @classmethod
    def of(cls, arch: Any, workload: Any, *, data: Dataset | None = None, net: Net | None = None,
           chip: Chip | None = None, arch_file: str = "arch", workload_file: str = "workload") -> Session:
        """A session from specs or loaded files (scripts and tests that deploy by hand): the
        chip built from `arch` unless given."""
        from .hw.chip import build_chip

        a = arch if isinstance(arch, Loaded) else Loaded(arch, arch_file, "")
        w = workload if isinstance(workload, Loaded) else Loaded(workload, workload_file, "")
        return cls(a, w, chip or build_chip(a), data=data, net=net)

    def pool(self) -> Pool:
        """Where this run's independent work goes (chips, baselines): cluster.py."""
        return pool(self.workers, self.scheduler)

    def on_chip(self, chip: Chip) -> Session:
        """This session on another chip (a Monte-Carlo sigma, an ablation of explain), with no
        programmed chip of its own."""
        return dataclasses.replace(self, chip=chip, dep=None)
