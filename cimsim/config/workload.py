"""Workload spec: data, model, float pretraining, deployment and the phases to run."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import plugins
from ..util import SAFE_NAME_TEXT, is_safe_name
from .schema import Source, spec
from .shapes import GraphError, plan_layers

POLICIES = tuple(plugins.BUILTIN["policy"])      # the built-in deployment policies
SYNTHETIC_MAX_VALUES = 2**30


def check_name(name: str, src: Source, path: tuple) -> None:
    """Names become folder and file names (results/ARCH__WORKLOAD, a phase's figures): the
    one safe file-name rule (util.SAFE_NAME)."""
    if not is_safe_name(name):
        raise src.error(path, SAFE_NAME_TEXT, name)


def check_part(kind: str, value: str, src: Source, path: tuple, extra: tuple[str, ...] = ()) -> None:
    """`value` names a registered part of this kind (plugins.py) or is an import path
    'package.module:Class' (loaded, and checked, before the run starts)."""
    err = plugins.unknown(kind, value, extra)
    if err is not None:
        raise src.error(path, err.expected, value, err.note)


def _explicit(src: Source, path: tuple) -> bool:
    """Whether the data set this key (rather than leaving its default)."""
    return path in src.given


@dataclass(frozen=True)
class DatasetSpec:
    name: str = spec("digits", choices=("digits", "npz", "synthetic", "fashion_mnist", "idx"),
                     doc="digits: scikit-learn's bundled 8x8 handwritten digits (1797 images, offline); "
                         "npz: your arrays at `path`; synthetic: seeded uniform [0, 1) inputs of `shape` "
                         "with random labels (cost-only studies); fashion_mnist: Fashion-MNIST's IDX "
                         "files (28x28, 60,000 + 10,000; `dir`, $CIMSIM_DATA/fashion-mnist or Debian's "
                         "dataset-fashion-mnist); idx: any MNIST-format set in `dir` (MNIST, KMNIST, EMNIST)")
    dir: str = spec("", doc="fashion_mnist, idx: the folder of the four IDX files (gzip or raw); relative "
                            "paths are taken from the workload file's folder")
    path: str = spec("", doc="npz: a .npz file with arrays x_train, y_train, x_test, y_test (images "
                             "NCHW or NHWC, or flat (N, F); uint8 0..255 or float), integer labels "
                             "0..classes-1; relative paths are taken from the workload file's folder; "
                             "setting it implies name: npz")
    image_size: int = spec(16, lo=8, hi=64, doc="digits: images are upscaled (bilinear) to this size")
    test_fraction: float = spec(0.2, lo=0.05, hi=0.5, doc="digits: held-out share, stratified by class")
    shape: list[int] = spec([], doc="synthetic: one input as [C, H, W] (or [F] for flat inputs); "
                                    "empty: model.input_shape")
    classes: int = spec(10, lo=2, hi=100000, doc="synthetic: number of classes")
    train_samples: int = spec(256, lo=0, hi=1_000_000,
                              doc="synthetic: training inputs; fashion_mnist, idx: a seeded stratified "
                                  "subset of the training split (unset or 0: all of it)")
    test_samples: int = spec(64, lo=0, hi=1_000_000,
                             doc="synthetic: test inputs; fashion_mnist, idx: a seeded stratified subset "
                                 "of the test split (unset or 0: all of it)")

    def validate(self, src: Source, path: tuple) -> None:
        if self.path and self.name != "npz":
            if _explicit(src, path + ("name",)):
                raise src.error(path + ("name",), "npz (or no name) with dataset.path", self.name)
            object.__setattr__(self, "name", "npz")
        if self.name == "npz" and not self.path:
            raise src.error(path + ("path",), "the .npz file of dataset name npz")
        if self.name == "idx" and not self.dir:
            raise src.error(path + ("dir",), "the folder of the IDX files of dataset name idx")
        if self.dir and self.name not in ("fashion_mnist", "idx"):
            raise src.error(path + ("dir",), "a dataset name fashion_mnist or idx with dataset.dir",
                            self.name)
        for k in ("train_samples", "test_samples"):
            if self.name in ("fashion_mnist", "idx") and not _explicit(src, path + (k,)):
                object.__setattr__(self, k, 0)                 # the whole split
            elif self.name == "synthetic" and getattr(self, k) < 1:
                raise src.error(path + (k,), "at least 1 synthetic input", getattr(self, k))
        if self.shape and len(self.shape) not in (1, 3):
            raise src.error(path + ("shape",), "[C, H, W] or [F]", list(self.shape))
        for i, d in enumerate(self.shape):
            if not 1 <= d <= 65536:
                raise src.error(path + ("shape", i), "a size in 1..65536", d)
        if self.name == "synthetic" and self.shape:
            values = math.prod(self.shape) * (self.train_samples + self.test_samples)
            if values > SYNTHETIC_MAX_VALUES:
                raise src.error(path + ("shape",), f"at most {SYNTHETIC_MAX_VALUES:,} input values in all "
                                f"(4 GiB of float32; shape x (train_samples + test_samples))", f"{values:,}")


LAYER_TYPES = ("conv", "linear", "batchnorm", "relu", "maxpool", "avgpool", "global_avgpool",
               "flatten", "add")
_LAYER_KEYS = {"conv": ("out_channels", "kernel", "stride", "padding", "groups", "bias"),
               "linear": ("out_features", "bias"),
               "maxpool": ("kernel", "stride", "padding"), "avgpool": ("kernel", "stride", "padding")}
_LAYER_DEFAULTS = {"out_channels": 0, "out_features": 0, "kernel": 0, "stride": 0, "padding": -1,
                   "groups": 1, "bias": None}


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a `model.layers` list. Tensors flow from each layer to the next unless
    `inputs` names others; `add` sums the named layers' outputs (with one name: that layer and
    the previous one — a residual connection)."""

    type: str = spec(choices=LAYER_TYPES)
    name: str = spec("", doc="unique label (default: type + position, e.g. conv3)")
    inputs: list[str] = spec([], doc="names of the layers feeding this one ('input' = the data); "
                                     "default: the previous layer")
    out_channels: int = spec(0, lo=0, hi=65536, doc="conv: output channels")
    out_features: int = spec(0, lo=0, hi=1_000_000,
                             doc="linear: outputs (0 on the last layer: the dataset's classes)")
    kernel: int = spec(0, lo=0, hi=64, doc="conv: k of the k x k kernel (default 3); pools: window "
                                          "(default 2)")
    stride: int = spec(0, lo=0, hi=64, doc="conv: default 1; pools: default the window")
    padding: int = spec(-1, lo=-1, hi=64, doc="zeros on each side; default: conv kernel // 2 (size kept "
                                             "at stride 1), pools 0")
    groups: int = spec(1, lo=1, hi=65536, doc="conv: grouped convolution (block-diagonal on the crossbar)")
    bias: bool | None = spec(None, doc="conv: default false; linear: default true")

    def validate(self, src: Source, path: tuple) -> None:
        allowed = _LAYER_KEYS.get(self.type, ())
        for key, default in _LAYER_DEFAULTS.items():
            if getattr(self, key) != default and key not in allowed:
                raise src.error(path + (key,), "keys of a " + self.type + " layer: "
                                + (", ".join(("type", "name", "inputs") + allowed)), getattr(self, key))
        if self.type == "conv" and not self.out_channels:
            raise src.error(path + ("out_channels",), "output channels >= 1 of a conv layer")
        if self.type == "add" and not self.inputs:
            raise src.error(path + ("inputs",), "the layer(s) to add (one name: added to the previous layer)")
        if self.type != "add" and len(self.inputs) > 1:
            raise src.error(path + ("inputs",), f"one input of a {self.type} layer", list(self.inputs))
        if self.type in ("maxpool", "avgpool", "conv") and self.padding > 0:
            k = self.kernel or (3 if self.type == "conv" else 2)
            if 2 * self.padding > k:
                raise src.error(path + ("padding",), f"at most half the kernel ({k // 2})", self.padding)




@dataclass(frozen=True)
class ModelSpec:
    name: str = spec("resnet", doc="a registered network (cimsim list models: resnet, lrt_cnn, vgg, "
                                   "resnet18, resnet50, plugins) or 'package.module:Class'; `layers` "
                                   "with model.layers; `onnx` with model.onnx (either key alone "
                                   "implies the name)")
    depth: int = spec(8, lo=8, hi=56, doc="resnet: depth 6n+2 (8, 14, 20, ...)")
    width: int = spec(16, lo=2, hi=4096,
                      doc="resnet: first-stage channels (doubling); lrt_cnn: channels; vgg: first "
                          "two convs' channels (NeuroSim's VGG-8: 128); resnet18/50: first-stage "
                          "channels (the ImageNet networks: 64)")
    hidden: int = spec(256, lo=2, hi=65536, doc="lrt_cnn, vgg: units of the hidden FC layer")
    layers: list[LayerSpec] = spec([], doc="your own network as a list of layers (see docs/models.md)")
    onnx: str = spec("", doc="an .onnx file (needs cimsim[onnx]): its graph and trained weights, no "
                             "pretraining; relative paths from the workload file's folder")
    input_shape: list[int] = spec([], doc="one input as [C, H, W] or [F]; empty: the dataset's")

    def validate(self, src: Source, path: tuple) -> None:
        for key, value in (("layers", self.layers), ("onnx", self.onnx)):
            if value and self.name != key:
                if _explicit(src, path + ("name",)):
                    raise src.error(path + ("name",), f"{key} (or no name) with model.{key}", self.name)
                object.__setattr__(self, "name", key)
        if _explicit(src, path + ("layers",)) and not self.layers:   # not the default network in disguise
            raise src.error(path + ("layers",), "at least one layer (or no `layers` key)", [])
        check_part("model", self.name, src, path + ("name",), ("layers", "onnx"))
        if self.layers and self.onnx:
            raise src.error(path + ("onnx",), "either model.layers or model.onnx, not both", self.onnx)
        if self.name in ("layers", "onnx") and not getattr(self, self.name):
            raise src.error(path + (self.name,), f"the model's {self.name} with model.name {self.name}")
        if self.name == "resnet" and (self.depth - 2) % 6:
            raise src.error(path + ("depth",), "6n+2 (8, 14, 20, 26, ...)", self.depth)
        if self.input_shape and len(self.input_shape) not in (1, 3):
            raise src.error(path + ("input_shape",), "[C, H, W] or [F]", list(self.input_shape))
        for i, d in enumerate(self.input_shape):
            if not 1 <= d <= 65536:
                raise src.error(path + ("input_shape", i), "a size in 1..65536", d)
        names = {"input"}
        for i, layer in enumerate(self.layers):
            name = layer.name or f"{layer.type}{i}"
            if name in names:
                raise src.error(path + ("layers", i, "name"), "a unique layer name (not 'input')", name)
            for j, inp in enumerate(layer.inputs):
                if inp not in names:
                    raise src.error(path + ("layers", i, "inputs", j),
                                    "the name of an earlier layer or 'input'", inp)
            names.add(name)


@dataclass(frozen=True)
class PretrainSpec:
    """Float training before deployment (Adam, cross-entropy), cached by content hash."""

    epochs: int = spec(20, lo=1, hi=1000)
    batch: int = spec(32, lo=1, hi=4096)
    lr: float = spec(0.002, lo=0.0, lo_open=True, hi=10.0)
    weight_decay: float = spec(1e-4, lo=0.0)
    noise_sigma: float = spec(0.0, lo=0.0, hi=1.0,
                              doc="noise-aware training: each batch sees one programming draw of the "
                                  "chip's device model with this program_sigma (0: plain training)")


@dataclass(frozen=True)
class LayerAdcSpec:
    """ADC resolution of one weight layer's conversions (a reconfigurable SAR resolves fewer
    bits than it has, in fewer cycles and for less energy)."""

    layer: str = spec(doc="a weight layer's name (the report's mapping.layers)")
    bits: int = spec(lo=1, hi=24, doc="bits of this layer's conversions, at most the arch's adc.bits")


@dataclass(frozen=True)
class LayerCopiesSpec:
    """Copies of one weight layer's crossbars (weight replication): its vectors are dealt over
    the copies, which run in parallel (ISAAC's replication, NeuroSim's speedUpDegree)."""

    layer: str = spec(doc="a weight layer's name (the report's mapping.layers)")
    copies: int = spec(lo=1, hi=1024, doc="copies of the layer's crossbars on the chip")


@dataclass(frozen=True)
class DeploySpec:
    """How the trained network is put on the chip: calibration, the programming policy and,
    beside them, the policies' own keys (`verify_fraction`, `tsb`, ...), checked against the
    Params of every policy the workload uses when the run loads its parts (policies.py)."""

    EXTRA_KEYS: ClassVar[str] = "params"

    functional: bool = spec(True, doc="false: cost-only run: mapping, operation counts, SimPy timing "
                                      "and energy from the layer shapes alone (no pretraining, no "
                                      "analog model, no accuracy); inference phases only")
    weight_reload: bool = spec(False, doc="cost-only runs: a network larger than the chip runs in "
                                          "rounds of whole layers; each round's weights are loaded from "
                                          "off-chip memory and programmed (one pulse per cell), every "
                                          "image of the phase passes the round, and activations crossing "
                                          "rounds go off-chip and back (cimsim/reload.py)")

    calibration_images: int = spec(256, lo=1,
                                   doc="training images used to set each layer's input scale")
    write_verify: str = spec("none",
                             doc="a registered policy (cimsim list algorithms) or 'package.module:Class'. "
                                 "none: one-shot; all: verify every cell; selective: verify the "
                                 "top verify_fraction of weights; tsb: one-shot backbone + verified "
                                 "tiny block fine-tuned per chip")
    adc_bits: list[LayerAdcSpec] = spec([], doc="per-layer ADC resolution, e.g. [{layer: fc, bits: 5}]; "
                                                "layers not listed convert at the arch's adc.bits")
    pipeline: str = spec("image", choices=("image", "row"),
                         doc="how layers overlap in the timing model: image (a layer starts on an image "
                             "once its inputs are complete) or row (a layer starts each output row as "
                             "soon as the input rows its window needs are ready; line buffers checked)")
    copies: int = spec(1, lo=1, hi=1024, doc="weight replication: copies of every weight layer's crossbars "
                                             "(NeuroSim's speedUpDegree); 1: none")
    replicate: list[LayerCopiesSpec] = spec([], doc="copies per layer, over `copies`, e.g. [{layer: "
                                                    "stem.conv, copies: 4}] to balance the pipeline")

    def validate(self, src: Source, path: tuple) -> None:
        check_part("policy", self.write_verify, src, path + ("write_verify",))
        seen = set()
        for i, a in enumerate(self.adc_bits):
            if a.layer in seen:
                raise src.error(path + ("adc_bits", i, "layer"), "each layer once", a.layer)
            seen.add(a.layer)
        seen = set()
        for i, r in enumerate(self.replicate):
            if r.layer in seen:
                raise src.error(path + ("replicate", i, "layer"), "each layer once", r.layer)
            seen.add(r.layer)

    params: Any = spec(None, doc="the policies' own keys; checked and kept for the policies the "
                                 "workload uses when the run loads its parts")

    def layer_adc_bits(self) -> dict[str, int]:
        return {a.layer: a.bits for a in self.adc_bits}

    def layer_copies(self, layers: list[str]) -> dict[str, int]:
        """Copies of each of `layers` (`copies`, or its `replicate` entry)."""
        own = {r.layer: r.copies for r in self.replicate}
        return {name: own.get(name, self.copies) for name in layers}


@dataclass(frozen=True)
class AlgorithmSpec:
    """On-chip learning rule (train phases): its name and its own keys, written beside the
    name (`algorithm: {name: lrt, rank: 4}`) and checked against the rule's Params when the
    run loads its parts (cimsim list algorithms; learning/rules.py)."""

    EXTRA_KEYS: ClassVar[str] = "params"

    name: str = spec("lrt", doc="a registered rule (cimsim list algorithms: none, bias_only, sgd, lrt, "
                                "plugins) or 'package.module:Class'")
    params: Any = spec(None, doc="the rule's own keys (its Params); built when the run loads the rule")

    def validate(self, src: Source, path: tuple) -> None:
        check_part("rule", self.name, src, path + ("name",))


@dataclass(frozen=True)
class ScenarioSpec:
    """The world during an online phase: its kind and its own keys beside it (`scenario:
    {kind: analog_drift, drift_sigma: 0.01}`), checked against the scenario's Params when
    the run loads its parts (learning/scenarios.py)."""

    EXTRA_KEYS: ClassVar[str] = "params"

    kind: str = spec("control", doc="a registered scenario (cimsim list scenarios: control, "
                                    "distribution_shift, analog_drift, digital_drift, plugins) or "
                                    "'package.module:Class'")
    params: Any = spec(None, doc="the scenario's own keys (its Params); built when the run loads it")

    def validate(self, src: Source, path: tuple) -> None:
        check_part("scenario", self.kind, src, path + ("kind",))


@dataclass(frozen=True)
class PhaseSpec:
    """One phase: its name, kind, data split and sample count, and its kind's own keys written
    beside them (`{name: test, kind: inference, ci_chips: 5}`), checked against the kind's
    Params when the run loads its parts (phases/: InferenceParams, TrainParams,
    MonteCarloParams)."""

    EXTRA_KEYS: ClassVar[str] = "params"

    name: str = spec(doc="phase label in the report")
    kind: str = spec("inference", doc="a registered phase kind (inference, train, monte_carlo, plugins) "
                                      "or 'package.module:Class'; monte_carlo: deploy each policy on "
                                      "many chips and test each")
    split: str = spec("test", choices=("test", "train"), doc="inference: data split; train: stream source")
    samples: int = spec(0, lo=0, doc="inference: images (0 = whole split); train: stream length")
    params: Any = spec(None, doc="the kind's own keys (its Params); built when the run loads the kind")

    def validate(self, src: Source, path: tuple) -> None:
        check_part("phase", self.kind, src, path + ("kind",))


@dataclass(frozen=True)
class WorkloadSpec:
    name: str = spec("workload", doc="names the default output folder: letters, digits, . _ -")
    seed: int = spec(0, lo=0, hi=2**32 - 1)
    dataset: DatasetSpec = spec(DatasetSpec())
    model: ModelSpec = spec(ModelSpec())
    pretrain: PretrainSpec = spec(PretrainSpec())
    deploy: DeploySpec = spec(DeploySpec())
    phases: list[PhaseSpec] = spec([], doc="run in order")

    def validate(self, src: Source, path: tuple) -> None:
        check_name(self.name, src, path + ("name",))
        if not self.phases:
            raise src.error(path + ("phases",), "at least one phase")
        seen = set()
        for i, ph in enumerate(self.phases):
            check_name(ph.name, src, path + ("phases", i, "name"))      # its figures' file names
            if ph.name in seen:
                raise src.error(path + ("phases", i, "name"), "a unique phase name", ph.name)
            seen.add(ph.name)
        if self.deploy.weight_reload and self.deploy.functional:
            raise src.error(path + ("deploy", "weight_reload"), "false in a functional run (it keeps "
                            "every weight programmed; reloads are modelled in cost-only runs, "
                            "deploy.functional: false)", True)
        if not self.deploy.functional and self.deploy.write_verify != "none" and not (
                self.deploy.weight_reload and self.deploy.write_verify == "all"):
            raise src.error(path + ("deploy", "write_verify"), "none in a cost-only run (deploy.functional: "
                            "false programs no weights), or all with deploy.weight_reload (the "
                            "rounds' programming)", self.deploy.write_verify)
        if self.dataset.name == "synthetic" and not (self.dataset.shape or self.model.input_shape):
            raise src.error(path + ("dataset", "shape"), "the input shape [C, H, W] or [F] of "
                            "synthetic data (here or as model.input_shape)")
        if self.model.onnx and self.pretrain.noise_sigma > 0:
            raise src.error(path + ("pretrain", "noise_sigma"), "0 with an ONNX model (its weights "
                            "are used as trained; there is no pretraining)", self.pretrain.noise_sigma)
        if self.model.layers:
            shape = self.known_input_shape()
            if shape is not None:
                try:
                    plan_layers(self.model.layers, shape, self.known_classes())
                except GraphError as e:
                    raise src.error(path + ("model", "layers", e.index) + ((e.key,) if e.key else ()),
                                    e.expected, e.got) from None

    def known_input_shape(self) -> tuple[int, ...] | None:
        """One input's shape (H, W, C) or (F,) as far as the spec alone tells (None: only the
        dataset file does)."""
        d, m = self.dataset, self.model
        given = m.input_shape or (d.shape if d.name == "synthetic" else [])
        if given:
            return (given[1], given[2], given[0]) if len(given) == 3 else (given[0],)
        if d.name == "digits":
            return (d.image_size, d.image_size, 1)
        return None

    def known_classes(self) -> int:
        return self.dataset.classes if self.dataset.name == "synthetic" else 10
