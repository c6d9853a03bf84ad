"""The PyTorch on-ramp (examples/torch_model): a torchvision-style ResNet exported with
torch.onnx.export runs in cimsim with PyTorch's float logits and accuracy.

The shipped export is tested everywhere (it needs only the onnx package); the export itself is
tested where torch is installed, with both of torch's exporters."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

pytest.importorskip("onnx")

from cimsim.cli import main  # noqa: E402
from cimsim.config import load_workload  # noqa: E402
from cimsim.nn.network import workload_data  # noqa: E402
from cimsim.nn.onnx_import import load_onnx  # noqa: E402


@pytest.fixture(scope="module")
def example(root):
    return root / "examples" / "torch_model"


def test_shipped_export_gives_pytorchs_logits_and_accuracy(example, tmp_path, monkeypatch):
    """cimsim's float engine on the shipped file against the logits PyTorch computed before
    exporting it (float32 through a different summation order: 1e-4 relative is ~1000 ulp), and
    the run's report states PyTorch's accuracy."""
    w = load_workload(example / "workload.yaml").spec
    data = workload_data(w, str(example / "workload.yaml"))
    net = load_onnx(example / "digits_resnet.onnx", data.input_shape, data.classes, "workload.yaml")
    ref = np.load(example / "digits_resnet.logits.npz")
    logits = net.forward(data.x_test.astype(np.float32))
    np.testing.assert_allclose(logits, ref["logits"], rtol=1e-4, atol=1e-4)
    acc = float((logits.argmax(1) == data.y_test).mean())
    assert acc == float(ref["accuracy"]) > 0.9
    kinds = {n.kind for n in net.nodes}
    assert {"conv", "maxpool", "add", "avgpool", "linear"} <= kinds       # the ResNet's operators
    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    wl = tmp_path / "w.yaml"
    wl.write_text((example / "workload.yaml").read_text().replace(
        "digits_resnet.onnx", str(example / "digits_resnet.onnx")).replace(
        "split: test}", "split: test, samples: 16}"))
    assert main(["-q", "run", str(example.parent.parent / "arch" / "rram_64x64.yaml"), str(wl),
                 "--out", str(tmp_path / "o")]) == 0
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["model"]["float_test_accuracy"] == pytest.approx(float(ref["accuracy"]), abs=1e-12)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("size", ["example", "resnet18"])
def test_torch_export_runs_with_the_same_logits(example, tmp_path, dynamo, size):
    """A freshly exported model (random weights, non-trivial batch-norm statistics, eval mode)
    gives PyTorch's logits in cimsim, for the example's network and for resnet18's shape."""
    torch = pytest.importorskip("torch")
    if dynamo:
        pytest.importorskip("onnxscript")
    spec = importlib.util.spec_from_file_location("export_resnet", example / "export_resnet.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    if size == "resnet18":
        model, shape = mod.resnet((64, 128, 256, 512), (2, 2, 2, 2), 3, 10, stem_kernel=7), (3, 32, 32)
    else:
        model, shape = mod.resnet(), (1, 16, 16)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()
    path = tmp_path / "m.onnx"
    mod.export(model, shape, path, dynamo=dynamo)
    x = np.random.default_rng(1).random((3, *shape), dtype=np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    c, h, wd = shape
    net = load_onnx(path, (h, wd, c), 10, "w.yaml")
    got = net.forward(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    scale = float(np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)
    if size == "resnet18":          # torchvision's resnet18 (11,689,512) with a 10-class head
        assert sum(t.numel() for t in model.parameters()) == 11_689_512 - 513_000 + 5_130


def test_external_data_export_names_the_switch(tmp_path):
    """torch.onnx.export writes weights beside the file unless external_data=False: the error
    says how to re-export."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from cimsim.errors import ConfigError

    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])], [w]),
        opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "m.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="m.onnx.data", size_threshold=0)
    with pytest.raises(ConfigError, match=r"external_data=False"):
        load_onnx(path, (4,), 3, "w.yaml")


def test_reduce_mean_over_space_is_a_global_pool_and_other_axes_are_refused(tmp_path):
    """PyTorch's dynamo exporter writes AdaptiveAvgPool2d((1, 1)) as ReduceMean over axes
    (-1, -2): cimsim's global average pool. A mean over channels is refused, located."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from cimsim.errors import ConfigError

    def graph(axes):
        nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["m"], name="mean", keepdims=1),
                 helper.make_node("Reshape", ["m", "shape"], ["f"], name="flat"),
                 helper.make_node("Gemm", ["f", "w"], ["y"], name="fc", transB=1)]
        inits = [numpy_helper.from_array(np.array(axes, np.int64), "axes"),
                 numpy_helper.from_array(np.array([-1, 2], np.int64), "shape"),
                 numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2), "w")]
        m = helper.make_model(helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2, 3, 3])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])], inits),
            opset_imports=[helper.make_opsetid("", 18)])
        p = tmp_path / "m.onnx"
        onnx.save(m, str(p))
        return p

    net = load_onnx(graph([-1, -2]), (3, 3, 2), 3, "w.yaml")
    x = np.random.default_rng(2).random((2, 3, 3, 2), dtype=np.float32)
    want = x.mean(axis=(1, 2)) @ np.arange(6, dtype=np.float32).reshape(3, 2).T
    np.testing.assert_allclose(net.forward(x), want, rtol=1e-6)
    with pytest.raises(ConfigError, match=r"mean over the H and W axes.*\[1\].*node 'mean'"):
        load_onnx(graph([1]), (3, 3, 2), 3, "w.yaml")
