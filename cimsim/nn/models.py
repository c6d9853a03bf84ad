"""Model builders."""
from __future__ import annotations

import numpy as np

from ..config.workload import ModelSpec
from .layers import Add, BatchNorm, Conv2d, Flatten, GlobalAvgPool, Linear, MaxPool2, Net, Node, ReLU


def resnet(depth: int, width: int, in_ch: int, classes: int, seed: int) -> Net:
    """CIFAR-style ResNet (He et al. 2016): 3 stages of (depth-2)/6 basic blocks,
    widths w, 2w, 4w, stride 2 between stages, 1x1 projection shortcuts."""
    rng = np.random.default_rng(seed)
    nodes: list[Node] = []

    def conv_bn(name: str, inp: str, cin: int, cout: int, k: int, stride: int, relu: bool) -> str:
        nodes.append(Conv2d(f"{name}.conv", inp, cin, cout, k, stride, k // 2, rng))
        nodes.append(BatchNorm(f"{name}.bn", f"{name}.conv", cout))
        if relu:
            nodes.append(ReLU(f"{name}.relu", (f"{name}.bn",)))
            return f"{name}.relu"
        return f"{name}.bn"

    x = conv_bn("stem", "input", in_ch, width, 3, 1, True)
    cin = width
    blocks = (depth - 2) // 6
    for stage in range(3):
        cout = width * 2 ** stage
        for blk in range(blocks):
            name = f"s{stage + 1}b{blk + 1}"
            stride = 2 if stage > 0 and blk == 0 else 1
            h = conv_bn(f"{name}.a", x, cin, cout, 3, stride, True)
            h = conv_bn(f"{name}.b", h, cout, cout, 3, 1, False)
            short = x if (stride == 1 and cin == cout) else conv_bn(f"{name}.sc", x, cin, cout, 1,
                                                                  stride, False)
            nodes.append(Add(f"{name}.add", (h, short)))
            nodes.append(ReLU(f"{name}.out", (f"{name}.add",)))
            x, cin = f"{name}.out", cout
    nodes.append(GlobalAvgPool("pool", (x,)))
    nodes.append(Linear("fc", "pool", cin, classes, rng))
    return Net(nodes)


def lrt_cnn(width: int, hidden: int, in_ch: int, classes: int, image: int, seed: int) -> Net:
    """The LRT paper's network (Gural et al. 2020): conv3x3 (no padding) -> ReLU -> conv3x3
    -> ReLU -> maxpool2 -> streaming BN, twice; FC -> ReLU -> FC. The paper uses 128 channels
    and FC 2048 -> 512 on 28x28 inputs; width and hidden scale it to smaller inputs."""
    rng = np.random.default_rng(seed)
    nodes: list[Node] = []
    x, cin, size = "input", in_ch, image
    for blk in (1, 2):
        for j in (1, 2):
            name = f"b{blk}c{j}"
            nodes += [Conv2d(f"{name}.conv", x, cin, width, 3, 1, 0, rng),
                      ReLU(f"{name}.relu", (f"{name}.conv",))]
            x, cin, size = f"{name}.relu", width, size - 2
        nodes += [MaxPool2(f"b{blk}.pool", (x,)), BatchNorm(f"b{blk}.bn", f"b{blk}.pool", width)]
        x, size = f"b{blk}.bn", size // 2
    nodes.append(Flatten("flat", (x,)))
    nodes += [Linear("fc1", "flat", width * size * size, hidden, rng), ReLU("fc1.relu", ("fc1",)),
              Linear("fc2", "fc1.relu", hidden, classes, rng)]
    return Net(nodes)


def build_model(spec: ModelSpec, in_ch: int, classes: int, seed: int, image: int = 16) -> Net:
    if spec.name == "lrt_cnn":
        return lrt_cnn(spec.width, spec.hidden, in_ch, classes, image, seed)
    return resnet(spec.depth, spec.width, in_ch, classes, seed)
