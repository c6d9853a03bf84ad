"""Headline runs that read honestly: a no-learning baseline beside every train phase, accuracy
over several chips with a confidence interval, and --explain's ablation."""
import numpy as np
import pytest

import cimsim
from cimsim.montecarlo import summarise


@pytest.mark.slow
def test_train_baseline_is_the_none_rule_on_the_same_stream_and_chip(root):
    w = root / "workloads" / "resnet_lrt.yaml"
    arch = root / "arch" / "rram_64x64.yaml"
    over = {"workload.phases.0.samples": 20, "workload.phases.0.ci_chips": 1,
            "workload.phases.1.samples": 60, "workload.phases.1.window_samples": 20,
            "workload.phases.2.samples": 20}
    lrt = cimsim.run(arch, w, overrides=over).phase("adapt")
    none = cimsim.run(arch, w, overrides={**over, "workload.phases.1.algorithm.name": "none"}).phase("adapt")
    base = lrt.accuracy.baseline
    assert none.accuracy.baseline is None                    # nothing to compare doing nothing with
    assert base.algorithm == "none"
    assert base.online_ema_final == none.accuracy.online_ema_final
    assert base.windows == [win.accuracy for win in none.accuracy.windows]
    # the learning run itself is what it was without the baseline (the copy shares nothing)
    alone = cimsim.run(arch, w, overrides={**over, "workload.phases.1.baseline": "false"}).phase("adapt")
    assert alone.accuracy.windows == lrt.accuracy.windows
    assert alone.writes.total_cell_writes == lrt.writes.total_cell_writes


def test_inference_over_chips_mean_and_interval(root):
    from cimsim.config import load_workload
    from cimsim.deploy import deploy
    from cimsim.functional import run
    from cimsim.hw.chip import build_chip
    from cimsim.nn.data import load_dataset
    from cimsim.pretrain import pretrained_model
    from cimsim.session import Session

    arch, w = root / "arch" / "rram_64x64.yaml", root / "workloads" / "resnet_inference.yaml"
    rep = cimsim.run(arch, w, overrides={"workload.phases.0.samples": 30, "workload.phases.0.ci_chips": 3})
    ph = rep.phase("test")
    oc = ph.accuracy_over_chips
    assert oc.chips == 3 and oc.per_chip[0] == ph.accuracy
    assert oc.mean == pytest.approx(np.mean(oc.per_chip))
    assert oc.ci95 == pytest.approx(summarise(oc.per_chip).ci95)
    # chip 2, programmed and run here through the public pieces, gives the same accuracy
    spec = load_workload(w).spec
    data = load_dataset(spec.dataset, spec.seed)
    net, _ = pretrained_model(spec, data)
    chip = build_chip(cimsim.load_arch(arch))
    dep = deploy(Session.of(cimsim.load_arch(arch), spec, data=data, chip=chip), net, chip_index=2)
    x, y = data.split("test")
    acc = float((run(dep.net, dep.engines, x[:30], chip.arch)[0].argmax(1) == y[:30]).mean())
    assert oc.per_chip[2] == acc
    assert [r["chip"] for r in rep.tables()["inference_chips"]] == [0, 1, 2]


@pytest.mark.slow
def test_explain_ideal_chip_matches_an_ideal_run(root):
    arch, w = root / "arch" / "rram_64x64.yaml", root / "workloads" / "resnet_inference.yaml"
    rep = cimsim.run(arch, w, overrides={"workload.phases.0.samples": 24, "workload.phases.0.ci_chips": 3},
                     explain=True)
    ex = rep["explain"]
    assert ex["chips"] == 3 and ex["images"] == 24
    ideal = cimsim.run(arch, w, overrides={
        "workload.phases.0.samples": 24, "workload.phases.0.ci_chips": 3,
        "arch.device.program_sigma": 0, "arch.device.read_sigma": 0, "arch.device.stuck_at.low_rate": 0,
        "arch.device.stuck_at.high_rate": 0, "arch.adc.bits": 24, "arch.adc.range": "per_layer",
        "arch.adc.range_fraction": 1.0})
    assert ex["ideal_chip"] == pytest.approx(ideal.phase("test").accuracy_over_chips.mean)
    assert ex["this_chip"] == pytest.approx(np.mean(rep.phase("test").accuracy_over_chips.per_chip))
    assert set(ex["each_alone"]) == {"programming error (sigma 0.02)", "read noise (sigma 0.01)",
                                     "cells stuck at g_min (0.001)", "cells stuck at g_max (0.001)",
                                     "ADC: 8 bits over calibrated per-slice ranges"}
    assert ex["dominant"] == min(ex["each_alone"], key=ex["each_alone"].get)
    assert "dominant:" in rep.summary()
