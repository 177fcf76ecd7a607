"""Non-spiking read-outs: a LIF group that an Output reads through its voltage (``ReadoutMode.VOLTAGE``) and that
must never fire.

Loihi's neurons send spikes, not their voltage, so a leaky-integrator read-out (NIR's ``LI``/``CubaLI``, a
recurrent network's leaky output, ``toolkit.rsnn``) is a ``LIF`` group whose threshold lies above every voltage
its inputs can drive it to; the Output reads its voltage register after the sample's last step. Two steps, used by
every front end that builds such a group (``compilers.nir_io``, ``compilers.rsnn``):

* before quantisation, ``readout_threshold``: ``READOUT_MARGIN`` times the largest |v| of the float group with every
  input at its largest value every step: per neuron X = Σ_k Σ_i |W_k[j, i]| · 2^e_k · P_k (P_k the largest float
  value the source of synapse k sends in a step: 1 for an Input, binary or graded q/Q ≤ 1; a spiking group's
  threshold, what one spike stands for), |u| ≤ X / du and |v| ≤ (|u| + |bias|) / dv (geometric series);
* after quantisation, ``check_readouts`` proves the bound in the chip's integers: per neuron
  A = Σ_k (Σ_i |r_k[j, i]| · p_k · 2^e_k + [e_k < 0]) (p_k the largest payload: 2^bits − 1 for a graded Input, 1
  for spikes; a floor shift moves a sum by less than one more unit), |u| ≤ (A << 6) · 4096 / (du + 1) < 2^23 and
  |v| ≤ (|u| + |bias_mant << bias_exp|) · 4096 / dv ≤ vth << 6, because Loihi's truncating decays keep at most
  (4096 − du − 1)/4096 of u and (4096 − dv)/4096 of v each step. Otherwise the network is refused
  (``LoweringError``): its read-out could fire, and the scores would not be the voltage of a leaky integrator.
"""

from __future__ import annotations

import numpy as np

from toolkit import ir
from toolkit.errors import LoweringError

__all__ = ["READOUT_MARGIN", "check_readouts", "readout_threshold"]

#: a read-out group's float threshold is this many times the largest voltage its inputs can drive it to
READOUT_MARGIN = 1.5


def _row_bound(syn: ir.Synapse, shape: tuple[int, ...]) -> np.ndarray:
    """Σ_i |W[j, i]| per neuron j the synapse feeds (a convolution: each output sees every kernel tap at most
    once), without the exponent."""
    w = np.abs(np.asarray(syn.weight, dtype=np.float64))
    if isinstance(syn, ir.Conv2d):
        return np.broadcast_to(w.reshape(w.shape[0], -1).sum(1)[:, None, None], shape).reshape(-1)
    return w.sum(1)


def _synapses_into(graph: ir.Graph, group: str) -> list[ir.Synapse]:
    return [s for s in (graph.node(e.src) for e in graph.in_edges(group)) if isinstance(s, ir.Synapse)]


def _float_payload(src: ir.Node, reader: str) -> float:
    """The largest float value one element of ``src``'s output carries in a step."""
    if isinstance(src, ir.Input):
        return 1.0
    if isinstance(src, (ir.LIF, ir.ALIF)):
        return float(src.threshold)
    raise LoweringError(f"read-out synapse {reader!r} reads {type(src).__name__} {src.name!r}; a voltage read-out "
                        "is bounded for inputs and spiking (LIF, ALIF) groups only")


def _payload(src: ir.Node, reader: str) -> int:
    """The largest payload one element of quantised ``src``'s output carries in a step."""
    if isinstance(src, ir.Input):
        return (1 << src.bits) - 1 if src.encoding.graded else 1
    if isinstance(src, (ir.LoihiLIF, ir.LoihiALIF)):
        return 1
    raise LoweringError(f"read-out synapse {reader!r} reads {type(src).__name__} {src.name!r}; a voltage read-out "
                        "is bounded for inputs and spiking (LoihiLIF, LoihiALIF) groups only")


def readout_threshold(graph: ir.Graph, group: str) -> float:
    """The float threshold that keeps the ``ir.LIF`` read-out ``group`` of a float graph from firing:
    ``READOUT_MARGIN`` times the largest |v| its inputs can drive it to (module doc); 1 if it has no input."""
    g = graph.node(group)
    if not isinstance(g, ir.LIF) or g.dv <= 0 or g.du <= 0:
        raise LoweringError(f"read-out group {group!r}: a voltage read-out is a LIF group with a leak (dv > 0, "
                            f"du > 0) so that its voltage has a bound; got {type(g).__name__}"
                            + (f" with du = {g.du}, dv = {g.dv}" if isinstance(g, ir.LIF) else ""))
    x = np.zeros(int(np.prod(g.shape)))
    for s in _synapses_into(graph, group):
        x = x + _row_bound(s, tuple(g.shape)) * 2.0 ** s.weight_exp * _float_payload(graph.signal_source(s.name),
                                                                                      s.name)
    bias = np.zeros_like(x) if g.bias is None else np.abs(np.asarray(g.bias, np.float64)).reshape(-1)
    v = (x / g.du + bias) / g.dv
    return READOUT_MARGIN * float(v.max()) if v.size and v.max() > 0 else 1.0


def _register_bound(graph: ir.Graph, syn: ir.Synapse, shape: tuple[int, ...]) -> np.ndarray:
    """max |a| a quantised synapse sends each neuron it feeds per step (module doc)."""
    e = int(syn.weight_exp)
    rows = _row_bound(syn, shape) * _payload(graph.signal_source(syn.name), syn.name)
    return rows * 2.0 ** e + (1.0 if e < 0 else 0.0)


def check_readouts(graph: ir.Graph, *, label: str = "") -> list[str]:
    """Prove in the chip's integers that no read-out group (a ``VOLTAGE`` Output's) of quantised ``graph`` can fire or
    wrap its current (module doc). Returns a note per read-out; ``LoweringError`` (prefixed ``label``, e.g. "NIR ")
    if the bound does not hold."""
    notes = []
    for out in graph.of_type(ir.Output):
        if out.readout is not ir.ReadoutMode.VOLTAGE:
            continue
        g = graph.signal_source(out.name)
        if type(g) is not ir.LoihiLIF:
            raise LoweringError(f"{label}read-out {g.name!r} is a {type(g).__name__}; a voltage read-out that never "
                                "fires is a LoihiLIF group")
        n = int(np.prod(g.shape))
        a = sum((_register_bound(graph, s, tuple(g.shape)) for s in _synapses_into(graph, g.name)), np.zeros(n))
        u = a * 64.0 * 4096.0 / (g.du + 1)
        bias = np.abs(g.bias_mant.astype(np.float64) * 2.0 ** g.bias_exp.astype(np.float64)).reshape(-1)
        v = (u + bias) * 4096.0 / max(g.dv, 1)
        if g.dv == 0 or u.max() >= 1 << 23 or v.max() > g.vth * 64:
            raise LoweringError(f"{label}read-out {g.name!r}: after quantisation its voltage could reach "
                                f"{v.max():.0f} > vth << 6 = {g.vth * 64} (or its current wrap 24 bits), so it could "
                                "fire; the read-out would not be exact")
        notes.append(f"{g.name}: read-out voltage bound {v.max():.0f} <= vth·64 = {g.vth * 64}: never fires")
    return notes
