"""Workload spec: data, model, float pretraining, deployment and the phases to run."""
from __future__ import annotations

from dataclasses import dataclass

from .schema import Source, spec

POLICIES = ("none", "all", "selective", "tsb")


@dataclass(frozen=True)
class DatasetSpec:
    name: str = spec("digits", choices=("digits",),
                     doc="scikit-learn's bundled 8x8 handwritten digits (1797 images, offline)")
    image_size: int = spec(16, lo=8, hi=64, doc="images are upscaled (bilinear) to this size")
    test_fraction: float = spec(0.2, lo=0.05, hi=0.5, doc="held-out share, stratified by class")


@dataclass(frozen=True)
class ModelSpec:
    name: str = spec("resnet", choices=("resnet", "lrt_cnn"))
    depth: int = spec(8, lo=8, hi=56, doc="resnet: depth 6n+2 (8, 14, 20, ...)")
    width: int = spec(16, lo=2, hi=256, doc="resnet: first-stage channels (doubling); lrt_cnn: channels")
    hidden: int = spec(256, lo=2, hi=4096, doc="lrt_cnn: units of the hidden FC layer")

    def validate(self, src: Source, path: tuple) -> None:
        if self.name == "resnet" and (self.depth - 2) % 6:
            raise src.error(path + ("depth",), "6n+2 (8, 14, 20, 26, ...)", self.depth)


@dataclass(frozen=True)
class PretrainSpec:
    """Float training before deployment (Adam, cross-entropy), cached by content hash."""

    epochs: int = spec(20, lo=1, hi=1000)
    batch: int = spec(32, lo=1, hi=4096)
    lr: float = spec(0.002, lo=0.0, lo_open=True)
    weight_decay: float = spec(1e-4, lo=0.0)
    noise_sigma: float = spec(0.0, lo=0.0, hi=1.0,
                              doc="noise-aware training: each batch sees one programming draw of the "
                                  "chip's device model with this program_sigma (0: plain training)")


@dataclass(frozen=True)
class TsbSpec:
    """Tiny shared block (Qin et al. 2024): a C x C 1x1 convolution y = x + x B (B = 0 at
    start: the identity), applied to every group of C channels at each insertion point,
    fine-tuned per chip against that chip's read-back backbone, then write-verified."""

    channels: int = spec(16, lo=1, hi=1024, doc="C: the block is C x C; layer widths must be multiples")
    sharing: str = spec("global", choices=("global", "per_width", "per_layer"),
                        doc="one block for all points, one per channel width, or one per point")
    insert_after: str = spec("conv", choices=("conv", "block"),
                             doc="conv: after every conv (before its BN); block: after each "
                                 "residual block's output (and the stem)")
    epochs: int = spec(2, lo=1, hi=1000, doc="per-chip fine-tuning passes over `images`")
    images: int = spec(512, lo=1, doc="training images used for per-chip fine-tuning")
    batch: int = spec(32, lo=1, hi=4096)
    lr: float = spec(0.003, lo=0.0, lo_open=True, doc="Adam learning rate of the block")


@dataclass(frozen=True)
class DeploySpec:
    """How the trained network is put on the chip (programming policy)."""

    calibration_images: int = spec(256, lo=1,
                                   doc="training images used to set each layer's input scale")
    write_verify: str = spec("none", choices=POLICIES,
                             doc="none: one-shot; all: verify every cell; selective: verify the "
                                 "top verify_fraction of weights; tsb: one-shot backbone + verified "
                                 "tiny block fine-tuned per chip")
    verify_fraction: float = spec(0.01, lo=0.0, hi=1.0, doc="selective: share of weights verified")
    verify_score: str = spec("sensitivity", choices=("magnitude", "sensitivity"),
                             doc="selective: rank by |w|, or by expected loss increase "
                                 "(diagonal Fisher x the weight's programming-noise variance)")
    sensitivity_images: int = spec(128, lo=1, doc="selective/sensitivity: images for the Fisher")
    tsb: TsbSpec = spec(TsbSpec())


@dataclass(frozen=True)
class AlgorithmSpec:
    """On-chip learning rule (train phases). Defaults follow the LRT paper (PAPERS.md)."""

    name: str = spec("lrt", choices=("none", "bias_only", "sgd", "lrt"))
    lr: float = spec(0.01, lo=0.0, doc="weight learning rate (sgd, lrt)")
    bias_lr: float = spec(0.01, lo=0.0, doc="per-sample SGD rate of biases and BN (high-endurance memory)")
    sgd_step: str = spec("sample", choices=("sample", "term"),
                         doc="sgd: one quantised write of the summed gradient per sample, or one per "
                             "rank-1 term (every conv output pixel its own step, as LRT's streaming)")
    rank: int = spec(4, lo=1, hi=64, doc="lrt: rank r of the gradient accumulator")
    unbiased: bool = spec(True, doc="lrt: optimal-Kronecker-sum reduction (else biased top-r)")
    kappa: float = spec(100.0, lo=0.0, lo_open=True, doc="lrt: condition gate kappa_th")
    state_bits: int = spec(16, lo=4, hi=32, doc="lrt: bits of the L/R factors in SRAM")
    batch_conv: int = spec(10, lo=1, doc="lrt: samples between write attempts, conv layers")
    batch_fc: int = spec(100, lo=1, doc="lrt: samples between write attempts, FC layers")
    rho_min: float = spec(0.01, lo=0.0, hi=1.0, doc="lrt: write only if this share of dW is non-zero")
    max_norm: bool = spec(True, doc="lrt: normalise L and R by their running max (beta 0.999)")
    bn_eta_samples: int = spec(100, lo=1, doc="streaming BN: EMA rate 1 - 1/this")


@dataclass(frozen=True)
class ScenarioSpec:
    """The world during an online phase."""

    kind: str = spec("control", choices=("control", "distribution_shift", "analog_drift",
                                         "digital_drift"))
    elastic_alpha_px: float = spec(0.4, lo=0.0, doc="elastic displacement std (pixels)")
    elastic_sigma_px: float = spec(2.0, lo=0.1, doc="elastic distortion smoothness (pixels)")
    segment_samples: int = spec(1000, lo=1, doc="distribution_shift: samples per segment")
    drift_every_samples: int = spec(10, lo=1, doc="drift: samples between drift events")
    drift_sigma: float = spec(0.01, lo=0.0, doc="analog_drift: conductance step std / range per event")
    flip_rate: float = spec(2e-4, lo=0.0, hi=1.0,
                            doc="digital_drift: chance a cell flips a level bit per event")


@dataclass(frozen=True)
class PhaseSpec:
    name: str = spec(doc="phase label in the report")
    kind: str = spec("inference", choices=("inference", "train", "monte_carlo"),
                     doc="monte_carlo: deploy each policy on many chips and test each")
    split: str = spec("test", choices=("test", "train"), doc="inference: data split; train: stream source")
    samples: int = spec(0, lo=0, doc="inference: images (0 = whole split); train: stream length")
    algorithm: AlgorithmSpec = spec(AlgorithmSpec())
    scenario: ScenarioSpec = spec(ScenarioSpec())
    ema: float = spec(0.99, lo=0.0, hi=1.0, lo_open=True, doc="train: online accuracy EMA factor")
    window_samples: int = spec(200, lo=1, doc="train: accuracy window for the time series")
    sample_rate_hz: float = spec(10.0, lo=0.0, lo_open=True,
                                 doc="train: samples per second in deployment, for lifetime in years")
    chips: int = spec(10, lo=1, hi=100000, doc="monte_carlo: independent chips per policy and sigma")
    policies: list[str] = spec(list(POLICIES), doc="monte_carlo: deployment policies compared")
    sigmas: list[float] = spec([], doc="monte_carlo: program_sigma values swept (empty: the arch's)")
    evaluate: str = spec("crossbar", choices=("crossbar", "weights"),
                         doc="monte_carlo: crossbar = full functional model; weights = the chips' "
                             "programmed weights with ideal read-out (fast; no read noise / ADC)")

    def validate(self, src: Source, path: tuple) -> None:
        if self.kind == "train" and self.samples <= 0:
            raise src.error(path + ("samples",), "a stream length > 0 for a train phase", self.samples)
        for i, p in enumerate(self.policies):
            if p not in POLICIES:
                raise src.error(path + ("policies", i), "one of " + ", ".join(POLICIES), p)
        if self.kind == "monte_carlo" and not self.policies:
            raise src.error(path + ("policies",), "at least one policy", [])
        for i, s in enumerate(self.sigmas):
            if not 0.0 <= s <= 1.0:
                raise src.error(path + ("sigmas", i), "a number in [0, 1]", s)


@dataclass(frozen=True)
class WorkloadSpec:
    name: str = spec("workload")
    seed: int = spec(0, lo=0, hi=2**32 - 1)
    dataset: DatasetSpec = spec(DatasetSpec())
    model: ModelSpec = spec(ModelSpec())
    pretrain: PretrainSpec = spec(PretrainSpec())
    deploy: DeploySpec = spec(DeploySpec())
    phases: list[PhaseSpec] = spec([], doc="run in order")

    def validate(self, src: Source, path: tuple) -> None:
        if not self.phases:
            raise src.error(path + ("phases",), "at least one phase")
        seen = set()
        for i, ph in enumerate(self.phases):
            if ph.name in seen:
                raise src.error(path + ("phases", i, "name"), "a unique phase name", ph.name)
            seen.add(ph.name)
