"""Local learning rules written once, in Python: the expression language (``expr``), a synapse's rule
(``rule.Plasticity``), its NumPy definition (``engine``), and the built-in rules (``builtin``).

Nothing here imports Lava or torch; ``compilers.lava.learning`` renders a rule for Lava.
"""

from toolkit.learning.expr import Rule, RuleSyntaxError, parse_rule, scale_parts, sgn, u
from toolkit.learning.rule import Plasticity, Trace

x0, x1, x2 = Rule.symbol("x0"), Rule.symbol("x1"), Rule.symbol("x2")
y0, y1, y2, y3 = Rule.symbol("y0"), Rule.symbol("y1"), Rule.symbol("y2"), Rule.symbol("y3")
w, t, d = Rule.symbol("w"), Rule.symbol("t"), Rule.symbol("d")
u0 = u(0)

__all__ = ["Plasticity", "Rule", "RuleSyntaxError", "Trace", "d", "parse_rule", "scale_parts", "sgn", "t", "u", "u0",
           "w", "x0", "x1", "x2", "y0", "y1", "y2", "y3"]
