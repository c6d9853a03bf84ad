"""The workload's data and network: which dataset, which graph, which weights.

A network is a built-in, a layer list (`model.layers`) or an ONNX file (`model.onnx`).
Built-ins and layer lists are pretrained in float (cimsim/pretrain.py, cached); an ONNX
model carries its trained weights; a cost-only run (`deploy.functional: false`) needs no
weights at all.
"""
from __future__ import annotations

from pathlib import Path

from .. import plugins
from ..config.workload import WorkloadSpec
from ..errors import ConfigError
from ..util import file_sha256
from . import idx
from .data import Dataset, load_dataset
from .layers import Net
from .models import build_model


def _shape_from_spec(dims: list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """[C, H, W] -> (H, W, C); [F] -> (F,)."""
    return (dims[1], dims[2], dims[0]) if len(dims) == 3 else tuple(dims)


def _base(workload_file: str) -> Path:
    return Path(workload_file).parent if workload_file else Path(".")


def input_files(w: WorkloadSpec, workload_file: str = "") -> dict[str, Path]:
    """The files besides the YAML that a run reads, by the key that names them."""
    out = {}
    if w.dataset.name == "npz":
        out["dataset.path"] = Path(w.dataset.path)
    if w.dataset.name in ("fashion_mnist", "idx"):
        try:
            files = idx.find_files(w.dataset.name, w.dataset.dir, _base(workload_file),
                                   workload_file or "workload")
        except ConfigError:
            files = {}                          # not found: the data load names the folders searched
        out.update({f"dataset.{part}": path for part, path in files.items()})
    if w.model.onnx:
        out["model.onnx"] = Path(w.model.onnx)
    return {k: p if p.is_absolute() else _base(workload_file) / p for k, p in out.items()}


def input_hashes(w: WorkloadSpec, workload_file: str = "") -> dict[str, str]:
    """sha256 of each file a run reads besides the YAML (input_files, and the source of a
    model plugin named by import path): what the model cache key, a sweep point's hash and
    the report record, so a changed file is never mistaken for the old one."""
    hashes = {k: file_sha256(p) for k, p in input_files(w, workload_file).items()}
    hashes.update(plugins.source_hashes(w.model.name))      # a model plugin's code shapes the net
    return {k: v for k, v in sorted(hashes.items()) if v is not None}


def workload_data(w: WorkloadSpec, workload_file: str = "", shapes_only: bool = False) -> Dataset:
    """The workload's dataset, its input shape checked against model.input_shape.
    `shapes_only` (validation, cost-only runs): synthetic inputs are not drawn."""
    given = _shape_from_spec(w.model.input_shape) if w.model.input_shape else ()
    data = load_dataset(w.dataset, w.seed, _base(workload_file), given, shapes_only,
                        workload_file or "workload")
    if given and data.input_shape != given:
        shown = data.input_shape
        shown = [shown[2], shown[0], shown[1]] if len(shown) == 3 else list(shown)
        raise ConfigError(workload_file or "workload", "model.input_shape",
                          f"the dataset's input shape {shown} (or no input_shape)", list(w.model.input_shape))
    return data


def untrained_net(w: WorkloadSpec, data: Dataset, workload_file: str = "", shapes_only: bool = False) -> Net:
    """The workload's network with initial weights (ONNX: the file's weights); `shapes_only`
    (validation, cost-only runs): a built-in or layer list holds no weights at all."""
    if w.model.name == "onnx":
        from .onnx_import import load_onnx

        path = Path(w.model.onnx)
        if not path.is_absolute():
            path = _base(workload_file) / path
        return load_onnx(path, data.input_shape, data.classes, workload_file or "workload")
    from .graph import GraphError

    try:
        return build_model(w.model, data.input_shape, data.classes, w.seed, shapes_only)
    except GraphError as e:
        key = f"model.layers[{e.index}]" + (f".{e.key}" if e.key else "") if w.model.name == "layers" \
            else "model"
        raise ConfigError(workload_file or "workload", key, e.expected, e.got) from None
