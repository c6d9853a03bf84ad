"""Command line: cimsim run | validate | list."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__, progress
from .errors import CimsimError, ConfigError


def _overrides(pairs: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """--set arch.adc.bits=6 / --set workload.seed=3 -> (arch overrides, workload overrides)."""
    arch: dict[str, str] = {}
    work: dict[str, str] = {}
    for item in pairs:
        key, eq, value = item.partition("=")
        target, _, path = key.partition(".")
        if not eq or target not in ("arch", "workload") or not path:
            raise ConfigError("--set", item, "arch.KEY.PATH=VALUE or workload.KEY.PATH=VALUE")
        (arch if target == "arch" else work)[path] = value
    return arch, work


def cmd_run(args: argparse.Namespace) -> int:
    from .config import load_arch, load_workload
    from .report import summary, write_report
    from .study import WallClock, run_study

    a_over, w_over = _overrides(args.set or [])
    arch = load_arch(args.arch, a_over)
    work = load_workload(args.workload, w_over)
    out = Path(args.out or Path("results") / f"{arch.spec.name}__{work.spec.name}")
    wall = WallClock()
    t0 = time.perf_counter()
    report = run_study(arch, work, wall)
    path = write_report(report, out)
    total = time.perf_counter() - t0
    print(summary(report))
    print(f"report: {path}")
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in wall.seconds.items())
    share = wall.seconds.get("timing", 0.0) / total if total else 0.0
    progress.say(f"wall time {total:.1f} s ({parts}; SimPy timing model {share:.0%})")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .config import load_any

    for f in args.files:
        loaded = load_any(f)
        print(f"{f}: ok ({type(loaded.spec).__name__.replace('Spec', '').lower()} '{loaded.spec.name}')")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for folder in ("arch", "workloads"):
        files = sorted(Path(folder).glob("*.yaml"))
        print(f"{folder}/: " + (", ".join(f.name for f in files) if files else "(none here)"))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cimsim", description=__doc__)
    p.add_argument("--version", action="version", version=f"cimsim {__version__}")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or status lines")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a workload on a chip and write report.json")
    r.add_argument("arch")
    r.add_argument("workload")
    r.add_argument("--out", help="output folder (default results/ARCH__WORKLOAD)")
    r.add_argument("--set", action="append", metavar="arch|workload.KEY=VALUE",
                   help="override one config key, e.g. --set arch.adc.bits=6")
    r.set_defaults(fn=cmd_run)
    v = sub.add_parser("validate", help="check arch or workload files")
    v.add_argument("files", nargs="+")
    v.set_defaults(fn=cmd_validate)
    sub.add_parser("list", help="list the arch and workload files here").set_defaults(fn=cmd_list)
    args = p.parse_args(argv)
    progress.QUIET = args.quiet
    try:
        return args.fn(args)
    except CimsimError as e:
        print(f"cimsim: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("cimsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
