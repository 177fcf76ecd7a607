"""When each part of a graph runs on the chip: sample windows, synaptic delays in chip steps, gates.

Both runtimes that stream samples through a graph the way the chip does use this schedule: the Lava
lowering (``compilers.lava.lower``) and the reference simulator's stream engine
(``toolkit.backends.reference.stream``), which must agree bit for bit because plastic synapses learn in
that global time.

The IR's time is per sample (``toolkit.ir.core``): a group integrates its synapses' outputs of the
same step, a synapse with delay d delivers its input of d steps earlier. Lava runs all samples in
one continuous stream, and every Lava synapse delivers what it received at least one step later
(Dense: exactly one; ``DelayDense``/``WindowDense``: more). The lowering removes that latency
again by giving every input and neuron group X an *offset* o_X: X processes step τ of sample n at
Lava time step t = n·T + o_X + τ (τ = 1..T), and resets its state at t ≡ o_X + 1 (mod T).

A synapse S from u to g with logical delay d must then deliver after

    p_S = o_g − o_u + d  Lava steps, with p_S ≥ 1,

because g's step τ must see u's step τ − d. The offsets are the smallest that satisfy every
p_S ≥ 1 (longest paths, Bellman-Ford: o_g ≥ o_u + 1 − d), each input then as late as its
synapses allow (fewer extra delays). A cycle of k synapses is realisable only if its delays add
up to at least k (each synapse takes at least one Lava step); otherwise ``LoweringError`` names it.

Messages that would cross from one sample into the next: a synapse with d ≥ 1 delivers, in the
first d steps of g's window, what u sent at the end of the previous sample; in the IR those steps
receive nothing. Such a synapse is *gated*: it drops what arrives in the first d steps of each of
g's windows (``compilers.lava.procs.synapses.WindowDense``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from toolkit import ir
from toolkit.errors import LoweringError

__all__ = ["LavaTiming", "check_plastic", "lava_timing"]


@dataclass(frozen=True)
class LavaTiming:
    """``offsets``: every Input and neuron group; ``delays``: every synapse's p ≥ 1 in Lava steps;
    ``gates``: the logical delay d ≥ 1 of every gated synapse (see the module doc)."""

    offsets: Mapping[str, int]
    delays: Mapping[str, int]
    gates: Mapping[str, int]

    @property
    def latency(self) -> int:
        """Steps after the last input step until every group has finished its last window."""
        return max(self.offsets.values(), default=0)


@dataclass(frozen=True)
class _Link:
    synapse: str
    src: str    # the Input or neuron group the synapse reads (through reshapes)
    dst: str    # the neuron group it feeds
    delay: int  # the IR's logical delay d


def _links(graph: ir.Graph) -> list[_Link]:
    return [_Link(s.name, graph.signal_source(s.name).name, graph.out_edges(s.name)[0].dst, s.delay)
            for s in graph.of_type(ir.Synapse)]


def lava_timing(graph: ir.Graph) -> LavaTiming:
    """Offsets, Lava delays and gates of a valid graph; ``LoweringError`` if a cycle is too short for Lava."""
    links = _links(graph)
    signals = [n.name for n in graph.nodes if isinstance(n, (ir.Input, ir.NeuronGroup))]
    offsets = {name: 0 for name in signals}
    came_from: dict[str, _Link] = {}
    changed: _Link | None = None
    for _ in range(len(signals) + 1):
        changed = None
        for ln in links:
            if offsets[ln.src] + 1 - ln.delay > offsets[ln.dst]:
                offsets[ln.dst] = offsets[ln.src] + 1 - ln.delay
                came_from[ln.dst] = changed = ln
        if changed is None:
            break
    else:
        assert changed is not None
        raise LoweringError(_cycle_message(came_from, changed.dst, len(signals)))
    for inp in graph.of_type(ir.Input):  # as late as its synapses allow: fewer delays to realise
        out = [ln for ln in links if ln.src == inp.name]
        if out:
            offsets[inp.name] = min(offsets[ln.dst] + ln.delay - 1 for ln in out)
    delays = {ln.synapse: offsets[ln.dst] - offsets[ln.src] + ln.delay for ln in links}
    gates = {ln.synapse: ln.delay for ln in links if ln.delay >= 1}
    return LavaTiming(offsets=offsets, delays=delays, gates=gates)


def _cycle_message(came_from: Mapping[str, _Link], start: str, n: int) -> str:
    node = start
    for _ in range(n):  # walk back far enough to be on the cycle
        node = came_from[node].src
    cycle, at = [], node
    while True:
        ln = came_from[at]
        cycle.append(ln)
        at = ln.src
        if at == node:
            break
    cycle.reverse()
    path = " -> ".join([cycle[0].src] + [f"{ln.synapse} -> {ln.dst}" for ln in cycle])
    total = sum(ln.delay for ln in cycle)
    return (f"the cycle {path} has {len(cycle)} synapses but a total delay of {total}: in Lava every synapse delivers "
            f"at least one step later, so the delays on this cycle must add up to at least {len(cycle)}; raise a "
            "synapse's delay on it")


def check_plastic(graph: ir.Graph, timing: LavaTiming) -> None:
    """Every plastic synapse can learn on the chip's learning engine: a Dense into a ``LoihiLearningLIF`` group
    (which sends it the postsynaptic spikes and traces) that delivers after exactly one chip step without a gate
    (Lava has no delayed learning synapse, lava#752). ``LoweringError`` names the first that cannot."""
    for n in graph.of_type(ir.Synapse):
        if n.plastic is None:
            continue
        if not isinstance(n, ir.Dense):
            raise LoweringError(f"{type(n).__name__} {n.name!r} is plastic; the learning engine has plastic dense "
                                "synapses only")
        target = graph.node(graph.out_edges(n.name)[0].dst)
        if not isinstance(target, ir.LoihiLearningLIF):
            raise LoweringError(f"plastic synapse {n.name!r} feeds {type(target).__name__} {target.name!r}; a plastic "
                                "synapse learns from a LoihiLearningLIF group, which sends it the postsynaptic spikes "
                                "and traces")
        if timing.delays[n.name] != 1 or timing.gates.get(n.name, 0):
            raise LoweringError(f"plastic synapse {n.name!r} needs a delay (IR delay {n.delay}, chip delay "
                                f"{timing.delays[n.name]}); Lava has no delayed learning synapse (lava#752): give it "
                                "delay 0 and balance the other paths")
