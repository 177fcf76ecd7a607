"""NIR (the Neuromorphic Intermediate Representation, ``nir`` 1.0.8) in and out of our IR.

Reading (``read_nir``, registered as the ``nir`` reader of ``compilers.importers``)
-------------------------------------------------------------------------------------
NIR states its neurons in continuous time; the chip steps in time ``dt`` (``ImportOptions.dt``). Each neuron
group becomes a float ``ir.LIF`` by **forward Euler** at ``dt`` and is then quantised by the toolkit's own
``quantize`` pass, exactly as a compiled network is:

* ``LIF`` (τ dv/dt = (v_leak − v) + R·I): a = dt/τ; v ← (1 − a)·v + a·R·I + a·v_leak. Loihi's voltage decay
  dv = round(4096·a) (one value per group: neurons whose dv differ are refused); the gain a·R multiplies the
  weights into the group, a·v_leak becomes a per-neuron bias; no current memory (du = 4095).
* ``CubaLIF`` (τ_syn dI/dt = −I + w_in·S; τ_mem dv/dt = (v_leak − v) + R·I): b = dt/τ_syn, a = dt/τ_mem;
  du = round(4096·b) − 1 (Loihi keeps (4096 − du − 1)/4096 of the current), dv = round(4096·a), gain
  a·R·b·w_in. A constant (Affine) bias into a CubaLIF group would charge the current, which Loihi's bias
  (added to the voltage) cannot express: it is refused unless zero.
* ``IF`` (dv/dt = R·I): v ← v + dt·R·I, dv = 0, du = 4095. Tools that write IF for a discrete step
  (v ← v + R·I, e.g. r = 1) are read with dt = 1 (dt only enters through τ and IF's R).
* Thresholds: each neuron's weights and its bias are divided by its ``v_threshold``, so every group
  has threshold 1 in float units (exact: the update is linear and the reset is to zero). ``v_reset`` must be
  0: v ← 0 after a spike (``ResetMode.ZERO``, NIR's semantics). snnTorch's ``Leaky`` resets by subtraction by
  default but exports v_reset = 0; ``ImportOptions.extra["reset"] = "subtract"`` imports such a network with
  Loihi's v ← v − θ, which still differs from snnTorch's (snnTorch subtracts θ after the decay, Loihi before
  it: the same only for β = 1). Train with ``reset_mechanism="zero"`` for an exact match of the dynamics; this holds
  for snnTorch's ``Leaky`` only: its ``RLeaky`` and ``Synaptic`` with reset to zero also drop the whole input of the
  step after a spike, which NIR does not describe (the import follows NIR).
* Spikes are binary and worth 1; a spike crossing v > θ fires (NIR and Loihi compare strictly).
* ``LI`` / ``CubaLI`` read-outs (non-spiking leaky integrators; only as the group an ``Output`` reads): the same Euler
  discretisation as ``LIF`` / ``CubaLIF`` into a group that never fires (``compilers.readouts``): its float threshold
  is ``READOUT_MARGIN`` times the largest |v| its inputs can drive it to (all inputs spiking every step: |u| ≤ X/b,
  |v| ≤ (|u| + |b_v|)/a), and after quantisation ``check_readouts`` proves in integers that
  |u| ≤ (A << 6)·4096/(du + 1) < 2^23 and |v| ≤ (|u| + |bias|)·4096/dv ≤ vth << 6 (else the import is refused).
  The Output reads it with
  ``ReadoutMode.VOLTAGE``: a class's score is the group's voltage register after the sample's last step, the
  prediction its argmax; one voltage scale per group, so the decision is NIR's up to quantisation.
* ``Scale`` is folded into the synapse next to it (exact, both are linear): after a synapse that feeds only it and
  before a neuron node, it multiplies the synapse's rows and bias; before ``Affine``/``Linear`` nodes only, their
  columns. Other placements are refused, naming where it sits.
* ``Threshold`` (a stateless H(I − θ)) is refused: Loihi keeps (4096 − dv)/4096 ≥ 1/4096 of a LIF's voltage (dv ≤
  4095, no offset, unlike du), so a step that does not spike leaks sgn(v)·(|v| >> 12) into the next; that is zero
  only for |v| < 4096 (thresholds ≤ 63 and bounded negative input), which quantised thresholds do not keep.
* A synapse on a cycle (snnTorch's ``RLeaky``/``RSynaptic`` sub-graph ``lif → w_rec → lif``) gets a delay of
  one step: the recurrent input at step t is the spikes of step t − 1, as snnTorch computes it.

Quantisation is ``compilers.passes.quantize`` (see its docstring): per group a shared voltage scale matched to
the threshold, weights as 8-bit mantissas (9-bit registers) with a shared exponent, vth a 17-bit integer,
biases as a 13-bit mantissa and exponent. The report (``notes``) states all of this and the errors.

The input is a ``RATE``-coded binary spike train of the sample's values in [0, 1] (``extra["encoding"]``:
``rate`` or ``poisson``; ``extra["bits"]``, default 8), the output the spike count of the last group (or the
voltage of an LI / CubaLI read-out).

Synapses: ``Affine``/``Linear`` become ``Dense``; ``Conv2d`` (integer or 'valid' padding) becomes ``Conv2d``, whose
gain per neuron must be the same over each output channel (it scales the channel's kernel); ``SumPool2d`` and
``AvgPool2d`` become the depthwise ``Conv2d`` with a box kernel (1 or 1/(kh·kw)). Each must feed one neuron node
(or an LI / CubaLI read-out) directly: a pooling or linear map followed by another linear map (conv → pool → LIF,
say) is refused, as is a linear read-out (Affine → Output). ``Flatten`` of a whole map becomes ``Flatten``; of a
vector, ``Identity`` and sub-graph ports are dropped. Nested ``NIRGraph``s are inlined; a ``Delay`` next to a
synapse becomes its delay in whole steps of dt. Anything else (``READ_SUPPORTED`` lists what is read) raises
``LoweringError`` naming the node: I, Threshold and Conv1d are not read.

Writing (``export_nir``, ``write_nir``)
---------------------------------------
A quantised rate network (``LoihiLIF`` groups fed by ``Dense`` and ``Conv2d`` synapses, ``Flatten``) becomes the
NIR graph of the same integer dynamics in units of one weight register (v_NIR = v_Loihi / 64): ``Affine`` and
``Conv2d`` weights r·2^weight_exp (a Conv2d bias must be the same over each channel's map),
``IF`` (dv = 0, du = 4095), ``LIF`` (du = 4095) or ``CubaLIF`` with τ = 4096·dt/dv, τ_syn = 4096·dt/(du + 1),
R and w_in making the gain 1, thresholds vth, a group's bias as the bias of its first synapse; a group that a
``VOLTAGE`` Output reads becomes ``LI`` (du = 4095) or ``CubaLI`` (bias as v_leak) of the same τs. Loihi's
truncating decays are approximated by NIR's exact ones. A delayed synapse is followed by a ``Delay`` of delay·dt.
nir 1.0.8 derives a Conv2d's input channels from its weight, wrong for grouped (depthwise) convolutions: such a
graph is written and read without nir's type check (our graph check verifies the shapes). Each node also carries
our exact registers in its ``metadata`` (``nfa_*``): our reader uses them when they agree with the node's float
parameters, so IR → NIR → IR gives back every array and parameter; other tools ignore them. NIR has no reset by
subtraction, no sigma-delta neuron and no plasticity: the first two are refused, plastic synapses are written with
their current weights as fixed synapses (the caller says so).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compilers.importers import Imported, ImportOptions, Reader, register_reader
from compilers.readouts import check_readouts, readout_threshold
from toolkit import ir
from toolkit.errors import IRFormatError, LoweringError
from toolkit.rules import Rule

__all__ = ["READ_SUPPORTED", "WRITE_SUPPORTED", "export_nir", "is_nir_file", "nir_to_graph", "read_nir",
           "write_nir"]

#: NIR node types the reader maps
READ_SUPPORTED = ("Input", "Output", "Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Identity",
                  "Delay", "Scale", "IF", "LIF", "CubaLIF", "LI", "CubaLI", "NIRGraph")
#: IR node types the writer maps
WRITE_SUPPORTED = ("Input", "Output", "Dense", "Conv2d", "Flatten", "LoihiLIF")
_NEURONS = ("IF", "LIF", "CubaLIF")
_READOUTS = ("LI", "CubaLI")   #: non-spiking leaky integrators: only as the group an Output reads
_SYNAPSES = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d")
_PASS = ("Identity", "_SubInput", "_SubOutput")
_META = "nfa_"
_DELAY = "__delay"   #: suffix of the NIR Delay node that follows a delayed synapse


def is_nir_file(path: Path) -> bool:
    """True for an HDF5 file laid out as NIR writes it (a ``node`` group with a ``type`` and a top-level
    ``version``); a lava-dl netx file has a ``layer`` group instead."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "node" in f and "version" in f and "type" in f["node"]
    except OSError:
        return False


# ------------------------------------------------------------------ reading: flatten nested graphs


@dataclass(frozen=True, slots=True)
class _Flat:
    """A NIR graph with its sub-graphs inlined: nodes by path name ('sub.inner') and edges between them."""

    nodes: dict[str, Any]
    edges: list[tuple[str, str]]


def _flatten(graph: Any, prefix: str = "") -> _Flat:
    """Inline every nested ``NIRGraph``: its Input/Output become pass-through nodes, outer edges into or out of
    the sub-graph (by its name or 'sub.port') are attached to them."""
    import nir

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    subs: dict[str, _Flat] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            subs[name] = sub = _flatten(node, full + ".")
            nodes.update(sub.nodes)
            edges.extend(sub.edges)
        elif prefix and isinstance(node, nir.Input | nir.Output):
            nodes[full] = ("_SubInput" if isinstance(node, nir.Input) else "_SubOutput", node)
        else:
            nodes[full] = node
    for src, dst in graph.edges:
        edges.append((_port(src, subs, prefix, nir.Output), _port(dst, subs, prefix, nir.Input)))
    return _Flat(nodes, edges)


def _port(ref: str, subs: Mapping[str, _Flat], prefix: str, kind: type) -> str:
    """The flat name an edge end refers to: a node, a sub-graph (its only Input or Output), or 'sub.port'."""
    head, _, tail = ref.partition(".")
    if head not in subs:
        return prefix + ref
    if tail:
        return f"{prefix}{head}.{tail}"
    want = "_SubInput" if kind.__name__ == "Input" else "_SubOutput"
    ends = [n for n, v in subs[head].nodes.items() if isinstance(v, tuple) and v[0] == want
            and n.count(".") == (prefix + head).count(".") + 1]
    if len(ends) != 1:
        raise LoweringError(f"NIR sub-graph {prefix + head!r} has {len(ends)} {kind.__name__} nodes; an edge to the "
                            "sub-graph itself needs exactly one (name the port as 'sub.port')")
    return ends[0]


def _kind(node: Any) -> str:
    return node[0] if isinstance(node, tuple) else type(node).__name__


def _contract(flat: _Flat, names: tuple[str, ...] = ()) -> _Flat:
    """Remove ``names`` or the pass-through nodes (sub-graph ports, Identity, Flatten of a vector) by joining their
    edges."""
    nodes, edges = dict(flat.nodes), list(flat.edges)
    for name in names or [n for n, v in nodes.items() if _kind(v) in _PASS]:
        ins = [s for s, d in edges if d == name]
        outs = [d for s, d in edges if s == name]
        edges = [(s, d) for s, d in edges if name not in (s, d)] + [(s, d) for s in ins for d in outs]
        del nodes[name]
    return _Flat(nodes, edges)


def _shape_of(node: Any, port: str) -> tuple[int, ...]:
    node = node[1] if isinstance(node, tuple) else node
    types = node.input_type if port == "input" else node.output_type
    shape = next(iter(types.values()), None) if types else None
    return tuple(int(x) for x in np.atleast_1d(shape)) if shape is not None and np.size(shape) else ()


def _unsupported(name: str, what: str) -> LoweringError:
    return LoweringError(f"NIR node {name!r}: {what} cannot be imported (supported: {', '.join(READ_SUPPORTED)})")


# ------------------------------------------------------------------ reading: neurons


@dataclass(frozen=True, slots=True)
class _Group:
    """A NIR neuron node as a float ``ir.LIF`` with threshold 1: ``gain`` multiplies the weights into each
    neuron (the Euler factor over its threshold), ``bias`` is per step in threshold units."""

    lif: ir.LIF
    gain: np.ndarray
    bias: np.ndarray
    notes: str
    readout: bool = False   #: an LI / CubaLI read-out: its threshold is set above every reachable voltage


def _arr(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter (scalar or per neuron) as one float per neuron, in C order."""
    return np.broadcast_to(np.asarray(x, dtype=np.float64), shape).reshape(-1).copy()


def _euler(name: str, tau: np.ndarray, dt: float, what: str) -> float:
    """dt/τ, the same for every neuron of the group (Loihi's decays are per group) and at most 1."""
    a = dt / tau
    codes = np.rint(4096 * a)
    if np.any(~np.isfinite(a)) or np.any(a <= 0) or np.any(a > 1):
        raise LoweringError(f"NIR node {name!r}: dt/{what} = {a.min():.3g}..{a.max():.3g} is outside (0, 1]; "
                            f"forward Euler at dt = {dt} s needs dt <= {what} (choose a smaller --dt)")
    if codes.min() != codes.max():
        raise LoweringError(f"NIR node {name!r}: its neurons have different {what} (4096·dt/{what} = "
                            f"{int(codes.min())}..{int(codes.max())}); Loihi has one decay per group")
    return float(a.mean())


def _group(name: str, node: Any, opts: ImportOptions) -> _Group:
    kind = type(node).__name__
    shape = tuple(int(x) for x in np.shape(node.v_threshold)) or (1,)
    vth = np.asarray(node.v_threshold, dtype=np.float64).reshape(-1)
    n = vth.size
    if np.any(np.asarray(node.v_reset) != 0):
        raise LoweringError(f"NIR node {name!r}: v_reset must be 0 (Loihi resets the voltage to 0 or by the "
                            "threshold), got a non-zero reset potential")
    if np.any(vth <= 0):
        raise LoweringError(f"NIR node {name!r}: thresholds must be positive")
    reset = _reset_mode(opts)
    r = _arr(node.r, shape)
    if kind == "IF":
        du, dv, gain, bias = 1.0, 0.0, opts.dt * r, np.zeros(n)
        how = f"IF: v += dt·R·I, dt·R = {float(gain.min()):.4g}..{float(gain.max()):.4g}"
    elif kind == "LIF":
        a = _euler(name, _arr(node.tau, shape), opts.dt, "tau")
        du, dv, gain, bias = 1.0, a, a * r, a * _arr(node.v_leak, shape)
        how = f"LIF: dv = round(4096·dt/tau) = {round(4096 * a)}, gain dt/tau·R"
    else:
        b = _euler(name, _arr(node.tau_syn, shape), opts.dt, "tau_syn")
        a = _euler(name, _arr(node.tau_mem, shape), opts.dt, "tau_mem")
        du, dv, gain, bias = b, a, a * r * b * _arr(node.w_in, shape), a * _arr(node.v_leak, shape)
        how = f"CubaLIF: du = round(4096·dt/tau_syn) - 1 = {round(4096 * b) - 1}, dv = {round(4096 * a)}"
    lif = ir.LIF(name=name, shape=shape, threshold=1.0, bias=None, du=du, dv=dv, reset=reset)
    return _Group(lif, gain / vth, bias / vth, f"{name}: {how}, v_threshold divided out, reset {reset.value}")


def _readout_group(name: str, node: Any, opts: ImportOptions) -> _Group:
    """An LI or CubaLI read-out as a float ``ir.LIF`` with LIF's / CubaLIF's Euler discretisation; its threshold is
    set once its synapses are known (``compilers.readouts.readout_threshold``) so that it never fires."""
    cuba = type(node).__name__ == "CubaLI"
    tau = node.tau_mem if cuba else node.tau
    shape = tuple(int(x) for x in np.shape(tau)) or (1,)
    a = _euler(name, _arr(tau, shape), opts.dt, "tau_mem" if cuba else "tau")
    if round(4096 * a) == 0:
        raise LoweringError(f"NIR node {name!r}: 4096·dt/tau rounds to 0, so the read-out would not leak and its "
                            "voltage has no bound; choose a larger --dt")
    gain = a * _arr(node.r, shape)
    du, how = 1.0, f"LI: dv = round(4096·dt/tau) = {round(4096 * a)}, gain dt/tau·R"
    if cuba:
        du = _euler(name, _arr(node.tau_syn, shape), opts.dt, "tau_syn")
        gain = gain * du * _arr(node.w_in, shape)
        how = f"CubaLI: du = round(4096·dt/tau_syn) - 1 = {round(4096 * du) - 1}, dv = {round(4096 * a)}"
    lif = ir.LIF(name=name, shape=shape, threshold=1.0, bias=None, du=du, dv=a, reset=ir.ResetMode.ZERO)
    return _Group(lif, gain, a * _arr(node.v_leak, shape),
                  f"{name}: {how}, a non-spiking read-out: threshold above every voltage its inputs reach, the score "
                  "of a class is its voltage after the last step", readout=True)


def _threshold_refused(name: str) -> LoweringError:
    return LoweringError(
        f"NIR node {name!r}: Threshold (a stateless H(I - theta) each step) cannot be imported exactly: a Loihi LIF "
        "keeps (4096 - dv)/4096 >= 1/4096 of its voltage (dv <= 4095, no offset), so a step that does not spike "
        "leaks sgn(v)·(|v| >> 12) into the next, zero only while |v| < 4096, i.e. thresholds <= 63 and a bounded "
        "negative input, which quantised thresholds (up to 17 bits) do not keep; use a LIF/IF with reset instead "
        f"(supported: {', '.join(READ_SUPPORTED)})")


def _reset_mode(opts: ImportOptions) -> ir.ResetMode:
    value = str(opts.extra.get("reset", "zero"))
    try:
        return ir.ResetMode(value)
    except ValueError:
        raise LoweringError(f"import option reset: {value!r} is not one of zero, subtract") from None


# ------------------------------------------------------------------ reading: the graph


@dataclass
class _Build:
    nodes: dict[str, ir.Node]
    edges: list[tuple[str, str]]
    groups: dict[str, _Group]
    notes: list[str]
    pre: dict[str, np.ndarray]    #: synapse -> the Scale before it (multiplies its columns)
    post: dict[str, np.ndarray]   #: synapse -> the Scale after it (multiplies its rows, one per neuron fed)


def _input(name: str, node: Any, opts: ImportOptions) -> ir.Input:
    value = str(opts.extra.get("encoding", "rate"))
    if value not in (ir.Encoding.RATE.value, ir.Encoding.POISSON.value):
        raise LoweringError(f"import option encoding: NIR networks take binary spikes (rate or poisson), not "
                            f"{value!r}")
    enc = ir.Encoding(value)
    return ir.Input(name=name, shape=_shape_of(node, "output"), encoding=enc, bits=int(opts.extra.get("bits", 8)))


def _synapse(name: str, node: Any, flat: _Flat, b: _Build, delay: int) -> None:
    """An Affine, Linear, Conv2d or pooling node as the synapse into the one neuron node it feeds, the neuron's
    Euler gain and threshold folded into its weights and its bias into the neuron's."""
    outs = [d for s, d in flat.edges if s == name]
    ins = [s for s, d in flat.edges if d == name]
    if len(outs) != 1 or len(ins) != 1 or _kind(flat.nodes[outs[0]]) not in (*_NEURONS, *_READOUTS):
        raise LoweringError(f"NIR node {name!r}: a {_kind(node)} must read one node and feed exactly one neuron node "
                            "(IF, LIF, CubaLIF, LI, CubaLI); chains of linear maps and linear read-outs are not "
                            "supported")
    g = b.groups[outs[0]]
    scaled = dataclasses.replace(g, gain=g.gain * np.broadcast_to(b.post.get(name, 1.0), g.gain.shape))
    syn, bias = (_dense if _kind(node) in ("Affine", "Linear") else _conv)(name, node, scaled, b.pre.get(name))
    if np.any(bias != 0):
        if g.lif.du != 1.0:
            raise LoweringError(f"NIR node {name!r}: a non-zero bias into the CubaLIF {outs[0]!r} charges its "
                                "synaptic current, which Loihi's voltage bias cannot express; export without bias")
        b.groups[outs[0]] = dataclasses.replace(g, bias=g.bias + bias)
    b.nodes[name] = syn.replace(delay=delay)
    b.edges += [(ins[0], name), (name, outs[0])]


def _dense(name: str, node: Any, g: _Group, pre: np.ndarray | None) -> tuple[ir.Synapse, np.ndarray]:
    """``Dense`` with each row times its neuron's gain (a Scale after it included) and each column times the Scale
    before it (``pre``); the bias per neuron times the gain."""
    if len(g.lif.shape) != 1:
        raise LoweringError(f"NIR node {name!r}: an Affine/Linear must feed a vector of neurons, not the map "
                            f"{g.lif.shape} of {g.lif.name!r}")
    w = np.asarray(node.weight, dtype=np.float64) * g.gain[:, None]
    if pre is not None:
        w = w * np.broadcast_to(pre, w.shape[1:])[None, :]
    bias = np.asarray(getattr(node, "bias", 0.0), dtype=np.float64) * g.gain
    return ir.Dense(name=name, weight=w), np.broadcast_to(bias, g.gain.shape)


def _pair(v: Any) -> tuple[int, int]:
    a = np.broadcast_to(np.asarray(v, dtype=np.int64).reshape(-1), (2,))
    return int(a[0]), int(a[1])


def _conv(name: str, node: Any, g: _Group, pre: np.ndarray | None) -> tuple[ir.Synapse, np.ndarray]:
    """``Conv2d`` (a pooling node: the depthwise convolution with a box kernel); the gain must be the same for
    every neuron of an output channel (it multiplies the channel's kernel)."""
    if pre is not None:
        raise LoweringError(f"NIR node {name!r}: a Scale before a {_kind(node)} is not folded (only before an Affine "
                            "or Linear, whose columns it multiplies); fold it into the convolution's kernel")
    c = g.lif.shape[0] if len(g.lif.shape) == 3 else 0
    per_channel = g.gain.reshape(c, -1) if c else np.zeros((0, 1))
    if not c or not np.allclose(per_channel, per_channel[:, :1], rtol=1e-9, atol=0):
        raise LoweringError(f"NIR node {name!r}: a {_kind(node)} must feed a (channels, height, width) map of neurons "
                            f"whose gain (dt/tau·R over v_threshold) is the same within each channel")
    gain = per_channel[:, 0]
    if _kind(node) == "Conv2d":
        if isinstance(node.padding, str) and node.padding != "valid":
            raise _unsupported(name, "Conv2d with padding 'same'")
        w = np.asarray(node.weight, dtype=np.float64)
        pad = (0, 0) if isinstance(node.padding, str) else _pair(node.padding)
        syn = ir.Conv2d(name=name, weight=w * gain[:, None, None, None], stride=_pair(node.stride), padding=pad,
                        dilation=_pair(node.dilation), groups=int(node.groups))
        bias = np.asarray(node.bias, dtype=np.float64).reshape(-1) * gain
    else:
        kh, kw = _pair(node.kernel_size)
        box = 1.0 if _kind(node) == "SumPool2d" else 1.0 / (kh * kw)
        syn = ir.Conv2d(name=name, weight=np.full((c, 1, kh, kw), box) * gain[:, None, None, None],
                        stride=_pair(node.stride), padding=_pair(node.padding), groups=c)
        bias = np.zeros(c)
    return syn, np.broadcast_to(bias[:, None, None], g.lif.shape).reshape(-1)


def _flatten_node(name: str, node: Any) -> ir.Node:
    """A NIR Flatten of a whole (channels, height, width) map in C order, as our ``Flatten``."""
    if len(_shape_of(node, "output")) != 1:
        raise _unsupported(name, f"Flatten to {_shape_of(node, 'output')} (only a flatten of the whole map)")
    return ir.Flatten(name=name)


def _delays(flat: _Flat, dt: float) -> tuple[_Flat, dict[str, int]]:
    """Fold each ``Delay`` node into the synapse before or after it (a delay of round(delay/dt) steps, the same
    for every neuron), and remove it from the graph."""
    steps: dict[str, int] = {}
    for name in [n for n, v in flat.nodes.items() if _kind(v) == "Delay"]:
        d = np.asarray(flat.nodes[name].delay, dtype=np.float64) / dt
        k = int(np.rint(d.flat[0])) if d.size else 0
        if d.size == 0 or np.any(np.abs(d - k) > 1e-6) or k < 0:
            raise LoweringError(f"NIR node {name!r}: a Delay must be the same whole number of steps dt = {dt} s for "
                                "every neuron")
        near = [s for s, t in flat.edges if t == name] + [t for s, t in flat.edges if s == name]
        syn = [n for n in near if _kind(flat.nodes[n]) in _SYNAPSES and n not in steps]
        if not syn:
            raise LoweringError(f"NIR node {name!r}: a Delay must be next to an Affine or Linear (its delay becomes "
                                "the synapse's)")
        steps[syn[0]] = k
        flat = _contract(flat, (name,))
    return flat, steps


def _after_synapse(flat: _Flat, ins: list[str], outs: list[str]) -> bool:
    """A Scale read from one synapse that feeds nothing else, and feeding one neuron node."""
    return (len(ins) == 1 and len(outs) == 1 and _kind(flat.nodes[ins[0]]) in _SYNAPSES
            and len([d for s, d in flat.edges if s == ins[0]]) == 1
            and _kind(flat.nodes[outs[0]]) in (*_NEURONS, *_READOUTS))


def _scales(flat: _Flat) -> tuple[_Flat, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Fold each ``Scale`` into the synapse next to it and remove it: after a synapse (and before a neuron node) it
    multiplies the synapse's rows and bias; before synapses only, their columns (exact: both are linear). Returns
    the graph without them and the scales before (``pre``) and after (``post``) each synapse."""
    pre: dict[str, np.ndarray] = {}
    post: dict[str, np.ndarray] = {}
    for name in [n for n, v in flat.nodes.items() if _kind(v) == "Scale"]:
        scale = np.asarray(flat.nodes[name].scale, dtype=np.float64).reshape(-1)
        ins = [s for s, d in flat.edges if d == name]
        outs = [d for s, d in flat.edges if s == name]
        if _after_synapse(flat, ins, outs):
            post[ins[0]] = post.get(ins[0], np.ones(1)) * scale
        elif outs and all(_kind(flat.nodes[d]) in _SYNAPSES for d in outs):
            for d in outs:
                pre[d] = pre.get(d, np.ones(1)) * scale
        else:
            raise LoweringError(f"NIR node {name!r}: a Scale is folded into the synapse next to it, so it must sit "
                                "between a synapse (that feeds only it) and a neuron node, or feed synapses only; "
                                "here it reads " + (", ".join(_kind(flat.nodes[i]) for i in ins) or "nothing")
                                + " and feeds " + (", ".join(_kind(flat.nodes[o]) for o in outs) or "nothing"))
        flat = _contract(flat, (name,))
    return flat, pre, post


def _groups(flat: _Flat, b: _Build, opts: ImportOptions) -> None:
    """Every neuron and read-out node as a ``_Group``; any node the reader does not map is refused here."""
    for name, node in flat.nodes.items():
        kind = _kind(node)
        if kind in _NEURONS:
            b.groups[name] = _group(name, node, opts)
        elif kind in _READOUTS:
            readers = [d for s, d in flat.edges if s == name]
            if not readers or any(_kind(flat.nodes[d]) != "Output" for d in readers):
                raise LoweringError(f"NIR node {name!r}: an {kind} is read only by an Output (a non-spiking read-out: "
                                    f"Loihi's neurons send spikes, not their voltage), not by {', '.join(readers)}")
            b.groups[name] = _readout_group(name, node, opts)
        elif kind == "Threshold":
            raise _threshold_refused(name)
        elif kind not in (*_SYNAPSES, "Input", "Output", "Flatten"):
            raise _unsupported(name, kind)


def _output(name: str, node: Any, flat: _Flat, b: _Build) -> None:
    """An Output: the spike count of the neurons it reads, or, of an LI / CubaLI read-out, its final voltage."""
    srcs = [s for s, d in flat.edges if d == name]
    voltage = any(s in b.groups and b.groups[s].readout for s in srcs)
    readout = ir.ReadoutMode.VOLTAGE if voltage else ir.ReadoutMode.SPIKE_COUNT
    b.nodes[name] = ir.Output(name=name, shape=_shape_of(node, "input"), readout=readout)
    b.edges += [(s, name) for s in srcs]


def nir_to_graph(nir_graph: Any, opts: ImportOptions) -> tuple[ir.Graph, list[str]]:
    """The float, converted IR graph of ``nir_graph`` (before quantisation) and notes on what was done."""
    flat, delays = _delays(_contract(_flatten(nir_graph)), opts.dt)
    flat, pre, post = _scales(flat)
    vectors = tuple(n for n, v in flat.nodes.items() if _kind(v) == "Flatten" and len(_shape_of(v, "input")) <= 1)
    flat = _contract(flat, vectors) if vectors else flat
    b = _Build({}, [], {}, [f"forward Euler at dt = {opts.dt} s"], pre, post)
    if pre or post:
        b.notes.append(f"Scale folded into synapses {', '.join(sorted({*pre, *post}))}")
    _groups(flat, b, opts)
    for name, node in flat.nodes.items():
        kind = _kind(node)
        if kind == "Input":
            b.nodes[name] = _input(name, node, opts)
        elif kind == "Output":
            _output(name, node, flat, b)
        elif kind == "Flatten":
            b.nodes[name] = _flatten_node(name, node)
            b.edges += [(s, name) for s, d in flat.edges if d == name]
        elif kind in _SYNAPSES:
            _synapse(name, node, flat, b, delays.get(name, 0))
    for name, g in b.groups.items():
        bias = g.bias.reshape(g.lif.shape) if np.any(g.bias != 0) else None
        b.nodes[name] = g.lif.replace(bias=bias)
        b.notes.append(g.notes)
    _delay_cycles(b)
    order = [n for n in flat.nodes if n in b.nodes]
    graph = ir.Graph(nodes=tuple(b.nodes[n] for n in order), edges=tuple(ir.Edge(src, dst) for src, dst in b.edges),
                     records=(ir.Converted(mode="rate"), ir.BiasesFolded(),
                              ir.Timesteps(steps=int(opts.timesteps or 32))))
    readouts = {name: graph.node(name) for name, g in b.groups.items() if g.readout}
    return graph.replace_nodes({name: n.replace(threshold=readout_threshold(graph, name))
                                for name, n in readouts.items()}), b.notes


def _delay_cycles(b: _Build) -> None:
    """Give every synapse that closes a cycle without delay (depth-first from the inputs) a delay of one step."""
    succ: dict[str, list[str]] = {n: [] for n in b.nodes}
    for s, d in b.edges:
        node = b.nodes[d]
        if not (isinstance(node, ir.Synapse) and node.delay >= 1):   # a cycle through a delay is already closed
            succ[s].append(d)
    state: dict[str, int] = {}   # 1: on the stack, 2: done

    def visit(n: str) -> None:
        state[n] = 1
        for m in succ[n]:
            if state.get(m) == 1:
                _close(b, n, m)
            elif m not in state:
                visit(m)
        state[n] = 2

    for n, node in b.nodes.items():
        if isinstance(node, ir.Input):
            visit(n)


def _close(b: _Build, src: str, dst: str) -> None:
    syn = next((x for x in (src, dst) if isinstance(b.nodes[x], ir.Dense)), None)
    if syn is None:
        raise LoweringError(f"NIR edge {src!r} -> {dst!r} closes a cycle without a synapse on it")
    b.nodes[syn] = b.nodes[syn].replace(delay=1)
    b.notes.append(f"{syn}: recurrent synapse, delay 1 step")


# ------------------------------------------------------------------ reading: exact registers of our own files


def _exact(nir_graph: Any) -> ir.Graph | None:
    """The graph from the ``nfa_*`` registers our writer left, if every node has them and they reproduce the
    node's float parameters at the dt the file was written with; else None (the file is then discretised and
    quantised from its floats)."""
    try:
        graph, dt = _from_registers(nir_graph)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    again = export_nir(graph, dt=dt)
    if set(again.nodes) != set(nir_graph.nodes) or not all(
            _same(again.nodes[k], nir_graph.nodes[k]) for k in nir_graph.nodes):
        return None
    return graph


def _same(a: Any, b: Any) -> bool:
    """Two NIR nodes with the same parameters (numbers to 1e-9 relative; types and metadata aside)."""
    if type(a) is not type(b):
        return False
    return all(_same_value(v, getattr(b, k, None)) for k, v in vars(a).items()
               if k not in ("metadata", "input_type", "output_type"))


def _same_value(v: Any, w: Any) -> bool:
    try:
        x, y = np.asarray(v, dtype=np.float64), np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError):
        return bool(v == w)
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-9, atol=0))


def _meta(node: Any) -> dict[str, Any]:
    return {k[len(_META):]: v for k, v in node.metadata.items() if k.startswith(_META)}


def _scalar(v: Any) -> Any:
    v = v.decode() if isinstance(v, bytes) else v
    return v.item() if isinstance(v, np.generic | np.ndarray) and np.ndim(v) == 0 else v


def _strip(name: str) -> str:
    return name.removesuffix(_DELAY)


def _from_registers(nir_graph: Any) -> tuple[ir.Graph, float]:
    """Our graph from the ``nfa_*`` metadata, and the dt the file was written with (KeyError if any is missing)."""
    nodes: list[tuple[int, ir.Node]] = []
    steps, dt = None, None
    for name, node in nir_graph.nodes.items():
        if name.endswith(_DELAY) and type(node).__name__ == "Delay":
            continue
        m = {k: _scalar(v) for k, v in _meta(node).items()}
        cls = ir.NODE_TYPES[str(m.pop("type"))]
        steps, dt = m.pop("timesteps", steps), m.pop("dt", dt)
        index = int(m.pop("index"))
        nodes.append((index, cls(name=name, **_decode_fields(m))))
    edges = sorted({ir.Edge(_strip(s), _strip(d)) for s, d in nir_graph.edges if _strip(s) != _strip(d)})
    if dt is None:
        raise KeyError("dt")
    records = (ir.Timesteps(steps=int(steps)),) if steps is not None else ()
    return ir.Graph(nodes=tuple(n for _, n in sorted(nodes, key=lambda p: p[0])), edges=tuple(edges),
                    records=records), float(dt)


_DECODERS: dict[str, Callable[[Any], Any]] = {
    **{k: (lambda v: tuple(int(x) for x in np.atleast_1d(v))) for k in ("shape", "stride", "padding", "dilation")},
    "encoding": lambda v: ir.Encoding(str(v)),
    "readout": lambda v: ir.ReadoutMode(str(v)),
    "reset": lambda v: ir.ResetMode(str(v)),
    "rule": lambda v: Rule(str(v)),
}


def _decode_fields(m: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in m.items():
        if k in _DECODERS:
            out[k] = _DECODERS[k](v)
        elif isinstance(v, np.ndarray):
            out[k] = v
        else:
            out[k] = int(v) if isinstance(v, int | np.integer) else v
    return out


# ------------------------------------------------------------------ reading: the reader


def _read_file(path: Path) -> Any:
    """The NIR graph in ``path``, types inferred and checked by nir where it can: nir 1.0.8 derives a Conv2d's
    input channels from its weight, which is wrong for grouped convolutions (our pooling), so such a graph is read
    without nir's type check (our own graph check then verifies every shape)."""
    import nir

    try:
        return nir.read(str(path))
    except ValueError as e:
        if "type" not in str(e).lower():
            raise IRFormatError(f"{path}: not a NIR graph nir 1.0.8 can read ({e})") from e
    except (KeyError, AssertionError) as e:
        raise IRFormatError(f"{path}: not a NIR graph nir 1.0.8 can read ({e})") from e
    return nir.read(str(path), type_check=False)


def read_nir(path: Path, opts: ImportOptions) -> Imported:
    """``path`` (a NIR file) as a quantised graph mapped for ``opts.hw``, with the import report."""
    import nir

    from compilers.passes.mapping import map_cores
    from compilers.passes.quantize import quantize
    from toolkit.hw import load_hw

    nir_graph = _read_file(path)
    hw = load_hw(opts.hw)
    exact = _exact(nir_graph)
    if exact is not None:
        graph = map_cores(exact, hw=hw) if exact.record(ir.CoreMapping) is None else exact
        notes = ["the file carries this toolkit's exact registers (nfa_* metadata), which agree with its "
                 "float parameters: read without re-quantisation"]
    else:
        float_graph, notes = nir_to_graph(nir_graph, opts)
        graph = map_cores(quantize(ir.check_graph(float_graph), hw=hw), hw=hw)
        notes = [*notes, "quantised by compilers.passes.quantize: per group one voltage scale matched to the "
                 "threshold, 8-bit weight mantissas with a shared exponent, 17-bit vth, 13-bit bias mantissas",
                 *check_readouts(graph, label="NIR ")]
    return Imported(graph=ir.check_graph(graph),
                    report={"format": "nir", "nir_version": str(nir.serialization.read_version(str(path))),
                            "dt": opts.dt, "timesteps": graph.timesteps, "notes": notes})


register_reader(Reader("nir", is_nir_file, read_nir, options=("encoding", "bits", "reset")))


# ------------------------------------------------------------------ writing


def _float(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Out:
    """What writing one node needs besides the node: the graph, its shapes, dt, the bias of each LIF group per step
    in register units (v/64), and the node's metadata."""

    graph: ir.Graph
    shapes: Mapping[str, tuple[int, ...]]
    dt: float
    bias: Mapping[str, np.ndarray]
    meta: dict[str, Any]


def _lif_node(n: ir.LoihiLIF, out: _Out) -> Any:
    """The NIR neuron of a ``LoihiLIF`` in register units (see the module doc)."""
    import nir

    shape, dt = tuple(n.shape), out.dt
    vth, zero = np.full(shape, float(n.vth)), np.zeros(shape)
    if n.reset is not ir.ResetMode.ZERO:
        raise LoweringError(f"LoihiLIF {n.name!r} resets by subtraction, which NIR cannot express (it resets to "
                            "v_reset); compile with --reset zero to export to NIR")
    if any(isinstance(d, ir.Output) and d.readout is ir.ReadoutMode.VOLTAGE for d in out.graph.successors(n.name)):
        return _readout_node(n, out)
    if n.du == 4095 and n.dv == 0:
        return nir.IF(r=np.full(shape, 1.0 / dt), v_threshold=vth, v_reset=zero, metadata=out.meta)
    if n.dv == 0:
        raise LoweringError(f"LoihiLIF {n.name!r}: a current decay without a voltage leak (dv = 0, du < 4095) "
                            "has no NIR neuron; NIR's CubaLIF needs a finite tau_mem")
    tau = np.full(shape, 4096.0 * dt / n.dv)
    r = tau / dt   # gain dt/tau · R = 1: the input arrives in register units, as on the chip
    if n.du == 4095:
        return nir.LIF(tau=tau, r=r, v_leak=zero, v_threshold=vth, v_reset=zero, metadata=out.meta)
    if np.any(out.bias[n.name] != 0):
        raise LoweringError(f"LoihiLIF {n.name!r}: a bias with current decay (du < 4095) has no NIR equivalent")
    tau_syn = np.full(shape, 4096.0 * dt / (n.du + 1))
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=r, v_leak=zero, w_in=tau_syn / dt, v_threshold=vth,
                       v_reset=zero, metadata=out.meta)


def _readout_node(n: ir.LoihiLIF, out: _Out) -> Any:
    """A group read by a ``VOLTAGE`` Output as NIR's ``LI`` (du = 4095) or ``CubaLI``, in register units as
    ``_lif_node`` writes a LIF (its threshold, above every voltage it reaches, is not part of NIR's read-out); a
    CubaLI's bias is its v_leak (NIR adds dt/τ·v_leak to v, as Loihi adds the bias), not its synapse's bias, which
    would charge the current."""
    import nir

    shape, dt, zero = tuple(n.shape), out.dt, np.zeros(tuple(n.shape))
    if n.dv == 0:
        raise LoweringError(f"LoihiLIF {n.name!r}: a voltage read-out without leak (dv = 0) has no NIR read-out "
                            "(LI and CubaLI need a finite tau)")
    tau = np.full(shape, 4096.0 * dt / n.dv)
    if n.du == 4095:   # the bias goes with the first synapse, as a LIF's (``_synapse_bias``)
        return nir.LI(tau=tau, r=tau / dt, v_leak=zero, metadata=out.meta)
    tau_syn = np.full(shape, 4096.0 * dt / (n.du + 1))
    v_leak = out.bias[n.name].reshape(shape) * tau / dt   # dt/τ·v_leak is the bias per step, added to v
    return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau, r=tau / dt, v_leak=v_leak, w_in=tau_syn / dt, metadata=out.meta)


def _registers_meta(n: ir.Node) -> dict[str, Any]:
    """Our exact registers of ``n`` as NIR metadata (scalars, strings, arrays)."""
    import dataclasses

    meta: dict[str, Any] = {_META + "type": type(n).__name__}
    for f in dataclasses.fields(n):
        v = getattr(n, f.name)
        if f.name == "name" or v is None:
            continue
        if f.name == "plastic":   # NIR has no plasticity (see the module doc)
            continue
        meta[_META + f.name] = v.value if hasattr(v, "value") else (np.asarray(v) if isinstance(v, tuple) else v)
    return meta


def _check_exportable(graph: ir.Graph) -> None:
    bad = [f"{type(n).__name__} {n.name!r}" for n in graph.nodes if type(n) not in _WRITERS]
    if bad:
        raise LoweringError(f"NIR export: {', '.join(bad)} cannot be written (NIR export supports "
                            f"{', '.join(WRITE_SUPPORTED)}: rate-coded networks; NIR has no sigma-delta neuron)")
    for i in graph.of_type(ir.Input):
        if i.sequence:
            raise LoweringError(f"NIR export: Input {i.name!r} is a sequence input (one row of the sample per step, a "
                                "recurrent network's); NIR has no input of that kind, so the network cannot be "
                                "written (run it with `nfa run` instead)")
        if i.encoding.graded:
            raise LoweringError(f"NIR export: Input {i.name!r} sends graded spikes ({i.encoding.value}); NIR's inputs "
                                "are binary spikes: compile with --encoding rate or poisson")
    for s in graph.of_type(ir.Synapse):
        if not s.quantized:
            raise LoweringError(f"NIR export: {type(s).__name__} {s.name!r} is not quantised; export a compiled "
                                "network")


def _synapse_bias(out: _Out, n: ir.Synapse) -> np.ndarray | None:
    """The per-step bias of the LIF group ``n`` feeds, if ``n`` is that group's first synapse and the group has no
    current decay (a LIF/IF bias is the same per step whichever synapse carries it); else None."""
    dst = out.graph.successors(n.name)[0]
    first = out.graph.in_edges(dst.name)[0].src == n.name
    return out.bias[dst.name] if first and isinstance(dst, ir.LoihiLIF) and dst.du == 4095 else None


def _write_dense(n: ir.Dense, out: _Out) -> Any:
    """A Dense as NIR Affine: weights r·2^weight_exp, the group's bias (``_synapse_bias``)."""
    import nir

    bias = _synapse_bias(out, n)
    return nir.Affine(weight=_float(n.weight) * 2.0 ** n.weight_exp,
                      bias=np.zeros(n.out_features) if bias is None else bias.reshape(-1), metadata=out.meta)


def _write_conv(n: ir.Conv2d, out: _Out) -> Any:
    """A Conv2d as NIR Conv2d (weight_exp is 0 for a quantised convolution); its bias, one per channel, is the
    group's, which must be the same over each channel's map."""
    import nir

    bias = _synapse_bias(out, n)
    channels = int(n.weight.shape[0])
    per_channel = np.zeros((channels, 1)) if bias is None else bias.reshape(channels, -1)
    if np.any(per_channel != per_channel[:, :1]):
        raise LoweringError(f"NIR export: the bias of the group fed by Conv2d {n.name!r} differs within a channel, "
                            "which a NIR Conv2d bias (one per channel) cannot express")
    in_shape = out.shapes[out.graph.source(n.name).name]
    conv = nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=_float(n.weight) * 2.0 ** n.weight_exp,
                      stride=n.stride, padding=n.padding, dilation=n.dilation, groups=int(n.groups),
                      bias=per_channel[:, 0].copy(), metadata=out.meta)
    conv.input_type = {"input": np.asarray(in_shape)}   # nir 1.0.8 takes weight.shape[1], wrong for groups > 1
    return conv


def _write_flatten(n: ir.Flatten, out: _Out) -> Any:
    import nir

    in_shape = out.shapes[out.graph.source(n.name).name]
    return nir.Flatten(input_type={"input": np.asarray(in_shape)}, start_dim=0, end_dim=-1, metadata=out.meta)


def _write_input(n: ir.Input, out: _Out) -> Any:
    import nir

    meta = {**out.meta, _META + "timesteps": int(out.graph.timesteps or 32), _META + "dt": float(out.dt)}
    return nir.Input(input_type={"input": np.asarray(n.shape)}, metadata=meta)


def _write_output(n: ir.Output, out: _Out) -> Any:
    import nir

    return nir.Output(output_type={"output": np.asarray(n.shape)}, metadata=out.meta)


#: IR node type -> its NIR node
_WRITERS: dict[type, Callable[[Any, _Out], Any]] = {
    ir.Input: _write_input, ir.Output: _write_output, ir.Dense: _write_dense, ir.Conv2d: _write_conv,
    ir.Flatten: _write_flatten, ir.LoihiLIF: _lif_node,
}


def export_nir(graph: ir.Graph, *, dt: float = 1e-3) -> Any:
    """The NIR graph of a quantised rate network (see the module doc); ``dt`` is the time step in seconds.
    Plastic synapses are written with their current weights (NIR has no plasticity)."""
    import nir

    _check_exportable(graph)
    shapes = graph.shapes()
    bias = {g.name: _float(g.bias_mant) * 2.0 ** _float(g.bias_exp) / 64.0 for g in graph.of_type(ir.LoihiLIF)}
    nodes: dict[str, Any] = {}
    for index, n in enumerate(graph.nodes):
        meta = {**_registers_meta(n), _META + "index": index}   # NIR files do not keep the order of nodes
        nodes[n.name] = _WRITERS[type(n)](n, _Out(graph, shapes, dt, bias, meta))
        if isinstance(n, ir.Synapse) and n.delay:
            nodes[n.name + _DELAY] = nir.Delay(delay=np.full(shapes[n.name], n.delay * dt))
    delayed = {s.name for s in graph.of_type(ir.Synapse) if s.delay}
    edges = [(e.src + _DELAY if e.src in delayed else e.src, e.dst) for e in graph.edges]
    edges += [(name, name + _DELAY) for name in delayed]
    grouped = any(c.groups > 1 for c in graph.of_type(ir.Conv2d))   # nir's type check gets these wrong
    return nir.NIRGraph(nodes=nodes, edges=sorted(set(edges)), type_check=not grouped)


def write_nir(graph: ir.Graph, path: str | Path, *, dt: float = 1e-3) -> Path:
    """Write ``export_nir(graph)`` to ``path`` (NIR's HDF5 file)."""
    import nir

    p = Path(path)
    nir.write(str(p), export_nir(graph, dt=dt))
    return p
