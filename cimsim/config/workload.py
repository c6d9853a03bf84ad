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
    name: str = spec("resnet", choices=("resnet",))
    depth: int = spec(8, lo=8, hi=56, doc="ResNet depth 6n+2 (8, 14, 20, ...)")
    width: int = spec(16, lo=2, hi=256, doc="channels of the first stage (doubles per stage)")

    def validate(self, src: Source, path: tuple) -> None:
        if (self.depth - 2) % 6:
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
class PhaseSpec:
    name: str = spec(doc="phase label in the report")
    kind: str = spec("inference", choices=("inference",))
    split: str = spec("test", choices=("test", "train"))
    samples: int = spec(0, lo=0, doc="images to run; 0 = the whole split")


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
