"""``check_graph``: a pure structural check of an IR graph, with every problem listed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from toolkit.errors import GraphError
from toolkit.ir.core import Graph, NeuronGroup, Node
from toolkit.ir.io import Input, Output
from toolkit.ir.neurons import LoihiSigmaDelta
from toolkit.ir.synapses import AvgPool2d, Conv2d, Dense, Flatten

__all__ = ["check_graph", "graph_problems", "register_check"]


def check_graph(graph: Graph) -> Graph:
    """Return ``graph`` unchanged if it is valid, else raise ``GraphError`` listing the problems."""
    problems = graph_problems(graph)
    if problems:
        raise GraphError("invalid graph:\n  - " + "\n  - ".join(problems))
    return graph


def graph_problems(graph: Graph) -> list[str]:
    """Every structural problem of ``graph`` as a sentence; empty if it is valid."""
    problems = _name_problems(graph) + _edge_problems(graph)
    if problems:
        return problems
    problems += _io_problems(graph)
    try:
        graph.topological()
    except ValueError:
        return [*problems, "the edges form a cycle; only feed-forward graphs are supported"]
    if problems:
        return problems
    return _shape_problems(graph)


def _name_problems(graph: Graph) -> list[str]:
    names = [n.name for n in graph.nodes]
    out = [f"node #{i} has an empty name" for i, n in enumerate(names) if not n]
    dup = sorted({n for n in names if names.count(n) > 1})
    out += [f"node name {n!r} is used more than once" for n in dup]
    return out


def _edge_problems(graph: Graph) -> list[str]:
    names = {n.name for n in graph.nodes}
    out = []
    for a, b in graph.edges:
        for end in (a, b):
            if end not in names:
                out.append(f"edge {a!r} -> {b!r} refers to unknown node {end!r}")
        if a == b:
            out.append(f"edge {a!r} -> {b!r} is a self-loop")
    if len(set(graph.edges)) != len(graph.edges):
        out.append("an edge is listed twice")
    return out


def _io_problems(graph: Graph) -> list[str]:
    out = []
    inputs, outputs = graph.of_type(Input), graph.of_type(Output)
    if len(inputs) != 1:
        out.append(f"a graph needs exactly one Input node, found {len(inputs)}")
    if not outputs:
        out.append("a graph needs at least one Output node, found none")
    for n in graph.nodes:
        n_in = len(graph.predecessors(n.name))
        if isinstance(n, Input):
            if n_in:
                out.append(f"Input {n.name!r} must have no incoming edge")
        elif n_in != 1:
            out.append(f"{type(n).__name__} {n.name!r} has {n_in} incoming edges; "
                       "exactly one is supported")
        if isinstance(n, Output) and graph.successors(n.name):
            out.append(f"Output {n.name!r} must have no outgoing edge")
    return out


def _shape_problems(graph: Graph) -> list[str]:
    out: list[str] = []
    shapes: dict[str, tuple[int, ...]] = {}
    for n in graph.topological():
        if isinstance(n, Input):
            shapes[n.name] = tuple(n.shape)
            continue
        in_shape = shapes[graph.predecessors(n.name)[0].name]
        problem = _node_problem(n, in_shape)
        if problem:
            out.append(f"{type(n).__name__} {n.name!r}: {problem}")
            return out  # later shapes would be meaningless
        shapes[n.name] = n.out_shape(in_shape)
    return out


Check = Callable[[Any, tuple[int, ...]], "str | None"]

#: Structural checks per node type. Neuron groups without an entry get the generic
#: shape check; any other node type without an entry is reported as unsupported.
_CHECKS: dict[type[Node], Check] = {}


def register_check(*types: type[Node]) -> Callable[[Check], Check]:
    """Decorator: the function checks nodes of ``types`` given their input shape."""
    def deco(fn: Check) -> Check:
        for t in types:
            _CHECKS[t] = fn
        return fn
    return deco


def _node_problem(n: Node, in_shape: tuple[int, ...]) -> str | None:
    for field, arr in n.arrays().items():
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            return f"{field} contains NaN or infinite values"
    check = _CHECKS.get(type(n))
    if check is None and isinstance(n, (NeuronGroup, Output)):
        check = _group_problem
    if check is None:
        known = ", ".join(sorted(t.__name__ for t in _CHECKS))
        return f"no structural check for node type {type(n).__name__} (checked types: {known})"
    return check(n, in_shape)


@register_check(Dense)
def _dense_problem(n: Dense, in_shape: tuple[int, ...]) -> str | None:
    if n.weight.ndim != 2:
        return f"weight must be 2-D (out, in), got shape {n.weight.shape}"
    if int(np.prod(in_shape)) != n.in_features:
        return f"weight expects {n.in_features} inputs but its input has shape {in_shape}"
    if n.bias is not None and n.bias.shape != (n.out_features,):
        return f"bias must have shape ({n.out_features},), got {n.bias.shape}"
    return None


@register_check(Conv2d)
def _conv_problem(n: Conv2d, in_shape: tuple[int, ...]) -> str | None:
    if n.weight.ndim != 4:
        return f"weight must be 4-D (out, in/groups, kh, kw), got shape {n.weight.shape}"
    if len(in_shape) != 3:
        return f"needs a (channels, height, width) input, got {in_shape}"
    if n.groups < 1 or n.weight.shape[0] % n.groups:
        return f"groups = {n.groups} must be >= 1 and divide the {n.weight.shape[0]} output channels"
    if in_shape[0] != n.weight.shape[1] * n.groups:
        return (f"weight expects {n.weight.shape[1] * n.groups} input channels "
                f"but the input has {in_shape[0]}")
    if min(*n.stride, *n.dilation) < 1 or min(n.padding) < 0:
        return f"stride and dilation must be >= 1 and padding >= 0 (got {n.stride}, {n.dilation}, {n.padding})"
    if min(n.out_shape(in_shape)[1:]) < 1:
        return f"kernel larger than the padded input {in_shape}"
    if n.bias is not None and n.bias.shape != (n.weight.shape[0],):
        return f"bias must have shape ({n.weight.shape[0]},), got {n.bias.shape}"
    return None


@register_check(Flatten)
def _needs_chw(n: Node, in_shape: tuple[int, ...]) -> str | None:
    return None if len(in_shape) == 3 else f"needs a (channels, height, width) input, got {in_shape}"


@register_check(AvgPool2d)
def _pool_problem(n: AvgPool2d, in_shape: tuple[int, ...]) -> str | None:
    if len(in_shape) != 3:
        return f"needs a (channels, height, width) input, got {in_shape}"
    if min(*n.kernel, *n.stride) < 1:
        return f"kernel and stride must be >= 1, got {n.kernel} and {n.stride}"
    if min(n.out_shape(in_shape)[1:]) < 1:
        return f"kernel {n.kernel} larger than the input {in_shape}"
    return None


@register_check(LoihiSigmaDelta)
def _sigma_delta_problem(n: LoihiSigmaDelta, in_shape: tuple[int, ...]) -> str | None:
    if not (0 <= n.state_exp <= 7 and 0 <= n.spike_exp <= 7):
        return f"state_exp and spike_exp must be in 0..7 (Lava's 3-bit fields), got {n.state_exp}, {n.spike_exp}"
    if n.vth < 0:
        return f"vth must be >= 0, got {n.vth}"
    if not 1 <= n.message_bits <= 32:
        return f"message_bits must be in 1..32, got {n.message_bits}"
    return _group_problem(n, in_shape)


def _group_problem(n: Node, in_shape: tuple[int, ...]) -> str | None:
    shape = tuple(n.shape) if isinstance(n, (NeuronGroup, Output)) else in_shape
    if int(np.prod(shape)) != int(np.prod(in_shape)):
        return f"shape {shape} does not match its input's shape {in_shape}"
    for field in ("bias", "bias_mant", "bias_exp"):
        arr = getattr(n, field, None)
        if arr is not None and arr.shape != shape:
            return f"{field} must have shape {shape}, got {arr.shape}"
    return None
