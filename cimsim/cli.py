"""Command line: cimsim run | sweep | plot | compare | validate | list | init."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, progress
from .errors import CimsimError, ConfigError
from .report.outdir import OutputFolder, write_staged
from .util import stable_hash
from .workers import available_cores

if TYPE_CHECKING:
    from .results import RunReport


def cmd_run(args: argparse.Namespace) -> int:
    from . import api
    from .config import load_arch, load_workload, parse_set, split_overrides
    from .report.writer import summary, write_all
    from .session import WallClock

    a_over, w_over = split_overrides(parse_set(args.set or []), "--set")
    arch = load_arch(args.arch, a_over)
    work = load_workload(args.workload, w_over)
    name = f"{arch.spec.name}__{work.spec.name}"
    if args.set:                    # an override never lands on the baseline's folder
        name += "__set-" + stable_hash(sorted(args.set))[:8]
    out = Path(args.out or Path("results") / name)
    wall = WallClock()
    t0 = time.perf_counter()
    workers = args.workers if args.workers > 0 else available_cores()
    from .cluster import connected
    # a bad --scheduler (unreachable, another version) or a bad or busy --out fail in seconds
    with connected(args.scheduler), OutputFolder(out) as folder:
        report = api.run(arch, work, workers=workers, wall=wall, explain=args.explain,
                         scheduler=args.scheduler).result
        paths, stale = write_staged(folder, lambda stage: write_all(report, stage, args.plot, args.format,
                                                                    args.dpi, args.style), replace=True)
    total = time.perf_counter() - t0
    print(summary(report))
    csvs = [p for p in paths if p.suffix == ".csv"]
    print(f"report: {paths[0]} (+ {len(csvs)} CSV tables)")
    if args.plot:
        print(f"figures: {sum(p.suffix == '.' + args.format for p in paths)} {args.format.upper()} in {out}")
    if stale:
        progress.say(f"removed {len(stale)} file(s) an earlier run wrote in {out}: {', '.join(stale)}")
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in wall.seconds.items())
    share = wall.seconds.get("timing", 0.0) / total if total else 0.0
    progress.say(f"wall time {total:.1f} s ({parts}; SimPy timing model {share:.0%})")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    import yaml

    from .config import parse_set
    from .report.plots import save_figures
    from .sweep.grid import load_grid
    from .sweep.results import figures, pareto_accuracy, rows, write_csv
    from .sweep.runner import read_inputs, resolve, run_sweep

    grid = load_grid(args.grid)
    cli_set = {}
    for key, text in parse_set(args.set or []).items():
        try:
            cli_set[key] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError("--set", key, "a YAML value after '='", text) from None
    clash = sorted(set(cli_set) & set(grid.swept))
    if clash:
        raise ConfigError("--set", clash[0], f"a key path the grid {args.grid} does not sweep")
    out = Path(args.out or Path("results") / f"sweep-{grid.name}")
    with OutputFolder(out):            # one sweep at a time into a folder
        inp = read_inputs(args.arch, args.workload)
        points = resolve(grid, inp, cli_set)
        workers = args.workers if args.workers > 0 else available_cores()
        where = f"dask scheduler {args.scheduler}" if args.scheduler else f"{workers} local worker(s)"
        progress.say(f"sweep {grid.name}: {len(points)} points over {', '.join(grid.swept)}; {where}; "
                     f"results in {out}")
        t0 = time.perf_counter()
        try:
            run_sweep(points, inp, out, workers, args.scheduler)
        finally:                                    # also on Ctrl-C: the table of what is finished
            table = rows(points, grid.swept, out)
            write_csv(table, out / "results.csv")
        pngs = save_figures(figures(table, grid.swept, grid.name, pareto_accuracy(points, out)), out,
                            args.format, args.dpi, args.style)
        counts = {s: sum(p.status == s for p in points) for s in ("done", "cached", "failed", "invalid")}
        print(f"sweep {grid.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
              + f" of {len(points)} points in {time.perf_counter() - t0:.1f} s")
        for p in points:
            if p.status in ("failed", "invalid"):
                print(f"  point {p.index}: {p.status}: {p.error.splitlines()[0]}")
        print(f"results: {out / 'results.csv'} (+ {len(pngs)} Pareto plots; reports in {out / 'points'})")
        return 1 if counts["failed"] or counts["invalid"] else 0


def _load_report(path: str) -> RunReport:
    """A report.json (or a folder holding one); clear errors for missing or foreign files."""
    from .api import read_report

    return read_report(path)


def cmd_plot(args: argparse.Namespace) -> int:
    from .report.plots import figures, save_figures
    from .report.tables import tables, write_tables

    rep = _load_report(args.report)
    out = Path(args.out) if args.out else (Path(args.report) if Path(args.report).is_dir()
                                           else Path(args.report).parent)
    with OutputFolder(out) as folder:
        with _report_content(args.report):       # everything drawn and tabled before anything is written
            figs = figures(rep)
            tables(rep)
        def write(stage: Path) -> list[Path]:
            return [*save_figures(figs, stage, args.format, args.dpi, args.style), *write_tables(rep, stage)]

        paths, _ = write_staged(folder, write, replace=False)
    pngs = [p for p in paths if p.suffix == "." + args.format]
    csvs = [p for p in paths if p.suffix == ".csv"]
    for p in pngs:
        print(p)
    print(f"{len(pngs)} figures and {len(csvs)} CSV tables in {out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .report.compare import compare_figures, table
    from .report.plots import save_figures

    reps = [_load_report(p) for p in args.reports]
    names = args.names.split(",") if args.names else [_short_name(p, r) for p, r in zip(args.reports, reps)]
    if len(names) != len(reps):
        raise ConfigError("--names", "", f"{len(reps)} comma-separated names", args.names)
    with OutputFolder(args.out) if args.out else contextlib.nullcontext() as folder:
        with _report_content(", ".join(args.reports)):
            text = table(reps, names)
            figs = compare_figures(reps, names) if args.out else {}
        pngs = (write_staged(folder, lambda stage: save_figures(figs, stage, args.format, args.dpi,
                                                                args.style), replace=False)[0]
                if folder else [])
    print(text)
    if args.out:
        print(f"{len(pngs)} figures in {args.out}")
    return 0


@contextlib.contextmanager
def _report_content(where: str):
    """A report.json whose typed parts read back but whose free-form parts (inputs, mapping,
    timeline and node rows) do not hold what cimsim writes: one clear message, exit 2."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        from .report.plots import plt

        plt.close("all")
        raise ConfigError(where, "", "a report.json written by this version of cimsim run",
                          note=f"{type(e).__name__}: {e}") from None


def _short_name(path: str, rep: RunReport | None = None) -> str:
    """A report's column name: its folder's, or for a sweep point (points/HASH/) its overrides
    ("bits=4, rank=2"), not the hash."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    over = (rep.inputs.get("overrides") or {}) if rep is not None else {}
    if folder.parent.name == "points" and over:
        from .sweep.results import point_name

        return point_name({k: v for k, v in sorted(over.items())})
    return folder.name or p.stem


def _is_grid(path: str) -> bool:
    """A sweep grid file has a top-level grid: or zip: key."""
    from .config.schema import load_yaml

    try:
        data, _, _ = load_yaml(path)
    except ConfigError:
        return False                 # load_any reports the problem
    return bool({"grid", "zip"} & set(data))


def cmd_validate(args: argparse.Namespace) -> int:
    from .config import ArchSpec, load_any
    from .hw.chip import build_chip

    archs, works = [], []
    for f in args.files:
        if _is_grid(f):
            from .sweep.grid import load_grid

            g = load_grid(f)
            print(f"{f}: ok (grid '{g.name}', {len(g.points)} points over {', '.join(g.swept)})")
            continue
        loaded = load_any(f)
        if isinstance(loaded.spec, ArchSpec):
            archs.append((loaded, build_chip(loaded)))   # its device and tile models, their params
        else:
            from . import plugins
            from .config.schema import Source

            # its parts (rules, scenarios, policies, phase kinds, models) and their params
            loaded = dataclasses.replace(loaded, spec=plugins.resolve_workload(
                loaded.spec, loaded.source or Source(loaded.path)))
            works.append(loaded)
        print(f"{f}: ok ({type(loaded.spec).__name__.replace('Spec', '').lower()} '{loaded.spec.name}')")
    if archs and works:
        from .nn.network import untrained_net, workload_data
        from .session import Session
        from .study import fit_check

        for w in works:
            data = workload_data(w.spec, w.path, shapes_only=True)      # shapes: no weights, no inputs
            net = untrained_net(w.spec, data, w.path, shapes_only=True)
            for a, chip in archs:
                cmap = fit_check(Session(a, w, chip), net)
                how = (f"fits ({cmap.tiles_used} of {cmap.tiles_total} tiles" if cmap.rounds == 1 else
                       f"runs in {cmap.rounds} weight-reload rounds ({cmap.tiles_used} tiles needed, "
                       f"{cmap.tiles_total} on the chip")
                print(f"{w.path} on {a.path}: {how}, {cmap.crossbars_used} crossbars, "
                      f"{len(cmap.layers)} weight layers)")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from .examples import copy_examples

    dest = Path(args.folder)
    if dest.exists() and not dest.is_dir():
        raise ConfigError(str(dest), "", "a folder (or a path to create one)")
    copied, present = copy_examples(dest)
    there = f", {len(present)} already there" if present else ""
    print(f"{len(copied)} file(s) copied into {dest}{there}")
    print(f"next: cd {dest} && cimsim run arch/rram_64x64.yaml workloads/resnet_lrt.yaml")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.kind:
        from .catalogue import table

        print(table(args.kind))
        return 0
    for folder in ("arch", "workloads"):
        files = sorted(Path(folder).glob("*.yaml"))
        print(f"{folder}/: " + (", ".join(f.name for f in files) if files else "(none here)"))
    from .catalogue import KINDS

    print("more: cimsim list " + "|".join(KINDS))
    return 0


def _dpi(text: str) -> float:
    """--dpi: a resolution a figure can be drawn at."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of dots per inch, got {text!r}") from None
    if not 10 <= v <= 2400:
        raise argparse.ArgumentTypeError(f"expected dots per inch in [10, 2400], got {text}")
    return v


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cimsim", description=__doc__)
    p.add_argument("--version", action="version", version=f"cimsim {__version__}")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or status lines")
    p.add_argument("--no-plugins", action="store_true",
                   help="refuse 'package.module:Class' import paths in arch files (importing runs the "
                        "module's code); same as CIMSIM_NO_IMPORT_PATHS=1")
    # -q also after the command (cimsim run ... -q); SUPPRESS keeps a top-level -q when absent
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="no progress bars or status lines")
    sub = p.add_subparsers(dest="cmd", required=True)

    def command(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[quiet], **kw)

    def figure_options(c: argparse.ArgumentParser) -> None:
        c.add_argument("--format", choices=("png", "pdf", "svg"), default="png",
                       help="figure files: PNG, or vector PDF / SVG for a paper (default png)")
        c.add_argument("--dpi", type=_dpi, default=150.0, help="PNG resolution, dots per inch (default 150)")
        c.add_argument("--style", choices=("screen", "paper"), default="screen",
                       help="paper: one journal column (3.5 in; the page, 7.16 in, for several panels) "
                            "with 8 pt text, saved at that size (default screen)")

    r = command("run", help="run a workload on a chip and write report.json")
    r.add_argument("arch")
    r.add_argument("workload")
    r.add_argument("--out", help="output folder (default results/ARCH__WORKLOAD)")
    r.add_argument("--set", action="append", metavar="arch|workload.KEY=VALUE",
                   help="override one config key, e.g. --set arch.adc.bits=6")
    r.add_argument("--plot", action="store_true", help="also write the PNG figures next to the report")
    r.add_argument("--explain", action="store_true",
                   help="also rerun the first inference phase with each non-ideality alone on an ideal chip "
                        "(which one costs the accuracy; report block explain)")
    r.add_argument("--workers", type=int, default=1,
                   help="processes for the run's independent work: the chips of inference and "
                        "Monte-Carlo phases, image shards of a long test of the run's own chip (from 8 "
                        "batches of 64 per process), the train phases' no-learning baselines (0: one "
                        "per core); the report is identical")
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="run that work on a dask.distributed cluster (tcp://host:8786) instead; the "
                        "report is identical; needs cimsim[dask] and the same cimsim version on the workers")
    figure_options(r)
    r.set_defaults(fn=cmd_run)
    s = command("sweep", help="run a grid of settings: one report per point, results.csv, "
                "Pareto plots; resumable")
    s.add_argument("arch")
    s.add_argument("workload")
    s.add_argument("--grid", required=True, help="grid YAML (see workloads/sweeps/)")
    s.add_argument("--workers", type=int, default=0, help="local processes (default 0: one per core)")
    s.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the points on a dask.distributed cluster (tcp://host:8786); needs cimsim[dask]")
    s.add_argument("--out", help="output folder (default results/sweep-GRIDNAME)")
    s.add_argument("--set", action="append", metavar="arch|workload.KEY=VALUE",
                   help="override one key on every point")
    figure_options(s)
    s.set_defaults(fn=cmd_sweep)
    pl = command("plot", help="write PNG figures (and CSV tables) of a report")
    pl.add_argument("report", help="report.json or the folder holding it")
    pl.add_argument("--out", help="output folder (default: the report's folder)")
    figure_options(pl)
    pl.set_defaults(fn=cmd_plot)
    c = command("compare", help="headline metrics of reports side by side (+ overlay figures)")
    c.add_argument("reports", nargs="+", help="report.json files or their folders")
    c.add_argument("--names", help="comma-separated column names (default: the folders' names)")
    c.add_argument("--out", help="write overlay figures (PNG) to this folder")
    figure_options(c)
    c.set_defaults(fn=cmd_compare)
    v = command("validate", help="check arch, workload or sweep grid files; given an arch and "
                "workloads, also check that each network fits the chip")
    v.add_argument("files", nargs="+")
    v.set_defaults(fn=cmd_validate)
    from .catalogue import KINDS

    ls = command("list", help="list what a file can name: " + ", ".join(KINDS)
                 + " (no argument: the arch and workload files here)")
    ls.add_argument("kind", nargs="?", choices=KINDS)
    ls.set_defaults(fn=cmd_list)
    i = command("init", help="copy the shipped arch and workload files into a folder of your own")
    i.add_argument("folder", nargs="?", default=".", help="where (default: here); nothing is overwritten")
    i.set_defaults(fn=cmd_init)
    args = p.parse_args(argv)
    before = os.environ.get("CIMSIM_NO_IMPORT_PATHS")
    if args.no_plugins:
        os.environ["CIMSIM_NO_IMPORT_PATHS"] = "1"     # also reaches the worker processes it starts
    try:
        with progress.quiet(args.quiet):
            return args.fn(args)
    except CimsimError as e:
        print(f"cimsim: error: {e}", file=sys.stderr)
        return e.exit_code
    except MemoryError as e:
        print(f"cimsim: error: out of memory ({e or 'MemoryError'}): the network, the dataset or "
              f"the images per phase are too large for this machine", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cimsim: interrupted", file=sys.stderr)
        return 130
    finally:                      # the command's setting only: main() called from Python leaves none
        if args.no_plugins:
            if before is None:
                os.environ.pop("CIMSIM_NO_IMPORT_PATHS", None)
            else:
                os.environ["CIMSIM_NO_IMPORT_PATHS"] = before


if __name__ == "__main__":
    sys.exit(main())
