"""Built-in networks, each a layer list built by nn/graph.py (the builder of `model.layers`),
registered as `NetworkModel` parts (plugins.py, kind "model")."""
from __future__ import annotations

from abc import ABC, abstractmethod

from .. import plugins
from ..config.workload import LayerSpec, ModelSpec
from .graph import layer, net_from_layers
from .layers import Net


def _conv_bn(out: list[LayerSpec], name: str, inp: str, cout: int, k: int, stride: int, relu: bool,
             pad: int = -1) -> str:
    out.append(layer("conv", f"{name}.conv", [inp], out_channels=cout, kernel=k, stride=stride,
                     padding=pad))
    out.append(layer("batchnorm", f"{name}.bn"))
    if relu:
        out.append(layer("relu", f"{name}.relu"))
        return f"{name}.relu"
    return f"{name}.bn"


def _residual(out: list[LayerSpec], name: str, x: str, h: str, cin: int, cout: int, stride: int) -> str:
    """Close a residual block: the shortcut (identity, or a 1x1 projection conv + BN where the
    shape changes), the add and the ReLU; returns the block's output."""
    short = x if (stride == 1 and cin == cout) else _conv_bn(out, f"{name}.sc", x, cout, 1, stride, False)
    out += [layer("add", f"{name}.add", [h, short]), layer("relu", f"{name}.out")]
    return f"{name}.out"


def resnet_layers(depth: int, width: int, classes: int) -> list[LayerSpec]:
    """CIFAR-style ResNet (He et al. 2016): 3 stages of (depth-2)/6 basic blocks,
    widths w, 2w, 4w, stride 2 between stages, 1x1 projection shortcuts."""
    out: list[LayerSpec] = []
    x = _conv_bn(out, "stem", "input", width, 3, 1, True)
    cin = width
    for stage in range(3):
        cout = width * 2 ** stage
        for blk in range((depth - 2) // 6):
            name = f"s{stage + 1}b{blk + 1}"
            stride = 2 if stage > 0 and blk == 0 else 1
            h = _conv_bn(out, f"{name}.a", x, cout, 3, stride, True)
            h = _conv_bn(out, f"{name}.b", h, cout, 3, 1, False)
            x, cin = _residual(out, name, x, h, cin, cout, stride), cout
    out += [layer("global_avgpool", "pool", [x]), layer("linear", "fc", out_features=classes)]
    return out


def lrt_cnn_layers(width: int, hidden: int, classes: int) -> list[LayerSpec]:
    """The LRT paper's network (Gural et al. 2020): conv3x3 (no padding) -> ReLU -> conv3x3
    -> ReLU -> maxpool2 -> streaming BN, twice; FC -> ReLU -> FC. The paper uses 128 channels
    and FC 2048 -> 512 on 28x28 inputs; width and hidden scale it to smaller inputs."""
    out: list[LayerSpec] = []
    for blk in (1, 2):
        for j in (1, 2):
            out += [layer("conv", f"b{blk}c{j}.conv", out_channels=width, kernel=3, padding=0),
                    layer("relu", f"b{blk}c{j}.relu")]
        out += [layer("maxpool", f"b{blk}.pool", kernel=2), layer("batchnorm", f"b{blk}.bn")]
    out += [layer("flatten", "flat"), layer("linear", "fc1", out_features=hidden),
            layer("relu", "fc1.relu"), layer("linear", "fc2", out_features=classes)]
    return out


def vgg_layers(width: int, hidden: int, classes: int) -> list[LayerSpec]:
    """VGG-8 as NeuroSim's CIFAR-10 benchmark network (Peng et al., IEDM 2019; DNN+NeuroSim
    V1.3): conv3x3 w, w, maxpool, 2w, 2w, maxpool, 4w, 4w, maxpool, FC hidden, FC classes,
    ReLU after each but the last, no batch norm. NeuroSim's: w = 128, hidden = 1024."""
    out: list[LayerSpec] = []
    for stage, c in enumerate((width, 2 * width, 4 * width)):
        for j in (1, 2):
            out += [layer("conv", f"c{2 * stage + j}", out_channels=c),
                    layer("relu", f"c{2 * stage + j}.relu")]
        out.append(layer("maxpool", f"pool{stage + 1}", kernel=2))
    out += [layer("flatten", "flat"), layer("linear", "fc1", out_features=hidden),
            layer("relu", "fc1.relu"), layer("linear", "fc2", out_features=classes)]
    return out


def imagenet_resnet_layers(blocks: tuple[int, ...], bottleneck: bool, width: int,
                           classes: int) -> list[LayerSpec]:
    """ImageNet ResNet (He et al. 2016, torchvision's v1.5: stride on the 3x3 conv): 7x7/2
    stem, 3x3/2 max pool, four stages of widths w, 2w, 4w, 8w (bottleneck: x4 outputs),
    1x1 projection shortcuts where the shape changes, global pool, FC."""
    out: list[LayerSpec] = []
    x = _conv_bn(out, "stem", "input", width, 7, 2, True, pad=3)
    out.append(layer("maxpool", "stem.pool", kernel=3, stride=2, padding=1))
    x, cin = "stem.pool", width
    for stage, n in enumerate(blocks):
        mid = width * 2 ** stage
        cout = mid * 4 if bottleneck else mid
        for blk in range(n):
            name = f"l{stage + 1}b{blk + 1}"
            stride = 2 if stage > 0 and blk == 0 else 1
            if bottleneck:
                h = _conv_bn(out, f"{name}.a", x, mid, 1, 1, True)
                h = _conv_bn(out, f"{name}.b", h, mid, 3, stride, True)
                h = _conv_bn(out, f"{name}.c", h, cout, 1, 1, False)
            else:
                h = _conv_bn(out, f"{name}.a", x, mid, 3, stride, True)
                h = _conv_bn(out, f"{name}.b", h, mid, 3, 1, False)
            x, cin = _residual(out, name, x, h, cin, cout, stride), cout
    out += [layer("global_avgpool", "pool", [x]), layer("linear", "fc", out_features=classes)]
    return out


def resnet18_layers(width: int, classes: int) -> list[LayerSpec]:
    """ImageNet ResNet-18 (He et al. 2016): basic blocks 2-2-2-2; width 64: torchvision's."""
    return imagenet_resnet_layers((2, 2, 2, 2), False, width, classes)


def resnet50_layers(width: int, classes: int) -> list[LayerSpec]:
    """ImageNet ResNet-50 (He et al. 2016): bottlenecks 3-4-6-3; width 64: torchvision's."""
    return imagenet_resnet_layers((3, 4, 6, 3), True, width, classes)


class NetworkModel(ABC):
    """A network family the workload names by `model.name` (plugins.py, kind "model";
    entry-point group `cimsim.models`): it turns the workload's model keys (depth, width,
    hidden) into a layer list, which cimsim builds, trains, maps and costs like any other."""

    @abstractmethod
    def layers(self, spec: ModelSpec, classes: int) -> list[LayerSpec]:
        """The network's layers (config.workload.LayerSpec) for `classes` outputs."""

    def label(self, spec: ModelSpec) -> str:
        """Short name of the network for reports."""
        return spec.name


class Resnet(NetworkModel):
    """CIFAR-style ResNet of depth 6n+2 (He et al. 2016): 3 stages of basic blocks."""

    def layers(self, spec: ModelSpec, classes: int) -> list[LayerSpec]:
        return resnet_layers(spec.depth, spec.width, classes)

    def label(self, spec: ModelSpec) -> str:
        return f"resnet-{spec.depth}"


class LrtCnn(NetworkModel):
    """The LRT paper's small CNN (Gural et al. 2020)."""

    def layers(self, spec: ModelSpec, classes: int) -> list[LayerSpec]:
        return lrt_cnn_layers(spec.width, spec.hidden, classes)


class Vgg(NetworkModel):
    """VGG-8 as NeuroSim's CIFAR-10 benchmark network (Peng et al., IEDM 2019): 6 convs, 2 FC."""

    def layers(self, spec: ModelSpec, classes: int) -> list[LayerSpec]:
        return vgg_layers(spec.width, spec.hidden, classes)


class Resnet18(NetworkModel):
    """ImageNet ResNet-18 (He et al. 2016): basic blocks 2-2-2-2."""

    def layers(self, spec: ModelSpec, classes: int) -> list[LayerSpec]:
        return resnet18_layers(spec.width, classes)


class Resnet50(NetworkModel):
    """ImageNet ResNet-50 (He et al. 2016): bottleneck blocks 3-4-6-3."""

    def layers(self, spec: ModelSpec, classes: int) -> list[LayerSpec]:
        return resnet50_layers(spec.width, classes)


def model_layers(spec: ModelSpec, classes: int) -> list[LayerSpec]:
    """The layer list of a registered network or of `model.layers`."""
    if spec.name == "layers":
        return list(spec.layers)
    return plugins.load("model", spec.name)().layers(spec, classes)


def model_label(spec: ModelSpec) -> str:
    """Short name of the network for reports."""
    if spec.name == "onnx":
        return f"onnx:{spec.onnx.replace(chr(92), '/').rsplit('/', 1)[-1]}"
    if spec.name == "layers":
        return spec.name
    return plugins.load("model", spec.name)().label(spec)


def build_model(spec: ModelSpec, input_shape: tuple[int, ...], classes: int, seed: int,
                shapes_only: bool = False) -> Net:
    """The untrained network (weights drawn from `seed`) for one input of `input_shape`;
    `shapes_only`: no weights at all (zero views), for validation and cost-only runs."""
    return net_from_layers(model_layers(spec, classes), input_shape, classes, seed, shapes_only)
