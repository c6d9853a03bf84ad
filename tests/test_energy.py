"""Energy of a one-layer network against a hand calculation from the YAML numbers."""
import numpy as np
import pytest

from cimsim.config import load_arch
from cimsim.energy import phase_energy
from cimsim.functional import AnalogLayer, run
from cimsim.hw.chip import build_chip
from cimsim.mapping import map_layers
from cimsim.nn.layers import Linear, Net

# Stillmaker and Baas's energy fits at 0.8 V (hw/technology.py): 45 nm 1.103 x 0.64 - 0.362 x 0.8 +
# 0.2767 = 0.69302; 32 nm 0.9559 x 0.64 - 0.7823 x 0.8 + 0.471 = 0.456936; 22 nm: 1/6 of the way from
# 20 nm (0.1532) to 32 nm. Areas relative to 45 nm: 32 nm 0.46, 22 nm 0.21 + 0.25 / 6.
VECTOR_45_TO_32 = 0.456936 / 0.69302
LEAK_22_TO_32 = (0.456936 / (0.1532 + (0.456936 - 0.1532) / 6)) / (0.46 / (0.21 + 0.25 / 6))


def test_one_layer_energy_by_hand(root):
    arch = load_arch(root / "arch" / "rram_64x64.yaml", {"crossbar.read_energy": "per_cell"}).spec
    rng = np.random.default_rng(0)
    net = Net([Linear("fc", "input", 100, 10, rng)])
    cmap = map_layers([("fc", 100, 10)], build_chip(arch))
    eng = {"fc": AnalogLayer("fc", net.nodes[0].W, build_chip(arch).tile, cmap.layer("fc"), 1.0, rng, 0)}
    x = rng.uniform(0.1, 1.0, (3, 100)).astype(np.float32)
    _, trace = run(net, eng, x, arch)
    e = phase_energy(trace, build_chip(arch), cmap)["per_component_pj"]
    # 3 images x 8 bit planes = 24 vector-planes. Crossbars: rows (64, 36) x columns (64, 16).
    vp = 3 * 8
    codes = np.clip(np.rint(x.astype(np.float64) * 255), 0, 255).astype(int)     # x_max 1.0, 8-bit DACs
    ones = sum(bin(c).count("1") for c in codes.ravel())
    expected = {
        "crossbar": vp * (64 + 36) * (64 + 16) * 1.83e-3,       # cells read x 1.83 fJ
        "dac": ones * 2 * 0.39,                                 # 1 bits applied, in 2 column groups
        "adc": vp * 2 * (64 + 16) / 2 * 1.5625,                 # 2 row chunks x 40 pairs
        "shift_add": vp * 2 * (64 + 16) / 2 * 0.0195,
        "digital": 3 * 10 * 0.1 * VECTOR_45_TO_32,              # bias adds (Horowitz's 45 nm figure at 32 nm)
        "sram_read": 3 * 100 * 8 * (0.067 + 0.0152),            # 8-bit inputs, buffer + bus
        "sram_write": 3 * 10 * 8 * (0.067 + 0.0152),
        # input register: rows x planes per column group; output register: per conversion
        "registers": vp * (64 + 36) * 2 * 0.121 + vp * 2 * (64 + 16) / 2 * 0.0225,
        # inputs in from the port and logits out, both at router 0 with fc's tile: no link
        # crossed, no router charged
        "noc": 0.0,
        # the same bytes cross the off-chip interface: link 50.8 + DRAM 20 pJ/bit
        "offchip": 3 * (100 + 10) * 8 * (50.8 + 20.0),
    }
    for k, v in expected.items():
        assert e[k] == pytest.approx(v, rel=1e-12), k


def _exact_arch(root, **sets):
    """The default chip without programming error, faults or read noise (known conductances)."""
    over = {"device.program_sigma": "0", "device.read_sigma": "0", "device.stuck_at.low_rate": "0",
            "device.stuck_at.high_rate": "0", **{k: str(v) for k, v in sets.items()}}
    return load_arch(root / "arch" / "rram_64x64.yaml", over).spec


def _crossbar_energy(arch, w, codes):
    rng = np.random.default_rng(0)
    k, n = w.shape
    net = Net([Linear("fc", "input", k, n, rng)])
    net.nodes[0].W[...] = w
    cmap = map_layers([("fc", k, n)], build_chip(arch))
    levels = 2.0 ** arch.dac.input_bits - 1
    eng = {"fc": AnalogLayer("fc", w, build_chip(arch).tile, cmap.layer("fc"), levels, rng, 0)}
    _, trace = run(net, eng, codes.astype(np.float32), arch)     # x_max = levels: codes are the inputs
    return phase_energy(trace, build_chip(arch), cmap), trace


@pytest.mark.parametrize("w_value, levels, input_bits", [(0.0, (0, 0, 0, 0), 8), (1.0, (3, 3, 3, 1), 8),
                                                        (1.0, (3, 3, 3, 1), 12)])
def test_conductance_read_energy_is_v2_g_t_of_the_driven_cells(root, w_value, levels, input_bits):
    """V^2 x G x t by hand: weights all 0 (every cell at g_min) or all at full scale (7 magnitude
    bits 1111111 on 2-bit cells: slice levels 3, 3, 3, 1 on G+, G- at g_min); 8- and 12-bit
    bit-serial inputs (every 1 bit is one driven read)."""
    arch = _exact_arch(root, **{"dac.input_bits": input_bits})
    assert arch.crossbar.read_energy == "conductance"
    k, n = 70, 5
    w = np.full((k, n), w_value, np.float32)
    codes = np.random.default_rng(1).integers(0, 2 ** input_bits, (3, k))
    e, trace = _crossbar_energy(arch, w, codes)
    g_min, step = 1.0, 39.0 / 3                              # uS: rram_64x64 range 1..40, 2-bit cells
    pos = sum(g_min + lv * step for lv in levels)            # 4 slices of G+
    row_g = n * (pos + 4 * g_min)                            # + 4 slices of G- at g_min
    ones = sum(bin(int(c)).count("1") for c in codes.ravel())
    expected = 0.5 ** 2 * row_g * 1e-6 * 10e-9 * ones * 1e12  # V^2 G t per 1 bit, pJ
    assert e["per_component_pj"]["crossbar"] == pytest.approx(expected, rel=1e-9)
    assert trace.node("fc").active_conductance_us == pytest.approx(row_g * ones, rel=1e-12)


def test_sparse_inputs_cost_less_array_energy_in_closed_form(root):
    """Array energy is linear in the 1 bits applied: zero inputs cost nothing there, and
    clearing half of every code's bits halves it exactly; DAC/ADC energy is unchanged."""
    arch = _exact_arch(root)
    w = np.random.default_rng(2).uniform(-1, 1, (64, 8)).astype(np.float32)
    full = np.full((4, 64), 0b11110000)
    half = np.full((4, 64), 0b11000000)
    e_full, _ = _crossbar_energy(arch, w, full)
    e_half, _ = _crossbar_energy(arch, w, half)
    e_zero, _ = _crossbar_energy(arch, w, np.zeros((4, 64), int))
    assert e_zero["per_component_pj"]["crossbar"] == 0.0
    assert e_half["per_component_pj"]["crossbar"] == pytest.approx(e_full["per_component_pj"]["crossbar"] / 2,
                                                                   rel=1e-12)
    assert e_half["per_component_pj"]["adc"] == e_full["per_component_pj"]["adc"]


def test_cost_table_reproduces_every_energy(root):
    """Counts x the open (component, action) table give each component's energy."""
    arch = _exact_arch(root)
    e, _ = _crossbar_energy(arch, np.random.default_rng(3).uniform(-1, 1, (90, 12)).astype(np.float32),
                            np.random.default_rng(4).integers(0, 256, (5, 90)))
    table = build_chip(arch).action_energies_pj()
    per_comp: dict[str, float] = {}
    for key, count in e["action_counts"].items():
        comp, act = key.split(".")
        per_comp[comp] = per_comp.get(comp, 0.0) + count * table[(comp, act)]
    for comp, v in e["per_component_pj"].items():
        assert per_comp.get(comp, 0.0) == pytest.approx(v, rel=1e-12), comp


def test_chip_area_is_the_sum_of_its_parts_by_hand(root):
    a = load_arch(root / "arch" / "rram_64x64.yaml").spec
    area = build_chip(a).area()
    um2 = {"crossbar": 8 * 6.25, "dac": 8 * 64 * 0.166, "sample_hold": 8 * 64 * 0.039, "adc": 8 * 1200.0,
           "shift_add": 4 * 60.0, "write_drivers": 0.0}
    for comp, v in um2.items():
        assert area["per_component_mm2"][comp] == pytest.approx(64 * v * 1e-6, rel=1e-12), comp
    # 64 tiles, 12 per buffer: 6 buffers of 64 KiB
    assert area["per_component_mm2"]["sram"] == pytest.approx(6 * 64 * 1297e-6)
    assert area["per_component_mm2"]["sram_buses"] == pytest.approx(6 * 0.090)
    assert area["per_component_mm2"]["noc_routers"] == pytest.approx(16 * 0.151)
    assert area["per_component_mm2"]["digital"] == pytest.approx(64 * 318e-6 * 0.46)   # 45 -> 32 nm
    assert area["total_mm2"] == pytest.approx(sum(area["per_component_mm2"].values()))
    # 2 ADC bits more: 4x the ADC area (as its energy, constant figure of merit)
    a10 = load_arch(root / "arch" / "rram_64x64.yaml", {"adc.bits": "10"}).spec
    a10_adc = build_chip(a10).area()["per_component_mm2"]["adc"]
    assert a10_adc == pytest.approx(4 * area["per_component_mm2"]["adc"])


def test_dac_energy_is_isaacs_per_drive_figure(root):
    """ISAAC: 1024 1-bit DACs draw 4 mW over a 100 ns read: 0.39 pJ per row driven."""
    for name in ("rram_64x64", "rram_128x128", "rram_128x128_chip", "pcm_256x256"):
        a = load_arch(root / "arch" / f"{name}.yaml").spec
        assert a.dac.energy_pj == pytest.approx(4e-3 * 100e-9 / 1024 * 1e12, rel=2e-3), name


def test_idle_units_cost_their_peak_power_by_hand(root):
    """Peak power = per-action energy x peak rate; idle share = 1 - dynamic / (peak x time).
    Not gated: idle units draw peak power; gated: their leakage (density x CMOS area)."""
    base = root / "arch" / "rram_64x64.yaml"
    adc_mw = 64 * 8 * 1.5625 / 0.78125                      # 512 ADCs converting back to back: 1024 mW
    dac_mw = 64 * 8 * 64 * 0.39 / 10.0                      # 32768 DACs, one drive per 10 ns read
    dyn = {"adc": 100.0, "dac": 5e9}                        # pJ; the DACs' busy part exceeds 1 us
    chip = build_chip(load_arch(base, {"chip.power_gating.gated": "false"}).spec)
    assert chip.peak_power_mw()["adc"] == pytest.approx(adc_mw)
    assert chip.peak_power_mw()["dac"] == pytest.approx(dac_mw)
    assert chip.peak_power_mw()["crossbar"] == 0.0          # conductance arrays: no driven row idle
    assert chip.peak_power_mw()["offchip"] == pytest.approx(6.4 * 8 * 50.8)   # one 6.4 GB/s link, no DRAM
    idle = chip.idle_energy_pj(dyn, 1e-6)
    assert idle["adc"] == pytest.approx(adc_mw * 1e-6 * 1e9 - 100.0)
    assert idle["dac"] == 0.0                               # never negative
    assert idle["digital"] == pytest.approx(64 * 1.0 * 0.1 * VECTOR_45_TO_32 * 1e3)   # 64 lanes x 1 GHz
    # gated (shipped): 0.01075 mW/mm2 (at 22 nm; x LEAK_22_TO_32) x the area behind each component,
    # over its idle share
    adc_mm2 = 64 * (8 * 1200.0 + 8 * 64 * 0.039) * 1e-6    # ADCs and their sample-and-holds
    shipped = build_chip(load_arch(base).spec)
    leak = shipped.leakage_mw()
    dens = 0.01075 * LEAK_22_TO_32
    assert leak["adc"] == pytest.approx(dens * adc_mm2)
    assert "crossbar" not in leak                           # NVM arrays do not leak
    assert leak["offchip"] == pytest.approx(dens * 5.72)
    assert leak["sram_read"] == leak["sram_write"] == pytest.approx(dens * 6 * (64 * 1297e-6 + 0.090) / 2)
    got = shipped.idle_energy_pj(dyn, 1e-6)
    share = 1 - 100.0 / (adc_mw * 1e3)
    assert got["adc"] == pytest.approx(leak["adc"] * 1e3 * share)          # mW x 1 us = 1e3 pJ
    assert got["dac"] == 0.0                                # busy throughout
    none = build_chip(load_arch(base, {"chip.power_gating.leakage_mw_per_mm2": "0"}).spec)
    assert none.idle_energy_pj(dyn, 1e-6) == {}
    # 16 of 64 tiles used, not gated: the used quarter of the ADCs idles at peak, the unused
    # three quarters leak; the off-chip interface's static power is drawn throughout
    chip = build_chip(load_arch(base, {"chip.power_gating.gated": "false", "offchip.static_mw": "2600"}).spec)
    got = chip.idle_energy_pj(dyn, 1e-6, used_tiles=16)
    assert got["adc"] == pytest.approx((adc_mw / 4 * 1e3 - 100.0) + leak["adc"] * 0.75 * 1e3)
    assert chip.peak_power_mw()["offchip"] == pytest.approx(6.4 * 8 * 50.8 + 2600)
    assert got["offchip"] == pytest.approx((6.4 * 8 * 50.8 + 2600) * 1e3)     # idle link at peak + static
    assert chip.unused_tiles_pj(1e-6, 16) == pytest.approx(0.75 * 1e3 * sum(
        leak[c] for c in ("adc", "dac", "shift_add", "registers")))


def test_idle_energy_enters_totals_and_efficiency(tmp_path, root, monkeypatch):
    import json
    import textwrap

    from cimsim.cli import main

    monkeypatch.setenv("CIMSIM_CACHE", str(tmp_path / "cache"))
    wl = tmp_path / "w.yaml"
    wl.write_text(textwrap.dedent("""\
        name: mlp
        dataset: {name: synthetic, shape: [64], test_samples: 3}
        model: {layers: [{type: linear, out_features: 32}, {type: relu}, {type: linear}]}
        deploy: {functional: false}
        phases: [{name: t, kind: inference}]
        """))
    reps = {}
    for gated in ("true", "false"):
        out = tmp_path / gated
        assert main(["-q", "run", str(root / "arch" / "rram_64x64.yaml"), str(wl), "--out", str(out),
                     "--set", f"arch.chip.power_gating.gated={gated}"]) == 0
        reps[gated] = json.loads((out / "report.json").read_text())["phases"][0]
    on, off = reps["true"]["energy"], reps["false"]["energy"]
    assert off["idle_pj"] > 1000 * on["idle_pj"] > 0.0     # clocked units vs leakage
    assert off["dynamic_pj"] == on["dynamic_pj"]
    assert off["total_pj"] == pytest.approx(off["dynamic_pj"] + off["idle_pj"])
    assert off["per_image_pj"] == pytest.approx(off["total_pj"] / 3)
    ratio = reps["false"]["efficiency"]["tops_per_w"] / reps["true"]["efficiency"]["tops_per_w"]
    assert ratio == pytest.approx(on["total_pj"] / off["total_pj"])


def test_per_layer_adc_bits_price_time_and_resolution(root):
    """deploy.adc_bits: the layer's conversions are their own cost-table action at the SAR's
    survey-fit energy, take bits/reference_bits of the time, and resolve with a step
    2^(8 - bits) times coarser; other layers are unchanged."""
    import cimsim
    from cimsim.hw.chip import build_chip

    arch, w = root / "arch" / "rram_64x64.yaml", root / "workloads" / "resnet_inference.yaml"
    over = {"workload.deploy.functional": "false", "workload.phases.0.samples": 2}
    base = cimsim.run(arch, w, overrides=over)
    four = cimsim.run(arch, w, overrides={**over, "workload.deploy.adc_bits": "[{layer: fc, bits: 4}]"})
    a = cimsim.load_arch(arch).spec
    table = {(r["component"], r["action"]): r["energy_pj"] for r in four.data["cost_table"]}
    # by hand (hw/adc.py's survey fit): 8 bits at 1.28 GS/s, FOM_S = 213.781 - 2.8719 ln(1.28e9) =
    # 153.556 dB (under the cap 128.307 + 8 x 3.2205 = 154.071); 4 bits at 2.56 GS/s: the cap binds,
    # 141.189 dB. E4/E8 = 10^(((25.84 - 141.189) - (49.92 - 153.556)) / 10) x 2^2.8291 = 0.4791
    assert table[("adc", "convert_4b")] == pytest.approx(a.adc.energy_pj * 0.4791, rel=1e-4)
    assert ("adc", "convert_4b") not in {(r["component"], r["action"]) for r in base.data["cost_table"]}
    e0, e4 = base.phase("test").energy, four.phase("test").energy
    fc_conv = e0.action_counts["adc.convert"] - e4.action_counts["adc.convert"]
    assert fc_conv > 0 and e4.action_counts["adc.convert_4b"] == fc_conv
    saved = fc_conv * (table[("adc", "convert")] - table[("adc", "convert_4b")])
    assert e0.per_component_pj["adc"] - e4.per_component_pj["adc"] == pytest.approx(saved)
    fc = {n["name"]: n for n in four.phase("test").nodes}["fc"]
    stem = {n["name"]: n for n in base.phase("test").nodes}["stem.conv"]
    assert fc["adc_bits"] == 4 and "adc_bits" not in stem
    assert {m["name"]: m for m in four.data["mapping"]["layers"]}["fc"]["adc_bits"] == 4
    tile = build_chip(a).tile
    assert tile.adc_scale(4)[0] == pytest.approx(tile.adc_scale(8)[0] * 2 ** 4)   # signed codes: 2^(b-1)
    adc = tile.costs.parts["adc"]
    assert adc.conversion_ns(4) == pytest.approx(a.adc.latency_ns * 4 / a.adc.reference_bits)


@pytest.mark.parametrize("entry, key", [("[{layer: fcc, bits: 4}]", "deploy.adc_bits.0.layer"),
                                        ("[{layer: fc, bits: 9}]", "deploy.adc_bits.0.bits")])
def test_per_layer_adc_bits_errors_are_located(root, tmp_path, capsys, entry, key):
    from cimsim.cli import main

    arch, w = root / "arch" / "rram_64x64.yaml", root / "workloads" / "resnet_inference.yaml"
    code = main(["run", str(arch), str(w), "--out", str(tmp_path / "out"),
                 "--set", "workload.deploy.functional=false", "--set", f"workload.deploy.adc_bits={entry}"])
    err = capsys.readouterr().err
    assert code == 2 and key in err and "Traceback" not in err
