"""The graph container of the IR, the node base classes, ports, and the node-type registry.

A network is a ``Graph``: named nodes and directed ``Edge``s from a node's output to a named
input *port* of another node. Nothing here executes a network: backends do that.

Structure
---------
Every node type declares, as class attributes,

* ``PORTS``: its input ports. A port accepts one kind of ``Flow`` (a neuron group's ``in`` port
  takes synaptic *current*; a synapse's ``in`` port takes a *signal*: spikes, graded messages or
  float activations) and either one edge or several (``many``: the edges are summed, as a
  neuron's dendrite sums its synapses). Later node types add ports of their own (a learning
  neuron's third-factor input, for example).
* ``OUTPUT``: the ``Flow`` its output carries (None: it has no output).
* ``STATE``: its state variables and their ``Lifetime``: reset to zero at the start of every
  sample, or kept for the whole run (plastic weights, for example).

So a signal flows Input/neuron group → [reshapes] → synapse → neuron group port, and every
cycle passes through a neuron group and a synapse.

Time
----
A sample is simulated for T steps τ = 1..T from a zero state (``Lifetime.SAMPLE`` state is zero
and no message is in flight at τ = 1). At each step a neuron group integrates the sum of its
synapses' outputs of the *same* step. A synapse with ``delay`` d outputs at step τ the weighted
sum of its input at step τ − d (nothing for τ − d < 1). Every cycle must pass through a synapse
with d ≥ 1, so that each step can be computed in one pass in dependency order
(``Graph.topological``). These are logical delays within a sample: a backend may add pipeline
latency of its own (Lava's Dense delivers one step later), which it removes again so that
results equal this definition (see ``compilers.lava.lower``).

Nodes are frozen dataclasses and their arrays are read-only (``writeable=False``): a pass that
tried to change a node's array in place raises ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from toolkit.errors import GraphError, RegistryError
from toolkit.learning.rule import Plasticity
from toolkit.rules import Rule

if TYPE_CHECKING:
    from toolkit.ir.records import Record

__all__ = [
    "NODE_TYPES",
    "Edge",
    "Flow",
    "Graph",
    "Lifetime",
    "NeuronGroup",
    "Node",
    "Port",
    "ReadoutMode",
    "ResetMode",
    "Synapse",
    "frozen_array",
    "node_type",
    "register_node",
]

N = TypeVar("N", bound="Node")
R = TypeVar("R", bound="Record")

#: Every concrete node class, by class name (the file format's ``type``).
NODE_TYPES: dict[str, type[Node]] = {}


def register_node(cls: type[N]) -> type[N]:
    """Class decorator: make a node type known to the file format (each name once)."""
    if cls.__name__ in NODE_TYPES:
        raise RegistryError(f"node type {cls.__name__} is already registered ({NODE_TYPES[cls.__name__]!r})")
    NODE_TYPES[cls.__name__] = cls
    return cls


def node_type(name: str) -> type[Node] | None:
    return NODE_TYPES.get(name)


class ResetMode(enum.Enum):
    """What a spiking neuron's voltage does after a spike."""

    ZERO = "zero"            #: v ← 0 (Loihi's LIF)
    SUBTRACT = "subtract"    #: v ← v − threshold (keeps the residue; exact rate coding)


class ReadoutMode(enum.Enum):
    """How an ``Output`` node turns its input into a prediction score per class."""

    VALUE = "value"              #: float value of the preceding node (float graphs)
    SPIKE_COUNT = "spike_count"  #: number of spikes over the sample's timesteps
    SIGMA = "sigma"              #: sum of graded (sigma-delta) messages over the timesteps
    #: membrane voltage v of the (``LoihiLIF``) group read, after the sample's last step: a non-spiking read-out
    #: (NIR's LI / CubaLI), whose group must never fire
    VOLTAGE = "voltage"


class Flow(enum.Enum):
    """What travels along an edge."""

    SIGNAL = "signal"    #: the output of an input or a neuron group: activations, spikes, graded messages
    CURRENT = "current"  #: the output of a synapse: input current for a neuron group's port


class Lifetime(enum.Enum):
    """How long a node's state variable lives."""

    SAMPLE = "sample"  #: reset to zero at the start of every sample
    RUN = "run"        #: kept across samples for the whole run (e.g. plastic weights)


@dataclass(frozen=True, slots=True)
class Port:
    """An input port: its name, what it accepts, and whether several edges into it are summed."""

    name: str
    accepts: Flow
    many: bool = False
    required: bool = True   #: a port that is not ``many`` needs exactly one edge (else at most one)
    doc: str = ""


def frozen_array(a: np.ndarray) -> np.ndarray:
    """A read-only array with the contents of ``a``: ``a`` itself if it is already a read-only array that owns
    its memory, else a read-only copy (a view could still be written through its base)."""
    if not a.flags.writeable and a.base is None:
        return a
    out = np.array(a, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Node:
    """Base of all IR nodes. ``name`` is unique within a graph."""

    name: str

    PORTS: ClassVar[tuple[Port, ...]] = ()
    OUTPUT: ClassVar[Flow | None] = Flow.SIGNAL
    STATE: ClassVar[Mapping[str, Lifetime]] = MappingProxyType({})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                object.__setattr__(self, f.name, frozen_array(value))

    @classmethod
    def port(cls, name: str) -> Port | None:
        return next((p for p in cls.PORTS if p.name == name), None)

    def lifetimes(self) -> Mapping[str, Lifetime]:
        """This node's state variables and how long each lives (its type's ``STATE``, unless the instance adds
        state of its own, as a plastic synapse does)."""
        return self.STATE

    def arrays(self) -> dict[str, np.ndarray]:
        """The node's array-valued fields, by field name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of this node's output given the shape at its ``in`` port (identity by default)."""
        return in_shape

    def replace(self: N, **changes: Any) -> N:
        return dataclasses.replace(self, **changes)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_values_equal(getattr(self, f.name), getattr(other, f.name))
                   for f in dataclasses.fields(self))

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class NeuronGroup(Node):
    """Base of the nodes that hold neuron state between time steps; ``shape`` is the group's.

    Port ``in``: the sum of every synapse connected to it (the dendritic sum).
    """

    shape: tuple[int, ...]

    PORTS: ClassVar[tuple[Port, ...]] = (Port("in", Flow.CURRENT, many=True, doc="dendritic input, summed"),)

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(self.shape)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Synapse(Node):
    """Base of the nodes that turn a signal into the input current of one neuron group's port.

    ``weight`` is float before quantisation and the chip's integer registers after;
    ``bias`` is moved into the neuron group it feeds by ``fold_biases``; the dendritic sum is
    shifted by ``weight_exp`` (left if > 0, arithmetic right if < 0). ``delay`` d ≥ 0: the output
    at step τ is computed from the input at step τ − d (see the module doc).

    Training provenance, kept so that a later step can go on learning with it: ``rule`` is the
    learning rule the weights were trained with (None: unknown or not trained), ``feedback`` the
    rule's fixed or learned feedback matrix B where it has one (for feedback alignment the shape of
    Wᵀ, in the float units of training; see ``toolkit.training.modules``).

    ``plastic``: the local learning rule the synapse runs while the network runs (``toolkit.learning``), or
    None for a fixed synapse. A plastic synapse's weight, tag and delay variables and its traces live for
    the whole run (``Lifetime.RUN``, see ``lifetimes``).
    """

    weight: np.ndarray
    bias: np.ndarray | None = None
    weight_exp: int = 0
    delay: int = 0
    rule: Rule | None = None
    feedback: np.ndarray | None = None
    plastic: Plasticity | None = None

    PORTS: ClassVar[tuple[Port, ...]] = (Port("in", Flow.SIGNAL, doc="presynaptic signal"),)
    OUTPUT: ClassVar[Flow | None] = Flow.CURRENT
    #: the messages a delayed synapse holds in flight; weights are parameters, not state
    STATE: ClassVar[Mapping[str, Lifetime]] = MappingProxyType({"in_flight": Lifetime.SAMPLE})

    def lifetimes(self) -> Mapping[str, Lifetime]:
        if self.plastic is None:
            return self.STATE
        own = sorted(n for n in self.plastic.used_traces() if not (self.plastic.third_factor and n.startswith("y")))
        run = {k: Lifetime.RUN for k in ("weight", "tag", "delay_var", *own)}
        return MappingProxyType({**self.STATE, **run})

    @property
    def quantized(self) -> bool:
        return bool(np.issubdtype(self.weight.dtype, np.integer))

    @property
    def fan_in(self) -> int:
        """Inputs per output neuron."""
        return int(np.prod(self.weight.shape[1:]))


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.dtype == b.dtype and np.array_equal(a, b))
    return bool(a == b)


@dataclass(frozen=True, slots=True, order=True)
class Edge:
    """From ``src``'s output to the input port ``port`` of ``dst``."""

    src: str
    dst: str
    port: str = "in"

    @classmethod
    def of(cls, e: Edge | Iterable[str]) -> Edge:
        """An edge from an ``Edge`` or a (src, dst) or (src, dst, port) tuple."""
        if isinstance(e, Edge):
            return e
        parts = tuple(str(x) for x in e)
        if len(parts) not in (2, 3):
            raise GraphError(f"an edge is (source, target) or (source, target, port), got {parts!r}")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.src} -> {self.dst}" + ("" if self.port == "in" else f".{self.port}")


EdgeLike = Edge | tuple[str, str] | tuple[str, str, str]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Graph:
    """A network: nodes, edges between them, and the typed ``records`` the compiler's passes left on it.

    Records (``toolkit.ir.records``) are frozen facts such as the calibrated ranges, the quantisation
    report or the core mapping; at most one of each type. Construction accepts edges as ``Edge`` or as
    (src, dst[, port]) tuples.
    """

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = ()
    records: tuple[Record, ...] = ()
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "edges", tuple(Edge.of(e) for e in self.edges))
        recs = tuple(self.records)
        kinds = [type(r).__name__ for r in recs]
        dup = sorted({k for k in kinds if kinds.count(k) > 1})
        if dup:
            raise GraphError(f"a graph holds at most one record of each type; got several {', '.join(dup)}")
        object.__setattr__(self, "records", recs)
        object.__setattr__(self, "_index", MappingProxyType({n.name: i for i, n in enumerate(self.nodes)}))

    @classmethod
    def chain(cls, nodes: Iterable[Node], records: Iterable[Record] = ()) -> Graph:
        """A feed-forward chain: each node feeds the next one's ``in`` port."""
        nodes = tuple(nodes)
        edges = tuple(Edge(a.name, b.name) for a, b in itertools.pairwise(nodes))
        return cls(nodes=nodes, edges=edges, records=tuple(records))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return (self.nodes == other.nodes and set(self.edges) == set(other.edges)
                and set(map(_record_key, self.records)) == set(map(_record_key, other.records)))

    def __hash__(self) -> int:
        return hash(tuple(n.name for n in self.nodes))

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    # ------------------------------------------------------------------ lookup

    def node(self, name: str) -> Node:
        try:
            return self.nodes[self._index[name]]
        except KeyError:
            raise KeyError(f"no node named {name!r} (nodes: {', '.join(n.name for n in self.nodes)})") from None

    def in_edges(self, name: str, port: str | None = None) -> list[Edge]:
        """Edges into ``name`` (into ``port`` only, if given), in graph order."""
        return [e for e in self.edges if e.dst == name and (port is None or e.port == port)]

    def out_edges(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.src == name]

    def predecessors(self, name: str, port: str | None = None) -> list[Node]:
        return [self.node(e.src) for e in self.in_edges(name, port)]

    def successors(self, name: str) -> list[Node]:
        return [self.node(e.dst) for e in self.out_edges(name)]

    def source(self, name: str, port: str = "in") -> Node:
        """The one node feeding ``port`` of ``name`` (a synapse, a reshape or an Output)."""
        preds = self.predecessors(name, port)
        if len(preds) != 1:
            raise GraphError(f"{name!r}.{port} has {len(preds)} incoming edges where exactly one is needed")
        return preds[0]

    def signal_source(self, name: str) -> Node:
        """The Input or neuron group whose signal reaches the ``in`` port of ``name``, through any reshapes
        (nodes such as Flatten whose ``in`` port takes a signal and which send one on)."""
        node = self.source(name)
        seen = {name}
        while (port := node.port("in")) is not None and port.accepts is Flow.SIGNAL and node.OUTPUT is Flow.SIGNAL:
            if node.name in seen:
                raise GraphError(f"the reshapes before {name!r} form a cycle")
            seen.add(node.name)
            node = self.source(node.name)
        return node

    def of_type(self, cls: type[N]) -> list[N]:
        return [n for n in self.nodes if isinstance(n, cls)]

    # ------------------------------------------------------------------ records

    def record(self, cls: type[R]) -> R | None:
        """The record of type ``cls``, or None."""
        return next((r for r in self.records if type(r) is cls), None)

    def with_record(self, *records: Record) -> Graph:
        """This graph with ``records`` added, each replacing a record of its type."""
        kinds = {type(r) for r in records}
        kept = tuple(r for r in self.records if type(r) not in kinds)
        return dataclasses.replace(self, records=kept + tuple(records))

    @property
    def timesteps(self) -> int | None:
        """Timesteps per sample the graph was compiled for (its ``Timesteps`` record), or None."""
        from toolkit.ir.records import Timesteps

        rec = self.record(Timesteps)
        return rec.steps if rec is not None else None

    # ------------------------------------------------------------------ rebuilding

    def with_nodes(self, nodes: Iterable[Node], edges: Iterable[EdgeLike] | None = None) -> Graph:
        return dataclasses.replace(self, nodes=tuple(nodes),
                                   edges=self.edges if edges is None else tuple(Edge.of(e) for e in edges))

    def replace_nodes(self, replaced: Mapping[str, Node]) -> Graph:
        """This graph with the nodes named in ``replaced`` swapped for new ones of the same name."""
        for name, n in replaced.items():
            if n.name != name:
                raise GraphError(f"replace_nodes: node {name!r} cannot be replaced by one named {n.name!r}")
        return self.with_nodes([replaced.get(n.name, n) for n in self.nodes])

    # ------------------------------------------------------------------ order and shapes

    def dependencies(self, name: str) -> list[str]:
        """The nodes whose output of the same step ``name`` needs: none for a synapse with delay ≥ 1."""
        n = self.node(name)
        if isinstance(n, Synapse) and n.delay >= 1:
            return []
        return [e.src for e in self.in_edges(name)]

    def topological(self) -> list[Node]:
        """Nodes in an order in which each step can be computed in one pass: every node after the nodes
        whose same-step output it needs (edges into a synapse with delay ≥ 1 do not count). Raises
        ``GraphError`` naming a cycle without such a delay."""
        return [self.node(n) for n in _kahn({n.name: self.dependencies(n.name) for n in self.nodes}, self)]

    def dataflow_order(self) -> list[Node]:
        """Nodes with every node after all of its sources, over every edge (delayed or not): the order in
        which a graph without cycles can be computed node by node over all steps of a sample. Raises
        ``GraphError`` for a graph with a cycle (use ``topological`` there)."""
        try:
            names = _kahn({n.name: [e.src for e in self.in_edges(n.name)] for n in self.nodes}, self)
        except GraphError:
            raise GraphError("the graph has a cycle (a recurrent synapse), so it has no data-flow order; "
                             "compute it step by step in Graph.topological() order") from None
        return [self.node(n) for n in names]

    def is_acyclic(self) -> bool:
        """True if the edges form no cycle at all (delays aside): the graph can be computed node by node
        over all steps of a sample (``dataflow_order``)."""
        try:
            self.dataflow_order()
        except GraphError:
            return False
        return True

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shape of every node: its own for inputs, neuron groups and outputs; ``out_shape`` of the
        shape at its ``in`` port for the others."""
        shapes: dict[str, tuple[int, ...]] = {}

        def shape(name: str, seen: tuple[str, ...] = ()) -> tuple[int, ...]:
            if name in shapes:
                return shapes[name]
            n = self.node(name)
            own = getattr(n, "shape", None)
            if own is not None:
                shapes[name] = tuple(own)
                return shapes[name]
            if name in seen:
                raise GraphError(f"node {name!r} is in a cycle of nodes that have no shape of their own")
            preds = self.predecessors(name, "in")
            shapes[name] = n.out_shape(shape(preds[0].name, (*seen, name))) if preds else ()
            return shapes[name]

        for n in self.nodes:
            shape(n.name)
        return shapes


def _record_key(r: Record) -> tuple[str, str]:
    import json

    return type(r).__name__, json.dumps(r.to_json(), sort_keys=True)


def _kahn(deps: Mapping[str, list[str]], graph: Graph) -> list[str]:
    """Kahn's algorithm over ``deps`` (node -> the nodes it needs first), in graph order where free."""
    indeg = {n: len(d) for n, d in deps.items()}
    users: dict[str, list[str]] = {n: [] for n in deps}
    for n, d in deps.items():
        for m in d:
            users[m].append(n)
    ready = [n for n in deps if indeg[n] == 0]
    order: list[str] = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for u in users[name]:
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    if len(order) != len(deps):
        cycle = _a_cycle(deps, {n for n in deps if indeg[n] > 0})
        raise GraphError(f"the cycle {' -> '.join(cycle)} has no synapse with a delay of at least one step; give a "
                         "synapse on it a delay >= 1 (each step must be computable in one pass)")
    return order


def _a_cycle(deps: Mapping[str, list[str]], stuck: set[str]) -> list[str]:
    """One cycle among the ``stuck`` nodes of Kahn's algorithm (each has a stuck dependency), in edge order."""
    path: list[str] = []
    node = min(stuck)
    while node not in path:
        path.append(node)
        node = next(d for d in deps[node] if d in stuck)
    cycle = path[path.index(node):]
    return [*reversed(cycle), cycle[-1]]

