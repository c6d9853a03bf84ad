"""Online phase: a stream of samples, batch size 1, predict then train, on the chip.

Forward passes run through the simulated crossbars; gradients are computed digitally with
the weights the cells actually hold (programming error, faults, drift included); the rule
decides what is written. Drift scenarios act on the cells between samples.
"""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from .. import plugins
from ..config.arch import ArchSpec
from ..config.workload import PhaseSpec
from ..functional import AnalogLayer
from ..nn.data import Dataset
from ..nn.layers import BatchNorm, Net, softmax_xent
from ..nn.stream import make_stream
from ..progress import progress
from ..trace import NodeTrace
from .rules import Rule, make_rule


class OnlineResult:
    """Everything the online loop measured (turned into the report by study.py)."""

    def __init__(self, n: int) -> None:
        self.correct = np.zeros(n, bool)
        self.segments: list[str] = []
        self.writes_per_sample: list[dict[str, int]] = []
        self.row_ops_per_sample: list[dict[str, int]] = []     # write-driver operations
        self.ops_per_sample: list[int] = []        # learning arithmetic of each sample
        self.digital_ops = 0
        self.sram_read_bytes = 0
        self.sram_write_bytes = 0
        self.drift_events = 0
        self.forward: dict[str, NodeTrace] = {}
        self.rule: Rule | None = None


def run_online(chip_net: Net, engines: dict[str, AnalogLayer], data: Dataset, ph: PhaseSpec,
               arch: ArchSpec, seed: int, arch_file: str) -> OnlineResult:
    """The online phase on the chip: `engines` (the arrays) change in place; the digital state
    (biases, batch norms) is learned on a copy of `chip_net` and written back at the end, so
    the chip keeps what it learned and nothing else of the network changes."""
    net = chip_net.copy()
    sp = ph.params.algorithm
    x, y = data.split(ph.split)
    scenario = plugins.load("scenario", ph.params.scenario.kind)(ph.params.scenario)
    xs, ys, segs = make_stream(x, y, ph.samples, scenario.params, scenario.segment, seed)
    rule = make_rule(sp, net, engines, arch, seed, arch_file)
    res = OnlineResult(ph.samples)
    res.rule, res.segments = rule, segs
    rng = np.random.default_rng([seed, 13])
    learning = rule.learns
    for n in net.nodes:
        if isinstance(n, BatchNorm):
            n.streaming_eta = 1.0 - 1.0 / rule.params.bn_eta_samples if learning else None
    for n in net.weight_layers():
        n.engine = engines[n.name]
        n.W = engines[n.name].w_eff
        engines[n.name].counts = NodeTrace(n.name, "", ())
    for b in net.blocks():                        # TSB blocks stay as programmed (not trained)
        b.engine = engines[b.name]
        b.engine.counts = NodeTrace(b.name, "", ())
    drift = scenario.drifts
    # batch-1 GEMMs are far too small for threaded BLAS: its threads only contend with the MVM
    # pool and numba for the cores (results do not depend on the thread count)
    with threadpool_limits(1, user_api="blas"):
        for t in progress(range(ph.samples), f"online {sp.name}", unit="sample"):
            if drift and t > 0 and t % scenario.params.drift_every_samples == 0:
                scenario.event(engines, rng)
                res.drift_events += 1
            logits = net.forward(xs[t:t + 1], train=learning)
            res.correct[t] = int(logits[0].argmax()) == ys[t]
            ops = 0
            if learning:
                _, g = softmax_xent(logits, ys[t:t + 1])
                net.backward(g)
                for n in net.weight_layers():        # digital backprop MACs (dX, and dW for SGD)
                    f, g2 = n.terms
                    ops += f.size * g2.shape[-1] * (2 if n.want_dW else 1)
                log = rule.step(t)
                ops += log.digital_ops
                res.writes_per_sample.append(log.writes)
                res.row_ops_per_sample.append(log.row_ops)
                res.sram_read_bytes += log.sram_read_bytes
                res.sram_write_bytes += log.sram_write_bytes
            else:
                res.writes_per_sample.append({})
                res.row_ops_per_sample.append({})
            res.ops_per_sample.append(ops)
            res.digital_ops += ops
            if drift or learning:
                for n in net.weight_layers():
                    n.W = engines[n.name].w_eff
                for b in net.blocks():
                    b.W = engines[b.name].w_eff
    chip_net.load_state(net.state())
    res.forward = {name: e.counts for name, e in engines.items()}
    return res
