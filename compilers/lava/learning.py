"""The one module that writes Lava's learning rules: a ``Plasticity`` becomes a ``Loihi2FLearningRule`` or a
``Loihi3FLearningRule`` (rule strings, trace impulses and decays, learning epoch).

Lava's rule strings are sums of products ``S * dep * factor * ...`` with an integer literal scale
``m*2^e`` (``lava.magma.core.learning.symbolic_equation``); a trace factor plus a constant is written
``(y2 - 10)``, a sign ``sgn(w - 64)``. A scale the chip's format cannot hold exactly, or a trace parameter
out of range, is refused with a ``LoweringError`` naming the term and the limit, before any Lava object
exists (``toolkit.learning.limits.check_plasticity``, re-exported here).

The two simulation modes of Lava differ in magnitude, not only in rounding: its fixed-point engine shifts
every product right by max(0, Σ factor widths + 4 − 15) bits (a trace is 7 bits, w, t and d 9 bits), so
``x1*y2`` lands 8× smaller than in ``floating_pt`` (``lava.magma.core.learning.learning_rule_applier``,
``constants.FACTOR_TO_WIDTH_DICT``). ``product_shift`` computes that shift. The limits come from the
hardware config's ``learning`` section (``toolkit.hw.LearningLimits``), each value with its source.
"""

from __future__ import annotations

from typing import Any

from toolkit.hw import LearningLimits
from toolkit.learning.expr import Rule
from toolkit.learning.fixed import synapse_seed
from toolkit.learning.limits import check_plasticity, default_limits, product_shift, scale_of
from toolkit.learning.rule import Plasticity

__all__ = ["check_plasticity", "default_limits", "lava_learning_rule", "lava_rule_string", "product_shift",
           "synapse_seed"]


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
        m, e = scale_of(p, target, fmt)
        body = " * ".join([f"{abs(m)}*2^{e}", p.dep_symbol, *(_factor_text(f) for f in p.factors)])
        sign = "-" if p.scale < 0 else "+"
        out.append((f"- {body}" if sign == "-" else body) if i == 0 else f"{sign} {body}")
    return " ".join(out)


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
