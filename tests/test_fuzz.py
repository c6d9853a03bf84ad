"""Property-based fuzzing of the inputs (hypothesis): mutated arch and workload files run
end to end (a tiny cost-only network, so every example is a whole `cimsim run`), and raw
YAML text is validated. Every example must end in exit 0 or 2, with one line on stderr at
most, no traceback and no hang. benchmarks/fuzz_inputs.py runs many more and counts them."""
import textwrap

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cimsim.testing.fuzz import key_paths, mutate, run_cli, write_yaml  # noqa: E402

WORKLOAD = textwrap.dedent("""\
    name: fuzz
    seed: 0
    dataset: {name: synthetic, shape: [4, 6, 6], classes: 3, train_samples: 8, test_samples: 2}
    model:
      layers:
        - {type: conv, out_channels: 4, bias: true}
        - {type: relu}
        - {type: maxpool}
        - {type: flatten}
        - {type: linear}
    deploy: {functional: false}
    phases:
      - {name: t, kind: inference}
    """)

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**80, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.integers(-3, 300), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.just(...),                               # delete the key
)
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _check(o):
    assert not o.hang, f"hang: {o.stderr[-300:]}"
    assert not o.traceback, o.stderr[-500:]
    assert o.code in (0, 2), (o.code, o.stderr[-300:])
    if o.code == 2:
        assert o.stderr.count("\n") == 1, o.stderr


@pytest.fixture(scope="module")
def files(root, tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    arch = yaml.safe_load((root / "arch" / "rram_64x64.yaml").read_text())
    work = yaml.safe_load(WORKLOAD)
    return d, arch, work


@pytest.mark.parametrize("which", ["arch", "workload"])
@SETTINGS
@given(data=st.data())
def test_mutated_files_run_or_are_refused(files, which, data):
    d, arch, work = files
    target = arch if which == "arch" else work
    mutated = mutate(target, data.draw(st.sampled_from(key_paths(target))), data.draw(VALUES))
    write_yaml(d / "a.yaml", mutated if which == "arch" else arch)
    write_yaml(d / "w.yaml", mutated if which == "workload" else work)
    _check(run_cli(["-q", "run", str(d / "a.yaml"), str(d / "w.yaml"), "--out", str(d / "out")]))


YAMLISH = st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n\t ,.0123456789e+-\\x%@`?<")),
                  max_size=120)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(YAMLISH, st.text(max_size=80)))
def test_raw_yaml_text_is_valid_or_one_located_line(tmp_path, text):
    p = tmp_path / "x.yaml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    _check(run_cli(["validate", str(p)], seconds=10.0))


@SETTINGS
@given(override=st.tuples(st.sampled_from(["arch", "workload", "x", ""]),
                          st.lists(st.sampled_from(["adc", "bits", "tile", "params", "phases", "0", "5",
                                                    "name", "chip", "tiles", ""]), max_size=3),
                          st.text(max_size=20)))
def test_set_overrides_apply_or_are_refused(files, override):
    d, arch, work = files
    write_yaml(d / "a.yaml", arch)
    write_yaml(d / "w.yaml", work)
    target, keys, value = override
    item = ".".join([target, *keys]) + "=" + value
    _check(run_cli(["-q", "run", str(d / "a.yaml"), str(d / "w.yaml"), "--out", str(d / "out"),
                    "--set", item]))


# --- the newer surfaces (issue 25, item 10): each example starts from a valid input and
# changes one or two things; hypothesis draws the generator's random choices
from cimsim.testing.fuzz import (  # noqa: E402
    NPZ_WORKLOAD,
    ONNX_WORKLOAD,
    api_call,
    random_layers,
    random_npz,
    random_onnx,
)

FAMILY = settings(max_examples=25, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def arch_file(root):
    return str(root / "arch" / "rram_64x64.yaml")


def _npz_input(d, work, rng):
    random_npz(rng, d / "data.npz")
    (d / "npz.yaml").write_text(NPZ_WORKLOAD)
    return d / "npz.yaml"


def _onnx_input(d, work, rng):
    pytest.importorskip("onnx")
    random_onnx(rng, d / "m.onnx")
    (d / "onnx.yaml").write_text(ONNX_WORKLOAD)
    return d / "onnx.yaml"


def _layers_input(d, work, rng):
    write_yaml(d / "layers.yaml", {**work, "model": {"layers": random_layers(rng)}})
    return d / "layers.yaml"


@pytest.mark.parametrize("make", [_npz_input, _onnx_input, _layers_input], ids=["npz", "onnx", "layers"])
@FAMILY
@given(rng=st.randoms(use_true_random=False))
def test_npz_onnx_and_layer_lists_run_or_are_refused(files, arch_file, make, rng):
    d, _, work = files
    _check(run_cli(["-q", "run", arch_file, str(make(d, work, rng)), "--out", str(d / "out")]))


@FAMILY
@given(rng=st.randoms(use_true_random=False))
def test_api_arguments_give_a_report_or_a_cimsim_error(files, arch_file, rng):
    d, _, work = files
    write_yaml(d / "api.yaml", work)
    _check(api_call(rng, arch_file, d / "api.yaml"))


def test_fuzzing_stayed_within_memory():
    """The examples above ran in this process: its peak RSS bounds what any of them took (an
    alias bomb expanded, or a size of 2^70 allocated, would blow through it)."""
    import resource

    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    assert peak_gb < 6.0, peak_gb
