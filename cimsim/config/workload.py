"""Workload spec: data, model, float pretraining, deployment and the phases to run."""
from __future__ import annotations

from dataclasses import dataclass

from .schema import Source, spec


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


@dataclass(frozen=True)
class DeploySpec:
    """How the trained network is put on the chip."""

    calibration_images: int = spec(256, lo=1,
                                   doc="training images used to set each layer's input scale")


@dataclass(frozen=True)
class AlgorithmSpec:
    """On-chip learning rule (train phases). Defaults follow the LRT paper (PAPERS.md)."""

    name: str = spec("lrt", choices=("none", "bias_only", "sgd", "lrt"))
    lr: float = spec(0.01, lo=0.0, doc="weight learning rate (sgd, lrt)")
    bias_lr: float = spec(0.01, lo=0.0, doc="per-sample SGD rate of biases and BN (high-endurance memory)")
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
    kind: str = spec("inference", choices=("inference", "train"))
    split: str = spec("test", choices=("test", "train"), doc="inference: data split; train: stream source")
    samples: int = spec(0, lo=0, doc="inference: images (0 = whole split); train: stream length")
    algorithm: AlgorithmSpec = spec(AlgorithmSpec())
    scenario: ScenarioSpec = spec(ScenarioSpec())
    ema: float = spec(0.99, lo=0.0, hi=1.0, lo_open=True, doc="train: online accuracy EMA factor")
    window_samples: int = spec(200, lo=1, doc="train: accuracy window for the time series")
    sample_rate_hz: float = spec(10.0, lo=0.0, lo_open=True,
                                 doc="train: samples per second in deployment, for lifetime in years")

    def validate(self, src: Source, path: tuple) -> None:
        if self.kind == "train" and self.samples <= 0:
            raise src.error(path + ("samples",), "a stream length > 0 for a train phase", self.samples)


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
