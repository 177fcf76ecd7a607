"""``check_graph``: a pure structural check of an IR graph, with every problem listed.

What makes a graph valid (``toolkit.ir.core`` defines ports, flows and delays):

* names are non-empty and unique; every edge joins two known nodes, into a port its target
  declares, carrying the flow that port accepts, and no edge is listed twice;
* a port that is not ``many`` has exactly one edge (at most one if it is optional); a synapse
  feeds exactly one neuron group port; an ``Output`` feeds nothing;
* there is at least one ``Input`` and one ``Output``; an ``Input`` with ``sequence`` rows per sample is encoded
  as ``sequence`` (or ``analog``), and only such an input is;
* every cycle passes through a synapse with a delay of at least one step (delays are >= 0);
* shapes agree: each node's registered check (``CHECKS``, falling back to the parent class) is
  given the shape at its ``in`` port, and every synapse into a neuron group delivers as many
  values as the group has neurons.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from toolkit.encoding import Encoding
from toolkit.errors import GraphError
from toolkit.ir.core import Flow, Graph, NeuronGroup, Node, Synapse
from toolkit.ir.io import Input, Output
from toolkit.ir.neurons import ALIF, LoihiALIF, LoihiLearningLIF, LoihiLIF, LoihiSigmaDelta
from toolkit.ir.synapses import AvgPool2d, Conv2d, Dense, Flatten
from toolkit.registry import TypeRegistry

__all__ = ["CHECKS", "check_graph", "graph_problems", "register_check"]

Check = Callable[[Any, tuple[int, ...]], "str | None"]

#: node type -> check(node, shape at its ``in`` port) -> a problem or None
CHECKS: TypeRegistry[Check] = TypeRegistry("structural check")
register_check = CHECKS.register


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
    problems += _degree_problems(graph) + _io_problems(graph)
    try:
        graph.topological()
    except GraphError as exc:
        problems.append(str(exc))
    if problems:
        return problems
    return _shape_problems(graph)


def _name_problems(graph: Graph) -> list[str]:
    names = [n.name for n in graph.nodes]
    out = [f"node #{i} has an empty name" for i, n in enumerate(names) if not n]
    dup = sorted({n for n in names if names.count(n) > 1})
    out += [f"node name {n!r} is used more than once" for n in dup]
    return out


def _edge_problem(graph: Graph, e: Any) -> str | None:
    for end in (e.src, e.dst):
        if end not in graph:
            return f"edge {e} refers to unknown node {end!r}"
    src, dst = graph.node(e.src), graph.node(e.dst)
    port = dst.port(e.port)
    if port is None:
        ports = ", ".join(p.name for p in dst.PORTS) or "none"
        return f"edge {e}: {type(dst).__name__} {dst.name!r} has no port {e.port!r} (its ports: {ports})"
    if src.OUTPUT is None:
        return f"edge {e}: {type(src).__name__} {src.name!r} has no output"
    if src.OUTPUT is not port.accepts:
        what = {Flow.SIGNAL: "a signal (from an input, a neuron group or a reshape)",
                Flow.CURRENT: "synaptic current (from a synapse)"}[port.accepts]
        return (f"edge {e}: port {e.port!r} of {type(dst).__name__} {dst.name!r} takes {what}, but "
                f"{type(src).__name__} {src.name!r} sends {src.OUTPUT.value}")
    return None


def _edge_problems(graph: Graph) -> list[str]:
    out = [p for p in (_edge_problem(graph, e) for e in graph.edges) if p]
    if len(set(graph.edges)) != len(graph.edges):
        out.append("an edge is listed twice")
    return out


def _degree_problems(graph: Graph) -> list[str]:
    out = []
    for n in graph.nodes:
        for port in n.PORTS:
            k = len(graph.in_edges(n.name, port.name))
            if not port.many and (k > 1 or (port.required and k == 0)):
                need = "exactly one" if port.required else "at most one"
                out.append(f"{type(n).__name__} {n.name!r}: port {port.name!r} has {k} incoming edges; it takes {need}")
        k_out = len(graph.out_edges(n.name))
        if n.OUTPUT is Flow.CURRENT and k_out != 1:
            out.append(f"{type(n).__name__} {n.name!r} feeds {k_out} neuron group ports; a synapse feeds exactly one "
                       "(add a synapse per target)")
        if isinstance(n, Synapse) and (not isinstance(n.delay, int) or n.delay < 0):
            out.append(f"{type(n).__name__} {n.name!r}: delay must be an integer >= 0, got {n.delay!r}")
    return out


def _io_problems(graph: Graph) -> list[str]:
    out = []
    if not graph.of_type(Input):
        out.append("a graph needs at least one Input node, found none")
    if not graph.of_type(Output):
        out.append("a graph needs at least one Output node, found none")
    return out


def _shape_problems(graph: Graph) -> list[str]:
    try:
        shapes = graph.shapes()
    except (GraphError, ValueError, TypeError, IndexError) as exc:
        return [f"shapes cannot be inferred: {exc}"]
    out: list[str] = []
    for n in graph.nodes:
        preds = graph.predecessors(n.name, "in")
        in_shape = shapes[preds[0].name] if preds else ()
        problem = _node_problem(n, in_shape)
        if problem is None and isinstance(n, NeuronGroup):
            problem = _dendrite_problem(graph, n, shapes)
        if problem:
            out.append(f"{type(n).__name__} {n.name!r}: {problem}")
    return out


def _dendrite_problem(graph: Graph, n: NeuronGroup, shapes: dict[str, tuple[int, ...]]) -> str | None:
    size = int(np.prod(n.shape))
    for e in graph.in_edges(n.name):
        got = int(np.prod(shapes[e.src]))
        if got != size:
            return f"synapse {e.src!r} delivers {got} values into port {e.port!r} of a group of {size} neurons"
    return None


def _node_problem(n: Node, in_shape: tuple[int, ...]) -> str | None:
    for field, arr in n.arrays().items():
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            return f"{field} contains NaN or infinite values"
    check = CHECKS.of(n)
    if check is None:
        return f"no structural check for node type {type(n).__name__} (checked types: {CHECKS.supported()})"
    return check(n, in_shape)


@register_check(Input)
def _input_problem(n: Input, in_shape: tuple[int, ...]) -> str | None:
    if not n.shape or min(n.shape) < 1:
        return f"shape must be a non-empty tuple of positive sizes, got {n.shape}"
    if isinstance(n.sequence, bool) or not isinstance(n.sequence, (int, np.integer)) or n.sequence < 0:
        return f"sequence must be an integer >= 0 (rows per sample; 0: a static input), got {n.sequence!r}"
    if n.encoding.sequential and not n.sequence:
        return f"encoding {n.encoding.value!r} sends one row per step: set sequence to the rows per sample (>= 1)"
    if n.sequence and not (n.encoding.sequential or n.encoding is Encoding.ANALOG):
        return (f"a sequence input ({n.sequence} rows per sample) is encoded as 'sequence' (or 'analog' in a float "
                f"graph), not {n.encoding.value!r}")
    return None


#: a quantised synapse's weight registers: Lava's 8 bits + sign (``PyDenseModelBitAcc``; the learning engine's
#: ``clip_weights(num_bits=8)`` mixed sign, hw_configs/loihi2.yaml ``weight_min``/``weight_max``)
_WEIGHT_RANGE = (-256, 255)
#: the dendritic sum's shift: the widest any hardware config may declare (``toolkit.hw.SynapseFormat``'s bounds;
#: the shipped ones say -7..7), so no network compiled for a valid config is refused on load; the quantiser checks
#: the chosen chip's own range at compile time
_WEIGHT_EXP_RANGE = (-16, 16)


def _register_problem(n: Synapse) -> str | None:
    """The weight registers and exponent a file can hold (checked on load, as the quantiser guarantees them at
    compile time): an integer exponent in range; integer registers in 8 bits + sign, or float weights."""
    exp = n.weight_exp
    lo, hi = _WEIGHT_EXP_RANGE
    if isinstance(exp, bool) or not isinstance(exp, (int, np.integer)) or not lo <= exp <= hi:
        return f"weight_exp must be an integer in {lo}..{hi}, got {exp!r}"
    if isinstance(n.delay, bool) or not isinstance(n.delay, (int, np.integer)) or n.delay < 0:
        return f"delay must be an integer >= 0, got {n.delay!r}"
    w = n.weight
    if w.dtype.kind in "iu":
        lo, hi = _WEIGHT_RANGE
        if w.size and not (lo <= int(w.min()) and int(w.max()) <= hi):
            return f"weight registers must be in {lo}..{hi} (8 bits + sign), got values from {int(w.min())} to " \
                   f"{int(w.max())}"
    elif w.dtype.kind != "f":   # finiteness of float arrays: _node_problem
        return f"weight must hold integers (quantised) or floats, got dtype {w.dtype}"
    return None


def _feedback_problem(n: Synapse) -> str | None:
    if n.feedback is not None and n.rule is None:
        return "carries a feedback matrix but no learning rule"
    return _register_problem(n)


@register_check(Dense)
def _dense_problem(n: Dense, in_shape: tuple[int, ...]) -> str | None:
    if n.weight.ndim != 2:
        return f"weight must be 2-D (out, in), got shape {n.weight.shape}"
    if int(np.prod(in_shape)) != n.in_features:
        return f"weight expects {n.in_features} inputs but its input has shape {in_shape}"
    if n.bias is not None and n.bias.shape != (n.out_features,):
        return f"bias must have shape ({n.out_features},), got {n.bias.shape}"
    return _feedback_problem(n)


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
    if n.quantized and n.weight_exp != 0:
        return f"a quantised convolution has no exponent register (Lava's Conv model): weight_exp must be 0, " \
               f"got {n.weight_exp!r}"
    return _feedback_problem(n)


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


@register_check(Output)
def _output_problem(n: Output, in_shape: tuple[int, ...]) -> str | None:
    if int(np.prod(n.shape)) != int(np.prod(in_shape)):
        return f"shape {tuple(n.shape)} does not match its input's shape {in_shape}"
    return None


@register_check(NeuronGroup)
def _group_problem(n: NeuronGroup, in_shape: tuple[int, ...]) -> str | None:
    shape = tuple(n.shape)
    for field in ("bias", "bias_mant", "bias_exp"):
        arr = getattr(n, field, None)
        if arr is not None and arr.shape != shape:
            return f"{field} must have shape {shape}, got {arr.shape}"
    return None


#: the fixed-point fields of Loihi's LIF (``LoihiLIF``'s docstring; Lava's ``PyLifModelBitAcc``): inclusive ranges
_LIF_RANGES = {"vth": (0, (1 << 17) - 1), "du": (0, 4095), "dv": (0, 4095)}
_LIF_ARRAY_RANGES = {"bias_mant": (-4096, 4095), "bias_exp": (0, 7)}   # bias_mant: signed 13-bit
_LEARNING_RANGES = {"y1_impulse": (0, 127), "y1_decay": (0, 4096)}
#: ``LoihiALIF``'s adaptation (our neuron program): dr a 12-bit decay as dv, beta unsigned as wide as vth
_ALIF_RANGES = {"dr": (0, 4095), "beta": (0, (1 << 17) - 1)}


def _range_problem(n: Node, scalars: dict[str, tuple[int, int]], arrays: dict[str, tuple[int, int]]) -> str | None:
    """Each named integer field (or integer array) within its inclusive range, or the first that is not."""
    for name, (lo, hi) in scalars.items():
        v = getattr(n, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            return f"{name} must be an integer in {lo}..{hi}, got {v!r}"
    for name, (lo, hi) in arrays.items():
        arr = getattr(n, name)
        if arr.dtype.kind not in "iu":
            return f"{name} must hold integers, got dtype {arr.dtype}"
        if arr.size and not (lo <= int(arr.min()) and int(arr.max()) <= hi):
            return f"{name} must be in {lo}..{hi}, got values from {int(arr.min())} to {int(arr.max())}"
    return None


@register_check(LoihiLIF)
def _lif_problem(n: LoihiLIF, in_shape: tuple[int, ...]) -> str | None:
    """Loihi's register widths (a network file could hold anything: checked on load as at compile time)."""
    extra = _LEARNING_RANGES if isinstance(n, LoihiLearningLIF) else {}
    return _range_problem(n, {**_LIF_RANGES, **extra}, _LIF_ARRAY_RANGES) or _group_problem(n, in_shape)


@register_check(LoihiALIF)
def _alif_problem(n: LoihiALIF, in_shape: tuple[int, ...]) -> str | None:
    return _range_problem(n, {**_LIF_RANGES, **_ALIF_RANGES}, _LIF_ARRAY_RANGES) or _group_problem(n, in_shape)


@register_check(ALIF)
def _float_alif_problem(n: ALIF, in_shape: tuple[int, ...]) -> str | None:
    if not (0.0 <= n.rho <= 1.0 and n.beta >= 0.0):   # also False for NaN
        return f"needs 0 <= rho <= 1 and beta >= 0, got rho {n.rho!r}, beta {n.beta!r}"
    return _group_problem(n, in_shape)


@register_check(LoihiSigmaDelta)
def _sigma_delta_problem(n: LoihiSigmaDelta, in_shape: tuple[int, ...]) -> str | None:
    if not (0 <= n.state_exp <= 7 and 0 <= n.spike_exp <= 7):
        return f"state_exp and spike_exp must be in 0..7 (Lava's 3-bit fields), got {n.state_exp}, {n.spike_exp}"
    if n.vth < 0:
        return f"vth must be >= 0, got {n.vth}"
    if not 1 <= n.message_bits <= 32:
        return f"message_bits must be in 1..32, got {n.message_bits}"
    return _group_problem(n, in_shape)
