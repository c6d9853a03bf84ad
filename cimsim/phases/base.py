"""What every kind of phase provides, and what it runs on.

A phase kind (registered in plugins.py, kind "phase") owns its whole life: running on the
deployed chip (`run`, returning its typed result, a `results.PhaseResult` subclass named by
`result_type`), the line the study prints before it (`announce`), its summary lines, its
rows of the CSV tables, its figures and `cimsim compare` overlays, the policies it deploys
(for the fit check), its named headline accuracies (`headlines`: the summary, `cimsim compare`,
the sweep's columns and Pareto axes) and its cost metrics (`headline`). The
study, the report writer, the tables, the figures and compare only dispatch on the result's
`kind`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from ..config.schema import NoParams
from ..config.workload import PhaseSpec, WorkloadSpec
from ..results import PhaseResult, RunReport
from ..session import Session


@dataclass(frozen=True)
class Headline:
    """One named accuracy of a phase. A phase's first headline is THE headline: the summary
    leads with it, `cimsim compare` and the sweep's results name it `<phase>.<name>`, and the
    sweep's Pareto axes plot it. Names say what the number is (accuracy_mean_over_chips,
    online_ema_mean_over_seeds), so no reader has to guess which chip or stream it is."""

    name: str                                   # a column name: lower case, underscores
    label: str                                  # for axes and tables
    value: float
    ci95: tuple[float, float] | None = None     # the 95% interval of a mean over chips or streams

    def text(self) -> str:
        """`name value (95% CI [lo, hi])`, as the summary prints it."""
        ci = f" (95% CI [{self.ci95[0]:.3f}, {self.ci95[1]:.3f}])" if self.ci95 else ""
        return f"{self.name} {self.value:.4f}{ci}"


class PhaseKind(ABC):
    """One kind of phase (`kind:` in the workload)."""

    kind: str = ""
    result_type: type[PhaseResult] = PhaseResult   # what `run` returns (and report.json reads back as)
    table_names: tuple[str, ...] = ()     # the CSV tables only this kind writes, in order
    # its own keys, written beside the phase's name and kind (a frozen dataclass of
    # config.schema.spec fields, built with located errors when the run loads its parts)
    Params: ClassVar[type] = NoParams
    cost_only: ClassVar[bool] = False     # runs in a cost-only study (deploy.functional: false)

    def check(self, ph: PhaseSpec, w: WorkloadSpec, src: Any, path: tuple) -> None:
        """Cross-checks of a phase (its params built) against the workload, before any work;
        raise src.error(path + (key,), expected, got)."""
        if not w.deploy.functional and not self.cost_only:
            raise src.error(path + ("kind",), "a kind that runs cost-only (inference) in a cost-only "
                            "run (deploy.functional: false)", ph.kind)

    def resolve(self, ph: PhaseSpec, src: Any, path: tuple) -> PhaseSpec:
        """Load the parts the phase's params name (rules, scenarios, policies) and build
        theirs; the phase as run (default: as it is)."""
        return ph

    @abstractmethod
    def run(self, ph: PhaseSpec, ctx: Session) -> PhaseResult:
        """Run the phase; its result (a `result_type`)."""

    def announce(self, ph: PhaseSpec, ctx: Session) -> str:
        return f"phase {ph.name}: {ph.kind} on {ph.split}"

    @abstractmethod
    def summary(self, r: PhaseResult) -> list[str]:
        """Terminal summary lines of a finished phase."""

    def tables(self, r: PhaseResult) -> dict[str, list[dict]]:
        """Rows this phase adds to the report's tables (the shared cost tables of
        phases.costs.cost_tables, and its own, named in `table_names`), `phase` column first."""
        return {}

    def figures(self, r: PhaseResult, report: RunReport) -> dict[str, Any]:
        """Figures of this phase by file stem (matplotlib Figures; None: no data for that one)."""
        return {}

    def compare_figures(self, reports: list[tuple[str, list[PhaseResult]]]) -> dict[str, Any]:
        """`cimsim compare` overlays from this kind's results, per report (name, results)."""
        return {}

    def deploy_policies(self, ph: PhaseSpec) -> set[str]:
        """Deployment policies this phase programs chips with (the fit check maps each)."""
        return set()

    def headlines(self, r: PhaseResult) -> list[Headline]:
        """This phase's named accuracies, THE headline first (none: a phase without accuracy)."""
        return []

    def headline(self, results: list[PhaseResult]) -> dict[str, Any]:
        """Cost metrics from this kind's results in one report (keys from compare.METRIC_KEYS)."""
        return {}
