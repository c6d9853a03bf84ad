"""Train a torchvision-style ResNet in PyTorch on the bundled digits and export it with
torch.onnx.export for cimsim: the PyTorch on-ramp.

    pip install torch==2.13.0 onnx onnxscript   # any torch >= 2.1 with the ONNX exporter
    pip install -e .                             # cimsim, for the digits split it trains on
    python examples/torch_model/export_resnet.py --out my_resnet.onnx
    cimsim run arch/rram_64x64.yaml examples/torch_model/workload.yaml   # runs the shipped file

The model is torchvision's ResNet (BasicBlock, 1x1 downsample with batch norm, max-pool stem,
AdaptiveAvgPool2d, torch.flatten, Linear), small enough for 16x16 digits. Any model of the
operators cimsim maps (docs/models.md, "ONNX models") follows the same recipe: put it in
eval() mode and export it with `external_data=False`, NCHW input of one sample's shape, a
dynamic batch axis. The exporter folds batch norm into the convolutions, so cimsim counts
fewer parameters than PyTorch does; the logits are the same.

Besides the .onnx file the script writes `<out>.logits.npz`: PyTorch's logits on the test split
and its accuracy, which tests/test_torch_export.py holds cimsim's import of the file to.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def resnet(widths: tuple[int, ...] = (16, 32), blocks: tuple[int, ...] = (1, 1), in_channels: int = 1,
           classes: int = 10, stem_kernel: int = 3):
    """torchvision.models.resnet.ResNet with BasicBlock, sized by `widths` and `blocks`
    (torchvision's resnet18: widths (64, 128, 256, 512), blocks (2, 2, 2, 2), stem_kernel 7)."""
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, widths[0], stem_kernel, 2 if stem_kernel == 7 else 1,
                                   stem_kernel // 2, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            layers, cin = [], widths[0]
            for i, (w, n) in enumerate(zip(widths, blocks)):
                for j in range(n):
                    layers.append(BasicBlock(cin, w, 2 if i > 0 and j == 0 else 1))
                    cin = w
            self.layers = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(cin, classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.avgpool(self.layers(x))
            return self.fc(torch.flatten(x, 1))

    return ResNet()


def export(model, sample_shape: tuple[int, int, int], path: Path, dynamo: bool = True) -> None:
    """Export `model` (eval mode) as cimsim reads it: weights inside the file, NCHW input of
    `sample_shape` (C, H, W) with a dynamic batch axis."""
    import torch

    model.eval()
    x = torch.zeros((2, *sample_shape))
    if dynamo:
        torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    else:
        batch = {0: "batch"}
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": batch, "logits": batch})


def train(model, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:
    """Plain Adam on cross-entropy, mini-batches of 32 in a seeded order."""
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=g).split(32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()


def main(argv: list[str] | None = None) -> None:
    import torch

    from cimsim.config import load_workload
    from cimsim.nn.network import workload_data
    from cimsim.nn.onnx_import import load_onnx

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="digits_resnet.onnx",
                   help="where to write the model (default: digits_resnet.onnx in the current folder)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo",
                   help="torch.onnx.export's exporter (dynamo: torch's default since 2.9)")
    args = p.parse_args(argv)
    w = load_workload(HERE / "workload.yaml").spec
    data = workload_data(w, str(HERE / "workload.yaml"))       # the split cimsim will test on
    nchw = lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2), np.float32)  # noqa: E731
    torch.manual_seed(w.seed)                                   # the initial weights too
    model = resnet(in_channels=data.input_shape[2], classes=data.classes)
    train(model, nchw(data.x_train), data.y_train, args.epochs, w.seed)
    with torch.no_grad():
        logits = model(torch.from_numpy(nchw(data.x_test))).numpy()
    acc = float((logits.argmax(1) == data.y_test).mean())
    out = Path(args.out)
    export(model, nchw(data.x_test[:1]).shape[1:], out, dynamo=args.exporter == "dynamo")
    np.savez(out.with_suffix(".logits.npz"), logits=logits, accuracy=acc)
    n_torch = sum(t.numel() for t in model.parameters())
    n_cimsim = load_onnx(out, data.input_shape, data.classes, str(out)).parameter_count()
    print(f"{out}: float test accuracy {acc:.4f} (PyTorch); {n_torch} parameters in PyTorch, {n_cimsim} "
          "in cimsim (batch norm folded into the convolutions by the exporter)")


if __name__ == "__main__":
    main()
