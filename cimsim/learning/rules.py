"""On-chip learning rules: what is written to the NVM, when, and what lives in SRAM.

- none: inference only (nothing trained, BN statistics frozen).
- bias_only: biases and BN parameters (high-endurance memory) by per-sample SGD.
- sgd: bias_only + every weight update written at once (one write per cell per sample
  whose quantised update is non-zero).
- lrt: bias_only + a rank-r accumulator per weight matrix in SRAM, written every B samples
  if enough entries change (Gural et al. 2020).
- mixed_precision: bias_only + a dense accumulator chi per weight matrix in SRAM; a cell is
  written only when its accumulated update reaches the device's step epsilon, and chi keeps
  the remainder (Nandakumar et al., Front. Neurosci. 2020; aihwkit's MixedPrecisionCompound).

Learning arithmetic is counted in vector-unit operations (`digital.op_energy_pj` each): one
multiply or one add, counted from the code's own loops. An SGD step on a parameter is a
multiply by the rate and a subtract (2); a rank-1 term u v^T is one multiply-add per entry
(2); an LRT term is `lrt_term_ops` below.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .. import plugins
from ..config.arch import ArchSpec
from ..config.schema import spec
from ..config.workload import AlgorithmSpec
from ..device.update import nominal_step
from ..errors import ConfigError, FitError
from ..functional import AnalogLayer
from ..kernels.lowrank import factors, lowrank_update
from ..mapping import ChipMap, LayerMap
from ..nn.layers import BatchNorm, Conv2d, Linear, Net

JACOBI_SWEEPS = 5   # sweeps of the one-sided Jacobi SVD per term: it converges quadratically
                    # (Golub & Van Loan, Matrix Computations, 4th ed., sec. 8.6), a few sweeps
                    # at q <= 16; 5 is the count assumed here, not measured per term


def lrt_term_ops(r: int, dims: int) -> int:
    """Operations of folding one rank-1 term into a rank-r accumulator whose two bases have
    `dims` entries in all (K + N), following kernels/lowrank.py with q = r + 1:
    - modified Gram-Schmidt per side: r dot products and r axpys (4r per entry), the norm
      (2) and the scaling of the residual (1): (4r + 3) dims;
    - the bases rotated by (U M)^T, an r x q by q x dims product: 2 r q dims;
    - their re-quantisation (max-abs scan and rescale of r rows): 2 r dims;
    - the q x q SVD, one-sided Jacobi: per pair 3 dot products (6q) and 2 column rotations of
      the matrix and of V (12q), q(q-1)/2 pairs per sweep, JACOBI_SWEEPS sweeps;
    - C = cL cR^T + diag(cx) (2 q^2) and (U M)^T, (V M)^T (4 r q^2)."""
    q = r + 1
    per_entry = (4 * r + 3) + 2 * r * q + 2 * r
    svd = 18 * q * (q * (q - 1) // 2) * JACOBI_SWEEPS
    return per_entry * dims + svd + 2 * q * q + 4 * r * q * q


@dataclass
class StepLog:
    """What one sample's learning step did (for the trace and the timing model)."""

    writes: dict[str, int] = field(default_factory=dict)    # layer -> cells written
    row_ops: dict[str, int] = field(default_factory=dict)   # layer -> write-driver operations
    digital_ops: int = 0                                     # learning arithmetic
    sram_read_bytes: int = 0
    sram_write_bytes: int = 0


@dataclass(frozen=True)
class RuleParams:
    """What every rule reads: the rates of the digital (high-endurance) parameters and of the
    weights, and the streaming batch-norm rate."""

    lr: float = spec(0.01, lo=0.0, hi=1e6, doc="weight learning rate (sgd, lrt)")
    bias_lr: float = spec(0.01, lo=0.0, hi=10.0,
                          doc="per-sample SGD rate of biases and BN (high-endurance memory)")
    bn_eta_samples: int = spec(100, lo=1, doc="streaming BN: EMA rate 1 - 1/this")


@dataclass(frozen=True)
class SgdParams(RuleParams):
    sgd_step: str = spec("sample", choices=("sample", "term"),
                         doc="one quantised write of the summed gradient per sample, or one per "
                             "rank-1 term (every conv output pixel its own step, as LRT's streaming)")


@dataclass(frozen=True)
class LrtParams(RuleParams):
    """Defaults follow the LRT paper (Gural et al. 2020)."""

    rank: int = spec(4, lo=1, hi=64, doc="rank r of the gradient accumulator")
    unbiased: bool = spec(True, doc="optimal-Kronecker-sum reduction (else biased top-r)")
    kappa: float = spec(100.0, lo=0.0, lo_open=True, doc="condition gate kappa_th")
    state_bits: int = spec(16, lo=4, hi=32, doc="bits of the L/R factors in SRAM")
    batch_conv: int = spec(10, lo=1, doc="samples between write attempts, conv layers")
    batch_fc: int = spec(100, lo=1, doc="samples between write attempts, FC layers")
    rho_min: float = spec(0.01, lo=0.0, hi=1.0, doc="write only if this share of dW is non-zero")
    max_norm: bool = spec(True, doc="normalise L and R by their running max (beta 0.999)")


@dataclass(frozen=True)
class MixedPrecisionParams(RuleParams):
    """The accumulator chi and its transfer threshold (Nandakumar et al. 2020)."""

    epsilon_codes: int = spec(1, lo=1, hi=2 ** 15,
                              doc="transfer threshold epsilon in weight codes: a weight is written when "
                                  "|chi| reaches it, by whole multiples of it (1: the device's step, one "
                                  "level of the least significant slice; below it a write cannot be made)")
    chi_bits: int = spec(16, lo=4, hi=32, doc="bits of each accumulator entry (signed fixed point)")
    chi_range_eps: int = spec(8, lo=1, hi=2 ** 15,
                              doc="chi saturates at +-this x epsilon (a power of 2; its LSB is "
                                  "epsilon x chi_range_eps / 2**(chi_bits-1))")
    stochastic_rounding: bool = spec(False, doc="round each update onto chi's grid stochastically (unbiased; "
                                                "matters at few chi_bits) instead of to the nearest step")

    def validate(self, src: object, path: tuple) -> None:
        r = self.chi_range_eps
        if r & (r - 1):
            raise src.error(path + ("chi_range_eps",), "a power of 2", r)
        if r >= 2 ** (self.chi_bits - 1):
            top = 2 ** (self.chi_bits - 1)
            raise src.error(path + ("chi_range_eps",), f"below 2**(chi_bits - 1) = {top} "
                            "(chi needs at least one bit below epsilon)", r)


def buffer_share_bytes(e: AnalogLayer, arch: ArchSpec) -> int:
    """SRAM a layer's rule state may use: its tiles' shares of their buffers."""
    return int(e.lmap.tiles * int(arch.sram_buffer.capacity_kib * 1024) / arch.sram_buffer.tiles_per_buffer)


class Rule:
    """Base: per-sample SGD of biases and BN parameters (high-endurance memory).

    A rule is a registered part (plugins.py, kind "rule"; entry-point group `cimsim.rules`):
    subclass this (or a built-in), override `weight_step` (and `wants_dense_gradient`,
    `aux_bytes` if it keeps state in SRAM). Its numbers are its `Params` (a frozen dataclass
    of `spec` fields), read from the workload's `algorithm:` keys beside `name` and checked
    when the run loads its parts (plugins.part_params)."""

    Params: ClassVar[type] = RuleParams
    trains_bias = True
    learns: ClassVar[bool] = True        # false: the phase only infers (BN statistics frozen)

    def __init__(self, spec: AlgorithmSpec, net: Net, engines: dict[str, AnalogLayer], arch: ArchSpec,
                 seed: int = 0, arch_file: str = "arch"):
        self.spec, self.net, self.engines, self.arch = spec, net, engines, arch
        self.params = plugins.part_params("rule", type(self), spec.params)
        self.seed, self.arch_file = seed, arch_file
        self.cells_worn = 0
        # write requests per weight: updates whose unquantised value is non-zero (what a chip
        # pulsing every non-zero update would write; the LRT paper's SGD counting)
        self.requests = {n.name: np.zeros(n.W.shape, np.int64) for n in net.weight_layers()}
        for n in net.weight_layers():
            n.want_dW = self.wants_dense_gradient()

    def wants_dense_gradient(self) -> bool:
        return False

    @property
    def aux_bytes(self) -> int:
        return 0

    def report(self) -> dict:
        """This rule's own counters for the train phase's result (its `lrt` block); none here."""
        return {}

    @property
    def aux_engines(self) -> dict[str, AnalogLayer]:
        """Analog arrays of the rule's own (written from zero in the phase): none here."""
        return {}

    def _bias_step(self, log: StepLog) -> None:
        lr = self.params.bias_lr
        for n in self.net.nodes:
            if isinstance(n, (Linear, Conv2d)) and n.b is not None:
                n.b -= lr * n.db
                log.digital_ops += 2 * n.b.size
            elif isinstance(n, BatchNorm):
                n.gamma -= lr * n.dgamma
                n.beta -= lr * n.dbeta
                log.digital_ops += 4 * n.gamma.size

    def step(self, t: int) -> StepLog:
        log = StepLog()
        if self.trains_bias:
            self._bias_step(log)
        self.weight_step(t, log)
        return log

    def weight_step(self, t: int, log: StepLog) -> None:
        """Weight updates of this rule (none for bias_only)."""

    def write(self, name: str, delta: np.ndarray, log: StepLog) -> None:
        """Quantise an update of the normalised weights (W / max|W|, the [-1, 1) grid of the
        LRT paper) to the layer's weight codes and write the cells that change."""
        qmax = 2 ** (self.arch.crossbar.weight_bits - 1) - 1
        self.write_codes(self.engines[name], name, np.rint(delta * qmax).astype(np.int32), log)

    def write_codes(self, e: AnalogLayer, key: str, d: np.ndarray, log: StepLog) -> None:
        """Add integer codes d to a matrix's weights (clipped to the codes) through its tile,
        counting the cells written and the driver operations under `key` (the layer the timing
        model drives them on) and the cells worn."""
        if not d.any():
            return
        qmax = 2 ** (self.arch.crossbar.weight_bits - 1) - 1
        res = e.update(np.clip(e.w_int + d.astype(np.int32), -qmax, qmax))
        self.cells_worn += res.cells_worn
        if res.cells_written:
            log.writes[key] = log.writes.get(key, 0) + res.cells_written
            log.row_ops[key] = log.row_ops.get(key, 0) + res.row_ops


class NoLearning(Rule):
    """Inference only: nothing is learned or written."""

    trains_bias = False
    learns = False


class BiasOnly(Rule):
    """Per-sample SGD of biases and BN parameters only; the NVM weights are never written."""


class Sgd(Rule):
    """Per-sample SGD: every non-zero quantised weight update is written to the cells."""

    Params = SgdParams

    def wants_dense_gradient(self) -> bool:
        return self.params.sgd_step == "sample"

    def weight_step(self, t: int, log: StepLog) -> None:
        for n in self.net.weight_layers():
            w_max = self.engines[n.name].w_scale * (2 ** (self.arch.crossbar.weight_bits - 1) - 1)
            # SGD on normalised weights W/w_max: their gradient is w_max * dW
            if self.params.sgd_step == "sample":
                self.requests[n.name] += n.dW != 0
                self.write(n.name, -self.params.lr * w_max * n.dW, log)
                log.digital_ops += 2 * n.dW.size
            else:
                self._term_writes(n.name, n.terms, -self.params.lr * w_max, log)

    def _term_writes(self, name: str, terms: tuple, scale: float, log: StepLog) -> None:
        """Every rank-1 term u v^T of the sample (a conv output pixel, or the FC sample) is its
        own step: scale u v^T rounded to the weight codes and written when non-zero, in order.
        Sub-LSB terms are lost, as on a quantised-weight chip without an accumulator."""
        e = self.engines[name]
        qmax = 2 ** (self.arch.crossbar.weight_bits - 1) - 1
        us, vs = (np.asarray(t, np.float64).reshape(-1, np.shape(t)[-1]) for t in terms)
        # counts as a float matmul (BLAS; exact below 2^53), not numpy's slow integer matmul
        hits = (us != 0).T.astype(np.float64) @ (vs != 0).astype(np.float64)
        self.requests[name] += hits.astype(np.int64)
        log.digital_ops += 2 * len(us) * us.shape[1] * vs.shape[1]
        su = (scale * qmax) * us
        # every |fl(s u_i) v_j| of a term is at most fl(max|s u| max|v|) (rounding is
        # monotone), so a term whose bound is under half an LSB rounds to zero everywhere
        # and is never formed
        live = np.abs(su).max(1) * np.abs(vs).max(1) >= 0.5
        if not live.any():
            return
        d = np.rint(su[live][:, :, None] * vs[live][:, None, :]).astype(np.int32)
        steps = d[d.reshape(len(d), -1).any(1)]
        if not len(steps):
            return
        w, written, ops = e.w_int, 0, 0
        for step in steps:
            w = np.clip(w + step, -qmax, qmax)
            res = e.tile.apply_update(e, w)
            e.w_int = w
            written += res.cells_written
            ops += res.row_ops
            self.cells_worn += res.cells_worn
        e.refresh()
        if written:
            log.writes[name] = log.writes.get(name, 0) + written
            log.row_ops[name] = log.row_ops.get(name, 0) + ops


@dataclass
class LrtState:
    ql: np.ndarray
    qr: np.ndarray
    cx: np.ndarray
    batch: int
    samples: int = 0
    terms: int = 0
    norm_avg: np.ndarray = field(default_factory=lambda: np.zeros(2))
    norm_count: int = 0


class Lrt(Rule):
    """Streaming rank-r gradient accumulation, written every B samples (LRT)."""

    Params = LrtParams

    def __init__(self, spec: AlgorithmSpec, net: Net, engines: dict[str, AnalogLayer], arch: ArchSpec,
                 seed: int = 0, arch_file: str = "arch"):
        super().__init__(spec, net, engines, arch, seed, arch_file)
        p = self.params
        r = p.rank
        self.state = {n.name: LrtState(np.zeros((r, n.W.shape[0]), np.float32),
                                       np.zeros((r, n.W.shape[1]), np.float32), np.zeros(r),
                                       p.batch_conv if isinstance(n, Conv2d) else p.batch_fc)
                      for n in net.weight_layers()}
        self.key = np.uint64(int(np.random.SeedSequence([seed, 11]).generate_state(1)[0]))
        self.skipped = self.attempts = self.rejected = 0
        # each layer's factors live in its own tiles' shares of their SRAM buffers
        bits = p.state_bits
        for name, st in self.state.items():
            need = int((st.ql.size + st.qr.size) * bits / 8)
            cap = buffer_share_bytes(engines[name], arch)
            if need > cap:
                fit = int(cap // ((st.ql.shape[1] + st.qr.shape[1]) * bits / 8))
                hint = (f"rank {fit} would fit (algorithm.rank), or enlarge sram_buffer.capacity_kib"
                        if fit else "not even rank 1 fits: enlarge sram_buffer.capacity_kib")
                raise FitError(
                    f"{arch_file}: sram_buffer.capacity_kib: rank {r} needs {need} bytes of L/R "
                    f"factors for layer '{name}' but its {engines[name].lmap.tiles} tile(s)' share of "
                    f"their buffers holds {cap}; {hint}")

    @property
    def aux_bytes(self) -> int:
        return int(sum(st.ql.size + st.qr.size for st in self.state.values()) * self.params.state_bits / 8)

    def report(self) -> dict:
        return {"terms_total": int(sum(st.terms for st in self.state.values())),
                "terms_skipped_by_kappa": self.skipped, "write_attempts": self.attempts,
                "attempts_below_rho_min": self.rejected}

    @property
    def dense_bytes(self) -> int:
        return int(sum(st.ql.shape[1] * st.qr.shape[1] for st in self.state.values())
                   * self.params.state_bits / 8)

    def _max_norm(self, st: LrtState, left: np.ndarray, right: np.ndarray) -> tuple:
        """x / max(max|x| + eps, bias-corrected running mean of max|x|), beta = 0.999."""
        beta, eps = 0.999, 1e-4
        st.norm_count += 1
        out = []
        for i, x in enumerate((left, right)):
            peak = float(np.abs(x).max())
            st.norm_avg[i] = beta * st.norm_avg[i] + (1 - beta) * peak
            avg = st.norm_avg[i] / (1 - beta ** st.norm_count)
            out.append(x / max(peak + eps, avg))
        return out[0], out[1]

    def weight_step(self, t: int, log: StepLog) -> None:
        sp = self.params
        for n in self.net.weight_layers():
            st = self.state[n.name]
            us, vs = n.terms
            us = np.ascontiguousarray(us.reshape(-1, us.shape[-1]), np.float32)
            vs = np.ascontiguousarray(vs.reshape(-1, vs.shape[-1]), np.float32)
            self.skipped += lowrank_update(st.ql, st.qr, st.cx, us, vs, sp.unbiased, sp.kappa,
                                           sp.state_bits, self.key, st.terms)
            k, r = len(us), sp.rank
            st.terms += k
            st.samples += 1
            dims = st.ql.shape[1] + st.qr.shape[1]
            log.digital_ops += k * lrt_term_ops(r, dims)
            state_bytes = int(r * dims * sp.state_bits / 8)
            log.sram_read_bytes += k * state_bytes
            log.sram_write_bytes += k * state_bytes
            if st.samples % st.batch == 0:
                self._attempt(n.name, st, log)

    def _attempt(self, name: str, st: LrtState, log: StepLog) -> None:
        sp = self.params
        self.attempts += 1
        left, right = factors(st.ql.astype(np.float64), st.qr.astype(np.float64), st.cx)
        if sp.max_norm:
            left, right = self._max_norm(st, left, right)
            delta = -sp.lr * np.sqrt(st.samples) * (left @ right.T)
        else:
            delta = -sp.lr * (left @ right.T) / np.sqrt(st.samples)   # lr sqrt(n) x mean gradient
        log.digital_ops += 2 * delta.size
        qmax = 2 ** (self.arch.crossbar.weight_bits - 1) - 1
        if not sp.max_norm:
            delta = delta * self.engines[name].w_scale * qmax    # gradient w.r.t. normalised weights
        changed = np.count_nonzero(np.rint(delta * qmax))
        if changed <= sp.rho_min * delta.size:
            self.rejected += 1
            return
        self.requests[name] += delta != 0
        self.write(name, delta, log)
        st.ql[...] = 0.0
        st.qr[...] = 0.0
        st.cx[...] = 0.0
        st.samples = 0


@dataclass(frozen=True)
class _Placed:
    """A layer's placement alone: what a rule's constructor reads to check that its state fits."""

    lmap: LayerMap


def check_rule_fits(spec: AlgorithmSpec, net: Net, cmap: ChipMap, arch: ArchSpec, seed: int,
                    arch_file: str) -> None:
    """Build the rule on a copy of the network and the layers' placements alone, before any
    training or programming: state that does not fit its layers' buffers (LRT's factors, mixed
    precision's accumulator) fails here, in seconds (FitError), not after the phases before it."""
    placed = {n.name: _Placed(cmap.layer(n.name)) for n in net.weight_layers()}
    try:
        make_rule(spec, net.copy(), placed, arch, seed, arch_file)
    except AttributeError:      # a plugin rule that reads more of its layers when built: checked
        return                  # when its phase builds it on the programmed chip


def make_rule(spec: AlgorithmSpec, net: Net, engines: dict[str, AnalogLayer], arch: ArchSpec,
              seed: int, arch_file: str) -> Rule:
    """The rule `algorithm.name` names (registered name or import path)."""
    return plugins.load("rule", spec.name)(spec, net, engines, arch, seed, arch_file)


class MixedPrecision(Rule):
    """Mixed-precision training: the per-sample SGD update accumulates in a dense digital
    matrix chi (SRAM, chi_bits fixed point); every weight whose |chi| reaches epsilon is
    written by n = floor(|chi| / epsilon) steps of epsilon, and chi keeps the remainder."""

    Params = MixedPrecisionParams

    def __init__(self, spec: AlgorithmSpec, net: Net, engines: dict[str, AnalogLayer], arch: ArchSpec,
                 seed: int = 0, arch_file: str = "arch"):
        super().__init__(spec, net, engines, arch, seed, arch_file)
        p = self.params
        # chi in units of its LSB: integers in +-(2**(chi_bits-1) - 1), epsilon = 2**(chi_bits-1) / range
        self.chi_max = 2 ** (p.chi_bits - 1) - 1
        self.eps_lsb = 2 ** (p.chi_bits - 1) // p.chi_range_eps
        self.chi = {n.name: np.zeros(n.W.shape, np.int64) for n in net.weight_layers()}
        self.rng = np.random.default_rng([seed, 13])
        self.saturated = self.transfers = 0
        dev = arch.device
        step = nominal_step(dev)                              # one pulse, in levels of the LSB slice
        if dev.update.model != "ideal" and p.epsilon_codes < step:
            raise ConfigError(arch_file, "device.update.step_fraction",
                              "a pulse no larger than the mixed-precision threshold algorithm.epsilon_codes "
                              f"= {p.epsilon_codes} level(s) of the least significant slice (one pulse moves "
                              f"{step:g} levels; use epsilon_codes >= {math.ceil(step)})",
                              dev.update.step_fraction)
        for name, chi in self.chi.items():
            need, cap = int(chi.size * p.chi_bits / 8), buffer_share_bytes(engines[name], arch)
            if need > cap:
                raise FitError(f"{arch_file}: sram_buffer.capacity_kib: mixed precision needs {need} bytes "
                               f"for layer '{name}''s {p.chi_bits}-bit accumulator but its "
                               f"{engines[name].lmap.tiles} tile(s)' share of their buffers holds {cap}; "
                               "enlarge sram_buffer.capacity_kib or lower algorithm.chi_bits")

    def wants_dense_gradient(self) -> bool:
        return True

    @property
    def aux_bytes(self) -> int:
        return int(sum(c.size for c in self.chi.values()) * self.params.chi_bits / 8)

    @property
    def dense_bytes(self) -> int:
        return self.aux_bytes

    def report(self) -> dict:
        return {"transfers": self.transfers, "chi_saturations": self.saturated}

    def weight_step(self, t: int, log: StepLog) -> None:
        p = self.params
        qmax = 2 ** (self.arch.crossbar.weight_bits - 1) - 1
        for n in self.net.weight_layers():
            e, chi = self.engines[n.name], self.chi[n.name]
            w_max = e.w_scale * qmax
            # the SGD update of the normalised weights, in chi's LSB (epsilon_codes codes = eps_lsb)
            u = -p.lr * w_max * n.dW.astype(np.float64) * qmax * (self.eps_lsb / p.epsilon_codes)
            step = (np.floor(u + self.rng.random(u.shape)) if p.stochastic_rounding else np.rint(u))
            chi += step.astype(np.int64)
            over = np.abs(chi) > self.chi_max
            if over.any():
                self.saturated += int(over.sum())
                np.clip(chi, -self.chi_max, self.chi_max, out=chi)
            pulses = np.abs(chi) // self.eps_lsb                  # n = floor(|chi| / epsilon)
            d = np.sign(chi) * pulses
            chi -= d * self.eps_lsb
            log.digital_ops += 4 * chi.size                      # scale, add, compare, subtract
            nbytes = int(chi.size * p.chi_bits / 8)
            log.sram_read_bytes += nbytes
            log.sram_write_bytes += nbytes
            if pulses.any():
                self.transfers += 1
                self.requests[n.name] += d != 0
                self.write(n.name, d * p.epsilon_codes / qmax, log)


@dataclass(frozen=True)
class TikiTakaParams(RuleParams):
    """Tiki-Taka's two arrays and the transfer between them (Gokmen and Haensch 2020; v2:
    Gokmen 2021). `lr` is A's rate (every sample's gradient is written into A)."""

    version: int = spec(2, choices=(1, 2), doc="1: A's reads are written into C directly (aihwkit "
                                               "TransferCompound); 2: through the digital filter H, "
                                               "which writes C only when it crosses a threshold "
                                               "(aihwkit BufferedTransferCompound)")
    transfer_every: int = spec(1, lo=1, doc="samples between transfers (aihwkit transfer_every)")
    columns_per_transfer: int = spec(1, lo=1, doc="input lines of A read per transfer, in turn (aihwkit "
                                                  "n_reads_per_transfer: a one-hot read of one input "
                                                  "gives one of its (out, in) columns, a row of cimsim's "
                                                  "(K, N) matrix)")
    transfer_lr: float = spec(0.1, lo=0.0, lo_open=True, hi=1e3,
                              doc="C's rate: the share of A's read added to C (v1) or to H (v2)")
    threshold_codes: int = spec(1, lo=1, hi=2 ** 15,
                                doc="v2: H writes C by this many weight codes when |H| reaches it "
                                    "(aihwkit thres_scale x the device granularity)")
    max_steps_per_transfer: int = spec(1, lo=1, hi=2 ** 15,
                                       doc="v2: at most this many thresholds written per transfer "
                                           "(aihwkit's desired_bl = 1 of the transfer update)")
    h_bits: int = spec(16, lo=4, hi=32, doc="v2: bits of each entry of H in SRAM (fixed point)")
    h_range_thresholds: int = spec(8, lo=1, hi=2 ** 15,
                                   doc="v2: H saturates at +-this x threshold_codes (its LSB is "
                                       "threshold x h_range_thresholds / 2**(h_bits-1))")
    stochastic_rounding: bool = spec(True, doc="round A's and v1's C updates onto the weight codes "
                                               "stochastically (the expected pulse count of aihwkit's "
                                               "stochastic pulse trains) instead of to the nearest code")

    def validate(self, src: object, path: tuple) -> None:
        if self.h_range_thresholds >= 2 ** (self.h_bits - 1):
            raise src.error(path + ("h_range_thresholds",),
                            f"below 2**(h_bits - 1) = {2 ** (self.h_bits - 1)}", self.h_range_thresholds)


class TikiTaka(Rule):
    """Tiki-Taka: every sample's per-sample SGD update is written into a second analog array A
    of each weight matrix (its own cells, on tiles of its own); every `transfer_every` samples
    the next `columns_per_transfer` input lines of A are read through the tile (one-hot DAC
    inputs, the ADC calibrated for one line at full code) and added to the weight array C:
    directly (v1) or through H, a dense digital filter in SRAM that writes C by whole
    thresholds and keeps the remainder (v2). Forward passes see C alone (aihwkit's gamma 0)."""

    Params = TikiTakaParams

    def __init__(self, spec: AlgorithmSpec, net: Net, engines: dict[str, AnalogLayer], arch: ArchSpec,
                 seed: int = 0, arch_file: str = "arch"):
        super().__init__(spec, net, engines, arch, seed, arch_file)
        p = self.params
        names = [n.name for n in net.weight_layers()]
        used = max(e.lmap.first_tile + e.lmap.tiles for e in engines.values())
        need = sum(engines[k].lmap.tiles for k in names)
        if used + need > arch.chip.tiles:
            raise FitError(f"{arch_file}: chip.tiles: tiki_taka needs a second array A of every weight "
                           f"matrix on tiles of its own: {need} more tiles beside the {used} the network "
                           f"uses, but the chip has {arch.chip.tiles}; enlarge chip.tiles")
        self.a_tiles = need
        self.h_max = 2 ** (p.h_bits - 1) - 1
        self.thr_lsb = 2 ** (p.h_bits - 1) // p.h_range_thresholds
        if p.version == 2:
            for k in names:
                lm = engines[k].lmap
                need_b, cap = int(lm.rows * lm.cols * p.h_bits / 8), buffer_share_bytes(engines[k], arch)
                if need_b > cap:
                    raise FitError(f"{arch_file}: sram_buffer.capacity_kib: tiki_taka v2 needs {need_b} "
                                   f"bytes for layer '{k}''s {p.h_bits}-bit filter H but its {lm.tiles} "
                                   f"tile(s)' share of their buffers holds {cap}; enlarge "
                                   "sram_buffer.capacity_kib or lower algorithm.h_bits")
        self.h = {k: np.zeros((engines[k].lmap.rows, engines[k].lmap.cols), np.int64) for k in names} \
            if p.version == 2 else {}
        self.rng = np.random.default_rng([seed, 17])
        self.arrays: dict[str, AnalogLayer] = {}      # A of each layer, made on the programmed chip
        self.next_line = dict.fromkeys(names, 0)
        self.transfers = self.transfer_reads = self.h_saturations = 0
        self.reads_per_layer = dict.fromkeys(names, 0)

    def wants_dense_gradient(self) -> bool:
        return True

    @property
    def aux_bytes(self) -> int:
        return int(sum(h.size for h in self.h.values()) * self.params.h_bits / 8)

    @property
    def dense_bytes(self) -> int:
        return self.aux_bytes

    @property
    def aux_engines(self) -> dict[str, AnalogLayer]:
        """The A arrays (analog state of their own: their writes are the phase's writes too)."""
        return {a.name: a for a in self.arrays.values()}

    def report(self) -> dict:
        return {"transfers": self.transfers, "transfer_reads": self.transfer_reads,
                "a_array_tiles": self.a_tiles, "h_saturations": self.h_saturations}

    def _a(self, name: str) -> AnalogLayer:
        if name not in self.arrays:
            c = self.engines[name]
            key = int(np.random.SeedSequence([c.read_key, 17]).generate_state(1)[0])
            self.arrays[name] = c.second_array(f"{name}.A", self.rng, key)
        return self.arrays[name]

    def _round(self, u: np.ndarray) -> np.ndarray:
        return np.floor(u + self.rng.random(u.shape)) if self.params.stochastic_rounding else np.rint(u)

    def weight_step(self, t: int, log: StepLog) -> None:
        p = self.params
        qmax = 2 ** (self.arch.crossbar.weight_bits - 1) - 1
        for n in self.net.weight_layers():
            c, a = self.engines[n.name], self._a(n.name)
            # SGD on A, in C's normalised weights (A holds C's weight scale): codes of the update
            u = -p.lr * c.w_scale * qmax * n.dW.astype(np.float64) * qmax
            d = self._round(u).astype(np.int64)
            self.requests[n.name] += n.dW != 0
            log.digital_ops += 2 * n.dW.size
            self.write_codes(a, n.name, d, log)    # A timed on C's layer's drivers (A's own overlap)
            if (t + 1) % p.transfer_every == 0:
                self._transfer(n.name, c, a, log)

    def _transfer(self, name: str, c: AnalogLayer, a: AnalogLayer, log: StepLog) -> None:
        p = self.params
        k = a.k
        lines = (self.next_line[name] + np.arange(p.columns_per_transfer)) % k
        self.next_line[name] = int((lines[-1] + 1) % k)
        onehot = np.zeros((len(lines), k), np.float32)
        onehot[np.arange(len(lines)), lines] = 1.0
        read = a(onehot).astype(np.float64) / a.w_scale              # A's lines, in weight codes
        self.transfers += 1
        self.transfer_reads += len(lines)
        self.reads_per_layer[name] += len(lines)
        d = np.zeros(c.w_int.shape, np.int64)
        if p.version == 1:
            d[lines] = self._round(p.transfer_lr * read)
            log.digital_ops += 2 * read.size
        else:
            h = self.h[name]
            h[lines] += np.rint(p.transfer_lr * read * self.thr_lsb / p.threshold_codes).astype(np.int64)
            over = np.abs(h[lines]) > self.h_max
            if over.any():
                self.h_saturations += int(over.sum())
                h[lines] = np.clip(h[lines], -self.h_max, self.h_max)
            steps = np.clip(np.trunc(h[lines] / self.thr_lsb), -p.max_steps_per_transfer,
                            p.max_steps_per_transfer).astype(np.int64)
            h[lines] -= steps * self.thr_lsb
            d[lines] = steps * p.threshold_codes
            log.digital_ops += 4 * read.size
            nbytes = int(read.size * p.h_bits / 8)
            log.sram_read_bytes += nbytes
            log.sram_write_bytes += nbytes
        self.write_codes(c, name, d, log)
