"""Scale of cimsim on networks a CIM paper uses (issue 15's numbers; not a timed test).

1. Cost-only runs (deploy.functional: false) of ResNet-18 and ResNet-50 at 224x224 on an
   ISAAC-sized chip: wall time and peak RSS of the whole `cimsim run` process, each in a
   fresh process (targets: ResNet-18 <= 30 s and <= 2 GB, ResNet-50 <= 60 s).
2. The functional simulation rate: simulated MACs per wall second of the analog functional
   run (`functional.run`) of a ResNet-20 at width 32 on 32x32x3 inputs (target >= 2 GMAC/s),
   and its peak RSS at two image counts (memory must not grow with the images: batches are
   streamed and only logits are kept).
3. Conv backward inside the online loop (batch 1) with one BLAS thread (as shipped:
   train/online.py) and with the default threads, which stall on contention for the cores.

Run: python benchmarks/bench_scale.py [--images 256] [--skip-cost]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ARCH = ROOT / "arch" / "rram_128x128_chip.yaml"


WORKLOAD = ROOT / "workloads" / "resnet18_imagenet_shapes.yaml"


def cost_only(model: str) -> tuple[float, float, dict]:
    """(wall s, peak RSS GB, report) of `cimsim run` of the shipped ResNet-18 workload with
    model.name = `model`, in a fresh process."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-c", textwrap.dedent(f"""\
            import resource, sys, time
            t = time.perf_counter()
            from cimsim.cli import main
            rc = main(["-q", "run", {str(ARCH)!r}, {str(WORKLOAD)!r},
                       "--set", "workload.model.name={model}", "--out", {out!r}])
            print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            sys.exit(rc)
            """)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall, rss_kb = done.stdout.split()[-2:]
        rep = json.loads((Path(out) / "report.json").read_text())
    return float(wall), int(rss_kb) / 2**20, rep


def functional_rate(images: int) -> None:
    """Simulated GMAC/s of the functional run, and peak RSS after it (this process)."""
    from cimsim.config import load_arch, load_workload
    from cimsim.deploy import deploy
    from cimsim.functional import run
    from cimsim.nn.network import untrained_net, workload_data
    from cimsim.session import Session

    text = textwrap.dedent(f"""\
        name: resnet20_w32
        dataset: {{name: synthetic, shape: [3, 32, 32], train_samples: 64, test_samples: {images}}}
        model: {{name: resnet, depth: 20, width: 32}}
        deploy: {{calibration_images: 64}}
        phases: [{{name: t, kind: inference}}]
        """)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    w = load_workload(f.name).spec
    a = load_arch(ROOT / "arch" / "rram_64x64.yaml", {"chip.tiles": "512"}).spec
    data = workload_data(w)
    net = untrained_net(w, data)
    dep = deploy(Session.of(a, w, data=data), net)
    rss_deployed = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    shapes = net.shapes(data.input_shape)
    macs = 0
    for n in net.weight_layers():
        vec = shapes[n.name][0] * shapes[n.name][1] if len(shapes[n.name]) == 3 else 1
        macs += vec * n.W.shape[0] * n.W.shape[1]
    run(dep.net, dep.engines, data.x_test[:64], a)                # warm-up (numba, pools)
    t = time.perf_counter()
    run(dep.net, dep.engines, data.x_test, a)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    params = sum(n.W.size for n in net.weight_layers())
    # the floor of this formulation: one float32 GEMM per input plane over every crossbar
    # (row chunks x rows) and column (slices x outputs), on the same shapes, 64 images
    rng = np.random.default_rng(0)
    gemm_s = flops = 0.0
    planes = a.input_planes
    for n in net.weight_layers():
        e = dep.engines[n.name]
        vec = (shapes[n.name][0] * shapes[n.name][1] if len(shapes[n.name]) == 3 else 1) * 64
        xt = rng.random((e.g.shape[0], planes * vec, e.g.shape[1]), dtype=np.float32)
        np.matmul(xt, e.g)
        t0 = time.perf_counter()
        np.matmul(xt, e.g)
        gemm_s += (time.perf_counter() - t0) * images / 64
        flops += 2.0 * xt.shape[0] * xt.shape[1] * xt.shape[2] * e.g.shape[2] * images / 64
    print(f"functional run, ResNet-20 w32 ({params / 1e6:.2f} M weights, {macs / 1e6:.1f} MMAC/image), "
          f"{images} images: {dt:.2f} s, {macs * images / dt / 1e9:.3f} GMAC/s simulated "
          f"(target >= 2); peak RSS {rss:.2f} GB (after deploy {rss_deployed:.2f} GB)\n"
          f"  floor: the per-plane GEMMs alone take {gemm_s:.2f} s ({flops / gemm_s / 1e9:.0f} GFLOP/s, "
          f"{flops / 2 / (macs * images):.1f} float MACs per network MAC): at most "
          f"{macs * images / gemm_s / 1e9:.2f} GMAC/s with a free ADC stage")


def conv_backward_in_online_loop(one_blas_thread: bool) -> None:
    """Per-call conv backward times inside the online loop (300 LRT samples of the paper's
    CNN), as shipped (one BLAS thread in the loop) or with the default BLAS threads."""
    import cimsim.learning.online as online
    from cimsim.cli import main as cli
    from cimsim.nn import layers

    if not one_blas_thread:
        class _Default:
            def restore_original_limits(self) -> None:
                return None

        online.threadpool_limits = lambda *a, **k: _Default()
    orig, times = layers.Conv2d.backward, []

    def timed(self, g):
        t = time.perf_counter()
        out = orig(self, g)
        times.append(time.perf_counter() - t)
        return out

    layers.Conv2d.backward = timed
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        cli(["-q", "run", str(ROOT / "arch" / "rram_64x64.yaml"),
             str(ROOT / "workloads" / "lrt_paper_cnn.yaml"),
             "--set", "workload.phases.1.samples=300", "--out", out])
    t = np.array(times[-1200:]) * 1e3                       # the online phase's calls
    label = "one BLAS thread (shipped)" if one_blas_thread else "default BLAS threads"
    print(f"conv backward in the online loop, {label}: median {np.median(t):.3f} ms, "
          f"p99 {np.percentile(t, 99):.2f} ms, max {t.max():.2f} ms over {len(t)} calls")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=256, help="images of the functional-rate run")
    p.add_argument("--skip-cost", action="store_true")
    args = p.parse_args()
    print(f"cores: {os.cpu_count()}")
    if not args.skip_cost:
        for model, limit in (("resnet18", 30.0), ("resnet50", 60.0)):
            wall, gb, rep = cost_only(model)
            ph = rep["phases"][0]
            print(f"cost-only {model} 224x224 on {ARCH.name}: {wall:.1f} s wall (target <= {limit:.0f}), "
                  f"peak RSS {gb:.2f} GB (target <= 2); {rep['mapping']['tiles_used']} tiles, "
                  f"{ph['energy']['per_image_pj'] * 1e-9:.3f} mJ/image, "
                  f"{ph['latency']['first_image_latency_s'] * 1e3:.2f} ms latency/image")
    for n in (args.images // 4, args.images):
        subprocess.run([sys.executable, __file__, "--_rate", str(n)], check=True)
    for one in ("1", "0"):
        subprocess.run([sys.executable, __file__, "--_backward", one], check=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--_rate":
        functional_rate(int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--_backward":
        conv_backward_in_online_loop(sys.argv[2] == "1")
    else:
        main()
