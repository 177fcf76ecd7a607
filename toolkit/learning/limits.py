"""The learning engine's limits applied to a ``Plasticity``: one-line errors naming the term and the limit.

The limits are the hardware config's ``learning`` section (``toolkit.hw.LearningLimits``, each value with its
source); ``default_limits`` is Loihi 2's. Used at compile time (``compilers.passes.quantize``) and before a
Lava rule is rendered (``compilers.lava.learning``). The fixed-point engine shifts every product right by
max(0, Σ factor widths + 4 − 15) bits (``product_shift``), so ``x1*y2`` lands 8× smaller than in floating
point (Lava ``LearningRuleApplierBitApprox``).
"""

from __future__ import annotations

import functools

from toolkit.errors import LoweringError
from toolkit.hw import LearningLimits, load_hw
from toolkit.learning.expr import Product, nearest_scale, scale_parts
from toolkit.learning.rule import Plasticity

__all__ = ["check_plasticity", "default_limits", "product_shift", "scale_of"]


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


def scale_of(p: Product, target: str, fmt: LearningLimits) -> tuple[int, int]:
    """(m, e) of the product's scale, m a signed ``scale_mant_bits``-bit mantissa; else ``LoweringError``."""
    rng = (fmt.scale_mant_min, fmt.scale_mant_max, fmt.scale_exp_min, fmt.scale_exp_max)
    parts = scale_parts(p.scale, *rng)
    if parts is None:
        raise LoweringError(
            f"{target} term '{p}': scale {p.scale:g} is not m * 2^e with m in {fmt.scale_mant_min}.."
            f"{fmt.scale_mant_max} and e in {fmt.scale_exp_min}..{fmt.scale_exp_max} (the learning engine's "
            f"product scale); nearest: {nearest_scale(p.scale, *rng):g}")
    return parts


def check_plasticity(p: Plasticity, limits: LearningLimits | None = None, *, where: str = "") -> None:
    """Raise a one-line ``LoweringError`` naming the first term or parameter of ``p`` that does not fit ``fmt``."""
    fmt = limits or default_limits()
    at = f"{where}: " if where else ""
    for target, rule in p.rules().items():
        for prod in rule.products:
            scale_of(prod, f"{at}{target}", fmt)
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


