"""What the passes share: the ``graph_pass`` decorator (names a pass, declares the records it needs and
leaves, logs it) and walking a graph by neuron group and the synapses into it.

Every pass is a pure function ``Graph -> Graph`` (keyword options aside). A pass that establishes a
fact leaves a typed record of it (``toolkit.ir.records``); a pass that relies on one declares it in
``requires``, so ``run_pipeline`` can check a pipeline's order before running anything and a pass
called by hand on the wrong graph says which pass to run first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from toolkit import ir
from toolkit.errors import GraphError

__all__ = ["Fanin", "PassInfo", "check_order", "fanin", "graph_pass", "groups", "pass_info", "with_log"]

F = TypeVar("F", bound=Callable[..., ir.Graph])


@dataclass(frozen=True, slots=True)
class PassInfo:
    """A pass's name and the record types it needs on its input graph and leaves on its output."""

    name: str
    requires: tuple[type[ir.Record], ...] = ()
    provides: tuple[type[ir.Record], ...] = ()


#: the pass that provides each record type (for messages: "run fold_biases first")
_PROVIDERS: dict[type[ir.Record], str] = {}


def with_log(graph: ir.Graph, name: str) -> ir.Graph:
    """``graph`` with ``name`` appended to its ``PassLog``."""
    log = graph.record(ir.PassLog)
    return graph.with_record(ir.PassLog(passes=(*(log.passes if log else ()), name)))


def graph_pass(name: str, *, requires: Sequence[type[ir.Record]] = (),
               provides: Sequence[type[ir.Record]] = ()) -> Callable[[F], F]:
    """Decorator of a pass ``fn(graph, **options) -> graph``: checks that the input carries every record in
    ``requires`` (else ``GraphError`` naming the pass that provides it), that the output carries every
    record in ``provides``, and appends ``name`` to the output's ``PassLog``."""
    info = PassInfo(name, tuple(requires), tuple(provides))
    for rec in info.provides:
        _PROVIDERS.setdefault(rec, name)

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def run(graph: ir.Graph, *args: Any, **kwargs: Any) -> ir.Graph:
            for rec in info.requires:
                if graph.record(rec) is None:
                    raise GraphError(f"{name}: the graph has no {rec.__name__} record; "
                                     f"run {_PROVIDERS.get(rec, 'the pass that makes it')} first")
            out = fn(graph, *args, **kwargs)
            for rec in info.provides:
                if out.record(rec) is None:
                    raise GraphError(f"{name} did not leave the {rec.__name__} record it declares")
            return with_log(out, name)

        run.pass_info = info  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]
    return deco


def pass_info(fn: Callable[..., Any]) -> PassInfo | None:
    """The ``PassInfo`` of a pass (or of a ``functools.partial`` of one); None if it has none."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "pass_info", None)


def check_order(graph: ir.Graph, passes: Sequence[tuple[str, Callable[..., Any]]]) -> None:
    """Raise ``GraphError`` before anything runs if a pass needs a record that neither ``graph`` nor an
    earlier pass provides."""
    have = {type(r) for r in graph.records}
    for label, fn in passes:
        info = pass_info(fn)
        if info is None:
            continue
        missing = [r for r in info.requires if r not in have]
        if missing:
            names = ", ".join(r.__name__ for r in missing)
            raise GraphError(f"pipeline order: pass {label!r} needs {names}, which no earlier pass provides "
                             f"(provided by: {', '.join(_PROVIDERS.get(r, '?') for r in missing)})")
        have.update(info.provides)


@dataclass(frozen=True, slots=True)
class Fanin:
    """One synapse into a neuron group, and the Input or neuron group whose signal it carries (through any
    reshapes such as Flatten)."""

    synapse: ir.Synapse
    source: ir.Node


def groups(graph: ir.Graph) -> list[ir.NeuronGroup]:
    """The neuron groups, each after every group it reads: ``Graph.dataflow_order`` for a graph without cycles,
    else ``Graph.topological`` (every group after the groups whose same-step output it needs)."""
    order = graph.dataflow_order() if graph.is_acyclic() else graph.topological()
    return [n for n in order if isinstance(n, ir.NeuronGroup)]


def fanin(graph: ir.Graph, group: str) -> list[Fanin]:
    """The synapses into ``group``'s ``in`` port, in edge order, each with its signal source."""
    out = []
    for e in graph.in_edges(group, "in"):
        syn = graph.node(e.src)
        if not isinstance(syn, ir.Synapse):
            raise GraphError(f"{group!r} is fed by {type(syn).__name__} {syn.name!r}, not a synapse")
        out.append(Fanin(syn, graph.signal_source(syn.name)))
    return out
