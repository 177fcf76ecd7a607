"""Neuron-group nodes: the units that hold state between time steps.

Three levels, in pipeline order:

* float activations of the trained network (``ReLU``, ``Identity``);
* float spiking neurons after conversion, thresholds in activation units: ``LIF`` (rate
  coding, binary spikes), ``ALIF`` (a LIF with an adaptive threshold: trained recurrent networks,
  ``toolkit.rsnn``) or ``SigmaDelta`` (graded spikes);
* chip neurons after quantisation, integers in Loihi's fixed-point formats: ``LoihiLIF``,
  ``LoihiALIF``, ``LoihiSigmaDelta``.

Every spiking group declares its state variables in ``STATE``; all of them have
``Lifetime.SAMPLE``: each sample starts from a zero state.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from toolkit.ir.core import Flow, Lifetime, NeuronGroup, Port, ResetMode, register_node

__all__ = ["ALIF", "LIF", "Activation", "Identity", "LoihiALIF", "LoihiLIF", "LoihiLearningLIF", "LoihiSigmaDelta",
           "ReLU", "SigmaDelta"]

_LIF_STATE: Mapping[str, Lifetime] = MappingProxyType({"u": Lifetime.SAMPLE, "v": Lifetime.SAMPLE})
_ALIF_STATE: Mapping[str, Lifetime] = MappingProxyType({k: Lifetime.SAMPLE for k in ("u", "v", "r")})
_SD_STATE: Mapping[str, Lifetime] = MappingProxyType(
    {k: Lifetime.SAMPLE for k in ("sigma", "act", "residue", "error")})


class Activation(enum.Enum):
    """The non-linearity a sigma-delta neuron applies to its integrated input (Lava ``ActivationMode``)."""

    RELU = "relu"          #: max(0, x) (Lava ``ActivationMode.RELU``)
    IDENTITY = "identity"  #: x (Lava ``ActivationMode.UNIT``): logits


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ReLU(NeuronGroup):
    """Float rectifier: a = max(0, h + bias). ``bias`` (shape ``shape``) or None."""

    bias: np.ndarray | None = None


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Identity(NeuronGroup):
    """Float linear unit: a = h + bias (the logits of a classifier's last layer)."""

    bias: np.ndarray | None = None


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class LIF(NeuronGroup):
    """Float current-based leaky integrate-and-fire neurons, one step of Δt = 1:

        u[t] = (1 − du) · u[t−1] + a[t]
        v[t] = (1 − dv) · v[t−1] + u[t] + bias
        s[t] = v[t] > threshold;  then v ← 0 (ZERO) or v ← v − threshold (SUBTRACT)

    du = 1, dv = 0 is the non-leaky integrate-and-fire neuron used for rate coding:
    its spike rate approximates max(0, a + bias) / threshold. Units: activation units.
    """

    threshold: float
    bias: np.ndarray | None = None
    du: float = 1.0
    dv: float = 0.0
    reset: ResetMode = ResetMode.ZERO

    STATE: ClassVar[Mapping[str, Lifetime]] = _LIF_STATE


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class LoihiLIF(NeuronGroup):
    """Loihi's fixed-point CUBA LIF (Lava ``PyLifModelBitAcc``), integers throughout:

        u[t] = sgn(u)·(|u[t−1]|·(4096 − du − 1) >> 12) + (a[t] << 6)   wrapped to 24 bits
        v[t] = sgn(v)·(|v[t−1]|·(4096 − dv) >> 12) + u[t] + (bias_mant << bias_exp)
               clipped to ±(2^23 − 1)
        s[t] = v[t] > (vth << 6);  then v ← 0 (ZERO) or v ← v − (vth << 6) (SUBTRACT)

    ``du``, ``dv``: 12-bit decays (du = 4095: no current memory; dv = 0: no leak).
    ``vth``: 17-bit threshold. ``bias_mant``: signed 13-bit, ``bias_exp``: 0..7, per neuron.
    State is reset to zero at the start of every sample.
    """

    vth: int
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    du: int = 4095
    dv: int = 0
    reset: ResetMode = ResetMode.ZERO

    STATE: ClassVar[Mapping[str, Lifetime]] = _LIF_STATE


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ALIF(NeuronGroup):
    """Float adaptive-threshold LIF neurons (ALIF, Bellec et al. 2018/2020), one step of Δt = 1: ``LIF`` whose
    threshold rises by ``beta`` after each spike and relaxes back with factor ``rho`` per step:

        u[t] = (1 − du) · u[t−1] + a[t]
        v[t] = (1 − dv) · v[t−1] + u[t] + bias
        θ[t] = threshold + r[t−1]
        s[t] = v[t] > θ[t];  then v ← 0 (ZERO) or v ← v − θ[t] (SUBTRACT: the threshold the spike crossed)
        r[t] = rho · r[t−1] + beta · s[t]                         (r ≥ 0, activation units; r[0] = 0)

    r[t] is the adaptation the *next* step's threshold adds: with ``toolkit.rsnn``'s a^t = ρ a^{t−1} + z^{t−1}
    and z^t = H(v^t − θ − β a^t), r[t] = β · a^{t+1}, the same dynamics (du = 1, dv = 1 − α, ZERO). Like
    ``LIF``'s, each spike stands for ``threshold`` activation units to the synapses it feeds (so a weight W that
    ``toolkit.rsnn`` applies to z is W / θ on a synapse reading this group). Units: activation units;
    0 ≤ rho ≤ 1, beta ≥ 0.
    """

    threshold: float
    beta: float
    rho: float
    bias: np.ndarray | None = None
    du: float = 1.0
    dv: float = 0.0
    reset: ResetMode = ResetMode.ZERO

    STATE: ClassVar[Mapping[str, Lifetime]] = _ALIF_STATE


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class LoihiALIF(NeuronGroup):
    """``LoihiLIF`` with an adaptive threshold: u and v exactly as ``LoihiLIF`` (Lava ``PyLifModelBitAcc``), plus
    an adaptation register r in voltage units (a neuron program of our own: Loihi 2's neurons are programmable,
    Loihi 1 has no such neuron; Lava: our ``ALIFReset``):

        u[t] = sgn(u)·(|u[t−1]|·(4096 − du − 1) >> 12) + (a[t] << 6)   wrapped to 24 bits
        v[t] = sgn(v)·(|v[t−1]|·(4096 − dv) >> 12) + u[t] + (bias_mant << bias_exp)
               clipped to ±(2^23 − 1)
        θ[t] = (vth << 6) + r[t−1]
        s[t] = v[t] > θ[t];  then v ← 0 (ZERO) or v ← v − θ[t] (SUBTRACT)
        r[t] = min(2^23 − 1, (r[t−1]·(4096 − dr) >> 12) + (beta << 6)·s[t])

    r is unsigned (r ≥ 0, so the shift floors, which is rounding toward zero as for u and v) and saturates at the
    24-bit state's largest value. It is updated after the spike, in the same step, and holds the adaptation the
    next step's threshold adds; at a sample's start r = 0. ``dr``: 12-bit decay (ρ ≈ 1 − dr/4096; dr = 0: no
    decay). ``beta``: unsigned 17-bit increment per spike, shifted by 6 as ``vth`` is (the threshold's width,
    ``neuron.adaptation_bits`` of the hardware config). With S the group's voltage scale (``ALIF`` quantised:
    vth = round(threshold · S)), beta = round(β · S) and r = 64 · S · r_float: the float ``ALIF``'s θ[t] in
    voltage units. Everything else as ``LoihiLIF``.
    """

    vth: int
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    beta: int = 0
    dr: int = 0
    du: int = 4095
    dv: int = 0
    reset: ResetMode = ResetMode.ZERO

    STATE: ClassVar[Mapping[str, Lifetime]] = _ALIF_STATE


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class LoihiLearningLIF(LoihiLIF):
    """A ``LoihiLIF`` group that plastic synapses learn from: it delivers, every step, to each plastic synapse
    into it its spikes (y0), its own spike trace y1, and a third factor split into two non-negative parts.

    Port ``third``: the third factor (an error or a reward), the sum of its synapses (the feedback matrix B,
    say): y2 = clip(max(a, 0), 0, 127), y3 = clip(max(−a, 0), 0, 127). The spike trace:
    y1 ← min(127, ⌊y1 · (4096 − ``y1_decay``) / 4096⌋ + ``y1_impulse`` · spike), reset with the neuron's state
    at each sample's start. Its neuron dynamics are ``LoihiLIF``'s (reset to zero).
    """

    y1_impulse: int = 0
    y1_decay: int = 4096

    PORTS: ClassVar[tuple[Port, ...]] = (
        Port("in", Flow.CURRENT, many=True, doc="dendritic input, summed"),
        Port("third", Flow.CURRENT, many=True, required=False,
             doc="third factor (error, reward), summed; delivered to plastic synapses as y2 - y3"))
    STATE: ClassVar[Mapping[str, Lifetime]] = MappingProxyType(
        {"u": Lifetime.SAMPLE, "v": Lifetime.SAMPLE, "y1": Lifetime.SAMPLE})


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SigmaDelta(NeuronGroup):
    """Float sigma-delta neurons with graded spikes (O'Connor & Welling 2016), one step of Δt = 1:

        σ[t] = σ[t−1] + a[t]                               (sigma: integrate the input deltas)
        y[t] = f(σ[t] + bias)                              (f: ``activation``)
        δ    = y[t] − y[t−1] + r[t−1]                      (delta: change not yet sent)
        s[t] = δ if |δ| ≥ threshold else 0;  r[t] = δ − s[t]

    The sum of the graded spikes s up to t equals y[t] − r[t], so a network of these neurons fed
    with the delta encoding of a constant input reproduces the ReLU network up to residues
    smaller than the threshold. ``cum_error`` sends δ only once the running sum of δ since the
    last spike reaches the threshold (Lava's ``cum_error``). Units: activation units.
    """

    threshold: float
    bias: np.ndarray | None = None
    activation: Activation = Activation.RELU
    cum_error: bool = False

    STATE: ClassVar[Mapping[str, Lifetime]] = _SD_STATE


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class LoihiSigmaDelta(NeuronGroup):
    """Loihi 2's fixed-point sigma-delta neuron (Lava ``PySigmaDeltaModelFixed``), in int32:

        θ = vth · 2^(spike_exp + state_exp);  b = bias_mant · 2^(spike_exp + state_exp)
        σ[t] = σ[t−1] + a[t]
        y[t] = f(σ[t] + b)                           f = max(0, ·) (RELU) or identity (IDENTITY)
        δ    = y[t] − y[t−1] + r[t−1]
        s    = δ if |δ| ≥ θ else 0                    (cum_error: e ← e + δ; s = δ if |e| ≥ θ; e ← 0 where s ≠ 0)
        r[t] = δ − s;  message[t] = s >> state_exp   (arithmetic shift, rounds toward −∞)

    σ, y, r, e are in *state units*; a message is in *message units* of 2^state_exp state
    units (the bits shifted out are dropped, as in Lava). Every operation is Lava's numpy int32
    arithmetic. ``vth`` ≥ 0 and ``bias_mant`` (per neuron) are the mantissas Lava's process
    takes; ``spike_exp``, ``state_exp``: 0..7. ``message_bits`` is the signed width of the
    graded spike payload declared to the chip (the quantiser keeps calibrated messages inside
    it with headroom; the CPU models do not clip).
    """

    vth: int
    bias_mant: np.ndarray
    state_exp: int = 0
    spike_exp: int = 0
    activation: Activation = Activation.RELU
    cum_error: bool = False
    message_bits: int = 16

    STATE: ClassVar[Mapping[str, Lifetime]] = _SD_STATE
