"""Fuzz cimsim's inputs at scale and count the outcomes (issues 17 and 25): mutated arch and
workload files run end to end on a tiny cost-only network, `--set` forms, raw YAML text
through `cimsim validate`, and the newer surfaces: npz data files, ONNX graphs (built with
onnx.helper), `model.layers` lists and Python API arguments. Each input must end in exit 0
or 2 (one stderr line; the API: a report or a CimsimError), never a traceback or a hang; the
tallies are printed per family.

Run: python benchmarks/fuzz_inputs.py [--examples 500] [--seed 0]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_fuzz import WORKLOAD  # noqa: E402

from cimsim.testing.fuzz import (  # noqa: E402
    NPZ_WORKLOAD,
    ONNX_WORKLOAD,
    Tally,
    api_call,
    key_paths,
    mutate,
    random_layers,
    random_npz,
    random_onnx,
    run_cli,
    write_yaml,
)


def value(rng: random.Random) -> object:
    """A hostile or odd value."""
    return rng.choice([
        None, True, False, 0, -1, 1, 2**31, 2**70, -2**70, float("nan"), float("inf"), -float("inf"),
        1e-300, 1e300, 0.5, -0.5, "", "x", "1.0e6", "../..", "\ud7ff", [], [0], [[1]], {}, {"a": 1},
        rng.randint(-10, 5000), rng.uniform(-2, 2), "".join(rng.choice("ab:-[]{}&*!0.9 ") for _ in range(8)),
        ...,
    ])


def yaml_text(rng: random.Random) -> str:
    alphabet = "ab:-[]{}&*!|>'\"#\n\t ,.0123456789e+\\x%@`?<"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 160)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=500, help="inputs per family")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        os.environ["CIMSIM_CACHE"] = str(d / "cache")
        arch = yaml.safe_load((ROOT / "arch" / "rram_64x64.yaml").read_text())
        work = yaml.safe_load(WORKLOAD)
        tallies = {k: Tally() for k in ("arch mutations", "workload mutations", "--set forms", "raw YAML",
                                        "npz files", "ONNX graphs", "layer lists", "API arguments")}
        run = ["-q", "run", str(d / "a.yaml")]
        for _ in range(args.examples):
            path = rng.choice(key_paths(arch))
            write_yaml(d / "a.yaml", mutate(arch, path, value(rng)))
            write_yaml(d / "w.yaml", work)
            tallies["arch mutations"].add(run_cli(["-q", "run", str(d / "a.yaml"), str(d / "w.yaml"),
                                                   "--out", str(d / "o")]), f"arch {path}")
            path = rng.choice(key_paths(work))
            write_yaml(d / "a.yaml", arch)
            write_yaml(d / "w.yaml", mutate(work, path, value(rng)))
            tallies["workload mutations"].add(run_cli(["-q", "run", str(d / "a.yaml"), str(d / "w.yaml"),
                                                       "--out", str(d / "o")]), f"workload {path}")
            write_yaml(d / "w.yaml", work)
            keys = ".".join(str(k) for k in rng.choice(key_paths(arch) + key_paths(work)))
            v = value(rng)
            text = "" if v is ... else yaml.safe_dump(v).strip().removesuffix("...").strip()
            item = f"{rng.choice(['arch', 'workload', 'x'])}.{keys}={text}"
            tallies["--set forms"].add(run_cli(["-q", "run", str(d / "a.yaml"), str(d / "w.yaml"),
                                                "--out", str(d / "o"), "--set", item]), item)
            (d / "x.yaml").write_text(yaml_text(rng))
            tallies["raw YAML"].add(run_cli(["validate", str(d / "x.yaml")], seconds=10.0), "raw")
            write_yaml(d / "a.yaml", arch)
            random_npz(rng, d / "data.npz")
            (d / "npz.yaml").write_text(NPZ_WORKLOAD)
            tallies["npz files"].add(run_cli([*run, str(d / "npz.yaml"), "--out", str(d / "o")]), "npz")
            random_onnx(rng, d / "m.onnx")
            (d / "onnx.yaml").write_text(ONNX_WORKLOAD)
            tallies["ONNX graphs"].add(run_cli([*run, str(d / "onnx.yaml"), "--out", str(d / "o")]), "onnx")
            layers = random_layers(rng)
            write_yaml(d / "l.yaml", {**work, "model": {"layers": layers}})
            tallies["layer lists"].add(run_cli([*run, str(d / "l.yaml"), "--out", str(d / "o")]), str(layers))
            tallies["API arguments"].add(api_call(rng, d / "a.yaml", d / "w.yaml"), "api")
    head = ("family", "tried", "exit 0", "exit 2", "traceback", "hang", "other")
    print(f"{head[0]:<20} " + " ".join(f"{h:>9}" for h in head[1:]))
    for name, t in tallies.items():
        counts = (t.tried, t.ok, t.exit2, t.traceback, t.hang, t.other)
        print(f"{name:<20} " + " ".join(f"{v:>9}" for v in counts))
        for ex in t.examples:
            print(f"    {ex}")


if __name__ == "__main__":
    main()
