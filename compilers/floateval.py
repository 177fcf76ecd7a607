"""Float evaluation of a float graph (before quantisation), batched, in NumPy (no torch).

Passes use it to measure activations on calibration data (threshold balancing, ranges) and
reports use it to check that the IR still computes what the trained model computed.

A graph without cycles, spiking groups or sequence inputs is evaluated in one pass in dependency
order, delays ignored: for a constant input that is the value every node settles to. Any other
graph (a recurrent synapse, which always has a delay; a converted graph's spiking groups, which hold
state; a sequence ``Input``, whose value changes per step) is stepped ``steps`` times by the IR's
definition of time (``toolkit.ir.core``): each synapse of delay d reads its input of d steps before
(zero before the first step), a sequence input of S rows gives row τ at step τ ≤ S and zeros after;
the values of the last step are returned.

Per node type (``FLOAT_EVAL``, a ``TypeRegistry``): a function ``(node, x) -> y`` on a batch,
where x is the node's input (the sum of every edge into a neuron group's ``in`` port; the one
source of any other node; the samples themselves for an ``Input``). Spiking groups (``FLOAT_STEP``):
``(node, x, state) -> y``, one step of the node's float dynamics (its docstring) from ``state``, a dict of
its variables (empty at the first step: all zero) that the function updates; y is the spikes times the
group's threshold, what one spike stands for downstream (the quantiser reads a spike so). An ``Output``
reads its source's value at the last step (``VALUE``), its spikes summed over the steps (``SPIKE_COUNT``) or
its voltage v after the last step (``VOLTAGE``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from toolkit import ir
from toolkit.encoding import sample_shape
from toolkit.errors import DataError, LoweringError
from toolkit.registry import TypeRegistry

__all__ = ["FLOAT_EVAL", "FLOAT_STEP", "conv2d_float", "float_forward", "n_samples"]

Eval = Callable[[Any, np.ndarray], np.ndarray]
StepEval = Callable[[Any, np.ndarray, dict[str, np.ndarray]], np.ndarray]

#: IR node type -> function(node, batch of inputs) -> batch of outputs
FLOAT_EVAL: TypeRegistry[Eval] = TypeRegistry("float evaluation")
#: stateful IR node type -> function(node, batch of inputs, its state, updated) -> batch of outputs of one step
FLOAT_STEP: TypeRegistry[StepEval] = TypeRegistry("float step")

#: samples per chunk of a convolution's im2col buffer
_CONV_CHUNK_ELEMENTS = 1 << 24


def _with_bias(h: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    if bias is None:
        return h
    return h + bias.reshape((1, *bias.shape))


@FLOAT_EVAL.register(ir.Dense)
def _dense(n: ir.Dense, x: np.ndarray) -> np.ndarray:
    h = x.reshape(x.shape[0], -1) @ n.weight.T.astype(np.float64) * (2.0 ** n.weight_exp)
    return _with_bias(h, n.bias)


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
             dilation: tuple[int, int]) -> np.ndarray:
    """(N, C, H_out, W_out, k_h, k_w) view of the zero-padded input x (N, C, H, W)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    win = sliding_window_view(xp, (1, 1, dh * (kh - 1) + 1, dw * (kw - 1) + 1))[:, :, :, :, 0, 0]
    return win[:, :, ::sh, ::sw, ::dh, ::dw]


def conv2d_float(x: np.ndarray, weight: np.ndarray, *, stride: tuple[int, int] = (1, 1),
                 padding: tuple[int, int] = (0, 0), dilation: tuple[int, int] = (1, 1),
                 groups: int = 1) -> np.ndarray:
    """Cross-correlation with PyTorch's ``conv2d`` semantics, float64: x (N, C, H, W) -> (N, C_out, H', W')."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    c_out, c_in_g, kh, kw = w.shape
    out_g = c_out // groups
    per_sample = max(1, x[0].size * kh * kw)
    chunk = max(1, _CONV_CHUNK_ELEMENTS // per_sample)
    parts = []
    for first in range(0, x.shape[0], chunk):
        win = _windows(x[first:first + chunk], (kh, kw), stride, padding, dilation)
        m, _, ho, wo = win.shape[:4]
        out = np.empty((m, c_out, ho, wo))
        for g in range(groups):
            cols = win[:, g * c_in_g:(g + 1) * c_in_g].transpose(0, 2, 3, 1, 4, 5).reshape(m * ho * wo, -1)
            wg = w[g * out_g:(g + 1) * out_g].reshape(out_g, -1)
            out[:, g * out_g:(g + 1) * out_g] = (cols @ wg.T).reshape(m, ho, wo, out_g).transpose(0, 3, 1, 2)
        parts.append(out)
    return np.concatenate(parts) if parts else np.zeros((0, c_out, 0, 0))


@FLOAT_EVAL.register(ir.Conv2d)
def _conv(n: ir.Conv2d, x: np.ndarray) -> np.ndarray:
    h = conv2d_float(x, n.weight * (2.0 ** n.weight_exp), stride=n.stride, padding=n.padding,
                     dilation=n.dilation, groups=n.groups)
    return h if n.bias is None else h + np.asarray(n.bias, dtype=np.float64).reshape(1, -1, 1, 1)


@FLOAT_EVAL.register(ir.AvgPool2d)
def _avg_pool(n: ir.AvgPool2d, x: np.ndarray) -> np.ndarray:
    win = _windows(np.asarray(x, dtype=np.float64), n.kernel, n.stride, (0, 0), (1, 1))
    return win.mean(axis=(4, 5))


@FLOAT_EVAL.register(ir.SigmaDelta)
def _sigma_delta(n: ir.SigmaDelta, x: np.ndarray) -> np.ndarray:
    """The value a sigma-delta group converges to (its residues aside): f(h + bias)."""
    h = _with_bias(x.reshape(x.shape[0], *n.shape), n.bias)
    return np.maximum(h, 0.0) if n.activation is ir.Activation.RELU else h


@FLOAT_EVAL.register(ir.ReLU)
def _relu(n: ir.ReLU, x: np.ndarray) -> np.ndarray:
    return np.maximum(_with_bias(x.reshape(x.shape[0], *n.shape), n.bias), 0.0)


@FLOAT_EVAL.register(ir.Identity)
def _identity(n: ir.Identity, x: np.ndarray) -> np.ndarray:
    return _with_bias(x.reshape(x.shape[0], *n.shape), n.bias)


def _zero(state: dict[str, np.ndarray], key: str) -> np.ndarray | float:
    return state.get(key, 0.0)


@FLOAT_STEP.register(ir.LIF)
def _lif_step(n: ir.LIF, x: np.ndarray, state: dict[str, np.ndarray]) -> np.ndarray:
    """u ← (1 − du)·u + a; v ← (1 − dv)·v + u + bias; s = v > threshold; then v ← 0 or v − threshold."""
    u = (1.0 - n.du) * _zero(state, "u") + x.reshape(x.shape[0], *n.shape)
    v = _with_bias((1.0 - n.dv) * _zero(state, "v") + u, n.bias)
    s = v > n.threshold
    v = np.where(s, 0.0 if n.reset is ir.ResetMode.ZERO else v - n.threshold, v)
    state.update(u=u, v=v, s=s)
    return s * n.threshold


@FLOAT_STEP.register(ir.ALIF)
def _alif_step(n: ir.ALIF, x: np.ndarray, state: dict[str, np.ndarray]) -> np.ndarray:
    """As ``LIF`` with the threshold θ = threshold + r; after the spike r ← rho·r + beta·s."""
    u = (1.0 - n.du) * _zero(state, "u") + x.reshape(x.shape[0], *n.shape)
    v = _with_bias((1.0 - n.dv) * _zero(state, "v") + u, n.bias)
    theta = n.threshold + _zero(state, "r")
    s = v > theta
    v = np.where(s, 0.0 if n.reset is ir.ResetMode.ZERO else v - theta, v)
    state.update(u=u, v=v, s=s, r=n.rho * _zero(state, "r") + n.beta * s)
    return s * n.threshold


@FLOAT_EVAL.register(ir.Flatten)
def _flatten(n: ir.Flatten, x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1)


@FLOAT_EVAL.register(ir.Input)
def _input(n: ir.Input, x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(x.shape[0], *n.shape)


@FLOAT_EVAL.register(ir.Output)
def _passthrough(n: ir.Node, x: np.ndarray) -> np.ndarray:
    return x


def _inputs(graph: ir.Graph, x: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each Input's samples as (N, *sample shape): (N, *shape), or (N, S, *shape) for a sequence input."""
    inputs = graph.of_type(ir.Input)
    if isinstance(x, Mapping):
        missing = [i.name for i in inputs if i.name not in x]
        if missing:
            raise DataError(f"float evaluation: no samples for input(s) {', '.join(missing)} "
                            f"(given: {', '.join(x) or 'none'})")
        given = {i.name: np.asarray(x[i.name]) for i in inputs}
    elif len(inputs) != 1:
        raise DataError(f"the graph has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                        "give a mapping from each input's name to its samples")
    else:
        given = {inputs[0].name: np.asarray(x)}
    out = {}
    for i in inputs:
        v, shape = given[i.name], sample_shape(i)
        if v.ndim == 0 or int(np.prod(v.shape[1:])) != int(np.prod(shape)):
            raise DataError(f"float evaluation: samples of shape {tuple(v.shape[1:])} do not fit input {i.name!r} "
                            f"of sample shape {shape}")
        out[i.name] = v.reshape(len(v), *shape)
    return out


def n_samples(x: np.ndarray | Mapping[str, np.ndarray]) -> int:
    """Samples in ``x``: its length, or that of each input's samples in a mapping."""
    if isinstance(x, Mapping):
        lengths = {len(v) for v in x.values()}
        if len(lengths) > 1:
            raise DataError(f"the inputs have different numbers of samples: {sorted(lengths)}")
        return lengths.pop() if lengths else 0
    return len(x)


def _rules(order: list[ir.Node]) -> tuple[dict[str, Eval], dict[str, StepEval]]:
    """Each node's rule: (stateless rules, spiking groups' step rules) by node name."""
    evals, steps = {}, {}
    for n in order:
        if (step := FLOAT_STEP.of(n)) is not None:
            steps[n.name] = step
        elif (fn := FLOAT_EVAL.of(n)) is not None:
            evals[n.name] = fn
        else:
            raise LoweringError(f"float evaluation has no rule for {type(n).__name__} {n.name!r} (supported: "
                                f"{FLOAT_EVAL.supported()}, {FLOAT_STEP.supported()}); evaluate the graph before "
                                "quantisation")
    return evals, steps


def _in_value(graph: ir.Graph, n: ir.Node, value: Callable[[str], np.ndarray | None],
              batch: int, shapes: Mapping[str, tuple[int, ...]]) -> np.ndarray:
    """The input of ``n``: the sum of the edges into a neuron group's port, the one source of other nodes."""
    parts = [v for e in graph.in_edges(n.name, "in") if (v := value(e.src)) is not None]
    if isinstance(n, ir.NeuronGroup):
        total = np.zeros((batch, *n.shape))
        for p in parts:
            total = total + p.reshape(total.shape)
        return total
    if not parts:  # a delayed synapse before its first delivery: its input is still zero
        src = graph.source(n.name)
        return np.zeros((batch, *shapes[src.name]))
    return parts[0]


def _stepped_graph(graph: ir.Graph) -> bool:
    """Whether ``graph`` must be stepped: a cycle, a spiking group (state) or a sequence input."""
    return (not graph.is_acyclic() or any(FLOAT_STEP.of(n) is not None for n in graph.nodes)
            or any(i.sequence for i in graph.of_type(ir.Input)))


def float_forward(graph: ir.Graph, x: np.ndarray | Mapping[str, np.ndarray], *, record: bool = False,
                  steps: int | None = None) -> dict[str, np.ndarray]:
    """Run ``x`` ((N, *input shape), or a mapping from input name to samples; (N, S, *shape) for a sequence input)
    through a float graph.

    Returns ``{"output": scores}`` (the first Output's; every Output's also by its name), plus every node's
    output by name if ``record``. A graph with a cycle, spiking groups or a sequence input is stepped ``steps``
    times (default: the graph's ``Timesteps`` record, else 32; see the module doc).
    """
    samples = _inputs(graph, x)
    batch = len(next(iter(samples.values())))
    shapes = graph.shapes()
    if _stepped_graph(graph):
        order = graph.topological()
        vals = _stepped(graph, order, _rules(order), samples, batch, shapes, int(steps or graph.timesteps or 32))
    else:
        order = graph.dataflow_order()
        evals, _ = _rules(order)
        vals = {}
        for n in order:
            h = samples[n.name] if isinstance(n, ir.Input) else _in_value(graph, n, vals.get, batch, shapes)
            vals[n.name] = evals[n.name](n, h)
    outs = graph.of_type(ir.Output)
    result = dict(vals) if record else {o.name: vals[o.name] for o in outs}
    result["output"] = vals[outs[0].name]
    return result


def _row(n: ir.Input, x: np.ndarray, k: int) -> np.ndarray:
    """What Input ``n`` gives at step k (0-based): a static sample every step, row k of a sequence (zeros after)."""
    if not n.sequence:
        return x
    return x[:, k] if k < n.sequence else np.zeros((x.shape[0], *n.shape))


def _read_out(o: ir.Output, value: np.ndarray, state: Mapping[str, np.ndarray] | None,
              count: np.ndarray | None) -> np.ndarray:
    """An Output's value after a step: its source's value (``VALUE``, ``SIGMA``, stateless sources), its voltage
    (``VOLTAGE``) or its spikes so far (``SPIKE_COUNT``, ``count`` holding the previous steps')."""
    if state is None or o.readout in (ir.ReadoutMode.VALUE, ir.ReadoutMode.SIGMA):
        return value
    if o.readout is ir.ReadoutMode.VOLTAGE:
        return np.asarray(state["v"], np.float64).reshape(len(value), -1)
    spikes = np.asarray(state["s"], np.float64).reshape(len(value), -1)
    return spikes if count is None else count + spikes


def _stepped(graph: ir.Graph, order: list[ir.Node], rules: tuple[dict[str, Eval], dict[str, StepEval]],
             samples: Mapping[str, np.ndarray], batch: int, shapes: Mapping[str, tuple[int, ...]],
             steps: int) -> dict[str, np.ndarray]:
    """The values at the last of ``steps`` steps of a graph that must be stepped (``_stepped_graph``)."""
    if steps < 1:
        raise LoweringError(f"float evaluation of a recurrent graph needs steps >= 1, got {steps}")
    for i in graph.of_type(ir.Input):
        if i.sequence > steps:
            raise DataError(f"float evaluation: input {i.name!r} sends {i.sequence} rows, one per step; evaluate "
                            f"at least {i.sequence} steps, got {steps}")
    depth = max([n.delay for n in order if isinstance(n, ir.Synapse)] + [0])
    history: list[dict[str, np.ndarray]] = []   # the last ``depth`` steps' values, newest last
    evals, steppers = rules
    states: dict[str, dict[str, np.ndarray]] = {name: {} for name in steppers}
    vals: dict[str, np.ndarray] = {}
    for k in range(steps):
        last, vals = vals, {}
        for n in order:
            if isinstance(n, ir.Input):
                vals[n.name] = evals[n.name](n, _row(n, samples[n.name], k))
                continue
            d = n.delay if isinstance(n, ir.Synapse) else 0
            past = vals if d == 0 else (history[-d] if len(history) >= d else {})
            h = _in_value(graph, n, past.get, batch, shapes)
            if n.name in steppers:
                vals[n.name] = steppers[n.name](n, h, states[n.name])
            elif isinstance(n, ir.Output):
                src = graph.signal_source(n.name).name
                vals[n.name] = _read_out(n, h, states.get(src), last.get(n.name))
            else:
                vals[n.name] = evals[n.name](n, h)
        history = [*history, vals][-depth:] if depth else []
    return vals
