"""Lowering to Lava: a quantised IR graph becomes a Lava process graph.

One registry, keyed by IR node type (``@register_lowering(ir.Dense)``); an unknown node
raises ``LoweringError`` listing the supported ones. The built network is, for example,

    EncodedSource → Conv → LIFReset → … → Dense → SigmaDeltaReset → … → SampleCounter

Sample separation. Lava's Dense and Conv delay their output by one step, so the k-th neuron
group (k synapses from the input) sees step τ of sample n at global step n·T + τ + k. Each
group resets its state (LIFReset, SigmaDeltaReset) at exactly that first step (reset_offset =
(1 + k) mod T), and the counter reads sample n's output over the same shifted window. Every
layer therefore computes each sample from a clean state and samples cannot leak into each
other: the result is identical to simulating each sample alone (tests check it for the
rate and the sigma-delta networks).

Layout. The IR orders images (channels, height, width) as PyTorch does; Lava's Conv works in
(x, y, channels) = (width, height, channels). Every 3-D neuron group and convolution is
built in Lava's order (``lava_shape``: the axes reversed; ``lava_kernel``: the PyTorch kernel
flipped and transposed), and the ports between them are connected as they are. Where a 3-D
signal meets a 1-D one (a Flatten before a Dense) it is transposed back to (channels, height,
width) and flattened on the way, with Lava's virtual ports, exactly as lava-dl's netx does,
so a Dense sees its inputs in PyTorch's flatten order and keeps PyTorch's weight matrix.
Recorded state is returned in the IR's order (``ir_layout``).

Graded spikes. A synapse receives multi-bit payloads (``num_message_bits`` > 0) when its input
is the graded input encoding or a sigma-delta group; binary spikes otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolkit import ir
from toolkit.errors import LoweringError
from toolkit.lavacompat import require_lava

__all__ = ["LOWERINGS", "LavaBuild", "Lowered", "ir_layout", "lava_kernel", "lava_shape", "lower_to_lava",
           "register_lowering"]


def lava_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Lava's shape of an IR shape: (C, H, W) becomes (W, H, C); other shapes are unchanged."""
    return tuple(reversed(shape)) if len(shape) == 3 else tuple(shape)


def _to_lava(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(2, 1, 0)) if a.ndim == 3 else a


def ir_layout(trace: np.ndarray) -> np.ndarray:
    """A recorded trace (steps, *Lava shape) in the IR's order (steps, *IR shape)."""
    return trace.transpose(0, 3, 2, 1) if trace.ndim == 4 else trace


def lava_kernel(weight: np.ndarray) -> np.ndarray:
    """Lava Conv weights (C_out, k_w, k_h, C_in/groups) of a PyTorch kernel (C_out, C_in/groups, k_h, k_w).

    Lava convolves (flips the kernel) in (x, y) order; PyTorch cross-correlates in (y, x).
    """
    return np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


@dataclass
class Lowered:
    """The Lava side of one IR node: where its input enters, where its output leaves, and the
    Vars/ports to record per step (trace name -> Lava Var or OutPort, in Lava's layout)."""

    process: Any
    in_port: Any
    out_port: Any
    probes: dict[str, Any] = field(default_factory=dict)


@dataclass
class LowerContext:
    timesteps: int
    n_samples: int
    hardware: bool
    depth: int = 0                     # synapses between the input and the current node
    message_bits: int = 0              # payload bits of the signal entering the next synapse (0: binary)
    in_shape: tuple[int, ...] = ()     # IR shape of the current node's input
    depths: dict[str, int] = field(default_factory=dict)

    @property
    def reset_offset(self) -> int:
        """Step (mod T) at which a group ``depth`` synapses from the input starts a sample."""
        return (1 + self.depth) % self.timesteps


Lowering = Callable[[Any, LowerContext], Lowered]

#: IR node type -> function(node, context) -> Lowered
LOWERINGS: dict[type[ir.Node], Lowering] = {}


def register_lowering(*types: type[ir.Node]) -> Callable[[Lowering], Lowering]:
    def deco(fn: Lowering) -> Lowering:
        for t in types:
            LOWERINGS[t] = fn
        return fn
    return deco


def _require_quantized(n: ir.Synapse) -> None:
    if not n.quantized:
        raise LoweringError(f"{type(n).__name__} {n.name!r} has float weights: quantise the graph first "
                            "(nfa compile)")


@register_lowering(ir.Dense)
def _dense(n: ir.Dense, ctx: LowerContext) -> Lowered:
    from lava.proc.dense.process import Dense

    _require_quantized(n)
    d = Dense(weights=n.weight.astype(np.int32), weight_exp=int(n.weight_exp), num_weight_bits=8,
              num_message_bits=ctx.message_bits, name=n.name)
    ctx.depth += 1
    return Lowered(d, d.s_in, d.a_out)


@register_lowering(ir.Conv2d)
def _conv(n: ir.Conv2d, ctx: LowerContext) -> Lowered:
    from lava.proc.conv.process import Conv

    _require_quantized(n)
    if n.weight_exp != 0:
        raise LoweringError(f"Conv2d {n.name!r} has weight_exp {n.weight_exp}, but Lava's Conv model applies "
                            "no weight exponent; recompile (the quantiser folds exponents into conv weights)")
    (ph, pw), (sh, sw), (dh, dw) = n.padding, n.stride, n.dilation
    c = Conv(weight=lava_kernel(n.weight.astype(np.int32)), input_shape=lava_shape(ctx.in_shape),
             padding=(pw, ph), stride=(sw, sh), dilation=(dw, dh), groups=int(n.groups),
             num_weight_bits=8, num_message_bits=ctx.message_bits, name=n.name)
    ctx.depth += 1
    return Lowered(c, c.s_in, c.a_out)


@register_lowering(ir.LoihiLIF)
def _lif(n: ir.LoihiLIF, ctx: LowerContext) -> Lowered:
    from lava.proc.lif.process import LIFReset

    kw = dict(shape=lava_shape(tuple(n.shape)), du=int(n.du), dv=int(n.dv), vth=int(n.vth),
              bias_mant=_to_lava(n.bias_mant.astype(np.int32)), bias_exp=_to_lava(n.bias_exp.astype(np.int32)),
              reset_interval=ctx.timesteps, reset_offset=ctx.reset_offset, name=n.name)
    ctx.depths[n.name] = ctx.depth
    ctx.message_bits = 0
    if n.reset is ir.ResetMode.ZERO:
        lif = LIFReset(**kw)
    elif ctx.hardware:
        raise LoweringError(f"LoihiLIF {n.name!r}: reset mode 'subtract' runs only in simulation "
                            "(Lava has no neuro-core model for it); compile with --reset zero for hardware")
    else:
        from compilers.lava.procs.neurons import LIFResetSubtract

        lif = LIFResetSubtract(**kw)
    return Lowered(lif, lif.a_in, lif.s_out, probes={"u": lif.u, "v": lif.v, "s": lif.s_out})


@register_lowering(ir.LoihiSigmaDelta)
def _sigma_delta(n: ir.LoihiSigmaDelta, ctx: LowerContext) -> Lowered:
    from lava.proc.sdn.process import ActivationMode

    from compilers.lava.procs.sdn import SigmaDeltaReset

    if ctx.hardware:
        raise LoweringError(f"LoihiSigmaDelta {n.name!r}: the sigma-delta neuron with a per-sample state reset "
                            "runs only in simulation (Lava has no neuro-core model for it); use --mode rate "
                            "on hardware")
    mode = ActivationMode.RELU if n.activation is ir.Activation.RELU else ActivationMode.UNIT
    sd = SigmaDeltaReset(shape=lava_shape(tuple(n.shape)), vth=int(n.vth),
                         bias=_to_lava(n.bias_mant.astype(np.int32)), act_mode=mode, cum_error=bool(n.cum_error),
                         spike_exp=int(n.spike_exp), state_exp=int(n.state_exp),
                         reset_interval=ctx.timesteps, reset_offset=ctx.reset_offset, name=n.name)
    ctx.depths[n.name] = ctx.depth
    ctx.message_bits = int(n.message_bits)
    probes = {"sigma": sd.sigma, "act": sd.act, "residue": sd.residue, "s": sd.s_out}
    if n.cum_error:  # the error is only used (and non-zero) with cum_error
        probes["error"] = sd.error
    return Lowered(sd, sd.a_in, sd.s_out, probes=probes)


@register_lowering(ir.Flatten)
def _flatten(n: ir.Flatten, ctx: LowerContext) -> Lowered:
    return Lowered(None, None, None)  # _connect flattens (in the IR's order) where a 1-D port follows


@dataclass
class LavaBuild:
    """A built Lava network and what is needed to run and read it."""

    source: Any
    counter: Any
    processes: dict[str, Any]
    timesteps: int
    n_samples: int
    latency: int
    depths: dict[str, int]
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def total_steps(self) -> int:
        """Steps to run so the last sample's window has fully reached the counter."""
        return self.n_samples * self.timesteps + self.latency


@dataclass
class _Port:
    """An output port and whether a 3-D one is in Lava's (x, y, c) order or the IR's (c, y, x)."""

    port: Any
    lava_layout: bool


def _connect(src: _Port, in_port: Any, lava_layout: bool = True) -> None:
    """Connect ``src`` to ``in_port``: transpose a 3-D signal into the target's order (the IR's before a
    flatten), then flatten or reshape to the target's shape."""
    port = src.port
    want_lava = lava_layout and len(in_port.shape) == 3
    if len(port.shape) == 3 and src.lava_layout != want_lava:
        port = port.transpose((2, 1, 0))
    if tuple(port.shape) != tuple(in_port.shape):
        port = port.flatten() if len(in_port.shape) == 1 else port.reshape(in_port.shape)
    port.connect(in_port)


def _adapter(kind: str, src: _Port, processes: dict[str, Any], name: str) -> _Port:
    """Insert lava-loihi's host<->chip spike adapter ``kind`` after ``src``; return its output."""
    from lava.proc.embedded_io import spike  # only present with Intel's lava-loihi extension

    adapter = getattr(spike, kind)(shape=tuple(src.port.shape))
    _connect(src, adapter.inp, src.lava_layout)
    processes[name] = adapter
    return _Port(adapter.out, src.lava_layout)


def _lower_node(n: ir.Node, ctx: LowerContext) -> Lowered:
    fn = LOWERINGS.get(type(n))
    if fn is None:
        supported = ", ".join(sorted(t.__name__ for t in LOWERINGS))
        raise LoweringError(f"no Lava lowering for {type(n).__name__} {n.name!r} (supported: {supported})")
    return fn(n, ctx)


def lower_to_lava(graph: ir.Graph, levels: np.ndarray, *, timesteps: int, hardware: bool = False) -> LavaBuild:
    """Build the Lava processes for ``graph`` fed with input ``levels`` (N, *input shape)."""
    require_lava()
    from compilers.lava.procs.sinks import SampleCounter
    from compilers.lava.procs.sources import EncodedSource

    if not graph.is_chain():
        raise LoweringError("Lava lowering supports chain graphs only")
    inp, out = graph.of_type(ir.Input)[0], graph.of_type(ir.Output)[0]
    if inp.encoding is ir.Encoding.ANALOG:
        raise LoweringError("the graph is not converted to spiking neurons: compile it first (nfa compile)")
    ctx = LowerContext(timesteps=timesteps, n_samples=int(levels.shape[0]), hardware=hardware,
                       message_bits=inp.bits if inp.encoding.graded else 0)
    source = EncodedSource(levels=levels.astype(np.int32), timesteps=timesteps, encoding=inp.encoding.value,
                           bits=inp.bits, seed=inp.seed, name=inp.name)
    src, processes, probes = _Port(source.s_out, lava_layout=False), {inp.name: source}, {}
    if hardware:  # host-side processes reach neuro-cores through lava-loihi's spike adapters
        src = _adapter("PyToNxAdapter", src, processes, "input_adapter")
    shapes = graph.shapes()
    order = graph.topological()
    for prev, n in itertools.pairwise(order[:-1]):  # every node between the Input and the Output
        ctx.in_shape = shapes[prev.name]
        low = _lower_node(n, ctx)
        if low.process is None:
            continue
        _connect(src, low.in_port)
        src, processes[n.name] = _Port(low.out_port, lava_layout=True), low.process
        if low.probes:
            probes[n.name] = low.probes
    if hardware:
        src = _adapter("NxToPyAdapter", src, processes, "output_adapter")
    counter = SampleCounter(shape=tuple(out.shape), n_samples=ctx.n_samples, timesteps=timesteps,
                            latency=ctx.depth, name=out.name)
    _connect(src, counter.a_in, lava_layout=False)
    processes[out.name] = counter
    return LavaBuild(source=source, counter=counter, processes=processes, timesteps=timesteps,
                     n_samples=ctx.n_samples, latency=ctx.depth, depths=ctx.depths, probes=probes)
