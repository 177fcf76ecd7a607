"""The reference simulator's engines and its entry point, ``simulate``.

Both NumPy engines compute the IR's definition of time (``toolkit.ir.core``) for a batch of samples
with the node models of ``core.MODELS``; they differ only in the order of the work:

* ``step``: for τ = 1..T, every node in ``Graph.topological`` order. A synapse with delay d ≥ 1
  emits at τ what it computed at τ − d (a queue of d results), and takes its step-τ input at the
  end of step τ, after its source has run. Any valid graph: the executable spec.
* ``nodes``: every node over all T steps at once, in topological order: a synapse is one matrix
  product for the whole batch and all steps, its delay a shift along time. Graphs without cycles.

The event-driven engine (``events``) runs Dense → LIF chains sample by sample. The stream engine
(``stream``) runs the chip's schedule instead, all samples in one global time, and is the only one
that runs plastic synapses and learning neurons' third-factor ports. ``engine="auto"`` picks stream
for a graph that learns, else events where they apply and nothing is recorded, else nodes for graphs
without cycles, else step. Tests check that all engines agree on every conformance case they accept.

Read-outs: ``SPIKE_COUNT`` and ``SIGMA`` sum what the Output's source sends over the T steps; ``VOLTAGE`` takes the
source ``LoihiLIF`` (or ``LoihiALIF``) group's voltage after step T (the step and nodes engines; events and stream
refuse it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from toolkit import ir
from toolkit.backends.base import RunResult, input_batches
from toolkit.backends.reference.core import MODELS, NodeModel, Recorder
from toolkit.backends.reference.encode import encode_batch
from toolkit.errors import LoweringError

__all__ = ["ENGINES", "Plan", "learns", "plan", "run_nodes", "run_steps", "simulate"]

#: ``simulate(engine=...)``
ENGINES = ("auto", "step", "nodes", "events", "stream")


@dataclass(frozen=True)
class Plan:
    """A runnable graph: its nodes in step order, its inputs, its one output, and each node's in-edges."""

    graph: ir.Graph
    order: tuple[ir.Node, ...]
    inputs: tuple[ir.Input, ...]
    output: ir.Output
    sources: Mapping[str, tuple[str, ...]]   # node -> the nodes feeding its ``in`` port
    voltage: str | None = None               # the group a ``VOLTAGE`` Output reads (its v after the last step)

    def model(self, n: ir.Node) -> NodeModel:
        m = MODELS.of(n)
        assert m is not None  # plan() refuses graphs with a node without a model
        return m


def plan(graph: ir.Graph) -> Plan:
    """Check that ``graph`` can run in the reference and return its ``Plan``; ``LoweringError`` names what cannot."""
    ir.check_graph(graph)
    inputs = tuple(graph.of_type(ir.Input))
    outputs = graph.of_type(ir.Output)
    if len(outputs) != 1:
        raise LoweringError(f"the reference simulator reads one Output; the graph has {len(outputs)} "
                            f"({', '.join(o.name for o in outputs)})")
    for inp in inputs:
        if inp.encoding is ir.Encoding.ANALOG:
            raise LoweringError(f"Input {inp.name!r} is not encoded as spikes: the graph is not converted to spiking "
                                "neurons; compile it first (nfa compile)")
    for n in graph.nodes:
        if isinstance(n, ir.Synapse) and n.plastic is not None:
            raise LoweringError(f"{type(n).__name__} {n.name!r} is plastic ({n.plastic.name}); only the stream "
                                "engine learns (engine='stream', or 'auto'), so this engine refuses it rather than "
                                "run it as a fixed synapse")
        if not isinstance(n, (ir.Input, ir.Output)) and MODELS.of(n) is None:
            raise LoweringError(f"the reference simulator cannot run {type(n).__name__} {n.name!r} "
                                f"(supported: {MODELS.supported()})")
    out = outputs[0]
    voltage = _voltage_source(graph, out)
    extra = sorted({e.port for e in graph.edges} - {"in"})
    if extra:
        raise LoweringError(f"this reference engine has no model for ports {extra}; the stream engine has "
                            "(engine='stream', or 'auto')")
    sources = {n.name: tuple(e.src for e in graph.in_edges(n.name, "in")) for n in graph.nodes}
    return Plan(graph=graph, order=tuple(graph.topological()), inputs=inputs, output=out, sources=sources,
                voltage=voltage)


def _voltage_source(graph: ir.Graph, out: ir.Output) -> str | None:
    """The group whose voltage a ``VOLTAGE`` Output reads (None for the summed read-outs); ``LoweringError`` for a
    read-out the reference has no rule for, or a voltage read-out of something without a voltage."""
    if out.readout in (ir.ReadoutMode.SPIKE_COUNT, ir.ReadoutMode.SIGMA):
        return None
    if out.readout is not ir.ReadoutMode.VOLTAGE:
        raise LoweringError(f"Output {out.name!r} readout {out.readout.value!r} is not a spiking readout")
    src = graph.signal_source(out.name)
    if type(src) not in (ir.LoihiLIF, ir.LoihiALIF):   # a learning neuron runs in the stream engine, which sums
        raise LoweringError(f"Output {out.name!r} reads the voltage of {type(src).__name__} {src.name!r}; a voltage "
                            "read-out reads a LoihiLIF or LoihiALIF group")
    return src.name


def _voltage(p: Plan, state: Mapping[str, Any], batch: int) -> np.ndarray:
    """The read-out group's voltage after the last step, (B, n) int64 (a ``VOLTAGE`` Output's scores)."""
    assert p.voltage is not None
    node = p.graph.node(p.voltage)
    return np.asarray(p.model(node).read(node, state[p.voltage])["v"]).reshape(batch, -1).astype(np.int64)


def _readout(s: np.ndarray) -> np.ndarray:
    """Sum over steps (axis 1) of spikes or messages (B, T, ...): (B, n) int64."""
    return s.reshape(s.shape[0], s.shape[1], -1).sum(axis=1, dtype=np.int64)


def _summed(parts: list[np.ndarray], lead: tuple[int, ...]) -> np.ndarray | None:
    """The sum of a group's synaptic inputs, each flattened after the ``lead`` axes; None if there are none."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    total = parts[0].reshape(*lead, -1).astype(np.int64)
    for p in parts[1:]:
        total = total + p.reshape(*lead, -1)
    return total


def _zeros(n: ir.NeuronGroup, lead: tuple[int, ...]) -> np.ndarray:
    return np.zeros((*lead, *n.shape), np.int64)


def run_steps(p: Plan, encoded: Mapping[str, np.ndarray], timesteps: int, rec: Recorder) -> np.ndarray:
    """The step engine: scores (B, n) of a batch whose inputs are ``encoded[name]`` (B, T, ...)."""
    batch = next(iter(encoded.values())).shape[0]
    nodes = [n for n in p.order if not isinstance(n, (ir.Input, ir.Output))]
    state = {n.name: p.model(n).start(n, batch) for n in nodes}
    delayed = [n for n in nodes if isinstance(n, ir.Synapse) and n.delay >= 1]
    queue: dict[str, list[np.ndarray | None]] = {n.name: [None] * n.delay for n in delayed}
    recorded = [n for n in nodes if rec.wants(n.name) and p.model(n).traces(n)]
    trace: dict[str, dict[str, list[np.ndarray]]] = {n.name: {} for n in recorded}
    score = np.zeros((batch, int(np.prod(p.output.shape))), np.int64)
    for k in range(timesteps):
        now: dict[str, Any] = {}
        for n in p.order:
            now[n.name] = _step_node(p, n, now, state, queue, encoded, k, batch)
        for n in delayed:  # their step-k input is known now; it leaves the queue d steps later
            queue[n.name][k % n.delay] = p.model(n).step(n, state[n.name], now[p.sources[n.name][0]])
        if p.voltage is None:
            score += _readout(now[p.output.name][:, None])
        for n in recorded:
            for var, value in {**p.model(n).read(n, state[n.name]), "s": now[n.name]}.items():
                trace[n.name].setdefault(var, []).append(np.asarray(value).astype(np.int32, copy=False))
    for name, vars_ in trace.items():
        rec.add(name, **{k: np.stack(v, 1) for k, v in vars_.items()})
    return score if p.voltage is None else _voltage(p, state, batch)


def _step_node(p: Plan, n: ir.Node, now: dict[str, Any], state: dict[str, Any], queue: dict[str, list[Any]],
               encoded: Mapping[str, np.ndarray], k: int, batch: int) -> Any:
    """Node ``n``'s output at step k (step engine)."""
    if isinstance(n, ir.Input):
        return encoded[n.name][:, k]
    if isinstance(n, ir.Output):
        return now[p.sources[n.name][0]]
    if isinstance(n, ir.Synapse) and n.delay >= 1:
        return queue[n.name][k % n.delay]
    if isinstance(n, ir.NeuronGroup):
        a = _summed([now[s] for s in p.sources[n.name]], (batch,))
        return p.model(n).step(n, state[n.name], _zeros(n, (batch,)) if a is None else a)
    return p.model(n).step(n, state[n.name], now[p.sources[n.name][0]])


def _delayed(x: np.ndarray, d: int) -> np.ndarray:
    """(B, T, ...) shifted d steps later along time, zeros first."""
    out = np.zeros_like(x)
    if d < x.shape[1]:
        out[:, d:] = x[:, :x.shape[1] - d]
    return out


def run_nodes(p: Plan, encoded: Mapping[str, np.ndarray], timesteps: int, rec: Recorder) -> np.ndarray:
    """The node-over-time engine (graphs without cycles): scores (B, n) of a batch."""
    batch = next(iter(encoded.values())).shape[0]
    order = p.graph.dataflow_order()   # every node after its sources, delayed synapses included
    users = {n.name: sum(n.name in srcs for srcs in p.sources.values()) for n in order}
    outs: dict[str, np.ndarray] = {}
    last_v = np.zeros((batch, 0), np.int64)
    for n in order:
        if isinstance(n, ir.Input):
            outs[n.name] = encoded[n.name]
            continue
        srcs = p.sources[n.name]
        if isinstance(n, ir.Output):
            return _readout(outs[srcs[0]]) if p.voltage is None else last_v
        if isinstance(n, ir.NeuronGroup):
            a = _summed([outs[s] for s in srcs], (batch, timesteps))
            a = _zeros(n, (batch, timesteps)) if a is None else a
            if n.name == p.voltage:
                outs[n.name], last_v = _run_voltage(p, n, a, rec)
            else:
                outs[n.name] = p.model(n).run(n, a, rec)
        else:
            y = p.model(n).run(n, outs[srcs[0]], rec)
            outs[n.name] = _delayed(y, n.delay) if isinstance(n, ir.Synapse) and n.delay else y
        for s in srcs:  # free what no later node reads
            users[s] -= 1
            if users[s] == 0:
                del outs[s]
    raise LoweringError("the graph has no Output")  # plan() guarantees one


def _run_voltage(p: Plan, n: ir.NeuronGroup, a: np.ndarray, rec: Recorder) -> tuple[np.ndarray, np.ndarray]:
    """The read-out group over all steps (nodes engine): its output and its voltage after the last step (B, n),
    taken from a recording of its own (passed on to ``rec`` if that records the group too)."""
    own = Recorder(names={n.name})
    out = p.model(n).run(n, a, own)
    traces = own.result()[n.name]
    if rec.wants(n.name):
        rec.add(n.name, **traces)
    return out, traces["v"][:, -1].reshape(len(out), -1).astype(np.int64)


def _engine(p: Plan, engine: str, record: bool) -> tuple[str, Any]:
    """(the engine that will run, the event plan if it is the event engine)."""
    from toolkit.backends.reference import events

    if engine not in ENGINES:
        raise LoweringError(f"unknown reference engine {engine!r}; choose one of {', '.join(ENGINES)}")
    ev = events.plan_events(p.graph) if engine in ("auto", "events") and not record else None
    if engine == "events" and (ev is None or not events.available()):
        raise LoweringError("the event-driven reference engine needs numba and a Dense/LoihiLIF chain with rate, "
                            "poisson or current input and no recorded state; use engine='step' or 'nodes'")
    if ev is not None and events.available():
        return "events", ev
    acyclic = p.graph.is_acyclic()
    if engine == "nodes" and not acyclic:
        raise LoweringError("the node-over-time engine runs graphs without cycles; this graph has a recurrent "
                            "synapse: use engine='step'")
    return ("nodes" if acyclic and engine != "step" else "step"), None


def learns(graph: ir.Graph) -> bool:
    """True if ``graph`` has plastic synapses or third-factor inputs: only the stream engine runs it."""
    return (any(isinstance(n, ir.Synapse) and n.plastic is not None for n in graph.nodes)
            or any(e.port == "third" for e in graph.edges))


def simulate(graph: ir.Graph, x: np.ndarray | Mapping[str, np.ndarray], *, timesteps: int | None = None,
             batch_size: int | None = None, record: Iterable[str] | bool = False, progress: bool = False,
             engine: str = "auto", seed: int = 0, snapshot_at: Iterable[int] = ()) -> RunResult:
    """Run samples through a quantised graph; ``x`` is (N, *input shape) in [0, 1], or a mapping from each
    Input's name to its samples (graphs with several inputs).

    ``timesteps`` defaults to the graph's ``Timesteps`` record. ``record`` names the nodes whose state to keep
    (True: all). ``engine``: ``auto``, ``step``, ``nodes``, ``events`` or ``stream`` (see the module doc); every
    engine computes the same integers. The result's ``engine`` says which ran. ``seed`` seeds the stochastic
    rounding of plastic synapses (stream engine, as ``lower_to_lava(seed=...)``); their variables after the run
    are in the result's ``learned``, and their weights after each ``snapshot_at`` sample count in its ``snapshots``
    (``run_stream``).
    """
    from toolkit.backends.reference import events
    from toolkit.backends.reference.stream import run_stream

    if engine == "stream" or (engine == "auto" and learns(graph)):
        if record:
            raise LoweringError("the stream engine records no state; run without record, or record a graph without "
                                "plastic synapses with engine='step'")
        return run_stream(graph, x, timesteps=timesteps, seed=seed, progress=progress, snapshot_at=snapshot_at)
    start = time.perf_counter()
    p = plan(graph)
    t = int(timesteps or graph.timesteps or 32)
    rec = Recorder.of(record)
    levels = input_batches(graph, x)
    name, ev = _engine(p, engine, bool(record))
    n_samples = len(next(iter(levels.values())))
    batch = batch_size or (4096 if name == "events" else 512)
    scores = []
    for first in tqdm(range(0, n_samples, batch), desc="reference", disable=None if progress else True, leave=False):
        if name == "events":
            (inp,) = p.inputs
            scores.append(events.run_events(ev, levels[inp.name][first:first + batch], t, inp, first_index=first))
            continue
        enc = {i.name: encode_batch(levels[i.name][first:first + batch], t, i, first_index=first) for i in p.inputs}
        scores.append((run_steps if name == "step" else run_nodes)(p, enc, t, rec))
    n_out = int(np.prod(p.output.shape))
    return RunResult(backend="reference", engine=name,
                     scores=np.concatenate(scores) if scores else np.zeros((0, n_out), np.int64),
                     timesteps=t, wall_s=time.perf_counter() - start, total_steps=n_samples * t,
                     traces=rec.result())
