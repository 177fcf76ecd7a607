"""The stream engine's plan: which graphs stream (``plan_stream``), which the compiled path runs
(``compiled_applies``) (``stream.py`` documents the engine)."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit import ir
from toolkit.backends.reference.core import MODELS
from toolkit.errors import LoweringError
from toolkit.ir.timing import LavaTiming, check_plastic, lava_timing
from toolkit.learning.limits import check_plasticity

__all__ = ["StreamPlan", "compiled_applies", "plan_stream"]


@dataclass
class StreamPlan:
    """A graph checked for the stream engine, with its schedule."""

    graph: ir.Graph
    timing: LavaTiming
    order: tuple[ir.Node, ...]          # Inputs, groups and reshapes, each after its same-step sources
    output: ir.Output
    out_source: str                     # the group (or Input) the Output counts


def plan_stream(graph: ir.Graph) -> StreamPlan:
    """Check that ``graph`` can stream (``LoweringError`` names what cannot) and return its plan."""
    ir.check_graph(graph)
    outputs = graph.of_type(ir.Output)
    if len(outputs) != 1:
        raise LoweringError(f"the stream engine reads one Output; the graph has {len(outputs)}")
    for inp in graph.of_type(ir.Input):
        if inp.encoding is ir.Encoding.ANALOG:
            raise LoweringError(f"Input {inp.name!r} is not encoded as spikes: compile the graph first (nfa compile)")
    for n in graph.nodes:
        if not isinstance(n, (ir.Input, ir.Output)) and MODELS.of(n) is None:
            raise LoweringError(f"the reference simulator cannot run {type(n).__name__} {n.name!r} "
                                f"(supported: {MODELS.supported()})")
        if isinstance(n, ir.Synapse) and not n.quantized:
            raise LoweringError(f"{type(n).__name__} {n.name!r} has float weights: quantise the graph first")
    extra = sorted({e.port for e in graph.edges} - {"in", "third"})
    if extra:
        raise LoweringError(f"the stream engine has no model for ports {extra}")
    timing = lava_timing(graph)
    check_plastic(graph, timing)
    _check_rules(graph)
    order = tuple(n for n in graph.topological() if not isinstance(n, (ir.Synapse, ir.Output)))
    out = outputs[0]
    if out.readout is ir.ReadoutMode.VOLTAGE:
        raise LoweringError(f"Output {out.name!r} reads a voltage; the stream engine sums what its group sends (spikes "
                            "or messages): run a voltage read-out with engine='step' or 'nodes' (or 'auto')")
    return StreamPlan(graph=graph, timing=timing, order=order, output=out,
                      out_source=graph.signal_source(out.name).name)


def _check_rules(graph: ir.Graph) -> None:
    """Each plastic synapse's rule fits the chip's learning engine (as the Lava lowering checks it) and reads
    binary spikes."""
    for n in graph.of_type(ir.Synapse):
        if n.plastic is None:
            continue
        check_plasticity(n.plastic, where=f"synapse {n.name!r} ({n.plastic.name})")
        if _sends_graded(graph.signal_source(n.name)):
            raise LoweringError(f"plastic synapse {n.name!r} reads graded messages; the learning engine reads spikes")


def _sends_graded(n: ir.Node) -> bool:
    if isinstance(n, ir.Input):
        return bool(n.encoding.graded)
    return not isinstance(n, (ir.LoihiLIF, ir.LoihiALIF))


def compiled_applies(p: StreamPlan) -> bool:
    """Whether the compiled stream engine runs ``p`` (see the module doc)."""
    from toolkit.backends.reference.events import available

    if not available():
        return False
    for n in p.graph.nodes:
        if isinstance(n, ir.Input):
            if n.encoding.graded:
                return False
        elif not isinstance(n, (ir.Dense, ir.LoihiLIF, ir.Output)):
            return False
    return isinstance(p.graph.node(p.out_source), ir.LoihiLIF)
