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

Each group gets the largest block size that satisfies all four (found by bisection, the
groups visited output first because a group's fan-out depends on how the next one is split).
Cores are numbered input to output and fill chips in order, so a group may span chips; a
network that needs more chips than ``board.chips`` raises ``HardwareLimitError``, as does a
single neuron that exceeds a per-core limit. The Input node's spikes come from the host and
take no neuro-core.

What a node type costs is looked up in registries keyed by IR node type, so new node types
plug in without touching the logic here: ``register_connectivity`` (synapse -> its explicit
(n_out, n_in) synapse pattern), ``register_neuron`` (neuron group -> compartments per neuron),
``register_reshape`` (nodes between layers that only reshape, e.g. Flatten).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from compilers.passes.common import Layer, layers, mark, require_chain
from toolkit import ir
from toolkit.errors import HardwareLimitError, LoweringError
from toolkit.hw import HardwareConfig, SynapseMemory

__all__ = [
    "COMPARTMENTS",
    "CONNECTIVITY",
    "RESHAPES",
    "Connectivity",
    "LayerPlan",
    "Placement",
    "conv2d_matrix",
    "list_bits",
    "map_cores",
    "plan_network",
    "register_connectivity",
    "register_neuron",
    "register_reshape",
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


ConnectivityFn = Callable[[Any, tuple[int, ...]], Connectivity]

#: synapse node type -> function(node, input shape) -> its explicit synapse pattern
CONNECTIVITY: dict[type[ir.Node], ConnectivityFn] = {}
#: neuron-group node type -> compartments per neuron
COMPARTMENTS: dict[type[ir.Node], int] = {}
#: node types that only reshape between layers (a neuron's index in C order is unchanged)
RESHAPES: set[type[ir.Node]] = set()


def register_connectivity(*types: type[ir.Node]) -> Callable[[ConnectivityFn], ConnectivityFn]:
    def deco(fn: ConnectivityFn) -> ConnectivityFn:
        for t in types:
            CONNECTIVITY[t] = fn
        return fn
    return deco


def register_neuron(t: type[ir.Node], compartments: int = 1) -> None:
    COMPARTMENTS[t] = compartments


def register_reshape(*types: type[ir.Node]) -> None:
    RESHAPES.update(types)


@register_connectivity(ir.Dense)
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


@register_connectivity(ir.Conv2d)
def _conv(n: ir.Conv2d, in_shape: tuple[int, ...]) -> Connectivity:
    # Synapses are stored explicitly, one per (input, output) pair, as on Loihi 1; Loihi 2's
    # shared-weight convolution encodings are not modelled (an upper bound on its memory).
    return Connectivity.of(conv2d_matrix(n, in_shape))


register_neuron(ir.LoihiLIF, 1)
register_reshape(ir.Flatten)


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
    layer: Layer
    conn: Connectivity
    source: str           # the neuron group (or Input) whose spikes reach this layer
    compartments: int


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
    name = li.layer.synapse.name
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
    """Where one layer (synapse + the neuron group it feeds) sits, and what it uses."""

    synapse: str
    group: str
    group_type: str
    source: str
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


def _source(graph: ir.Graph, syn: ir.Node) -> str:
    node = graph.predecessors(syn.name)[0]
    while not isinstance(node, (ir.NeuronGroup, ir.Input)):
        if type(node) not in RESHAPES:
            known = ", ".join(sorted(t.__name__ for t in RESHAPES))
            raise LoweringError(f"map_cores: no core-mapping rule for {type(node).__name__} {node.name!r} between "
                                f"layers (reshapes supported: {known}); register one in compilers.passes.mapping")
        node = graph.predecessors(node.name)[0]
    return node.name


def _layer_inputs(graph: ir.Graph) -> list[_LayerInput]:
    shapes = graph.shapes()
    out = []
    for layer in layers(graph):
        syn, group = layer.synapse, layer.group
        conn_fn, comp = CONNECTIVITY.get(type(syn)), COMPARTMENTS.get(type(group))
        if conn_fn is None or comp is None:
            node = syn if conn_fn is None else group
            table = CONNECTIVITY if conn_fn is None else COMPARTMENTS
            known = ", ".join(sorted(t.__name__ for t in table))
            raise LoweringError(f"map_cores: no core-mapping rule for {type(node).__name__} {node.name!r} "
                                f"(supported: {known}); quantise the graph first or register one in "
                                f"compilers.passes.mapping")
        in_shape = shapes[graph.predecessors(syn.name)[0].name]
        out.append(_LayerInput(layer=layer, conn=conn_fn(syn, in_shape), source=_source(graph, syn),
                               compartments=comp))
    return out


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
    syn, group = li.layer.synapse, li.layer.group
    return LayerPlan(synapse=syn.name, group=group.name, group_type=type(group).__name__, source=li.source,
                     neurons=li.conn.shape[0], compartments=li.compartments, synapses=li.conn.nnz,
                     fan_in=int(li.conn.row_nnz().max()) if li.conn.shape[0] else 0,
                     weight_bits=hw.synapse.weight_bits, block_sizes=split.sizes, first_core=0,
                     limited_by=binding, usage=split.usage, dense_lists=split.dense,
                     entries_per_input=entries, dest_per_input=_col_sum(split.counts, np.ones_like),
                     block_entries=block_entries)


def plan_network(graph: ir.Graph, hw: HardwareConfig) -> Placement:
    """Split every layer of a quantised chain graph over cores and number the cores; no board check."""
    require_chain(graph, "map_cores")
    inputs = _layer_inputs(graph)
    plans: list[LayerPlan] = []
    dest = np.ones(inputs[-1].conn.shape[0], np.int64) if inputs else np.zeros(0)
    nxt = "host"
    for li in reversed(inputs):
        plan = _plan_layer(li, dest, hw, nxt)
        plans.insert(0, plan)
        dest, nxt = plan.dest_per_input, li.layer.synapse.name
    first = 0
    placed = []
    for p in plans:
        placed.append(_with_first_core(p, first))
        first += p.cores
    return Placement(hw=hw, layers=tuple(placed))


def _with_first_core(p: LayerPlan, first: int) -> LayerPlan:
    from dataclasses import replace

    return replace(p, first_core=first)


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


def map_cores(graph: ir.Graph, *, hw: HardwareConfig) -> ir.Graph:
    """Record in ``meta["mapping"]`` how many cores and chips each neuron group needs on ``hw``."""
    placement = plan_network(graph, hw)
    check_board(placement)
    return mark(graph, "map_cores", mapping=placement.to_json())
