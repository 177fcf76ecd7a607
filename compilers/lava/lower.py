"""Lowering to Lava: a quantised IR graph becomes a Lava process graph.

One registry, keyed by IR node type (``LOWERINGS``, falling back to the parent class); an unknown
node raises ``LoweringError`` listing the supported ones. Every node becomes one process (reshapes
none), and every edge one connection: several synapses into one neuron group connect to its one
input port, which Lava sums; a recurrent synapse connects a group back to itself. A network is, e.g.,

    EncodedSource → Dense → LIFReset → Dense → LIFReset → SampleCounter
                               ↑______ WindowDense ______|   (a recurrent synapse)

Time. ``toolkit.ir.timing`` gives each input and group an offset o (it handles step τ of sample n
at Lava step n·T + o + τ) and each synapse a delay in Lava steps; Dense delivers after exactly one
step, ``DelayDense`` after more (path balancing, e.g. a residual connection), and ``WindowDense``
(synapses with an IR delay ≥ 1) also drops what would cross into the next sample. Each group resets
its state at the first step of its window (LIFReset, SigmaDeltaReset with reset_offset = (o + 1) mod T)
and the counter reads the output group's window, so every sample is computed from a clean state,
exactly as the IR (and the reference simulator) defines it; tests check it for rate, sigma-delta,
branching, recurrent and two-input networks.

Layout. The IR orders images (channels, height, width) as PyTorch does; Lava's Conv works in
(x, y, channels) = (width, height, channels). Every 3-D neuron group and convolution is
built in Lava's order (``lava_shape``: the axes reversed; ``lava_kernel``: the PyTorch kernel
flipped and transposed), and the ports between them are connected as they are. Where a 3-D
signal meets a 1-D one (a Flatten before a Dense) it is transposed back to (channels, height,
width) and flattened on the way, with Lava's virtual ports, exactly as lava-dl's netx does,
so a Dense sees its inputs in PyTorch's flatten order and keeps PyTorch's weight matrix.
Recorded state is returned in the IR's order (``ir_layout``).

Read-out. A ``SampleCounter`` sums what the Output's group sends per sample window; for a ``VOLTAGE`` Output the
group is our ``LIFResetVoltage``, which also sends its voltage every step, and the counter keeps the value of the
window's last step (one read of ``counts`` per run, not a ``Var.get`` per sample).

Graded spikes. A synapse receives multi-bit payloads (``num_message_bits`` > 0) when its source
sends them (``SENDS``: a graded input encoding, a sigma-delta group); binary spikes otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolkit import ir
from toolkit.errors import LoweringError
from toolkit.ir.timing import LavaTiming, check_plastic, lava_timing
from toolkit.lavacompat import require_lava
from toolkit.learning.fixed import synapse_seed
from toolkit.registry import TypeRegistry

__all__ = ["LOWERINGS", "SENDS", "LavaBuild", "LowerContext", "Lowered", "ir_layout", "lava_kernel", "lava_shape",
           "lower_to_lava", "register_lowering"]


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
    """The Lava side of one IR node: its process, where its input enters, where its output leaves, and the
    Vars/ports to record per step (trace name -> Lava Var or OutPort, in Lava's layout)."""

    process: Any
    in_port: Any
    out_port: Any
    probes: dict[str, Any] = field(default_factory=dict)
    #: further input ports by IR port name (a learning neuron's ``third``)
    ports: dict[str, Any] = field(default_factory=dict)
    #: the learning ports (``bap``, ``y1``..``y3``): a learning neuron's outputs, a plastic synapse's inputs
    learning: dict[str, Any] = field(default_factory=dict)
    #: where a ``VOLTAGE`` Output reads the group's voltage (``LIFResetVoltage.v_out``); None: it has none
    voltage: Any = None


@dataclass(frozen=True)
class LowerContext:
    """What a lowering needs beyond its node: the graph's timing and shapes, and where it runs."""

    graph: ir.Graph
    timing: LavaTiming
    timesteps: int
    hardware: bool
    shapes: Mapping[str, tuple[int, ...]]
    seed: int = 0

    def learning_seed(self, synapse: str) -> int:
        """The seed of a plastic synapse's stochastic rounding (``toolkit.learning.fixed.synapse_seed``)."""
        return synapse_seed(self.seed, synapse)

    def reset_offset(self, group: str) -> int:
        """Lava step (mod T) at which ``group`` starts a sample: the first step of its window."""
        return (self.timing.offsets[group] + 1) % self.timesteps

    def message_bits(self, synapse: str) -> int:
        """Payload bits of what ``synapse`` receives (0: binary spikes)."""
        src = self.graph.signal_source(synapse)
        fn = SENDS.of(src)
        if fn is None:
            raise LoweringError(f"no Lava lowering knows what {type(src).__name__} {src.name!r} sends "
                                f"(supported: {SENDS.supported()})")
        return fn(src)

    def in_shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[self.graph.source(name).name]


Lowering = Callable[[Any, LowerContext], Lowered]

#: IR node type -> function(node, context) -> Lowered
LOWERINGS: TypeRegistry[Lowering] = TypeRegistry("Lava lowering")
register_lowering = LOWERINGS.register

#: signal node type -> the payload bits it sends (0: binary spikes)
SENDS: TypeRegistry[Callable[[Any], int]] = TypeRegistry("Lava payload width")
SENDS.add(ir.Input, lambda n: int(n.bits) if n.encoding.graded else 0)
SENDS.add(ir.LoihiLIF, lambda n: 0)
SENDS.add(ir.LoihiALIF, lambda n: 0)
SENDS.add(ir.LoihiSigmaDelta, lambda n: int(n.message_bits))


def _require_quantized(n: ir.Synapse) -> None:
    if not n.quantized:
        raise LoweringError(f"{type(n).__name__} {n.name!r} has float weights: quantise the graph first "
                            "(nfa compile)")
    if n.plastic is not None and not isinstance(n, ir.Dense):
        raise LoweringError(f"{type(n).__name__} {n.name!r} is plastic; Lava's learning engine has plastic dense "
                            "synapses only (LearningDense)")


def weight_bits(n: ir.Synapse, ctx: LowerContext) -> int:
    """Lava's ``num_weight_bits`` that keeps ``n``'s registers exactly. Lava drops the least significant bit of a
    mixed-sign matrix at 8 bits; the quantiser emits even registers, but learned weights (the learning engine keeps
    9-bit weights, −256..255) are odd too, so a mixed-sign matrix with an odd register gets 9 bits (no truncation;
    ``lava.utils.weightutils.truncate_weights``). A one-signed matrix keeps every bit at 8."""
    w = n.weight
    if not ((w < 0).any() and (w > 0).any() and (w.astype(np.int64) & 1).any()):
        return 8
    if ctx.hardware:
        raise LoweringError(f"{type(n).__name__} {n.name!r} has odd mixed-sign weights, which Loihi 2's 8-bit "
                            "mixed-sign synapses cannot hold; recompile, or round the weights to even registers")
    return 9


def _plastic_dense(n: ir.Dense, ctx: LowerContext) -> Lowered:
    """A plastic Dense: Lava's LearningDense with the rendered rule (``compilers.lava.learning``)."""
    from lava.proc.dense.process import LearningDense

    from compilers.lava.learning import lava_learning_rule

    assert n.plastic is not None  # check_plastic ran on the whole graph in lower_to_lava
    if ctx.hardware:
        raise LoweringError(f"plastic synapse {n.name!r}: on-chip learning on Loihi 2 needs lava-loihi's learning "
                            "models, which this lowering does not target yet; use --backend lava-sim")
    rule = lava_learning_rule(n.plastic, rng_seed=ctx.learning_seed(n.name))
    d = LearningDense(weights=n.weight.astype(np.int32), weight_exp=int(n.weight_exp), num_weight_bits=8,
                      num_message_bits=ctx.message_bits(n.name), learning_rule=rule, name=n.name)
    learning = {"bap": d.s_in_bap}
    if n.plastic.third_factor:
        learning.update({"y1": d.s_in_y1, "y2": d.s_in_y2, "y3": d.s_in_y3})
    return Lowered(d, d.s_in, d.a_out, learning=learning)


@register_lowering(ir.Dense)
def _dense(n: ir.Dense, ctx: LowerContext) -> Lowered:
    _require_quantized(n)
    if n.plastic is not None:
        return _plastic_dense(n, ctx)
    kw = dict(weights=n.weight.astype(np.int32), weight_exp=int(n.weight_exp), num_weight_bits=weight_bits(n, ctx),
              num_message_bits=ctx.message_bits(n.name), name=n.name)
    delay, gate = ctx.timing.delays[n.name], ctx.timing.gates.get(n.name, 0)
    if gate:
        if ctx.hardware:
            raise LoweringError(f"Dense {n.name!r} has a delay of {n.delay} step(s); keeping samples apart then needs "
                                "the per-sample gate of WindowDense, which runs only in simulation (Lava has no "
                                "neuro-core model for it); use --backend lava-sim")
        from compilers.lava.procs.synapses import WindowDense

        target = ctx.graph.out_edges(n.name)[0].dst
        d: Any = WindowDense(delay=delay, gate=gate, interval=ctx.timesteps, offset=ctx.timing.offsets[target], **kw)
    elif delay > 1:  # path balancing: Lava's DelayDense delivers after 1 + delays steps
        from lava.proc.dense.process import DelayDense

        d = DelayDense(delays=delay - 1, **kw)
    else:
        from lava.proc.dense.process import Dense

        d = Dense(**kw)
    return Lowered(d, d.s_in, d.a_out)


@register_lowering(ir.Conv2d)
def _conv(n: ir.Conv2d, ctx: LowerContext) -> Lowered:
    from lava.proc.conv.process import Conv

    _require_quantized(n)
    if n.weight_exp != 0:
        raise LoweringError(f"Conv2d {n.name!r} has weight_exp {n.weight_exp}, but Lava's Conv model applies "
                            "no weight exponent; recompile (the quantiser folds exponents into conv weights)")
    if ctx.timing.delays[n.name] != 1 or n.delay:
        raise LoweringError(f"Conv2d {n.name!r} would need a delay of {ctx.timing.delays[n.name]} Lava steps (IR delay "
                            f"{n.delay}); Lava's Conv delivers after exactly one step: only convolutions on paths of "
                            "equal length and without delay can be lowered")
    (ph, pw), (sh, sw), (dh, dw) = n.padding, n.stride, n.dilation
    c = Conv(weight=lava_kernel(n.weight.astype(np.int32)), input_shape=lava_shape(ctx.in_shape(n.name)),
             padding=(pw, ph), stride=(sw, sh), dilation=(dw, dh), groups=int(n.groups),
             num_weight_bits=weight_bits(n, ctx), num_message_bits=ctx.message_bits(n.name), name=n.name)
    return Lowered(c, c.s_in, c.a_out)


def _reads_voltage(n: ir.Node, ctx: LowerContext) -> bool:
    """True if an Output reads ``n``'s voltage (``ir.ReadoutMode.VOLTAGE``)."""
    return any(isinstance(d, ir.Output) and d.readout is ir.ReadoutMode.VOLTAGE for d in ctx.graph.successors(n.name))


def _voltage_lif(n: ir.LoihiLIF, ctx: LowerContext, kw: dict[str, Any]) -> Lowered:
    """A group whose voltage an Output reads: our ``LIFResetVoltage``, which sends v every step (simulation only)."""
    from compilers.lava.procs.neurons import LIFResetVoltage

    if ctx.hardware:
        raise LoweringError(f"LoihiLIF {n.name!r}: a voltage read-out sends the voltage through our LIFResetVoltage "
                            "process, which runs only in simulation (Lava has no neuro-core model for it); use "
                            "--backend lava-sim")
    lif = LIFResetVoltage(reset_subtract=n.reset is ir.ResetMode.SUBTRACT, **kw)
    return Lowered(lif, lif.a_in, lif.s_out, probes={"u": lif.u, "v": lif.v, "s": lif.s_out}, voltage=lif.v_out)


@register_lowering(ir.LoihiLIF)
def _lif(n: ir.LoihiLIF, ctx: LowerContext) -> Lowered:
    from lava.proc.lif.process import LIFReset

    kw: dict[str, Any] = dict(shape=lava_shape(tuple(n.shape)), du=int(n.du), dv=int(n.dv), vth=int(n.vth),
              bias_mant=_to_lava(n.bias_mant.astype(np.int32)), bias_exp=_to_lava(n.bias_exp.astype(np.int32)),
              reset_interval=ctx.timesteps, reset_offset=ctx.reset_offset(n.name), name=n.name)
    if _reads_voltage(n, ctx):
        return _voltage_lif(n, ctx, kw)
    if n.reset is ir.ResetMode.ZERO:
        lif = LIFReset(**kw)
    elif ctx.hardware:
        raise LoweringError(f"LoihiLIF {n.name!r}: reset mode 'subtract' runs only in simulation "
                            "(Lava has no neuro-core model for it); compile with --reset zero for hardware")
    else:
        from compilers.lava.procs.neurons import LIFResetSubtract

        lif = LIFResetSubtract(**kw)
    return Lowered(lif, lif.a_in, lif.s_out, probes={"u": lif.u, "v": lif.v, "s": lif.s_out})


@register_lowering(ir.LoihiALIF)
def _alif(n: ir.LoihiALIF, ctx: LowerContext) -> Lowered:
    """Our ``ALIFReset`` (simulation only); it also sends its voltage, which a ``VOLTAGE`` Output reads."""
    if ctx.hardware:
        raise LoweringError(f"LoihiALIF {n.name!r}: the adaptive-threshold neuron is a neuron program of ours with a "
                            "CPU model only (no neuro-core model yet); use --backend lava-sim")
    from compilers.lava.procs.neurons import ALIFReset

    alif = ALIFReset(shape=lava_shape(tuple(n.shape)), du=int(n.du), dv=int(n.dv), vth=int(n.vth),
                     bias_mant=_to_lava(n.bias_mant.astype(np.int32)), bias_exp=_to_lava(n.bias_exp.astype(np.int32)),
                     beta=int(n.beta), dr=int(n.dr), reset_subtract=n.reset is ir.ResetMode.SUBTRACT,
                     reset_interval=ctx.timesteps, reset_offset=ctx.reset_offset(n.name), name=n.name)
    return Lowered(alif, alif.a_in, alif.s_out, probes={"u": alif.u, "v": alif.v, "r": alif.r, "s": alif.s_out},
                   voltage=alif.v_out)


@register_lowering(ir.LoihiLearningLIF)
def _learning_lif(n: ir.LoihiLearningLIF, ctx: LowerContext) -> Lowered:
    from compilers.lava.procs.learning import LearningLIFReset

    if n.reset is not ir.ResetMode.ZERO:
        raise LoweringError(f"LoihiLearningLIF {n.name!r}: a learning neuron resets to zero (--reset zero)")
    if ctx.hardware:
        raise LoweringError(f"LoihiLearningLIF {n.name!r}: the learning neuron runs only in simulation "
                            "(--backend lava-sim)")
    lif = LearningLIFReset(shape=lava_shape(tuple(n.shape)), du=int(n.du), dv=int(n.dv), vth=int(n.vth),
                           bias_mant=_to_lava(n.bias_mant.astype(np.int32)),
                           bias_exp=_to_lava(n.bias_exp.astype(np.int32)), reset_interval=ctx.timesteps,
                           reset_offset=ctx.reset_offset(n.name), y1_impulse=int(n.y1_impulse),
                           y1_decay=int(n.y1_decay), name=n.name)
    return Lowered(lif, lif.a_in, lif.s_out,
                   probes={"u": lif.u, "v": lif.v, "s": lif.s_out, "y1": lif.y1, "y2": lif.y2, "y3": lif.y3},
                   ports={"third": lif.a_third_factor_in},
                   learning={"bap": lif.s_out_bap, "y1": lif.s_out_y1, "y2": lif.s_out_y2, "y3": lif.s_out_y3})


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
                         reset_interval=ctx.timesteps, reset_offset=ctx.reset_offset(n.name), name=n.name)
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

    sources: dict[str, Any]            # Input name -> its EncodedSource
    counter: Any
    processes: dict[str, Any]
    timesteps: int
    n_samples: int
    latency: int
    offsets: dict[str, int]
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    plastic: dict[str, Any] = field(default_factory=dict)    # plastic synapse name -> its LearningDense

    @property
    def total_steps(self) -> int:
        """Steps to run so the last sample's window has fully passed every group and the counter."""
        return self.n_samples * self.timesteps + self.latency

    @property
    def runner(self) -> Any:
        """A process to call ``run``/``stop`` on (Lava runs every process connected to it)."""
        return self.counter


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
    fn = LOWERINGS.of(n)
    if fn is None:
        raise LoweringError(f"no Lava lowering for {type(n).__name__} {n.name!r} (supported: {LOWERINGS.supported()})")
    return fn(n, ctx)


def _check_lowerable(graph: ir.Graph) -> tuple[list[ir.Input], ir.Output]:
    ir.check_graph(graph)
    inputs, outputs = graph.of_type(ir.Input), graph.of_type(ir.Output)
    if len(outputs) != 1:
        raise LoweringError(f"the Lava lowering reads one Output; the graph has {len(outputs)}")
    for inp in inputs:
        if inp.encoding is ir.Encoding.ANALOG:
            raise LoweringError(f"Input {inp.name!r} is not encoded as spikes: the graph is not converted to spiking "
                                "neurons; compile it first (nfa compile)")
    extra = sorted({e.port for e in graph.edges} - {"in", "third"})
    if extra:
        raise LoweringError(f"the Lava lowering has no connection rule for ports {extra} yet")
    return inputs, outputs[0]


def _sources(graph: ir.Graph, inputs: list[ir.Input], levels: Mapping[str, np.ndarray], timing: LavaTiming,
             timesteps: int, hardware: bool, processes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, _Port]]:
    from compilers.lava.procs.sources import EncodedSource

    sources, ports = {}, {}
    for inp in inputs:
        src = EncodedSource(levels=levels[inp.name].astype(np.int32), timesteps=timesteps,
                            encoding=inp.encoding.value, bits=inp.bits, seed=inp.seed,
                            offset=timing.offsets[inp.name], sequence=inp.sequence, name=inp.name)
        sources[inp.name] = processes[inp.name] = src
        port = _Port(src.s_out, lava_layout=False)
        if hardware:  # host-side processes reach neuro-cores through lava-loihi's spike adapters
            port = _adapter("PyToNxAdapter", port, processes, f"{inp.name}_adapter")
        ports[inp.name] = port
    return sources, ports


def lower_to_lava(graph: ir.Graph, levels: np.ndarray | Mapping[str, np.ndarray], *, timesteps: int,
                  hardware: bool = False, seed: int = 0) -> LavaBuild:
    """Build the Lava processes for ``graph`` fed with integer input ``levels`` (N, *input shape; (N, S, *shape) for
    a sequence input of S rows), or a mapping from each Input's name to its levels."""
    require_lava()
    from compilers.lava.procs.sinks import SampleCounter

    inputs, out = _check_lowerable(graph)
    if not isinstance(levels, Mapping):
        if len(inputs) != 1:
            raise LoweringError(f"the graph has {len(inputs)} inputs: give the levels as a mapping by input name")
        levels = {inputs[0].name: levels}
    timing = lava_timing(graph)
    check_plastic(graph, timing)
    ctx = LowerContext(graph=graph, timing=timing, timesteps=timesteps, hardware=hardware, shapes=graph.shapes(),
                       seed=seed)
    processes: dict[str, Any] = {}
    sources, ports = _sources(graph, inputs, levels, timing, timesteps, hardware, processes)
    lowered: dict[str, Lowered] = {}
    for n in graph.nodes:
        if not isinstance(n, (ir.Input, ir.Output)):
            lowered[n.name] = low = _lower_node(n, ctx)
            if low.process is not None:
                processes[n.name] = low.process
                ports[n.name] = _Port(low.out_port, lava_layout=True)
    for e in graph.edges:
        target = lowered.get(e.dst)
        if target is None or target.process is None:
            continue  # the Output (connected below) or a reshape (folded into the connection after it)
        takes_signal = graph.node(e.dst).port(e.port).accepts is ir.Flow.SIGNAL  # type: ignore[union-attr]
        in_port = target.in_port if e.port == "in" else target.ports[e.port]
        _connect(ports[graph.signal_source(e.dst).name if takes_signal else e.src], in_port)
    plastic = _connect_learning(graph, lowered)
    src_name = graph.signal_source(out.name).name
    port = ports[src_name] if out.readout is not ir.ReadoutMode.VOLTAGE else _voltage_port(out, lowered, src_name)
    if hardware:
        port = _adapter("NxToPyAdapter", port, processes, "output_adapter")
    n_samples = len(next(iter(levels.values()))) if levels else 0
    counter = SampleCounter(shape=tuple(out.shape), n_samples=n_samples, timesteps=timesteps,
                            latency=timing.offsets[src_name], last=out.readout is ir.ReadoutMode.VOLTAGE,
                            name=out.name)
    _connect(port, counter.a_in, lava_layout=False)
    processes[out.name] = counter
    return LavaBuild(sources=sources, counter=counter, processes=processes, timesteps=timesteps,
                     n_samples=n_samples, latency=timing.latency, offsets=dict(timing.offsets),
                     probes={name: low.probes for name, low in lowered.items() if low.probes}, plastic=plastic)


def _voltage_port(out: ir.Output, lowered: Mapping[str, Lowered], src: str) -> _Port:
    """Where a ``VOLTAGE`` Output reads its group's voltage; ``LoweringError`` if the group sends none."""
    low = lowered.get(src)
    if low is None or low.voltage is None:
        raise LoweringError(f"Output {out.name!r} reads the voltage of {src!r}, which has no voltage port in Lava "
                            "(a voltage read-out reads a LoihiLIF or LoihiALIF group)")
    return _Port(low.voltage, lava_layout=True)


def _connect_learning(graph: ir.Graph, lowered: Mapping[str, Lowered]) -> dict[str, Any]:
    """Each plastic synapse reads its learning neuron: spikes on ``s_in_bap`` and, for a third-factor rule, the
    delivered y1..y3. Returns the plastic synapses' processes by name."""
    plastic = {}
    for syn in graph.of_type(ir.Synapse):
        if syn.plastic is None:
            continue
        group = lowered[graph.out_edges(syn.name)[0].dst]
        for port, in_port in lowered[syn.name].learning.items():
            group.learning[port].connect(in_port)
        plastic[syn.name] = lowered[syn.name].process
    return plastic
