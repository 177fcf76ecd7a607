"""``quantize``: weights, thresholds and biases into the chip's fixed-point formats.

Per neuron group and the synapses into it, following Lava's bit-accurate models. What every
synapse shares:

* weights: a signed mantissa m with |m| ≤ 2^(b−1) − 1 (b = ``synapse.weight_bits``),
  stored as the 9-bit register value r = m · 2^(9−b) that Lava's ``PyDenseModelBitAcc``
  leaves unchanged (for mixed-sign weights it drops the register's LSB). One register
  LSB is worth ``unit`` = max|W| / ((2^(b−1) − 1) · 2^(9−b)) in float weight units.
* a per-layer exponent e: the dendritic sum is shifted by e (left if > 0, floor-right if
  < 0). Which exponents a synapse supports is looked up by its type (``EXPONENTS``): a
  ``Dense`` has Lava's ``weight_exp`` register; Lava's ``Conv`` model has none, so a
  convolution takes only e ≤ 0, realised by smaller registers r = round(W / (unit · 2^−e))
  (fewer effective weight bits) and ``weight_exp`` = 0.

Rate coding (``LIF`` groups, binary spikes after the input):

* e is chosen so the threshold fits its 17 bits and the current its 24 bits, and, within
  that, so the threshold keeps ≥ 10 bits of precision.
* threshold: vth = round(θ · S) with S = in_scale · 2^e / unit (in_scale = 2^bits − 1 for
  graded ``current`` input, 1/θ_src for the spikes of a neuron group).
* several synapses into one group (fan-in, skips, recurrent synapses) share the group's voltage
  scale S: it is set by the synapse of the coarsest natural scale in_scale / unit as above, and
  every other synapse k takes the exponent e_k = ⌈log2(S · unit_k / in_scale_k)⌉ and registers
  r_k = round(W_k · S / (in_scale_k · 2^e_k)), so that each contributes its current in the same
  voltage units (it loses at most one bit of weight precision). A synapse without an exponent
  register takes registers round(W_k · S / in_scale_k) instead, which must fit.
* bias: b · S · 64 in voltage units (the voltage carries 6 fractional bits), written as
  bias_mant · 2^bias_exp with a 13-bit signed mantissa and the smallest exponent that fits.
* an ``ALIF`` group (adaptive threshold) quantises as a ``LIF`` group, its exponent keeping both θ · S and
  β · S in the threshold's range, plus beta = round(β · S) (the ``neuron.adaptation_bits`` register; chips
  without one refuse ALIF groups) and the 12-bit decay dr = round(4096 · (1 − ρ)) (``ir.LoihiALIF``).

Sigma-delta (``SigmaDelta`` groups, graded spikes; ``LoihiSigmaDelta`` documents the
arithmetic). Weights of a single magnitude (pooling kernels) take the register 2, exact and
with little gain; others are quantised as above. Values are integers in three units per
layer: the *input* payload unit u_in (1/(2^bits − 1) for the delta-encoded input, else the
previous layer's message unit), the *state* unit U = unit · u_in · 2^−e of σ, y and the
residue, and the *message* unit u = U · 2^state_exp of the graded spikes sent on. The
quantiser picks the finest message unit u = unit · u_in · 2^k (k = state_exp − e ≥ 0) such
that, for the calibrated maxima of ``measure_ranges`` times ``HEADROOM``,

* messages fit ``message_bits`` (signed; ≤ the chip's ``synapse.max_message_bits``),
* the next layer's dendritic sums Σ r·s fit the ``synapse.accumulator_bits`` accumulator,
* biases up to HEADROOM · (pre_max + act_max) fit Lava's 16-bit bias register at state_exp 0,

then the largest state_exp ≤ 7 (Lava's 3-bit field) whose state unit keeps σ + b and y
inside ``neuron.state_bits`` and, where the exponent range allows, the scaled bias
b / u · 2^state_exp inside the 16-bit register; the rest of k is a right shift e of the
dendritic sum. The delta threshold is vth = max(1, round(θ / u)) message units and the bias
round(b / u) (spike_exp = 0).

Sigma-delta groups take one synapse each (no fan-in) in a graph without cycles; a group may feed
several synapses (its message unit then suits every one of them).

A value that cannot be represented raises ``QuantizationError`` naming the layer, unless
``allow_clipping`` is set, in which case it is clipped and counted in the report. Every
layer's report gives the relative quantisation errors and the number of clipped values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from compilers.passes.common import fanin, graph_pass, groups
from toolkit import ir
from toolkit.errors import LoweringError, QuantizationError
from toolkit.hw import HardwareConfig
from toolkit.learning.limits import check_plasticity
from toolkit.registry import TypeRegistry

__all__ = [
    "EXPONENTS",
    "HEADROOM",
    "PAYLOADS",
    "QUANTIZERS",
    "ExponentRange",
    "Layer",
    "QuantContext",
    "Quantized",
    "SynapseIn",
    "quantize",
    "quantize_weights",
]

#: Below this many threshold steps, the rate quantiser raises the exponent for precision.
_MIN_VTH_PRECISION = 1 << 10
_REGISTER_BITS = 9  # Lava's weight register: 8 bits + sign
#: Calibrated maxima are multiplied by this before they are checked against a register's range.
HEADROOM = 2.0
#: Lava's ``PySigmaDeltaModelFixed``: state_exp is a 3-bit field, the scaled bias a 16-bit and
#: the scaled delta threshold a 24-bit register (``precision=3``, ``16``, ``24``).
_SD_STATE_EXP_MAX = 7
_SD_BIAS_MAX = (1 << 15) - 1
_SD_VTH_MAX = (1 << 23) - 1
#: Weight bits a convolution (no exponent register) may give up for the shift of its sums before the
#: layer feeding it coarsens its graded spikes instead (see ``_fold_floor``).
_FOLD_BITS = 1


@dataclass(frozen=True, slots=True)
class ExponentRange:
    """Weight exponents a synapse type supports; ``folded``: no exponent register, e ≤ 0 only,
    realised by dividing the weight registers by 2^−e."""

    lo: int
    hi: int
    folded: bool = False


#: synapse type -> the exponents it supports on ``hw``
EXPONENTS: TypeRegistry[Callable[[HardwareConfig], ExponentRange]] = TypeRegistry("weight exponents")
EXPONENTS.add(ir.Dense, lambda hw: ExponentRange(hw.synapse.weight_exp_min, hw.synapse.weight_exp_max))
# Lava's PyConvModelFixed ignores weight_exp: a convolution has no exponent register.
EXPONENTS.add(ir.Conv2d, lambda hw: ExponentRange(hw.synapse.weight_exp_min, 0, folded=True))


@dataclass(frozen=True, slots=True)
class SynapseIn:
    """One synapse into the group being quantised, with what its input payload is worth."""

    synapse: ir.Synapse
    source: str              # the Input or neuron group whose signal it carries
    in_scale: float          # input payload units per float input unit (1 for binary spikes of threshold 1)
    max_input: int           # largest input payload (1 for binary spikes)
    exponents: ExponentRange


@dataclass(frozen=True, slots=True)
class Layer:
    """A neuron group, the synapses into it, and the (synapse, group) pairs its output feeds."""

    group: ir.NeuronGroup
    inputs: tuple[SynapseIn, ...]
    consumers: tuple[tuple[ir.Synapse, ir.NeuronGroup], ...] = ()

    @property
    def name(self) -> str:
        return self.group.name


@dataclass(frozen=True, slots=True)
class QuantContext:
    hw: HardwareConfig
    allow_clipping: bool
    ranges: ir.Ranges | None           # measure_ranges' record (sigma-delta only)
    message_bits: int = 16
    netx: bool = False       # biases in steps of 2^6 (netx writes bias_exp = 6)


@dataclass(frozen=True, slots=True)
class Quantized:
    """A quantised group and its synapses, its report, and what its output payload is worth downstream."""

    synapses: tuple[ir.Synapse, ...]
    group: ir.Node
    report: dict[str, Any]
    out_scale: float = 1.0   # output payload units per float activation unit
    max_output: int = 1      # largest output payload (1 for binary spikes)


Quantizer = Callable[[Layer, QuantContext], Quantized]

#: neuron-group type -> quantiser of the group and its synapses
QUANTIZERS: TypeRegistry[Quantizer] = TypeRegistry("quantiser")

#: neuron-group type -> (payload units per float unit, largest payload) of its output, known *before* the group
#: is quantised (binary spikes of an IF group: 1/θ and 1). Lets a synapse read a group that is quantised after
#: it (a recurrent synapse); a group without an entry must be quantised before anything reads it.
PAYLOADS: TypeRegistry[Callable[[Any], tuple[float, int]]] = TypeRegistry("output payload")
PAYLOADS.add(ir.LIF, lambda g: (1.0 / g.threshold, 1))
PAYLOADS.add(ir.ALIF, lambda g: (1.0 / g.threshold, 1))


def quantize_weights(w: np.ndarray, weight_bits: int) -> tuple[np.ndarray, float]:
    """Registers r (int32) and the float value of one register LSB, with W ≈ r · unit."""
    m_max = (1 << (weight_bits - 1)) - 1
    shift = _REGISTER_BITS - weight_bits
    max_abs = float(np.abs(w).max()) if w.size else 0.0
    if max_abs == 0.0:
        return np.zeros(w.shape, dtype=np.int32), 1.0
    step = max_abs / m_max
    m = np.clip(np.rint(w / step), -m_max, m_max).astype(np.int32)
    return (m << shift).astype(np.int32), step / (1 << shift)


@dataclass(frozen=True, slots=True)
class _Registers:
    """A synapse's registers for exponent e: W ≈ r · unit, dendritic sum shifted by weight_exp."""

    r: np.ndarray
    weight_exp: int
    unit: float   # float weight per register unit (for a folded exponent, unit · 2^−e)


def _registers(w: np.ndarray, r: np.ndarray, unit: float, e: int, exps: ExponentRange, name: str) -> _Registers:
    """The registers for exponent e. A folded exponent (no exponent register) becomes registers of at
    most ⌊r_max · 2^e⌋ with the largest |W| mapped onto it exactly, so equal weights stay exact."""
    if not (exps.folded and e < 0):
        return _Registers(r, e, unit)
    r_max = int(np.abs(r).max()) if r.size else 0
    top = (r_max << _REGISTER_BITS) >> (_REGISTER_BITS - e)  # ⌊r_max · 2^e⌋ without float rounding
    if r_max == 0:
        return _Registers(r, 0, unit)
    if top < 1:
        raise QuantizationError(f"layer {name!r}: a weight exponent of {e} leaves no weight bits (the synapse has "
                                "no exponent register); lower the message bits (--message-bits)")
    unit_eff = float(np.abs(w).max()) / top
    return _Registers(np.clip(np.rint(w / unit_eff), -top, top).astype(np.int32), 0, unit_eff)


def _float_weights(syn: ir.Synapse) -> np.ndarray:
    return np.asarray(syn.weight, dtype=np.float64) * 2.0 ** syn.weight_exp


def _rel_error(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.linalg.norm(approx - exact)) / max(float(np.linalg.norm(exact)), 1e-30)


def _max_dendritic_sum(r: np.ndarray, max_input: int) -> int:
    """Upper bound of |Σ_i r_ji s_i| over all inputs s with 0 ≤ s_i ≤ max_input."""
    flat = r.reshape(r.shape[0], -1).astype(np.int64)
    pos = np.where(flat > 0, flat, 0).sum(axis=1)
    neg = np.where(flat < 0, -flat, 0).sum(axis=1)
    return int(np.max(np.maximum(pos, neg))) * max_input if flat.size else 0


# ---------------------------------------------------------------- rate coding: LIF groups


def _choose_exponent(theta: float, base_scale: float, max_sum: float, exps: ExponentRange, ctx: QuantContext,
                     layer_name: str, what: str = "threshold") -> int:
    """Weight exponent e: threshold (``what``: the value that must fit the threshold's register) in range, no
    current overflow, enough precision."""
    neu = ctx.hw.neuron
    cur_limit = 1 << (neu.state_bits - 1 - 6)  # a << 6 must stay inside the signed state

    def vth(e: int) -> float:
        return theta * base_scale * 2.0 ** e

    def fits(e: int) -> bool:
        return vth(e) <= neu.vth_max and max_sum * 2.0 ** e < cur_limit

    e = min(0, exps.hi)
    while not fits(e) and e > exps.lo:
        e -= 1
    while vth(e) < _MIN_VTH_PRECISION and e < exps.hi and fits(e + 1):
        e += 1
    if not fits(e):
        raise QuantizationError(
            f"layer {layer_name!r}: {what} {vth(e):.0f} or input current cannot fit the chip's "
            f"{neu.threshold_bits}-bit threshold / {neu.state_bits}-bit state with weight exponents "
            f"{exps.lo}..{exps.hi}; lower the threshold-balancing percentile or the input resolution")
    if round(vth(e)) < 1:
        raise QuantizationError(f"layer {layer_name!r}: {what} rounds to 0 at the largest weight "
                                f"exponent {e}; the layer's weights are too large relative to its {what}")
    return e


def fit_bias(bias_v: np.ndarray, mant_max: int, exp_max: int) -> tuple[np.ndarray, np.ndarray, int]:
    """bias_mant · 2^bias_exp ≈ ``bias_v`` per neuron with the smallest exponent that fits (|mant| ≤ ``mant_max``,
    exp in 0..``exp_max``); returns (mant clipped into range, exp, how many had to be clipped)."""
    mag = np.abs(bias_v)
    need = np.where(mag > mant_max, np.ceil(np.log2(np.maximum(mag, 1.0) / mant_max)), 0).astype(np.int32)
    exp = np.clip(need, 0, exp_max).astype(np.int32)
    mant = np.rint(bias_v / (2.0 ** exp))
    clipped = int(np.sum(np.abs(mant) > mant_max))
    return np.clip(mant, -mant_max, mant_max).astype(np.int32), exp, clipped


def _quantize_bias(bias_v: np.ndarray, ctx: QuantContext, layer_name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """bias_mant · 2^bias_exp ≈ bias_v per neuron; returns (mant, exp, number clipped)."""
    neu = ctx.hw.neuron
    mmax = neu.bias_mant_max
    mant, exp, clipped = fit_bias(bias_v, mmax, neu.bias_exp_max)
    mag = np.abs(bias_v)
    if clipped and not ctx.allow_clipping:
        worst = float(mag.max())
        raise QuantizationError(
            f"layer {layer_name!r}: {clipped} bias value(s) up to {worst:.0f} exceed the largest "
            f"representable bias {mmax} * 2^{neu.bias_exp_max}; retrain with weight decay, lower the "
            f"threshold-balancing percentile, or pass allow_clipping=True (--allow-clipping) to clip them")
    return mant, exp, clipped


def _quantize_bias_netx(bias_v: np.ndarray, ctx: QuantContext, layer_name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """bias_mant · 2^6 ≈ bias_v (netx fixes bias_exp = 6); returns (mant, exp, number clipped)."""
    mmax = ctx.hw.neuron.bias_mant_max
    mant = np.rint(bias_v / 64.0)
    clipped = int(np.sum(np.abs(mant) > mmax))
    if clipped and not ctx.allow_clipping:
        raise QuantizationError(
            f"layer {layer_name!r}: {clipped} bias value(s) up to {float(np.abs(bias_v).max()):.0f} exceed "
            f"{mmax} * 2^6, the largest bias netx can write (it fixes bias_exp = 6); compile without "
            "--netx-compatible, or pass --allow-clipping to clip them")
    return np.clip(mant, -mmax, mmax).astype(np.int32), np.full(mant.shape, 6, np.int32), clipped


def _check_current(regs: list[tuple[_Registers, int]], ctx: QuantContext, layer_name: str) -> None:
    """The exact registers (after a folded exponent's rounding) must keep a << 6 inside the state, for the sum
    of every synapse's largest possible current (``regs``: registers and largest input payload)."""
    cur_limit = 1 << (ctx.hw.neuron.state_bits - 1 - 6)
    if sum(_max_dendritic_sum(r.r, m) * 2.0 ** r.weight_exp for r, m in regs) >= cur_limit:
        raise QuantizationError(f"layer {layer_name!r}: the largest possible input current overflows the "
                                f"{ctx.hw.neuron.state_bits}-bit state; lower the input resolution")


def _register_max(weight_bits: int) -> int:
    return ((1 << (weight_bits - 1)) - 1) << (_REGISTER_BITS - weight_bits)


def _shared_scale_registers(inp: SynapseIn, w: np.ndarray, unit: float, scale: float, ctx: QuantContext,
                            group: str) -> _Registers:
    """Registers of a synapse into a group whose voltage scale ``scale`` (voltage units per float unit) is
    already fixed by another synapse: W ≈ r · 2^e · in_scale / scale (see the module doc)."""
    bits = ctx.hw.synapse.weight_bits
    shift, m_max = _REGISTER_BITS - bits, (1 << (bits - 1)) - 1
    exps, name = inp.exponents, inp.synapse.name
    ratio = scale * unit / inp.in_scale     # 2^e needed for full-precision registers
    e = math.ceil(math.log2(ratio) - 1e-12) if ratio > 0 else 0
    if exps.folded:
        e = min(e, 0)
    e = max(e, exps.lo)
    if e > exps.hi or (exps.folded and e > 0):
        raise QuantizationError(
            f"layer {name!r}: it feeds group {group!r} with {ratio:.3g}x the weight scale the group's voltage "
            f"units allow (weight exponents up to {exps.hi if not exps.folded else 0}); the synapses into "
            f"{group!r} differ too much in scale: rescale the network's layers or lower the input resolution")
    if exps.folded and e < 0:  # no exponent register: the exponent goes into the registers
        r = np.rint(w * scale / inp.in_scale)
        if np.abs(r).max(initial=0) > _register_max(bits):
            raise QuantizationError(f"layer {name!r}: its registers exceed {_register_max(bits)} at the voltage "
                                    f"scale of group {group!r}; the synapses into it differ too much in scale")
        return _Registers(r.astype(np.int32), 0, inp.in_scale / scale)
    step = inp.in_scale * 2.0 ** e / scale
    m = np.clip(np.rint(w / (step * (1 << shift))), -m_max, m_max).astype(np.int32)
    return _Registers((m << shift).astype(np.int32), e, step)


@dataclass(frozen=True, slots=True)
class _RateGroup:
    """What quantising a LIF-like group (``LIF``, ``ALIF``) gives: its voltage scale S (voltage units per float
    unit, before the 6-bit shift), its synapses, the ``LoihiLIF`` fields and the report."""

    scale: float
    synapses: tuple[ir.Synapse, ...]
    fields: dict[str, Any]
    report: dict[str, Any]


def _quantize_rate(layer: Layer, group: ir.LIF | ir.ALIF, ctx: QuantContext, top: float,
                   what: str = "threshold") -> _RateGroup:
    """The shared voltage scale, the synapses' registers, threshold, bias and decays of a LIF-like group; the
    exponent keeps ``top`` (the threshold, or a larger value ``what`` that must fit as wide a register) in range."""
    if not layer.inputs:
        raise QuantizationError(f"group {group.name!r} has no synapse; nothing sets its voltage scale")
    bits = ctx.hw.synapse.weight_bits
    ws = [_float_weights(i.synapse) for i in layer.inputs]
    full = [quantize_weights(w, bits) for w in ws]
    natural = [i.in_scale / unit for i, (_, unit) in zip(layer.inputs, full, strict=True)]
    lead = int(np.argmin(natural))     # the coarsest synapse sets the group's scale
    ref, (r_ref, unit_ref) = layer.inputs[lead], full[lead]
    max_sum = sum(_max_dendritic_sum(r, i.max_input) * natural[lead] / nat
                  for i, (r, _), nat in zip(layer.inputs, full, natural, strict=True))
    e = _choose_exponent(top, natural[lead], max_sum, ref.exponents, ctx, ref.synapse.name, what)
    lead_regs = _registers(ws[lead], r_ref, unit_ref, e, ref.exponents, ref.synapse.name)
    scale = ref.in_scale / lead_regs.unit * 2.0 ** lead_regs.weight_exp
    regs = [lead_regs if k == lead else _shared_scale_registers(i, ws[k], full[k][1], scale, ctx, group.name)
            for k, i in enumerate(layer.inputs)]
    _check_current([(r, i.max_input) for r, i in zip(regs, layer.inputs, strict=True)], ctx, ref.synapse.name)
    vth = round(group.threshold * scale)
    bias = np.zeros(group.shape) if group.bias is None else np.asarray(group.bias, dtype=np.float64)
    quantize_bias = _quantize_bias_netx if ctx.netx else _quantize_bias
    mant, bexp, clipped = quantize_bias(bias * scale * 64.0, ctx, ref.synapse.name)
    fields = dict(vth=int(vth), bias_mant=mant, bias_exp=bexp, dv=int(round(group.dv * 4096)), reset=group.reset,
                  du=int(round(group.du * 4096)) - 1 if group.du > 0 else 0)
    per_synapse = {i.synapse.name: {"weight_exp": r.weight_exp, "weight_unit": r.unit,
                                    "weight_rel_error": _rel_error(r.r * r.unit, w)}
                   for i, r, w in zip(layer.inputs, regs, ws, strict=True)}
    report = {"layer": ref.synapse.name, "group": group.name, "mode": "rate", "weight_exp": e,
              "weight_exp_folded": lead_regs.weight_exp != e, "weight_unit": lead_regs.unit,
              "weight_rel_error": _rel_error(lead_regs.r * lead_regs.unit, ws[lead]), "vth": int(vth),
              "threshold_rel_error": abs(vth - group.threshold * scale) / max(group.threshold * scale, 1e-30),
              "bias_exp_max": int(bexp.max()) if bexp.size else 0, "clipped": clipped,
              "synapses": per_synapse}
    synapses = tuple(i.synapse.replace(weight=r.r, weight_exp=r.weight_exp)
                     for i, r in zip(layer.inputs, regs, strict=True))
    return _RateGroup(scale, synapses, fields, report)


@QUANTIZERS.register(ir.LIF)
def _quantize_lif(layer: Layer, ctx: QuantContext) -> Quantized:
    group = layer.group
    if not isinstance(group, ir.LIF):
        raise QuantizationError(f"{group.name!r} is not a LIF group")
    q = _quantize_rate(layer, group, ctx, group.threshold)
    return Quantized(q.synapses, ir.LoihiLIF(name=group.name, shape=group.shape, **q.fields), q.report,
                     out_scale=1.0 / group.threshold)


@QUANTIZERS.register(ir.ALIF)
def _quantize_alif(layer: Layer, ctx: QuantContext) -> Quantized:
    """As a ``LIF`` group (one voltage scale S, the exponent also keeping β · S in range), plus the adaptation:
    beta = round(β · S) (``ir.LoihiALIF``: r = 64 · S · r_float) and dr = round(4096 · (1 − ρ)), at most 4095 (ρ
    below 1/8192 becomes 1/4096)."""
    group = layer.group
    if not isinstance(group, ir.ALIF):
        raise QuantizationError(f"{group.name!r} is not an ALIF group")
    beta_max = ctx.hw.neuron.adaptation_max
    if beta_max is None:
        raise QuantizationError(f"ALIF group {group.name!r}: {ctx.hw.name} has no adaptive-threshold neuron "
                                f"(neuron.adaptation_bits in hw_configs/{ctx.hw.name}.yaml); compile for loihi2")
    q = _quantize_rate(layer, group, ctx, max(group.threshold, group.beta),
                       "threshold" if group.threshold >= group.beta else "threshold increment beta")
    beta = round(group.beta * q.scale)
    if beta > beta_max:
        raise QuantizationError(f"ALIF group {group.name!r}: beta {group.beta:g} is {beta} in voltage units, above "
                                f"the {ctx.hw.neuron.adaptation_bits}-bit adaptation register's {beta_max}; lower "
                                "beta or the input resolution")
    dr = min(4095, round(4096 * (1.0 - group.rho)))
    report = {**q.report, "beta": beta, "dr": dr,
              "beta_rel_error": abs(beta - group.beta * q.scale) / max(group.beta * q.scale, 1e-30),
              "rho_quantized": 1.0 - dr / 4096}
    node = ir.LoihiALIF(name=group.name, shape=group.shape, beta=beta, dr=dr, **q.fields)
    return Quantized(q.synapses, node, report, out_scale=1.0 / group.threshold)


# ---------------------------------------------------------------- sigma-delta: SigmaDelta groups


def _ranges(ctx: QuantContext, group: str) -> tuple[float, float]:
    """(pre_max, act_max) of ``group`` from measure_ranges."""
    rng = ctx.ranges
    if rng is None or group not in rng.pre_max:
        raise QuantizationError(f"quantize: no calibrated range for sigma-delta group {group!r}; run "
                                "measure_ranges before quantize (the sdn pipeline does)")
    return float(rng.pre_max[group]), float(rng.act_max[group])


def _sd_weights(w: np.ndarray, weight_bits: int) -> tuple[np.ndarray, float]:
    """Sigma-delta registers: as ``quantize_weights``, except that weights of one magnitude (a pooling
    kernel) take the smallest even register, 2. They are exact at any precision, and a small register
    keeps the layer's gain, and so the right shift its sums need, small."""
    mags = np.abs(w[w != 0])
    if mags.size and mags.max() == mags.min():
        return (np.sign(w) * 2).astype(np.int32), float(mags.max()) / 2
    return quantize_weights(w, weight_bits)


def _message_floor(layer: Layer, ctx: QuantContext, pre_max: float, act_max: float, bias_max: float) -> float:
    """Smallest message unit that keeps messages, the bias register and the dendritic sums of every synapse
    the group feeds in range. A bias beyond HEADROOM · (pre_max + act_max) does not coarsen the messages: it
    is clipped or refused when it is rounded."""
    floor = max(HEADROOM * act_max / ((1 << (ctx.message_bits - 1)) - 1),
                min(bias_max, HEADROOM * (pre_max + act_max)) / _SD_BIAS_MAX)
    for syn, nxt in layer.consumers:
        # the next layer's full-precision weight unit: a folded exponent only makes its sums smaller
        _, unit_next = _sd_weights(_float_weights(syn), ctx.hw.synapse.weight_bits)
        pre_next, act_next = _ranges(ctx, nxt.name)
        acc_limit = (1 << (ctx.hw.synapse.accumulator_bits - 1)) - 1
        floor = max(floor, HEADROOM * pre_next / (unit_next * acc_limit))
        if _exponents(syn, ctx.hw).folded:
            floor = max(floor, _fold_floor(ctx, nxt, unit_next, act_next))
    return floor


def _fold_floor(ctx: QuantContext, nxt: ir.NeuronGroup, unit_next: float, act_next: float) -> float:
    """Message unit above which a next synapse without an exponent register (a convolution) needs at most
    ``_FOLD_BITS`` of its weight bits for the shift of its sums: its bias must fit the 16-bit register and
    its messages ``message_bits`` with state_exp ≤ 7 and e ≥ −_FOLD_BITS. Coarser messages here (a larger
    input unit there) cost less accuracy than fewer weight bits there."""
    bias = getattr(nxt, "bias", None)
    bias_max = 0.0 if bias is None or not bias.size else float(np.abs(bias).max())
    by_bias = bias_max / (_SD_BIAS_MAX * unit_next * 2.0 ** _FOLD_BITS)
    by_messages = HEADROOM * act_next / (((1 << (ctx.message_bits - 1)) - 1) * unit_next
                                         * 2.0 ** (_SD_STATE_EXP_MAX + _FOLD_BITS))
    return max(by_bias, by_messages)


def _state_floor(ctx: QuantContext, pre_max: float, act_max: float) -> float:
    """Smallest state unit that keeps σ + b and y in the state register (the scaled bias is a 16-bit
    register, so |b| ≤ 2^15 − 1 state units whatever the bias)."""
    state_limit = (1 << (ctx.hw.neuron.state_bits - 1)) - 1 - _SD_BIAS_MAX
    return HEADROOM * max(pre_max, act_max) / state_limit


def _floor_log2(x: float) -> int:
    return int(math.floor(math.log2(x) + 1e-12))


def _log2_ceil(ratio: float) -> int:
    return 0 if ratio <= 1.0 else math.ceil(math.log2(ratio) - 1e-12)


def _sd_exponents(base: float, msg_floor: float, state_floor: float, bias_max: float, exps: ExponentRange,
                  ctx: QuantContext, name: str) -> tuple[int, int]:
    """(state_exp, weight_exp) giving the finest message unit above ``msg_floor`` (see module doc)."""
    k = _log2_ceil(msg_floor / base)
    u = base * 2.0 ** k
    if state_floor > u:
        raise QuantizationError(
            f"layer {name!r}: at the message resolution the sums of the next layer allow, the layer's values "
            f"do not fit the {ctx.hw.neuron.state_bits}-bit state; lower the threshold-balancing percentile "
            "or the message bits (--message-bits)")
    se_max = _SD_STATE_EXP_MAX
    if state_floor > 0:
        se_max = min(se_max, _floor_log2(u / state_floor))
    se = min(k, se_max)
    if bias_max > 0:  # the scaled bias b / u · 2^state_exp should fit 16 bits: prefer a coarser state, but
        # never beyond the exponent range (the bias is then clipped or refused when it is rounded)
        se = max(min(se, _floor_log2(_SD_BIAS_MAX * u / bias_max)), min(se, k + exps.lo), 0)
    e = se - k
    if e < exps.lo:
        raise QuantizationError(
            f"layer {name!r}: its dendritic sums need a right shift of {-e} bits, beyond the weight exponent "
            f"range {exps.lo}..{exps.hi}; lower the message bits (--message-bits)")
    return se, e


def _check_accumulator(regs: _Registers, pre_max: float, in_unit: float, ctx: QuantContext, name: str) -> float:
    """Fraction of the accumulator the calibrated sums (times HEADROOM) use; raises above 1."""
    acc_limit = (1 << (ctx.hw.synapse.accumulator_bits - 1)) - 1
    use = HEADROOM * pre_max / (regs.unit * in_unit) / acc_limit
    if use > 1.0:
        raise QuantizationError(
            f"layer {name!r}: its dendritic sums reach {use:.1f}x the {ctx.hw.synapse.accumulator_bits}-bit "
            f"accumulator (calibrated maximum x {HEADROOM}); lower the input resolution (bits of the Input) "
            "or the message bits of the previous layer (--message-bits)")
    return use


#: register -> how to avoid clipping it
_SD_ADVICE = {"delta threshold": "lower the delta threshold (--delta-threshold)",
              "bias": "retrain with weight decay, lower the threshold-balancing percentile"}


def _sd_register(value: np.ndarray, limit: int, what: str, ctx: QuantContext, name: str) -> tuple[np.ndarray, int]:
    """Round, and clip to ±limit (or raise) a register; returns (values, number clipped)."""
    v = np.rint(value)
    clipped = int(np.sum(np.abs(v) > limit))
    if clipped and not ctx.allow_clipping:
        raise QuantizationError(
            f"layer {name!r}: {clipped} {what} value(s) up to {float(np.abs(v).max()):.0f} exceed the largest "
            f"representable {limit} (Lava's sigma-delta registers); {_SD_ADVICE[what]}, or pass "
            "allow_clipping=True (--allow-clipping) to clip them")
    return np.clip(v, -limit, limit).astype(np.int32), clipped


@QUANTIZERS.register(ir.SigmaDelta)
def _quantize_sigma_delta(layer: Layer, ctx: QuantContext) -> Quantized:
    group = layer.group
    if not isinstance(group, ir.SigmaDelta):
        raise QuantizationError(f"{group.name!r} is not a SigmaDelta group")
    if len(layer.inputs) != 1:
        raise QuantizationError(
            f"sigma-delta group {group.name!r} has {len(layer.inputs)} synapses into it; sigma-delta conversion "
            "takes one synapse per group (no fan-in, skips or recurrence) for now: compile with --mode rate")
    (inp,) = layer.inputs
    syn = inp.synapse
    pre_max, act_max = _ranges(ctx, group.name)
    bias = np.zeros(group.shape) if group.bias is None else np.asarray(group.bias, dtype=np.float64)
    bias_max = float(np.abs(bias).max()) if bias.size else 0.0
    w = _float_weights(syn)
    r, unit = _sd_weights(w, ctx.hw.synapse.weight_bits)
    in_unit = 1.0 / inp.in_scale
    se, e = _sd_exponents(unit * in_unit, _message_floor(layer, ctx, pre_max, act_max, bias_max),
                          _state_floor(ctx, pre_max, act_max), bias_max, inp.exponents, ctx, syn.name)
    regs = _registers(w, r, unit, e, inp.exponents, syn.name)
    acc_use = _check_accumulator(regs, pre_max, in_unit, ctx, syn.name)
    u = regs.unit * in_unit * 2.0 ** (se - regs.weight_exp)   # float activation per message unit
    vth, vth_clipped = _sd_register(np.array([max(1.0, round(group.threshold / u))]),
                                    _SD_VTH_MAX >> se, "delta threshold", ctx, syn.name)
    mant, clipped = _sd_register(bias / u, _SD_BIAS_MAX >> se, "bias", ctx, syn.name)
    new_group = ir.LoihiSigmaDelta(name=group.name, shape=group.shape, vth=int(vth[0]), bias_mant=mant,
                                   state_exp=se, spike_exp=0, activation=group.activation,
                                   cum_error=group.cum_error, message_bits=ctx.message_bits)
    max_message = HEADROOM * act_max / u
    report = {"layer": syn.name, "group": group.name, "mode": "sdn", "weight_exp": e,
              "weight_exp_folded": regs.weight_exp != e, "weight_unit": regs.unit,
              "weight_rel_error": _rel_error(regs.r * regs.unit, w), "state_exp": se, "message_unit": u,
              "message_bits": ctx.message_bits, "message_bits_used": int(math.ceil(math.log2(max_message + 1))) + 1,
              "accumulator_use": acc_use, "vth": int(vth[0]), "threshold": float(vth[0]) * u,
              "bias_rel_error": _rel_error(mant * u, bias), "clipped": clipped + vth_clipped}
    return Quantized((syn.replace(weight=regs.r, weight_exp=regs.weight_exp),), new_group, report,
                     out_scale=1.0 / u, max_output=int(math.ceil(max_message)))


# ---------------------------------------------------------------- the pass


def _exponents(syn: ir.Synapse, hw: HardwareConfig) -> ExponentRange:
    fn = EXPONENTS.of(syn)
    if fn is None:
        raise QuantizationError(f"quantize: no weight format for {type(syn).__name__} {syn.name!r} "
                                f"(supported: {EXPONENTS.supported()})")
    return fn(hw)


def _check_graded(graph: ir.Graph, hw: HardwareConfig, message_bits: int) -> None:
    graded_in = [i for i in graph.of_type(ir.Input) if i.encoding.graded]
    sd = bool(graph.of_type(ir.SigmaDelta))
    if (graded_in or sd) and not hw.synapse.graded_spikes:
        what = f"input {graded_in[0].name!r} is {graded_in[0].encoding.value}" if graded_in else "sigma-delta groups"
        raise QuantizationError(f"{hw.name} has no graded spikes ({what}): use input encoding rate or poisson "
                                "and the rate conversion mode, not sdn")
    for inp in graph.of_type(ir.Input):
        if sd and not inp.bits < message_bits <= hw.synapse.max_message_bits:
            raise QuantizationError(f"message_bits must be in {inp.bits + 1}..{hw.synapse.max_message_bits} "
                                    f"({hw.name}: synapse.max_message_bits; input {inp.name!r} has {inp.bits}-bit "
                                    f"levels), got {message_bits}")


def _check_plastic(graph: ir.Graph, hw: HardwareConfig) -> None:
    """Every plastic synapse's rule must fit ``hw``'s learning engine (one-line ``LoweringError`` otherwise)."""
    plastic = [s for s in graph.of_type(ir.Synapse) if s.plastic is not None]
    if not plastic:
        return
    if hw.learning is None:
        raise LoweringError(f"{hw.name} has no learning engine in its config (no 'learning' section), but synapse "
                            f"{plastic[0].name!r} is plastic; add the section or compile without plasticity")
    for s in plastic:
        assert s.plastic is not None
        check_plasticity(s.plastic, hw.learning, where=f"synapse {s.name!r} ({s.plastic.name})")


def _input_payload(inp: ir.Input) -> tuple[float, int]:
    if inp.encoding.graded:
        q = (1 << inp.bits) - 1
        return float(q), q
    return 1.0, 1


def _payload(src: ir.Node, done: dict[str, Quantized], reader: str) -> tuple[float, int]:
    """(payload units per float unit, largest payload) of what ``src`` sends to the synapse ``reader``."""
    if isinstance(src, ir.Input):
        return _input_payload(src)
    if src.name in done:
        return done[src.name].out_scale, done[src.name].max_output
    fn = PAYLOADS.of(src)
    if fn is None:
        raise QuantizationError(f"quantize: synapse {reader!r} reads {type(src).__name__} {src.name!r} before it "
                                "is quantised (a recurrent synapse), and that group's output scale is known only "
                                f"after (groups whose scale is known before: {PAYLOADS.supported()})")
    return fn(src)


@graph_pass("quantize", requires=(ir.Converted,), provides=(ir.Quantization,))
def quantize(graph: ir.Graph, *, hw: HardwareConfig, allow_clipping: bool = False,
             message_bits: int = 16, netx_compatible: bool = False) -> ir.Graph:
    """Quantise every neuron group of a converted (spiking, float) graph, and the synapses into it, for ``hw``.

    ``message_bits`` is the signed width of sigma-delta graded spikes (ignored by rate coding).
    ``netx_compatible``: what lava-dl netx can express exactly: no weight exponent register (a
    negative exponent is folded into the registers, a positive one not used) and biases in
    steps of 2^6. Groups are visited in dependency order (``Graph.topological``).
    """
    _check_graded(graph, hw, message_bits)
    _check_plastic(graph, hw)
    ctx = QuantContext(hw=hw, allow_clipping=allow_clipping, ranges=graph.record(ir.Ranges),
                       message_bits=message_bits, netx=netx_compatible)
    consumers: dict[str, list[tuple[ir.Synapse, ir.NeuronGroup]]] = {}
    for g in graph.of_type(ir.NeuronGroup):
        for f in fanin(graph, g.name):
            consumers.setdefault(f.source.name, []).append((f.synapse, g))
    done: dict[str, Quantized] = {}
    replaced: dict[str, ir.Node] = {}
    reports = []
    for group in groups(graph):
        fn = QUANTIZERS.of(group)
        if fn is None:
            raise QuantizationError(f"quantize: no quantiser for {type(group).__name__} {group.name!r} "
                                    f"(supported: {QUANTIZERS.supported()}); convert the graph first")
        inputs = []
        for f in fanin(graph, group.name):
            exps = _exponents(f.synapse, hw)
            if netx_compatible:
                exps = ExponentRange(exps.lo, min(exps.hi, 0), folded=True)
            scale, top = _payload(f.source, done, f.synapse.name)
            inputs.append(SynapseIn(f.synapse, f.source.name, scale, top, exps))
        res = fn(Layer(group, tuple(inputs), tuple(consumers.get(group.name, ()))), ctx)
        done[group.name] = res
        for syn in res.synapses:
            replaced[syn.name] = syn
        replaced[group.name] = res.group
        reports.append(res.report)
    return graph.replace_nodes(replaced).with_record(ir.Quantization(hw=hw.name, layers=tuple(reports)))
