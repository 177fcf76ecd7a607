"""``map_cores``: place every neuron group on neuro-cores, and the cores on chips of a board.

The resource model (docs/hardware.md has it in full, with sources) follows Davies et al.,
IEEE Micro 2018, p. 89, and nengo-loihi's ``block.py``. A neuron group is split into blocks of
consecutive neurons (C order), one block per core; every core must hold within

* ``core.max_neurons`` compartments (neurons × compartments per neuron),
* ``core.max_synapse_memory_bits``: one synapse list per input axon that reaches the core,
  dense (one entry per neuron of the core) or sparse (nonzero entries with an index),
  whichever is smaller, costed with ``hw.synapse_memory``,
* ``core.max_fan_in_axons`` input axons: distinct presynaptic neurons with a synapse on the core,
* ``core.max_fan_out_axons`` output axons: Σ over its neurons of the destination cores each one
  sends to (the cores of the next layer it has a synapse on; 1, the host, for the last layer).

A group's synapses are those of every edge into it (fan-in: several synapses, each from its own
source, side by side as the columns of one pattern); its fan-out is the sum over every synapse it
feeds, plus the host if an Output reads it. Each group gets the largest block size that satisfies
all four (found by bisection, the groups visited output first because a group's fan-out depends on
how the groups it feeds are split). In a graph with a cycle the groups of the cycle depend on each
other: the sweep is repeated until no block size changes (a fixed point: each sweep can only make
fan-outs larger and blocks smaller, so it ends). Cores are numbered in dependency order and fill
chips in order, so a group may span chips; a network that needs more chips than ``board.chips``
raises ``HardwareLimitError``, as does a single neuron that exceeds a per-core limit. Input nodes'
spikes come from the host and take no neuro-core.

What a node type costs is looked up in registries (``toolkit.registry.TypeRegistry``) keyed by
IR node type, so new node types plug in without touching the logic here: ``CONNECTIVITY``
(synapse -> its explicit (n_out, n_in) synapse pattern), ``COMPARTMENTS`` (neuron group ->
compartments per neuron).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from compilers.passes.common import fanin, graph_pass, groups
from toolkit import ir
from toolkit.errors import HardwareLimitError, LoweringError
from toolkit.hw import HardwareConfig, SynapseMemory
from toolkit.registry import TypeRegistry

__all__ = [
    "COMPARTMENTS",
    "CONNECTIVITY",
    "Connectivity",
    "LayerPlan",
    "Placement",
    "conv2d_matrix",
    "list_bits",
    "map_cores",
    "plan_network",
]

#: a dense np.ndarray or a scipy CSR matrix (scipy ships no type information, so: Any)
Pattern: TypeAlias = Any


@dataclass(frozen=True, slots=True)
class Connectivity:
    """The synapses of one layer: the nonzero pattern of its explicit (n_out, n_in) weight matrix.

    ``pattern`` is a dense bool array or a scipy CSR matrix; ``full`` marks a dense pattern
    with no zero, for which block statistics are computed in closed form.
    """

    pattern: Pattern
    full: bool = False

    @classmethod
    def of(cls, weights: np.ndarray | sp.spmatrix) -> Connectivity:
        if sp.issparse(weights):
            csr = sp.csr_matrix(weights)
            csr.eliminate_zeros()
            return cls(pattern=csr)
        mask = np.asarray(weights).reshape(weights.shape[0], -1) != 0
        return cls(pattern=mask, full=bool(mask.all()))

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.pattern.shape[0]), int(self.pattern.shape[1])

    @property
    def nnz(self) -> int:
        return int(self.pattern.nnz) if sp.issparse(self.pattern) else int(np.count_nonzero(self.pattern))

    def row_nnz(self) -> np.ndarray:
        """Synapses per neuron (fan-in)."""
        if sp.issparse(self.pattern):
            return np.diff(self.pattern.indptr)
        return np.count_nonzero(self.pattern, axis=1)

    def block_counts(self, starts: np.ndarray) -> Pattern:
        """(n_blocks, n_in): synapses from input j onto the neurons of block b."""
        n_out, n_in = self.shape
        if self.full:
            sizes = np.diff(np.append(starts, n_out))
            return np.repeat(sizes[:, None], n_in, axis=1)
        if sp.issparse(self.pattern):
            block = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n_out)))
            ind = sp.csr_matrix((np.ones(n_out, np.int32), (block, np.arange(n_out))), shape=(len(starts), n_out))
            pat = sp.csr_matrix((np.ones(self.pattern.nnz, np.int32), self.pattern.indices, self.pattern.indptr),
                                shape=self.pattern.shape)
            return sp.csr_matrix(ind @ pat)
        return np.add.reduceat(self.pattern, starts, axis=0, dtype=np.int32)


    @classmethod
    def side_by_side(cls, parts: list[Connectivity], n_out: int) -> Connectivity:
        """The synapses of several synapses into one group, as the columns of one pattern (in order)."""
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls(pattern=np.zeros((n_out, 0), bool), full=True)
        if all(not sp.issparse(c.pattern) for c in parts):
            mask = np.hstack([c.pattern for c in parts])
            return cls(pattern=mask, full=bool(mask.all()))
        return cls(pattern=sp.csr_matrix(sp.hstack([sp.csr_matrix(c.pattern) for c in parts])))


ConnectivityFn = Callable[[Any, tuple[int, ...]], Connectivity]

#: synapse node type -> function(node, input shape) -> its explicit synapse pattern
CONNECTIVITY: TypeRegistry[ConnectivityFn] = TypeRegistry("core-mapping connectivity")
#: neuron-group node type -> compartments per neuron
COMPARTMENTS: TypeRegistry[int] = TypeRegistry("core-mapping compartments")


@CONNECTIVITY.register(ir.Dense)
def _dense(n: ir.Dense, in_shape: tuple[int, ...]) -> Connectivity:
    return Connectivity.of(n.weight)


def conv2d_matrix(n: ir.Conv2d, in_shape: tuple[int, ...]) -> sp.csr_matrix:
    """The explicit (C_out·H_out·W_out, C_in·H·W) weight matrix of a convolution (PyTorch semantics)."""
    c_in, h, w = in_shape
    c_out, oh, ow = n.out_shape(in_shape)
    per_group = c_out // n.groups
    o, i, ky, kx = np.nonzero(n.weight)
    vals = n.weight[o, i, ky, kx]
    c = (o // per_group) * n.weight.shape[1] + i
    oy, ox = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    oy, ox = oy.reshape(-1, 1), ox.reshape(-1, 1)
    iy = oy * n.stride[0] - n.padding[0] + ky * n.dilation[0]
    ix = ox * n.stride[1] - n.padding[1] + kx * n.dilation[1]
    ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    rows = ((o * oh + oy) * ow + ox)[ok]
    cols = ((c * h + iy) * w + ix)[ok]
    data = np.broadcast_to(vals, ok.shape)[ok]
    return sp.csr_matrix((data, (rows, cols)), shape=(c_out * oh * ow, c_in * h * w))


@CONNECTIVITY.register(ir.Conv2d)
def _conv(n: ir.Conv2d, in_shape: tuple[int, ...]) -> Connectivity:
    # Synapses are stored explicitly, one per (input, output) pair, as on Loihi 1; Loihi 2's
    # shared-weight convolution encodings are not modelled (an upper bound on its memory).
    return Connectivity.of(conv2d_matrix(n, in_shape))


COMPARTMENTS.add(ir.LoihiLIF, 1)
COMPARTMENTS.add(ir.LoihiALIF, 1)   # our neuron program: one compartment with a third state register
COMPARTMENTS.add(ir.LoihiSigmaDelta, 1)


# ---------------------------------------------------------------------------------------------
# Synapse memory: nengo-loihi's SynapseConfig.bits_per_axon, vectorised over list lengths.

def list_bits(n: np.ndarray, entry_bits: int, mem: SynapseMemory) -> np.ndarray:
    """Bits of the synapse lists of one input axon with ``n`` entries of ``entry_bits`` each."""
    n = np.asarray(n, dtype=np.int64)
    if mem.synapses_per_list == 0:
        return np.where(n > 0, -(-(n * entry_bits + mem.list_header_bits) // mem.word_bits) * mem.word_bits, 0)
    g = mem.synapses_per_list
    full, rest = n // g, n % g
    full_bits = -(-(g * entry_bits + mem.list_header_bits) // mem.word_bits) * mem.word_bits
    rest_bits = -(-(rest * entry_bits + mem.list_header_bits) // mem.word_bits) * mem.word_bits
    return full * full_bits + np.where(rest > 0, rest_bits, 0)


def _index_bits(block_size: int, mem: SynapseMemory) -> int | None:
    """Index bits a sparse list needs to address ``block_size`` neurons; None if it cannot."""
    if mem.index_bits_max == 0:
        return None
    need = max(int(math.ceil(math.log2(block_size))) if block_size > 1 else 0, mem.index_bits_min)
    return need if need <= mem.index_bits_max else None


def _row_sum(counts: Pattern, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Σ_j fn(counts[b, j]) over the nonzero counts of every row b."""
    if sp.issparse(counts):
        vals = sp.csr_matrix((fn(counts.data), counts.indices, counts.indptr), shape=counts.shape)
        return np.asarray(vals.sum(axis=1)).ravel().astype(np.int64)
    return np.where(counts > 0, fn(counts), 0).sum(axis=1).astype(np.int64)


def _col_sum(counts: Pattern, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    if sp.issparse(counts):
        vals = sp.csr_matrix((fn(counts.data), counts.indices, counts.indptr), shape=counts.shape)
        return np.asarray(vals.sum(axis=0)).ravel().astype(np.int64)
    return np.where(counts > 0, fn(counts), 0).sum(axis=0).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Splitting one layer.

RESOURCES = ("core.max_neurons", "core.max_synapse_memory_bits", "core.max_fan_in_axons",
             "core.max_fan_out_axons")


@dataclass(frozen=True, slots=True)
class _Split:
    """Per-core usage of one way of splitting a layer (block size p)."""

    starts: np.ndarray
    sizes: np.ndarray
    usage: dict[str, np.ndarray]          # resource -> per-core amount
    dense: np.ndarray                     # per core: dense (True) or sparse (False) lists
    counts: Pattern

    def violation(self, limits: dict[str, int]) -> tuple[str, int] | None:
        for res in RESOURCES:
            worst = int(self.usage[res].max())
            if worst > limits[res]:
                return res, worst
        return None


@dataclass(frozen=True, slots=True)
class _LayerInput:
    """A neuron group and its synapses, side by side: columns ``spans[k]`` of ``conn`` are synapse k's."""

    group: ir.NeuronGroup
    synapses: tuple[str, ...]
    sources: tuple[str, ...]        # per synapse: the neuron group (or Input) whose spikes reach it
    spans: tuple[tuple[int, int], ...]
    conn: Connectivity
    compartments: int

    @property
    def name(self) -> str:
        """The layer's name in messages: its first synapse, or the group if it has none."""
        return self.synapses[0] if self.synapses else self.group.name


def _split(li: _LayerInput, p: int, dest: np.ndarray, hw: HardwareConfig) -> _Split:
    n_out, _ = li.conn.shape
    starts = np.arange(0, n_out, p)
    sizes = np.diff(np.append(starts, n_out))
    counts = li.conn.block_counts(starts)
    mem = hw.synapse_memory
    entry = hw.synapse.weight_bits + hw.core.synapse_overhead_bits
    in_axons = _row_sum(counts, np.ones_like)
    dense_bits = in_axons * list_bits(sizes, entry, mem)
    idx = _index_bits(int(sizes.max()), mem)
    if idx is None:
        bits, dense = dense_bits, np.ones(len(starts), bool)
    else:
        sparse_bits = _row_sum(counts, lambda c: list_bits(c, entry + idx, mem))
        bits, dense = np.minimum(dense_bits, sparse_bits), dense_bits <= sparse_bits
    out_axons = np.add.reduceat(dest.astype(np.int64), starts)
    usage = {"core.max_neurons": sizes * li.compartments, "core.max_synapse_memory_bits": bits,
             "core.max_fan_in_axons": in_axons, "core.max_fan_out_axons": out_axons}
    return _Split(starts=starts, sizes=sizes, usage=usage, dense=dense, counts=counts)


def _limits(hw: HardwareConfig) -> dict[str, int]:
    c = hw.core
    return {"core.max_neurons": c.max_neurons, "core.max_synapse_memory_bits": c.max_synapse_memory_bits,
            "core.max_fan_in_axons": c.max_fan_in_axons, "core.max_fan_out_axons": c.max_fan_out_axons}


_SMALLER_FAN_IN = "reduce the layer's fan-in (a smaller previous layer) or use sparser weights"


def _one_neuron_error(li: _LayerInput, res: str, value: int, hw: HardwareConfig, nxt: str) -> HardwareLimitError:
    name = li.name
    limit = _limits(hw)[res]
    why = {"core.max_neurons": f"one neuron needs {value} compartments",
           "core.max_synapse_memory_bits": f"one neuron's synapses need {value} bits of synapse memory",
           "core.max_fan_in_axons": f"one neuron has synapses from {value} inputs",
           "core.max_fan_out_axons": f"one neuron sends to {value} cores of layer {nxt!r}"}[res]
    fix = {"core.max_neurons": "use a neuron model with fewer compartments",
           "core.max_synapse_memory_bits": _SMALLER_FAN_IN,
           "core.max_fan_in_axons": _SMALLER_FAN_IN,
           "core.max_fan_out_axons": f"make layer {nxt!r} smaller or sparser so it spans fewer cores"}[res]
    return HardwareLimitError(f"layer {name!r}: {why}, more than {res} = {limit} of {hw.name}; {fix}, "
                              f"or use another chip's config (--hw)")


def _best_split(li: _LayerInput, dest: np.ndarray, hw: HardwareConfig, nxt: str) -> tuple[_Split, str | None]:
    """The split with the largest feasible block size, and the resource that stops a larger one."""
    limits = _limits(hw)
    n_out = li.conn.shape[0]
    hi = min(n_out, max(hw.core.max_neurons // li.compartments, 1))
    top = _split(li, hi, dest, hw)
    bad = top.violation(limits)
    if bad is None:
        return top, ("core.max_neurons" if hi < n_out else None)
    lo, best = 0, None  # invariant: block size lo feasible (0: none known), hi infeasible
    while hi - lo > 1:
        mid = (lo + hi) // 2
        s = _split(li, mid, dest, hw)
        v = s.violation(limits)
        if v is None:
            lo, best = mid, s
        else:
            hi, bad = mid, v
    if best is None:  # even one neuron per core does not fit
        raise _one_neuron_error(li, *bad, hw, nxt)
    return best, bad[0]


# ---------------------------------------------------------------------------------------------
# The whole network.

@dataclass(frozen=True, slots=True)
class LayerPlan:
    """Where one layer (a neuron group and the synapses into it) sits, and what it uses."""

    synapse: str                     # the layer's name: its first synapse (the group's, if none)
    group: str
    group_type: str
    synapse_names: tuple[str, ...]
    sources: tuple[str, ...]         # per synapse, the source whose events reach it
    spans: tuple[tuple[int, int], ...]  # per synapse, its columns of the layer's inputs
    neurons: int
    compartments: int
    synapses: int
    fan_in: int
    weight_bits: int
    block_sizes: np.ndarray
    first_core: int
    limited_by: str | None
    usage: dict[str, np.ndarray]
    dense_lists: np.ndarray
    entries_per_input: np.ndarray = field(repr=False)   # stored synapse entries a spike of input j reaches
    dest_per_input: np.ndarray = field(repr=False)      # cores of this layer input j sends a message to
    block_entries: Pattern = field(repr=False)          # (cores, n_in) entries per core and input
    to_host: bool = False                               # an Output reads the group: its spikes go to the host

    @property
    def source(self) -> str:
        """The sources of the layer's synapses, comma-separated."""
        return ", ".join(dict.fromkeys(self.sources))

    @property
    def cores(self) -> int:
        return len(self.block_sizes)

    def utilisation(self, hw: HardwareConfig) -> dict[str, float]:
        """Mean fraction of each per-core limit used over the layer's cores."""
        lim = _limits(hw)
        return {res.split(".", 1)[1]: float(self.usage[res].sum() / (self.cores * lim[res])) for res in RESOURCES}

    def chips(self, cores_per_chip: int) -> tuple[int, int]:
        return self.first_core // cores_per_chip, (self.first_core + self.cores - 1) // cores_per_chip

    def to_json(self, hw: HardwareConfig) -> dict[str, Any]:
        util = self.utilisation(hw)
        key = (self.limited_by or max(RESOURCES, key=lambda r: util[r.split(".", 1)[1]])).split(".", 1)[1]
        first, last = self.chips(hw.chip.neuro_cores)
        n_dense = int(self.dense_lists.sum())
        return {"group": self.group, "synapse": self.synapse, "type": self.group_type, "source": self.source,
                "synapse_list": list(self.synapse_names), "sources": list(self.sources),
                "neurons": self.neurons, "synapses": self.synapses, "fan_in": self.fan_in,
                "weight_bits": self.weight_bits, "cores": self.cores,
                "neurons_per_core": int(self.block_sizes.max()), "limited_by": self.limited_by,
                "utilisation": util[key], "utilisation_of": key, "utilisation_all": util,
                "synapse_memory_bits": int(self.usage["core.max_synapse_memory_bits"].sum()),
                "max_per_core": {r.split(".", 1)[1]: int(self.usage[r].max()) for r in RESOURCES},
                "lists": {"dense_cores": n_dense, "sparse_cores": self.cores - n_dense},
                "first_core": self.first_core, "chips": [first, last]}


@dataclass(frozen=True, slots=True)
class Placement:
    """The mapping of a whole network onto ``hw``: layers in input-to-output order."""

    hw: HardwareConfig
    layers: tuple[LayerPlan, ...]

    @property
    def cores(self) -> int:
        return sum(lp.cores for lp in self.layers)

    @property
    def chips(self) -> int:
        return max(1, math.ceil(self.cores / self.hw.chip.neuro_cores))

    def to_json(self) -> dict[str, Any]:
        hw = self.hw
        return {"hw": hw.name, "board": hw.board.name, "board_chips": hw.board.chips,
                "cores_per_chip": hw.chip.neuro_cores, "cores": self.cores, "chips": self.chips,
                "model": "docs/hardware.md#resource-model", "groups": [lp.to_json(hw) for lp in self.layers]}


def _layer_input(graph: ir.Graph, group: ir.NeuronGroup, shapes: dict[str, tuple[int, ...]]) -> _LayerInput:
    comp = COMPARTMENTS.of(group)
    if comp is None:
        raise LoweringError(f"map_cores: no core-mapping rule for {type(group).__name__} {group.name!r} "
                            f"(supported: {COMPARTMENTS.supported()}); quantise the graph first or register one "
                            "in compilers.passes.mapping.COMPARTMENTS")
    parts, spans, col = [], [], 0
    fins = fanin(graph, group.name)
    for f in fins:
        conn_fn = CONNECTIVITY.of(f.synapse)
        if conn_fn is None:
            raise LoweringError(f"map_cores: no core-mapping rule for {type(f.synapse).__name__} {f.synapse.name!r} "
                                f"(supported: {CONNECTIVITY.supported()}); register one in "
                                "compilers.passes.mapping.CONNECTIVITY")
        conn = conn_fn(f.synapse, shapes[graph.source(f.synapse.name).name])
        parts.append(conn)
        spans.append((col, col + conn.shape[1]))
        col += conn.shape[1]
    n_out = int(np.prod(group.shape))
    return _LayerInput(group=group, synapses=tuple(f.synapse.name for f in fins),
                       sources=tuple(f.source.name for f in fins), spans=tuple(spans),
                       conn=Connectivity.side_by_side(parts, n_out), compartments=comp)


def _entries(s: _Split) -> tuple[np.ndarray, Pattern]:
    """Synapse entries per (core, input): the core's size for dense lists, the count for sparse ones."""
    if sp.issparse(s.counts):
        c = sp.csr_matrix(s.counts, dtype=np.int64)
        rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))
        c.data = np.where(s.dense[rows], s.sizes[rows], c.data)
        return np.asarray(c.sum(axis=0)).ravel(), c
    e = np.where(s.counts > 0, np.where(s.dense[:, None], s.sizes[:, None], s.counts), 0).astype(np.int64)
    return e.sum(axis=0), e


def _plan_layer(li: _LayerInput, dest: np.ndarray, hw: HardwareConfig, nxt: str) -> LayerPlan:
    split, binding = _best_split(li, dest, hw, nxt)
    entries, block_entries = _entries(split)
    return LayerPlan(synapse=li.name, group=li.group.name, group_type=type(li.group).__name__,
                     synapse_names=li.synapses, sources=li.sources, spans=li.spans,
                     neurons=li.conn.shape[0], compartments=li.compartments, synapses=li.conn.nnz,
                     fan_in=int(li.conn.row_nnz().max()) if li.conn.shape[0] and li.conn.shape[1] else 0,
                     weight_bits=hw.synapse.weight_bits, block_sizes=split.sizes, first_core=0,
                     limited_by=binding, usage=split.usage, dense_lists=split.dense,
                     entries_per_input=entries, dest_per_input=_col_sum(split.counts, np.ones_like),
                     block_entries=block_entries)


def _fan_out(graph: ir.Graph, group: ir.NeuronGroup, plans: dict[str, LayerPlan],
             inputs: dict[str, _LayerInput]) -> tuple[np.ndarray, str]:
    """Destination cores per neuron of ``group`` under the current ``plans`` of the groups it feeds (one core
    per synapse for a group not planned yet), and who it sends to (for messages)."""
    n = int(np.prod(group.shape))
    dest = np.zeros(n, np.int64)
    names = []
    for e in graph.out_edges(group.name):
        if isinstance(graph.node(e.dst), ir.Output):
            dest += 1
            names.append("host")
    for li in inputs.values():
        for k, src in enumerate(li.sources):
            if src != group.name:
                continue
            plan = plans.get(li.group.name)
            if plan is None:
                dest += 1
            else:
                lo, hi = plan.spans[k]
                dest += plan.dest_per_input[lo:hi].astype(np.int64)
            names.append(li.synapses[k])
    return dest, ", ".join(names) or "nothing"


def plan_network(graph: ir.Graph, hw: HardwareConfig) -> Placement:
    """Split every neuron group of a quantised graph over cores and number the cores; no board check."""
    shapes = graph.shapes()
    order = groups(graph)
    inputs = {g.name: _layer_input(graph, g, shapes) for g in order}
    plans: dict[str, LayerPlan] = {}
    for _sweep in range(64):
        changed = False
        for g in reversed(order):
            dest, nxt = _fan_out(graph, g, plans, inputs)
            plan = _plan_layer(inputs[g.name], dest, hw, nxt)
            old = plans.get(g.name)
            if old is None or not np.array_equal(old.block_sizes, plan.block_sizes) or not np.array_equal(
                    old.usage["core.max_fan_out_axons"], plan.usage["core.max_fan_out_axons"]):
                changed = True
            plans[g.name] = plan
        if not changed or graph.is_acyclic():
            break
    else:
        raise HardwareLimitError("map_cores: the core mapping of the graph's cycles did not settle in 64 sweeps")
    read = {graph.signal_source(o.name).name for o in graph.of_type(ir.Output)}
    placed, first = [], 0
    for g in order:
        placed.append(replace(plans[g.name], first_core=first, to_host=g.name in read))
        first += plans[g.name].cores
    return Placement(hw=hw, layers=tuple(placed))


def check_board(placement: Placement) -> None:
    """Raise ``HardwareLimitError`` naming the first layer that does not fit on the board."""
    hw = placement.hw
    capacity = hw.board.chips * hw.chip.neuro_cores
    if placement.cores <= capacity:
        return
    over = next(lp for lp in placement.layers if lp.first_core + lp.cores > capacity)
    raise HardwareLimitError(
        f"layer {over.synapse!r} does not fit on the board: the network needs {placement.cores} cores = "
        f"{placement.chips} chips of {hw.chip.neuro_cores} cores, but board.chips = {hw.board.chips} "
        f"({hw.board.name}, {hw.name}) gives {capacity} cores; use smaller or sparser layers, or a "
        f"hardware config with a larger board (--hw PATH.yaml)")


@graph_pass("map_cores", provides=(ir.CoreMapping,))
def map_cores(graph: ir.Graph, *, hw: HardwareConfig) -> ir.Graph:
    """Record (``CoreMapping``) how many cores and chips each neuron group needs on ``hw``."""
    placement = plan_network(graph, hw)
    check_board(placement)
    return graph.with_record(ir.CoreMapping(placement=placement.to_json()))
