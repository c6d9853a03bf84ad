"""The mesh NoC (hw/noc.py): placement, routes, hop-priced energy and link contention, by hand."""
import dataclasses
import itertools

import pytest

from cimsim.config import load_arch
from cimsim.energy import phase_energy
from cimsim.hw.chip import build_chip
from cimsim.hw.noc import Mesh
from cimsim.mapping import map_layers
from cimsim.timing import phase_stage_times, simulate
from cimsim.trace import NodeTrace, Trace


def test_snake_placement_and_link_count():
    m = Mesh(64, 4)                      # 16 routers on 4 x 4
    assert (m.routers, m.width, m.height) == (16, 4, 4)
    assert [m.xy(r) for r in (0, 3, 4, 7, 8)] == [(0, 0), (3, 0), (3, 1), (0, 1), (0, 2)]
    assert m.links() == 2 * (3 * 4 + 3 * 4)
    assert m.hops(0, 12) == 3 + 3 and m.hops(0, 15) == 3 and m.hops(3, 4) == 1   # snake: neighbours
    p = Mesh(5, 1)                       # 3 x 2 with one empty slot: row 1 holds r3 at (2,1), r4 at (1,1)
    assert [p.xy(r) for r in range(5)] == [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1)]
    assert p.links() == 2 * 5
    assert p.path(4, 0) == [4, 1, 0]     # from the partial row: Y first, never through (0, 1)
    assert Mesh(3, 4).routers == 1 and Mesh(3, 4).links() == 0


@pytest.mark.parametrize("routers", range(1, 21))
def test_every_route_is_a_shortest_path_over_existing_routers(routers):
    m = Mesh(routers, 1)
    cells = {m.xy(r) for r in range(routers)}
    for a, b in itertools.product(range(routers), repeat=2):
        p = m.path(a, b)
        assert p[0] == a and p[-1] == b and len(p) == m.hops(a, b) + 1
        assert all(0 <= r < routers for r in p)
        for u, v in zip(p, p[1:]):
            assert m.hops(u, v) == 1 and m.xy(v) in cells


def test_flows_split_whole_bytes_from_the_nearest_source():
    m = Mesh(16, 1)
    fl = m.flows((0, 1, 2, 3), (4, 5, 6, 7), 10)
    assert [f.bytes_per_image for f in fl] == [3, 3, 2, 2]
    assert [(f.src, f.dst, f.hops) for f in fl] == [(3, 4, 1), (2, 5, 1), (1, 6, 1), (0, 7, 1)]
    assert fl[0].resources == ("inj3", "link3-4", "ej4")


@pytest.fixture
def mesh_arch(root):
    """The default chip with 16 tiles, a router each (4 x 4 mesh) and a buffer each."""
    a = load_arch(root / "arch" / "rram_64x64.yaml").spec
    noc = dataclasses.replace(a.chip.noc, tiles_per_router=1)
    return dataclasses.replace(a, chip=dataclasses.replace(a.chip, tiles=16, noc=noc),
                               sram_buffer=dataclasses.replace(a.sram_buffer, tiles_per_buffer=1))


def _layer(name, inp, in_bytes, out_bytes=0):
    return NodeTrace(name, "linear", (inp,), images=2, layer=name, planes=8,
                     in_bytes=[2 * in_bytes], sram_write_bytes=2 * out_bytes)


def test_energy_is_bits_times_routers_crossed(mesh_arch):
    # l1 on tile 0, pad on tiles 1-5 (40 crossbars), l2 on tile 6 = router 6 at (1, 1): 2 hops from 0
    cmap = map_layers([("l1", 64, 8), ("pad", 2560, 8), ("l2", 64, 8)], build_chip(mesh_arch))
    assert cmap.layer("l2").first_tile == 6
    tr = Trace([_layer("l1", "input", 1000), _layer("l2", "l1", 500, out_bytes=100)])
    e = phase_energy(tr, build_chip(mesh_arch), cmap)
    # per image: input to l1 at the port's own router (no link, no router charged), l1 -> l2
    # over 2 hops (3 routers), logits back to the port over 2 hops
    bits = 2 * 8 * (500 * 3 + 100 * 3)
    assert e["action_counts"]["noc.router_bit"] == bits
    assert e["per_component_pj"]["noc"] == pytest.approx(bits * 0.137, rel=1e-12)
    assert e["per_node_component_pj"]["l2"]["noc"] == pytest.approx(2 * 8 * 0.137 * (1500 + 300), rel=1e-12)
    st = phase_stage_times(tr, build_chip(mesh_arch), cmap)
    assert st["l2"].noc == 500 // 4 + 2                 # 4 B/cycle links, one cycle per hop


def test_links_shared_by_two_flows_serialise(mesh_arch):
    # a on tile 1, b on tile 2 read the input from the port at router 0: both routes take inj0 and
    # link 0-1, so b's 400 bytes wait for a's: (100 + 1) + (100 + 2) cycles
    cmap = map_layers([("pad", 64, 8), ("a", 64, 8), ("b", 64, 8)], build_chip(mesh_arch))
    tr = Trace([_layer("a", "input", 400), _layer("b", "input", 400)])
    res = simulate(tr, build_chip(mesh_arch), cmap, images=1)
    assert res.makespan_cycles == 101 + 102
    assert res.busy_cycles["noc_links"] == 101 + 2 * 102 and res.capacity["noc_links"] == 48


def test_bandwidth_grows_with_the_routers_a_layer_spans(mesh_arch):
    # l1 on tiles 0-3, l2 on tiles 4-7 (32 crossbars each): with a router per tile, l2's 4000
    # input bytes arrive over 4 disjoint one-hop routes (3->4, 2->5, 1->6, 0->7) in parallel;
    # with a router per 4 tiles, over one route from router 0 to router 1
    shapes = [("l1", 2048, 8), ("l2", 2048, 8)]
    tr = Trace([_layer("l1", "input", 10), _layer("l2", "l1", 4000)])
    cmap = map_layers(shapes, build_chip(mesh_arch))
    assert phase_stage_times(tr, build_chip(mesh_arch), cmap)["l2"].noc == 1000 // 4 + 1
    four = dataclasses.replace(mesh_arch, chip=dataclasses.replace(
        mesh_arch.chip, noc=dataclasses.replace(mesh_arch.chip.noc, tiles_per_router=4)))
    chip4 = build_chip(four)
    assert phase_stage_times(tr, chip4, map_layers(shapes, chip4))["l2"].noc == 4000 // 4 + 1
