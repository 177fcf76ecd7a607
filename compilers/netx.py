"""Export a compiled network as lava-dl netx's HDF5 network description (``nfa export --format netx``).

The file is what ``lava.lib.dl.netx.hdf5.Network`` (lava-dl 0.6) reads, written with h5py::

    layer/0   type 'input', shape            no neuron: the network's input port takes spikes directly
    layer/i   type 'dense', shape [n], weight (n, n_in), inFeatures, outFeatures, [bias],
              neuron/{type 'CUBA', iDecay, vDecay, vThMant, refDelay, gradedSpike}
    simulation/{Ts, tSample}                 informational (tSample = the compiled timesteps)

Exact or nothing. netx maps a CUBA neuron to Lava's LIF with du = iDecay − 1, dv = vDecay,
vth = vThMant, bias_mant = bias and bias_exp = 6, and passes every dense weight matrix through
``netx.utils.optimize_weight_bits``; it has no per-layer weight exponent. A layer is written only
if netx then computes exactly what our lowering computes, state for state:

* weights: W·2^weight_exp must be an integer matrix that netx's weight pipeline (optimize_weight_bits,
  then Lava Dense's clip and truncation) reproduces exactly; this is checked with lava-dl's and
  Lava's own functions, not re-derived;
* bias: bias_mant·2^bias_exp must be a multiple of 64 (netx fixes bias_exp = 6) and fit 13 bits;
* reset to zero (netx's LIF has no reset by subtraction); binary input spikes (netx takes the
  input's message bits as a ``Network()`` argument, not from the file).

Anything else raises ``LoweringError`` saying what and why; no file is written. netx has no
per-sample reset: load with ``Network(net_config=..., reset_interval=T, reset_offset=1)`` to
reset each layer at the first step of every sample as our Lava lowering does.

Per-node-type writers live in ``EXPORTERS`` (a ``TypeRegistry``: ``@EXPORTERS.register(ir.Dense)``), so new node types
plug in without touching the driver.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolkit import ir
from toolkit.errors import LoweringError
from toolkit.fsutil import atomic_path
from toolkit.lavacompat import require_lava
from toolkit.registry import TypeRegistry

__all__ = ["EXPORTERS", "NetxLayer", "netx_chain", "netx_layers", "netx_weights_exact", "write_netx"]

_BIAS_MANT_MAX = (1 << 12) - 1   # Lava LIF bias_mant: 13-bit signed
_VTH_MAX = (1 << 17) - 1         # Lava LIF vth: 17-bit unsigned
_DECAY_MAX = 4095                # Lava LIF du, dv: 12-bit unsigned


@dataclass
class NetxLayer:
    """One ``layer/<i>`` group: its datasets (``neuron/...`` keys included)."""

    datasets: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Context:
    pending: NetxLayer | None = None   # a synapse layer waiting for its neuron group
    layers: list[NetxLayer] = field(default_factory=list)


Exporter = Callable[[Any, _Context], None]

#: IR node type -> writer(node, context); a node type without an entry cannot be exported
EXPORTERS: TypeRegistry[Exporter] = TypeRegistry("netx export")


def _s(text: str) -> np.ndarray:
    """A string as slayer writes it: a fixed-length ASCII array of shape (1,)."""
    return np.array([text.encode("ascii")], dtype=f"S{max(len(text), 1)}")


def netx_weights_exact(w: np.ndarray) -> bool:
    """True if netx turns the integer matrix ``w`` into Lava Dense synapses computing exactly w·s."""
    require_lava()
    # importing lava-dl prints CUDA and dataset-toolbox notices that say nothing about this export
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    w = np.asarray(w, dtype=np.int64)
    if not w.any():
        return False  # optimize_weight_bits divides by the largest weight
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a warning when it clips
        w_opt, n_bits, w_exp, _ = optimize_weight_bits(w.astype(np.int32))
    if w_exp > 0:
        return False
    mode = determine_sign_mode(w_opt)  # netx passes no sign mode: Lava's Dense infers it
    effective = truncate_weights(clip_weights(w_opt, mode, num_bits=8), mode, n_bits)
    return bool(np.array_equal(np.asarray(effective, np.int64), w << -w_exp))


def _shifted(weight: np.ndarray, exp: int) -> np.ndarray | None:
    """W·2^exp as integers, or None if a right shift would drop nonzero bits."""
    w = weight.astype(np.int64)
    if exp >= 0:
        return w << exp
    if np.any(w % (1 << -exp)):
        return None
    return w >> -exp


@EXPORTERS.register(ir.Dense)
def _dense(n: ir.Dense, ctx: _Context) -> None:
    if not n.quantized:
        raise LoweringError(f"Dense {n.name!r} has float weights: compile the network first (nfa compile)")
    w = _shifted(n.weight, int(n.weight_exp))
    if w is None:
        raise LoweringError(f"Dense {n.name!r}: weight exponent {n.weight_exp} floors each dendritic sum, which "
                            "netx (no weight exponent) cannot reproduce with integer weights")
    if not netx_weights_exact(w):
        raise LoweringError(f"Dense {n.name!r}: weights x 2^{n.weight_exp} span {int(w.min())}..{int(w.max())}; "
                            "netx rescales every weight matrix into Lava's 8-bit synapses and has no per-layer "
                            "weight exponent (optimize_weight_bits), so these weights would change; only layers "
                            "quantised with weight exponent <= 0 (or small weights) can be exported")
    ctx.pending = NetxLayer({"type": _s("dense"), "shape": np.array([n.out_features]),
                             "inFeatures": n.in_features, "outFeatures": n.out_features,
                             "weight": w.astype(np.int32)})


def _bias(n: ir.LoihiLIF) -> np.ndarray:
    exp = n.bias_exp.astype(np.int64)
    if np.any(exp < 0):
        raise LoweringError(f"LoihiLIF {n.name!r}: negative bias exponents cannot be exported")
    b = n.bias_mant.astype(np.int64) << exp
    if np.any(b % 64):
        bad = int(np.count_nonzero(b % 64))
        raise LoweringError(f"LoihiLIF {n.name!r}: {bad} bias value(s) (bias_mant * 2^bias_exp) are not multiples "
                            "of 64; netx fixes bias_exp = 6 for CUBA neurons, so they cannot be written exactly")
    b >>= 6
    if np.abs(b).max(initial=0) > _BIAS_MANT_MAX:
        raise LoweringError(f"LoihiLIF {n.name!r}: bias {int(np.abs(b).max())} * 2^6 exceeds netx's 13-bit bias "
                            "mantissa")
    return b.reshape(-1).astype(np.int32)


@EXPORTERS.register(ir.LoihiLIF)
def _lif(n: ir.LoihiLIF, ctx: _Context) -> None:
    layer = ctx.pending
    if layer is None:
        raise LoweringError(f"LoihiLIF {n.name!r} is not fed by an exportable synapse layer")
    if n.reset is not ir.ResetMode.ZERO:
        raise LoweringError(f"LoihiLIF {n.name!r}: reset by subtraction has no netx equivalent (netx builds Lava's "
                            "LIF, which resets to zero); compile with --reset zero")
    if not (0 <= n.du <= _DECAY_MAX and 0 <= n.dv <= _DECAY_MAX and 0 <= n.vth <= _VTH_MAX):
        raise LoweringError(f"LoihiLIF {n.name!r}: du={n.du}, dv={n.dv} or vth={n.vth} is outside Lava LIF's "
                            "12-bit decays / 17-bit threshold")
    bias = _bias(n)
    if bias.any():
        layer.datasets["bias"] = bias
    layer.datasets.update({"neuron/type": _s("CUBA"), "neuron/iDecay": int(n.du) + 1, "neuron/vDecay": int(n.dv),
                           "neuron/vThMant": int(n.vth), "neuron/refDelay": 1, "neuron/gradedSpike": False})
    ctx.layers.append(layer)
    ctx.pending = None


@EXPORTERS.register(ir.Flatten)
def _flatten(n: ir.Flatten, ctx: _Context) -> None:
    if len(ctx.layers) > 1 or ctx.pending is not None:  # ctx.layers[0] is the input layer
        # after a neuron group netx would need its 'flatten' layer and a 3-D (WHC) shape
        raise LoweringError(f"Flatten {n.name!r} between layers is not exportable yet (only after the input)")


def _input_layer(inp: ir.Input, graph: ir.Graph) -> NetxLayer:
    if inp.encoding not in (ir.Encoding.RATE, ir.Encoding.POISSON):
        raise LoweringError(f"Input {inp.name!r}: encoding {inp.encoding.value!r} sends graded payloads; netx takes "
                            "the input's message bits as a Network() argument, not from the file, so only binary "
                            "spike input (rate, poisson) is exported")
    flat = any(isinstance(n, ir.Flatten) for n in graph.nodes)
    shape = (int(np.prod(inp.shape)),) if flat else tuple(inp.shape)
    return NetxLayer({"type": _s("input"), "shape": np.array(shape)})


def _check_output(out: ir.Output) -> None:
    if out.readout is not ir.ReadoutMode.SPIKE_COUNT:
        raise LoweringError(f"Output {out.name!r}: readout {out.readout.value!r} is not exportable; netx's output "
                            "port gives the last layer's spikes, which are counted (spike_count)")


def netx_chain(graph: ir.Graph) -> list[ir.Node]:
    """The graph's nodes from its Input to its Output, if it is one feed-forward chain without delays (netx's
    file is a list of layers, each feeding the next); else ``LoweringError`` naming the first node that
    branches, merges or is delayed."""
    inputs, outputs = graph.of_type(ir.Input), graph.of_type(ir.Output)
    if len(inputs) != 1 or len(outputs) != 1:
        raise LoweringError(f"netx export takes one Input and one Output; the graph has {len(inputs)} input(s) "
                            f"({', '.join(i.name for i in inputs)}) and {len(outputs)} output(s)")
    order: list[ir.Node] = [inputs[0]]
    while not isinstance(order[-1], ir.Output):
        n = order[-1]
        outs = graph.out_edges(n.name)
        if len(outs) != 1:
            raise LoweringError(f"netx export takes a chain of layers; {type(n).__name__} {n.name!r} feeds "
                                f"{len(outs)} nodes ({', '.join(e.dst for e in outs) or 'none'})")
        nxt = graph.node(outs[0].dst)
        ins = graph.in_edges(nxt.name)
        if len(ins) != 1:
            raise LoweringError(f"netx export takes a chain of layers; {type(nxt).__name__} {nxt.name!r} has "
                                f"{len(ins)} incoming edges ({', '.join(e.src for e in ins)})")
        if isinstance(nxt, ir.Synapse) and nxt.delay:
            raise LoweringError(f"netx export: synapse {nxt.name!r} has a delay of {nxt.delay} steps, which this "
                                "exporter does not write")
        if nxt in order:
            raise LoweringError(f"netx export takes a chain of layers; {nxt.name!r} is on a cycle")
        order.append(nxt)
    if len(order) != len(graph.nodes):
        rest = sorted({n.name for n in graph.nodes} - {n.name for n in order})
        raise LoweringError(f"netx export takes a chain of layers; nodes off the chain: {', '.join(rest)}")
    return order


def netx_layers(graph: ir.Graph) -> list[NetxLayer]:
    """The ``layer/<i>`` groups of ``graph`` in order; raises ``LoweringError`` if netx cannot match it exactly."""
    order = netx_chain(graph)
    inp, out = order[0], order[-1]
    assert isinstance(inp, ir.Input) and isinstance(out, ir.Output)
    _check_output(out)
    ctx = _Context(layers=[_input_layer(inp, graph)])
    for n in order[1:-1]:
        fn = EXPORTERS.of(n)
        if fn is None:
            raise LoweringError(f"no netx export for {type(n).__name__} {n.name!r} "
                                f"(supported: {EXPORTERS.supported()})")
        fn(n, ctx)
    if ctx.pending is not None:
        raise LoweringError("the last synapse layer is not followed by a neuron group")
    return ctx.layers


def write_netx(graph: ir.Graph, path: str | Path) -> Path:
    """Check that ``graph`` is exactly expressible in netx, then write the HDF5 file atomically."""
    import h5py

    layers = netx_layers(graph)
    target = Path(path)
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("simulation/Ts", data=1)
        f.create_dataset("simulation/tSample", data=int(graph.timesteps or 1))
        for i, layer in enumerate(layers):
            for key, value in layer.datasets.items():
                f.create_dataset(f"layer/{i}/{key}", data=value)
    return target
