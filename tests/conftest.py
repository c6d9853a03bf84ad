"""Shared fixtures. The pretrain cache lives in a per-session folder so tests are hermetic,
unless CIMSIM_TEST_CACHE names a folder to keep it in between sessions (the edit loop:
entries are content-hashed, so a stale or altered one is rebuilt, never trusted)."""
import os
import tempfile

os.environ["CIMSIM_CACHE"] = (os.environ.get("CIMSIM_TEST_CACHE")
                              or tempfile.mkdtemp(prefix="cimsim-test-cache-"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures a test draws are closed after it (matplotlib keeps pyplot figures open)."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="session")
def inference_workload():
    from cimsim.config import load_workload

    return load_workload(ROOT / "workloads" / "resnet_inference.yaml")


@pytest.fixture(scope="session")
def trained(inference_workload):
    """(net, dataset) of the shipped inference workload, pretrained once per session."""
    from cimsim.nn.data import load_dataset
    from cimsim.pretrain import pretrained_model

    w = inference_workload.spec
    data = load_dataset(w.dataset, w.seed)
    net, _ = pretrained_model(w, data)
    return net, data
