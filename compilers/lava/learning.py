"""The one module that writes Lava's learning rules: a ``Plasticity`` becomes a ``Loihi2FLearningRule`` or a
``Loihi3FLearningRule`` (rule strings, trace impulses and decays, learning epoch).

Lava's rule strings are sums of products ``S * dep * factor * ...`` with an integer literal scale
``m*2^e`` (``lava.magma.core.learning.symbolic_equation``); a trace factor plus a constant is written
``(y2 - 10)``, a sign ``sgn(w - 64)``. A scale the chip's format cannot hold exactly, or a trace parameter
out of range, is refused here with a ``LoweringError`` naming the term and the limit, before any Lava
object exists (``check_plasticity``).

The two simulation modes of Lava differ in magnitude, not only in rounding: its fixed-point engine shifts
every product right by max(0, Σ factor widths + 4 − 15) bits (a trace is 7 bits, w, t and d 9 bits), so
``x1*y2`` lands 8× smaller than in ``floating_pt`` (``lava.magma.core.learning.learning_rule_applier``,
``constants.FACTOR_TO_WIDTH_DICT``). ``product_shift`` computes that shift. The limits come from the
hardware config's ``learning`` section (``toolkit.hw.LearningLimits``), each value with its source.
"""

from __future__ import annotations

import functools
from typing import Any

from toolkit.errors import LoweringError
from toolkit.hw import LearningLimits, load_hw
from toolkit.learning.expr import Product, Rule, nearest_scale, scale_parts
from toolkit.learning.rule import Plasticity

__all__ = ["check_plasticity", "default_limits", "lava_learning_rule", "lava_rule_string", "product_shift",
           "synapse_seed"]


def synapse_seed(seed: int, synapse: str) -> int:
    """The seed of plastic synapse ``synapse``'s stochastic rounding in Lava's fixed-point learning engine, for a
    run seeded ``seed``: (seed + CRC-32 of the name) mod (2^31 − 4) (Lava draws from it and the next three)."""
    import zlib

    return (seed + zlib.crc32(synapse.encode())) % ((1 << 31) - 4)


@functools.cache
def default_limits() -> LearningLimits:
    """The learning engine of ``hw_configs/loihi2.yaml`` (Lava 0.10's model, each value with its source)."""
    limits = load_hw("loihi2").learning
    assert limits is not None, "hw_configs/loihi2.yaml has a learning section"
    return limits


def product_shift(p: Product, limits: LearningLimits | None = None) -> int:
    """Bits the fixed-point learning engine shifts product ``p`` right by: max(0, Σ factor widths + 4 − 15).

    Lava sums the widths of the product's factors by their variable (a dependency is not a factor; the
    constant of a factor such as ``(w - 64)`` adds nothing), ``LearningRuleApplierBitApprox.apply``."""
    return (limits or default_limits()).product_shift(f.var for f in p.factors)


def _scale(p: Product, target: str, fmt: LearningLimits) -> tuple[int, int]:
    """(m, e) of the product's scale, m a signed ``scale_mant_bits``-bit mantissa; else ``LoweringError``."""
    rng = (fmt.scale_mant_min, fmt.scale_mant_max, fmt.scale_exp_min, fmt.scale_exp_max)
    parts = scale_parts(p.scale, *rng)
    if parts is None:
        raise LoweringError(
            f"{target} term '{p}': scale {p.scale:g} is not m * 2^e with m in {fmt.scale_mant_min}.."
            f"{fmt.scale_mant_max} and e in {fmt.scale_exp_min}..{fmt.scale_exp_max} (the learning engine's "
            f"product scale); nearest: {nearest_scale(p.scale, *rng):g}")
    return parts


def _factor_text(f: Any) -> str:
    inner = f.var if not f.const else f"{f.var} {'+' if f.const > 0 else '-'} {abs(f.const)}"
    if f.sgn:
        return f"sgn({inner})"
    return inner if not f.const else f"({inner})"


def lava_rule_string(rule: Rule, target: str = "dw", limits: LearningLimits | None = None) -> str:
    """``rule`` in Lava's rule-string syntax, e.g. ``3*2^-4 * x0 * y1 - 1*2^0 * y0 * x1``."""
    fmt = limits or default_limits()
    out = []
    for i, p in enumerate(rule.products):
        m, e = _scale(p, target, fmt)
        body = " * ".join([f"{abs(m)}*2^{e}", p.dep_symbol, *(_factor_text(f) for f in p.factors)])
        sign = "-" if p.scale < 0 else "+"
        out.append((f"- {body}" if sign == "-" else body) if i == 0 else f"{sign} {body}")
    return " ".join(out)


def check_plasticity(p: Plasticity, limits: LearningLimits | None = None, *, where: str = "") -> None:
    """Raise a one-line ``LoweringError`` naming the first term or parameter of ``p`` that does not fit ``fmt``."""
    fmt = limits or default_limits()
    at = f"{where}: " if where else ""
    for target, rule in p.rules().items():
        for prod in rule.products:
            _scale(prod, f"{at}{target}", fmt)
            for f in prod.factors:
                cb = fmt.factor_bits.const
                if f.const and not -(1 << (cb - 1)) <= f.const < (1 << (cb - 1)):
                    raise LoweringError(f"{at}{target} term '{prod}': constant {f.const} exceeds the learning "
                                        f"engine's {cb}-bit constants")
        if rule.decimate is not None and not fmt.decimate_exp_min <= rule.decimate <= fmt.decimate_exp_max:
            raise LoweringError(f"{at}{target}: u{rule.decimate} is outside u{fmt.decimate_exp_min}.."
                                f"u{fmt.decimate_exp_max}")
    if not fmt.t_epoch_min <= p.t_epoch <= fmt.t_epoch_max:
        raise LoweringError(f"{at}t_epoch {p.t_epoch} is outside {fmt.t_epoch_min}..{fmt.t_epoch_max} (the "
                            f"{fmt.epoch_time_bits}-bit within-epoch spike time)")
    for name, tr in sorted(p.traces.items()):
        if not 0 <= tr.impulse <= fmt.trace_impulse_max:
            raise LoweringError(f"{at}trace {name}: impulse {tr.impulse:g} is outside 0..{fmt.trace_impulse_max:g} "
                                f"(a {fmt.trace_bits}-bit unsigned trace)")
        if not fmt.trace_tau_min <= tr.tau <= fmt.trace_tau_max:
            raise LoweringError(f"{at}trace {name}: decay time tau {tr.tau:g} is outside "
                                f"{fmt.trace_tau_min}..{fmt.trace_tau_max}")


def lava_learning_rule(p: Plasticity, limits: LearningLimits | None = None, *, rng_seed: int | None = None) -> Any:
    """The Lava learning rule object of ``p`` (checked first, see ``check_plasticity``)."""
    from toolkit.lavacompat import require_lava

    require_lava()
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule, Loihi3FLearningRule

    check_plasticity(p, limits)
    rules = {k: lava_rule_string(r, k, limits) for k, r in p.rules().items()}
    kwargs: dict[str, Any] = {k: rules.get(k) for k in ("dw", "dd", "dt")}
    for name in ("x1", "x2"):
        tr = p.trace(name)
        kwargs[f"{name}_impulse"], kwargs[f"{name}_tau"] = float(tr.impulse), float(tr.tau)
    kwargs["t_epoch"] = int(p.t_epoch)
    kwargs["rng_seed"] = rng_seed
    if p.third_factor:
        return Loihi3FLearningRule(**kwargs)
    for name in ("y1", "y2", "y3"):
        tr = p.trace(name)
        kwargs[f"{name}_impulse"], kwargs[f"{name}_tau"] = float(tr.impulse), float(tr.tau)
    return Loihi2FLearningRule(**kwargs)
