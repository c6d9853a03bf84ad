"""The operation trace: what the functional run did, counted per network node.

It is the only thing the functional model hands to the timing and energy models.
Counts are totals over a phase; every image of a phase does the same work, so
per-image counts are totals / images (the timing model replays images one by one).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class NodeTrace:
    name: str
    kind: str                    # conv, linear, bn, relu, add, avgpool, ...
    inputs: tuple[str, ...]
    images: int = 0
    layer: str = ""              # the mapped matrix this node runs on ("" = digital only)
    # analog weight layers
    vectors: int = 0             # input vectors (im2col rows) sent through the crossbars;
                                 # a signed input counts twice (positive and negative pass)
    planes: int = 0              # input planes per vector (bit-serial: input_bits, else 1)
    crossbar_reads: int = 0      # one crossbar evaluated for one plane of one vector
    cell_reads: int = 0          # cells in the used sub-array per crossbar read
    dac_drives: float = 0        # row DAC drives: an applied 1 bit (bit-serial) or a nonzero pulse
                                 # width (multi-bit), once per column group (data-dependent;
                                 # a cost-only run's expected count is fractional)
    adc_conversions: int = 0     # column conversions
    adc_clipped: int = 0         # conversions that hit the ADC range
    adc_bits: int = 0            # bits of its conversions where not the arch's adc.bits (0: those)
    shift_adds: int = 0          # ADC outputs shifted and accumulated
    register_bits: int = 0       # input-register bits fed to the crossbars' DACs (rows x planes)
    partial_sum_bytes: int = 0   # partial sums between the tiles of a split layer, each written to
                                 # and read from the layer's buffers once
    active_conductance_us: float = 0.0   # sum over reads of the conductance (uS) of the cells under a
                                         # driven row, x the pulse width in reads (conductance energy)
    # digital vector unit (BN, ReLU, residual add, pooling, bias)
    digital_ops: int = 0
    # data movement
    sram_read_bytes: int = 0
    sram_write_bytes: int = 0
    in_bytes: list[int] = field(default_factory=list)   # bytes read from each input (the NoC moves
                                                        # those whose home differs: hw/noc.py)

    def per_image(self, key: str) -> float:
        return getattr(self, key) / self.images if self.images else 0.0

    def add(self, d: NodeTrace) -> None:
        """Add another run's (a batch's) counts of this node: every counted field, the bytes per
        input; the layer and its planes from `d` where it ran on one."""
        for k in COUNTED:
            setattr(self, k, getattr(self, k) + getattr(d, k))
        self.in_bytes = [a + b for a, b in zip(self.in_bytes or [0] * len(d.in_bytes), d.in_bytes)]
        if d.layer:
            self.planes, self.layer = d.planes, d.layer


# the fields NodeTrace.add sums: all but the node's identity, its image count and its settings
NOT_COUNTED = ("name", "kind", "inputs", "images", "layer", "planes", "adc_bits", "in_bytes")
COUNTED = tuple(f.name for f in fields(NodeTrace) if f.name not in NOT_COUNTED)


@dataclass
class Trace:
    """The trace of one phase; nodes in execution (topological) order."""

    nodes: list[NodeTrace] = field(default_factory=list)
    outputs: tuple[str, ...] = ()   # nodes whose outputs leave the chip (default: the last node)

    @property
    def leaving(self) -> tuple[str, ...]:
        return self.outputs or ((self.nodes[-1].name,) if self.nodes else ())

    def offchip_bytes(self) -> dict[str, int]:
        """Bytes each node moves across the chip boundary (all images): inputs it reads from
        "input" (images, or activations of an earlier reload round) and, for the nodes in
        `leaving`, its output."""
        out = {}
        for n in self.nodes:
            b = sum(v for i, v in zip(n.inputs, n.in_bytes) if i == "input")
            out[n.name] = b + (n.sram_write_bytes if n.name in self.leaving else 0)
        return out

    def node(self, name: str) -> NodeTrace:
        return next(n for n in self.nodes if n.name == name)

    def total(self, key: str) -> int:
        return sum(getattr(n, key) for n in self.nodes)

    def to_rows(self) -> list[dict]:
        return [{**{k: v for k, v in asdict(n).items() if k != "adc_bits" or v}, "inputs": list(n.inputs)}
                for n in self.nodes]
