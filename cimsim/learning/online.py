"""Online phase: a stream of samples, batch size 1, predict then train, on the chip.

Forward passes run through the simulated crossbars; gradients are computed digitally with
the weights the cells actually hold (programming error, faults, drift included); the rule
decides what is written. Drift scenarios act on the cells between samples.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .. import plugins
from ..config.arch import ArchSpec
from ..config.workload import PhaseSpec
from ..functional import AnalogLayer, separate_samples
from ..nn.data import Dataset
from ..nn.layers import BatchNorm, Net, softmax_xent
from ..nn.stream import make_stream
from ..progress import bar, progress
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
    # batch-1 GEMMs are far too small for threaded BLAS: its threads only contend with the MVM
    # pool and numba for the cores (results do not depend on the thread count)
    with threadpool_limits(1, user_api="blas"):
        if learning:
            _learn(net, engines, xs, ys, rule, scenario, rng, res, f"online {sp.name}")
        else:
            _stream(net, engines, xs, ys, scenario, rng, res, f"online {sp.name}")
    chip_net.load_state(net.state())
    res.forward = {name: e.counts for name, e in engines.items()}
    return res


STREAM_BATCH = 64          # at most this many samples per batched forward of a stream without learning,
STREAM_VALUES = 4096       # and at most this many input values: larger batches of large images only
                           # spill the im2col matrices out of cache (benchmarks/bench_online.py)


def _stream(net: Net, engines: dict[str, AnalogLayer], xs: np.ndarray, ys: np.ndarray, scenario: Any,
            rng: np.random.Generator, res: OnlineResult, desc: str) -> None:
    """A stream without learning, batched exactly: nothing digital changes from sample to sample
    and the cells change only at drift events, so the samples between two events run as one
    batch in which each sample is its own call of every layer (functional.separate_samples:
    its own read-noise key and counts), giving what the per-sample loop gives, byte for byte."""
    n, every = len(ys), scenario.params.drift_every_samples if scenario.drifts else 0
    batch = max(1, min(STREAM_BATCH, STREAM_VALUES // max(1, xs[0].size)))
    with bar(n, desc, unit="sample") as pb:
        t = 0
        while t < n:
            if every and t > 0 and t % every == 0:
                scenario.event(engines, rng)
                res.drift_events += 1
            end = min(n, t + batch, (t // every + 1) * every if every else n)
            with separate_samples(engines.values(), end - t):
                logits = net.forward(xs[t:end], train=False)
            res.correct[t:end] = logits.argmax(axis=1) == ys[t:end]
            for _ in range(t, end):
                res.writes_per_sample.append({})
                res.row_ops_per_sample.append({})
                res.ops_per_sample.append(0)
            pb.update(end - t)
            t = end
    if every:                                    # the digital copy of the weights, as drifted
        for node in [*net.weight_layers(), *net.blocks()]:
            node.W = engines[node.name].w_eff


def _learn(net: Net, engines: dict[str, AnalogLayer], xs: np.ndarray, ys: np.ndarray, rule: Rule,
           scenario: Any, rng: np.random.Generator, res: OnlineResult, desc: str) -> None:
    """Predict then train, one sample at a time: the rule's digital state (biases, streaming
    batch-norm statistics) changes with every sample, so sample t + 1's activations after the
    first layer depend on sample t's update, and no batching of them is exact."""
    drift = scenario.drifts
    for t in progress(range(len(ys)), desc, unit="sample"):
        if drift and t > 0 and t % scenario.params.drift_every_samples == 0:
            scenario.event(engines, rng)
            res.drift_events += 1
        logits = net.forward(xs[t:t + 1], train=True)
        res.correct[t] = int(logits[0].argmax()) == ys[t]
        _, g = softmax_xent(logits, ys[t:t + 1])
        net.backward(g)
        ops = 0
        for n in net.weight_layers():        # digital backprop MACs (dX, and dW for SGD)
            f, g2 = n.terms
            ops += f.size * g2.shape[-1] * (2 if n.want_dW else 1)
        log = rule.step(t)
        ops += log.digital_ops
        res.writes_per_sample.append(log.writes)
        res.row_ops_per_sample.append(log.row_ops)
        res.sram_read_bytes += log.sram_read_bytes
        res.sram_write_bytes += log.sram_write_bytes
        res.ops_per_sample.append(ops)
        res.digital_ops += ops
        for n in net.weight_layers():
            n.W = engines[n.name].w_eff
        for b in net.blocks():
            b.W = engines[b.name].w_eff
