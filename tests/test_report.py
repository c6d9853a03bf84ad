"""Figures, CSV tables and `cimsim compare` against the report's own data."""
import csv
import json
import struct

import numpy as np
import pytest

from cimsim.cli import main
from cimsim.report.compare import compare_figures, headline, table
from cimsim.report.plots import figures
from cimsim.report.tables import tables
from cimsim.results import Energy, RunReport


def _energy_report(comps: dict, images: int):
    """A report with one phase whose dynamic energy is `comps` (pJ, no idle draw), for the
    energy figure (which reads phases' energies and the programming block only)."""
    from types import SimpleNamespace

    energy = Energy(total_pj=sum(comps.values()), per_component_pj=comps, dynamic_pj=sum(comps.values()),
                    idle_pj=0.0, idle_per_component_pj={}, gated_total_pj=sum(comps.values()),
                    ungated_total_pj=sum(comps.values()), static_pj=0.0, unused_tiles_pj=0.0)
    ph = SimpleNamespace(name="p", kind="inference", images=images, energy=energy, count=images, unit="image")
    return SimpleNamespace(phases=[ph], deploy={})


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    w, h = struct.unpack(">II", data[16:24])
    return w, h, len(data)


@pytest.fixture(scope="module")
def lrt_run(root, tmp_path_factory, trained):
    out = tmp_path_factory.mktemp("lrt")
    args = ["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(root / "workloads" / "resnet_lrt.yaml"),
            "--out", str(out), "--plot", "--set", "workload.phases.0.samples=20",
            "--set", "workload.phases.1.samples=60", "--set", "workload.phases.1.window_samples=20",
            "--set", "workload.phases.1.scenario.kind=distribution_shift",
            "--set", "workload.phases.1.scenario.segment_samples=25",
            "--set", "workload.phases.2.samples=20"]
    assert main(args) == 0
    return out, json.loads((out / "report.json").read_text())


def test_run_plot_writes_valid_figures_and_csvs(lrt_run):
    out, rep = lrt_run
    # programming is reported as deployed, not as the cells are after the online phase
    dp = rep["deploy"]
    assert dp["policy"] == "none" and dp["verify_pulses"] == 0 and dp["pulses"] == dp["one_shot_pulses"]
    names = {p.stem for p in out.glob("*.png")}
    assert names == {"energy", "latency_before", "latency_after", "latency_adapt", "online_adapt",
                     "writes_adapt", "writes_heatmap_adapt", "layers_before", "layers_after"}
    for p in out.glob("*.png"):
        w, h, size = png_size(p)
        assert w >= 600 and h >= 400 and size > 20_000
    with open(out / "online_windows.csv") as f:
        rows = list(csv.DictReader(f))
    wins = rep["phases"][1]["accuracy"]["windows"]
    assert [float(r["accuracy"]) for r in rows] == [w_["accuracy"] for w_ in wins]
    with open(out / "energy.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["phase"] == "before" and r["kind"] == "dynamic"]
    comp = rep["phases"][0]["energy"]["per_component_pj"]
    assert {r["component"]: float(r["energy_pj"]) for r in rows} == pytest.approx(comp)


def test_figures_show_the_report_data(lrt_run):
    _, rep = lrt_run
    figs = figures(rep)
    # energy: the stacked bars of each phase add up to its total per image or sample (in the
    # axis unit), so phases of different lengths compare
    ax = figs["energy"].axes[0]
    assert ax.get_ylabel().startswith("energy (") and ax.get_title() == "phases, per image or sample"
    unit = {"pJ": 1, "nJ": 1e3, "µJ": 1e6, "mJ": 1e9, "J": 1e12}[ax.get_ylabel()[8:-1]]
    heights = {}
    for p in ax.patches:
        x = round(p.get_x() + p.get_width() / 2)
        heights[x] = heights.get(x, 0) + p.get_height()
    totals = [ph["energy"]["total_pj"] / ph.get("images", ph.get("samples")) / unit for ph in rep["phases"]]
    assert [heights[i] for i in range(3)] == pytest.approx(totals, rel=1e-6)
    # online: the EMA line is the report's series; segment boundaries are marked
    ax = figs["online_adapt"].axes[0]
    ph = rep["phases"][1]
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), ph["ema_series"]["values"])
    assert ax.get_xlabel() == "sample" and ax.get_ylabel() == "online accuracy"
    vlines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert [ln.get_xdata()[0] for ln in vlines] == ph["accuracy"]["segment_boundaries"]
    assert ax.get_legend() is not None
    # writes: one bar per histogram bin with the report's counts
    ax = figs["writes_adapt"].axes[0]
    assert [p.get_height() for p in ax.patches] == ph["writes"]["histogram"]["cells"]
    h = ph["writes"]["histogram"]
    assert [t.get_text() for t in ax.get_xticklabels()][:3] == ["0", "1", "2-3"][:len(h["cells"])]
    assert "writes per cell" in ax.get_xlabel() and ax.get_ylabel() == "cells"
    # heat maps: one panel per layer, image = the report's grid
    hm = figs["writes_heatmap_adapt"]
    grids = ph["writes"]["heatmap"]
    panels = [a for a in hm.axes if a.get_title() in grids]
    assert len(panels) == len(grids)
    for a in panels:
        np.testing.assert_array_equal(a.get_images()[0].get_array(), np.array(grids[a.get_title()]["max"]))
    # timeline: one bar collection per (image, resource) recorded
    ax = figs["latency_before"].axes[1]
    tl = rep["phases"][0]["latency"]["timeline"]
    assert len(ax.collections) == len(tl)
    assert ax.get_xlabel().startswith("time (")


def test_monte_carlo_figure_and_tables(root, tmp_path, trained):
    import yaml

    w = yaml.safe_load((root / "workloads" / "resnet_inference.yaml").read_text())
    w["deploy"]["verify_score"] = "magnitude"
    w["phases"] = [{"name": "mc", "kind": "monte_carlo", "chips": 3, "samples": 30, "evaluate": "weights",
                    "policies": ["none", "all", "selective"], "sigmas": [0.05, 0.1]}]
    wf = tmp_path / "mc.yaml"
    wf.write_text(yaml.safe_dump(w))
    assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(wf), "--out", str(tmp_path)]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    ph = rep["phases"][0]
    fig = figures(rep)["montecarlo_mc"]
    panels = [a for a in fig.axes if a.get_title().startswith("sigma")]
    assert [a.get_title() for a in panels] == ["sigma = 0.05", "sigma = 0.1"]
    for ax, s in zip(panels, (0.05, 0.1)):
        rows = [r for r in ph["results"] if r["sigma"] == s]
        assert [t.get_text() for t in ax.get_xticklabels()] == [r["policy"] for r in rows]
        for c, r in zip(ax.collections, rows):
            np.testing.assert_allclose(c.get_offsets()[:, 1], r["accuracy_per_chip"])
    t = tables(rep)
    assert len(t["montecarlo_chips"]) == 3 * len(ph["results"]) == 18
    assert [r["accuracy_mean"] for r in t["montecarlo"]] == [r["accuracy"]["mean"] for r in ph["results"]]
    # its headline: the best (policy, sigma) by mean accuracy, named, with its interval
    from cimsim.report.compare import headline as heads
    best = max(ph["results"], key=lambda r: r["accuracy"]["mean"])
    assert heads(rep)["mc.best_accuracy_mean_over_chips"] == best["accuracy"]["mean"]
    # the paper style holds for the Monte-Carlo figure and overlay too
    from cimsim.report.paper import texts_outside, to_column, touching_annotations, touching_tick_labels
    for f in (figures(rep)["montecarlo_mc"], compare_figures([rep, rep], ["a", "b"])["compare_montecarlo"]):
        to_column(f)
        assert texts_outside(f) == touching_tick_labels(f) == touching_annotations(f) == []


def test_compare_table_and_overlays(lrt_run, tmp_path, capsys):
    out, rep = lrt_run
    args = ["compare", str(out), str(out / "report.json"), "--names", "a,b", "--out", str(tmp_path)]
    assert main(args) == 0
    text = capsys.readouterr().out
    h = headline(rep)
    row = next(line for line in text.splitlines() if line.startswith("max writes per cell"))
    assert row.split()[-2:] == [str(h["max writes per cell"])] * 2
    # every phase's named accuracies, in phase order, each phase's headline first
    names = [ln.split()[0] for ln in text.splitlines() if ln.split() and "." in ln.split()[0]]
    assert names == ["before.accuracy_mean_over_chips", "before.accuracy_chip0",
                     "adapt.online_ema_mean_over_seeds", "adapt.online_ema", "adapt.online_ema_no_learning",
                     "adapt.test_accuracy_after_stream", "adapt.test_accuracy_after_stream_no_learning",
                     "after.accuracy"], names
    ema = next(line for line in text.splitlines() if line.startswith("adapt.online_ema "))
    assert ema.split()[-1] == f"{rep['phases'][1]['accuracy']['online_ema_final']:.4g}"
    from cimsim.report.units import si as _si
    energy = next(line for line in text.splitlines() if line.startswith("energy total"))
    total = _si(h["energy total (pJ)"] * 1e-12, "J")
    assert "(pJ)" not in energy and energy.count(total) == 2        # its own SI unit
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == ["compare_accuracy_cost", "compare_energy",
                                                               "compare_online_writes"]
    figs = compare_figures([rep, rep], ["a", "b"])
    a1 = figs["compare_online_writes"].axes[0]
    assert len(a1.get_lines()) == 2 and a1.get_legend() is not None
    assert table([rep], ["x"]).splitlines()[0].strip() == "x"
    # reports of other phases: one row per <phase>.<name> of any, '-' where a report has none,
    # every named accuracy before the costs
    other = json.loads(json.dumps(rep))
    other["phases"][0]["name"] = "first"
    rows = [ln.split() for ln in table([rep, other], ["a", "b"]).splitlines()[1:]]
    by = {r[0]: r[1:] for r in rows}
    assert by["before.accuracy_chip0"][-1] == "-" and by["first.accuracy_chip0"][0] == "-"
    assert by["before.accuracy_chip0"][0] == by["first.accuracy_chip0"][1]
    firsts = [r[0] for r in rows]
    assert firsts.index("first.accuracy_chip0") < firsts.index("energy")
    # long report names: each report one colour in the legend; tick labels never overlap
    long = ["adc bits 4, rank 2, sigma 0.05", "adc bits 8, rank 4, sigma 0.05", "baseline chip"]
    ax = compare_figures([rep] * 3, long)["compare_energy"].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == long
    ax.figure.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
    assert len(boxes) == 9 and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_compare_names_a_sweep_point_by_its_swept_values(lrt_run, tmp_path, capsys):
    """A report under a sweep's points/HASH/ is a column named by its overrides, not its hash."""
    out, rep = lrt_run
    data = json.loads((out / "report.json").read_text())
    data["inputs"]["overrides"] = {"arch.adc.bits": "4", "workload.phases.1.algorithm.rank": "2"}
    point = tmp_path / "points" / "0123abcd"
    point.mkdir(parents=True)
    (point / "report.json").write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["compare", str(out), str(point)]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert "bits=4, rank=2" in head and "0123abcd" not in head and out.name in head


def test_plot_of_a_missing_or_foreign_file_is_a_clear_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope.json")]) == 2
    assert "report.json written by cimsim run" in capsys.readouterr().err
    bad = tmp_path / "x.json"
    bad.write_text('{"a": 1}')
    assert main(["plot", str(bad)]) == 2
    assert "cimsim_version" in capsys.readouterr().err


@pytest.mark.parametrize("counts, lo, hi", [
    ([0], [0], [1]),
    ([0, 3], [0, 1, 2], [1, 2, 4]),
    ([89, 0, 5], [0, 1, 2, 4, 8, 16, 32, 64], [1, 2, 4, 8, 16, 32, 64, 90]),
    ([63, 1], [0, 1, 2, 4, 8, 16, 32], [1, 2, 4, 8, 16, 32, 64]),
])
def test_write_histogram_bins_are_powers_of_two_ending_at_the_busiest_cell(counts, lo, hi):
    from cimsim.phases.online import histogram as _histogram

    h = _histogram(np.array(counts))
    assert h.bin_lo == lo and h.bin_hi_exclusive == hi
    expect = [sum(a <= c < b for c in counts) for a, b in zip(lo, hi)]
    assert h.cells == expect


@pytest.mark.slow
def test_plot_writes_the_same_csv_bytes_as_the_run(lrt_run, tmp_path):
    """CSV columns come from report.json as written (sorted keys): `cimsim plot` on a run's
    report rewrites every table byte for byte."""
    out, _ = lrt_run
    again = tmp_path / "replot"
    assert main(["plot", str(out / "report.json"), "--out", str(again)]) == 0
    csvs = sorted(p.name for p in out.glob("*.csv"))
    assert csvs and csvs == sorted(p.name for p in again.glob("*.csv"))
    for name in csvs:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_figures_as_vector_files_and_at_a_chosen_resolution(lrt_run, tmp_path, capsys):
    """--format pdf / svg writes vector figures, the same bytes on every draw (no dates, fixed
    ids); --dpi scales a PNG's pixels; a resolution out of range is refused (exit 2)."""
    out, _ = lrt_run
    for fmt, magic in (("pdf", b"%PDF-"), ("svg", b"<?xml")):
        a, b = tmp_path / f"{fmt}a", tmp_path / f"{fmt}b"
        for d in (a, b):
            assert main(["-q", "plot", str(out), "--out", str(d), "--format", fmt]) == 0
        files = sorted(a.glob(f"*.{fmt}"))
        assert {p.stem for p in files} == {p.stem for p in out.glob("*.png")}
        for p in files:
            assert p.read_bytes().startswith(magic) and p.read_bytes() == (b / p.name).read_bytes(), p.name
    assert main(["-q", "plot", str(out), "--out", str(tmp_path / "hi"), "--dpi", "300"]) == 0
    w150, h150, _ = png_size(out / "energy.png")
    w300, h300, _ = png_size(tmp_path / "hi" / "energy.png")
    # twice the pixels, but for the tight bounding box's rounding (a few pixels)
    assert abs(w300 / w150 - 2) < 0.01 and abs(h300 / h150 - 2) < 0.01
    with pytest.raises(SystemExit) as e:
        main(["plot", str(out), "--dpi", "0"])
    assert e.value.code == 2 and "dots per inch in [10, 2400]" in capsys.readouterr().err


def test_a_component_has_one_colour_in_every_figure():
    """Energy bars of two different reports colour each component alike (by name, not by
    its rank in the report)."""
    from cimsim.report.plots import component_color, energy_figure

    def rep(comps):
        return _energy_report(comps, images=1)
    colours = []
    for comps in ({"adc": 5.0, "dac": 1.0}, {"dac": 9.0, "adc": 0.5, "noc": 2.0}):
        ax = energy_figure(rep(comps)).axes[0]
        colours.append({bars.get_label(): bars.patches[0].get_facecolor() for bars in ax.containers})
    for name in ("adc", "dac"):
        assert colours[0][name] == colours[1][name] == pytest.approx(component_color(name))
    assert component_color("tia") == component_color("tia") != component_color("adc")


def test_legend_lists_every_component_drawn():
    """However thin its slice (noc: 0.1% of the bar), every component drawn is in the legend."""
    from cimsim.report.plots import energy_figure

    fig = energy_figure(_energy_report({"adc": 1000.0, "dac": 10.0, "noc": 1.0}, images=2))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["adc", "dac", "noc"]
    heights = sorted(p.get_height() for p in fig.axes[0].patches)
    assert heights == pytest.approx([0.5, 5.0, 500.0])   # per image: 1000 pJ / 2 images


def _legend_colours(fig) -> set:
    from matplotlib.colors import to_hex

    out = set()
    for leg in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        for h in (leg.legend_handles if leg else []):
            if hasattr(h, "get_facecolor"):
                out.add(to_hex(h.get_facecolor()))
    return out


def test_every_drawn_colour_is_in_a_legend(lrt_run):
    """In every figure of a run, each colour of a drawn bar is in a legend, unless the axes
    draws its bars in one colour only (a single series needs none)."""
    from matplotlib.colors import to_hex
    from matplotlib.patches import Rectangle

    _, rep = lrt_run
    for stem, fig in figures(rep).items():
        listed = _legend_colours(fig)
        for ax in fig.axes:
            drawn = {to_hex(p.get_facecolor()) for p in ax.patches
                     if isinstance(p, Rectangle) and p.get_width() * p.get_height() != 0}
            if len(drawn) > 1:
                assert drawn <= listed, (stem, ax.get_title(), drawn - listed)


def test_layers_figure_and_accuracy_cost_scatter(lrt_run):
    from matplotlib.ticker import EngFormatter

    from cimsim.report.plots import layers_figure

    _, rep = lrt_run
    ph = rep["phases"][0]
    typed = RunReport.from_json(rep).phases[0]
    fig = layers_figure(typed.name, typed.energy, typed.latency, typed.images, 1000.0)
    assert rep["inputs"]["arch"]["spec"]["clock_mhz"] == 1000.0
    a1, a2 = fig.axes[:2]
    assert [t.get_text() for t in a1.get_yticklabels()] == list(ph["latency"]["per_node_cycles_per_image"])
    width: dict[int, float] = {}
    for p in a1.patches:
        row = round(p.get_y() + p.get_height() / 2)
        width[row] = width.get(row, 0) + p.get_width()
    nodes = ph["latency"]["per_node_cycles_per_image"]
    per_node = [ph["energy"]["per_node_pj"][k] * 1e-12 / ph["images"] for k in nodes]
    assert [width.get(i, 0.0) for i in range(len(per_node))] == pytest.approx(per_node, rel=1e-6, abs=1e-18)
    assert isinstance(a1.xaxis.get_major_formatter(), EngFormatter)
    fig = compare_figures([rep], ["a"])["compare_accuracy_cost"]
    ax = fig.axes[0]
    last = rep["phases"][-1]
    x, y = ax.lines[0].get_data()
    assert x[0] == pytest.approx(last["energy"]["per_image_pj"] * 1e-12) and y[0] == last["accuracy"]
    assert isinstance(ax.xaxis.get_major_formatter(), EngFormatter)


def test_report_json_reads_back_to_the_same_typed_report(lrt_run):
    """JSON is one boundary each way: report.json read back through each phase kind's result
    type gives the same JSON; a key or a type this version does not write is refused, by key path."""
    import copy

    from cimsim.errors import CimsimError
    from cimsim.results import ReportError

    _, rep = lrt_run
    typed = RunReport.from_json(rep)
    assert typed.to_json() == rep
    assert [type(p).__name__ for p in typed.phases] == ["InferenceResult", "TrainResult", "InferenceResult"]
    assert typed.phase("adapt").writes.max_per_cell == rep["phases"][1]["writes"]["max_per_cell"]
    assert typed.phase("before").energy.per_image_pj == rep["phases"][0]["energy"]["per_image_pj"]
    assert "baseline" in rep["phases"][1]["accuracy"] and "reload" not in rep["phases"][0]   # optional keys
    for path, value, expected in ((("phases", 1, "writes", "max_per_cell"), "many", "an integer"),
                                  (("phases", 0, "latency", "nope"), 1, "one of the keys of Latency"),
                                  (("phases", 2, "kind"), "warp", "a registered phase kind")):
        bad = copy.deepcopy(rep)
        node = bad
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        with pytest.raises(ReportError, match=rf"{'.'.join(map(str, path))}: expected {expected}"):
            RunReport.from_json(bad)
    assert issubclass(ReportError, CimsimError)            # exit status 2 from the CLI


def test_summary_says_what_fills_the_chip(lrt_run):
    """The mapping line names the three largest area components with their shares, so a low
    TOPS/mm2 reads against what fills the chip (the default chip: off-chip interface, routers)."""
    import cimsim

    out, rep = lrt_run
    parts = rep["area"]["per_component_mm2"]
    top = sorted(parts, key=lambda k: -parts[k])[:3]
    want = ", ".join(f"{k.replace('_', ' ')} {parts[k] / rep['area']['total_mm2']:.0%}" for k in top)
    text = cimsim.load_report(out).summary()
    line = text.splitlines()[1]
    assert line.endswith(f"mm2 ({want})") and top[0] == "offchip_interface"
    import re

    assert "µJ/image" in text and not re.search(r"\d u[Js]\b", text)       # µ, as in the figures


def test_long_figures_keep_to_thirty_rows_that_never_touch():
    """A 70-node network's layer figure and a 70-resource timeline keep 30 rows (the rest as
    one "other" row, its values the sum or the busiest), their labels clear of each other."""
    from types import SimpleNamespace

    from cimsim.report.plots import MAX_ROWS, latency_figure, layers_figure

    nodes = [f"layer{i}.conv" for i in range(70)]
    en = SimpleNamespace(per_node_component_pj={k: {"adc": 100.0 + i, "crossbar": 10.0}
                                                for i, k in enumerate(nodes)})
    lat = SimpleNamespace(per_node_cycles_per_image={
        k: {"compute_cycles": 50 + i, "noc_cycles": 5, "sram_cycles": 2} for i, k in enumerate(nodes)})
    fig = layers_figure("x", en, lat, 1, 1000.0)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == MAX_ROWS and labels[-1] == "other 41 nodes"
    assert labels[:-1] == nodes[41:]                      # the largest, in the network's order
    total = sum(p.get_width() for p in ax.patches)
    assert total * 1e12 == pytest.approx(sum(sum(d.values()) for d in en.per_node_component_pj.values()))
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_yticklabels()]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    util = {f"tiles:{k}": (i + 1) / 100 for i, k in enumerate(nodes)}
    timeline = [{"resource": f"tiles:{k}", "image": 0, "start_cycle": i, "end_cycle": i + 1}
                for i, k in enumerate(nodes)]
    fig = latency_figure("x", SimpleNamespace(utilisation=util, timeline=timeline), 1000.0)
    a1, a2 = fig.axes[:2]
    assert [len(a.get_yticklabels()) for a in (a1, a2)] == [MAX_ROWS, MAX_ROWS]
    assert a1.get_yticklabels()[-1].get_text() == "other 41 (the busiest)"
    assert a2.get_yticklabels()[-1].get_text() == "other 41 resources"
    fig.canvas.draw()
    for a in (a1, a2):
        boxes = [t.get_window_extent() for t in a.get_yticklabels()]
        assert not any(p.overlaps(q) for i, p in enumerate(boxes) for q in boxes[i + 1:])


def test_paper_style_fits_a_journal_column_with_8pt_text(lrt_run, tmp_path):
    """--style paper: every figure of a run, of compare and a Pareto plot is one journal column
    wide (3.5 in; the page, 7.16 in, for several panels), every drawn text is 8 pt, none
    leaves the figure, no two tick labels of an axis touch nor two texts inside an axes (values
    on bars, notes, the title), and the file has exactly that
    size (no tight bounding box that would shrink the text when placed)."""
    import re

    from cimsim.report.paper import (
        COLUMN_WIDTH_IN,
        FONT_PT,
        PAGE_WIDTH_IN,
        drawn_texts,
        texts_outside,
        to_column,
        touching_annotations,
        touching_tick_labels,
    )
    from cimsim.report.plots import plt
    from cimsim.sweep.results import figures as pareto_figures

    out, rep = lrt_run
    table = [{"energy_total_pj": e, "energy_per_image_pj": None, "max_writes_per_cell": None,
              "latency_per_image_s": None, "adapt.online_ema": a, "arch.adc.bits": b}
             for e, a, b in ((2e6, 0.80, 4), (2.1e6, 0.81, 6), (4e6, 0.86, 8))]
    figs = {**figures(rep), **compare_figures([rep, rep], ["a", "b"]),
            **pareto_figures(table, ("arch.adc.bits",), "g", ("adapt.online_ema", "adapt: online accuracy"))}
    assert len(figs) >= 12
    for stem, fig in figs.items():
        panels = [ax for ax in fig.axes if not hasattr(ax, "_colorbar")]
        to_column(fig)
        width, height = fig.get_size_inches()
        assert width == (COLUMN_WIDTH_IN if len(panels) == 1 else PAGE_WIDTH_IN), stem
        assert all(t.get_fontsize() == FONT_PT for t in drawn_texts(fig)), stem
        assert texts_outside(fig) == [], stem
        assert touching_tick_labels(fig) == [] and touching_annotations(fig) == [], stem
        plt.close(fig)
    assert main(["-q", "plot", str(out), "--out", str(tmp_path / "p"), "--format", "pdf",
                 "--style", "paper"]) == 0
    pdf = (tmp_path / "p" / "online_adapt.pdf").read_bytes()
    box = re.search(rb"/MediaBox \[ *0 0 ([0-9.]+) ([0-9.]+) *\]", pdf)
    assert float(box.group(1)) == pytest.approx(COLUMN_WIDTH_IN * 72)
