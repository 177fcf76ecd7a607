"""The learning-rule expression language: Loihi's sum-of-products rules written with Python operators.

A rule such as ``dw = 2**-4 * x0 * y1 - 2**-3 * y0 * x1`` is an ordinary Python expression over the
symbols of the learning engine (Davies et al., IEEE Micro 2018, "Loihi", section on learning; Lava
0.10 ``lava.magma.core.learning``):

========  ======================================================================
symbol    meaning
========  ======================================================================
``x0``    the presynaptic neuron spiked in this learning epoch (a *dependency*)
``y0``    the postsynaptic neuron spiked in this learning epoch (a dependency)
``u0``..  ``uK``: unconditionally, every 2^K epochs (a dependency)
``x1 x2`` presynaptic traces
``y1 y2`` postsynaptic traces; with a third factor, the values the postsynaptic
``y3``    neuron delivers every step (the error, the reward)
``w``     the weight; ``t`` the tag; ``d`` the delay variable
========  ======================================================================

Every product is ``scale * dependency * factor * ...``. A factor is a trace or a synaptic variable,
that plus or minus an integer constant (``(w - 64)``), or ``sgn(...)`` of ``w``, ``t`` or ``d`` (plus or
minus a constant). A product written without a dependency is evaluated at the end of every epoch (it
gets ``u0``); a second dependency in a product is an ordinary factor (a spike is 1). Expressions are
normalised to a sum of such products as they are built (``Rule``), so products distribute over sums:
``x1 * (y2 - y3)`` is ``x1*y2 - x1*y3``. The scale of a product is any number; whether it fits the
chip's scale format (a signed mantissa times a power of two) is checked at compile time against the
hardware config (``scale_parts``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Union

from toolkit.errors import ToolkitError

__all__ = [
    "DEPENDENCIES",
    "SYMBOLS",
    "Factor",
    "Product",
    "Rule",
    "RuleSyntaxError",
    "parse_rule",
    "scale_parts",
    "sgn",
    "u",
]


class RuleSyntaxError(ToolkitError):
    """A learning-rule expression that the learning engine cannot express."""


#: traces (per pre- or postsynaptic neuron) and synaptic variables (per synapse)
TRACES = ("x1", "x2", "y1", "y2", "y3")
SYNAPTIC = ("w", "t", "d")
SPIKES = ("x0", "y0")
DEPENDENCIES = ("x0", "y0", "u")
SYMBOLS = (*SPIKES, *TRACES, *SYNAPTIC)


@dataclass(frozen=True, slots=True, order=True)
class Factor:
    """One factor of a product: ``var`` (a trace, a synaptic variable or a spike) plus ``const``, or ``sgn`` of
    that (only of ``w``, ``t``, ``d``)."""

    var: str
    const: int = 0
    sgn: bool = False

    def __str__(self) -> str:
        inner = self.var if not self.const else f"({self.var} {'+' if self.const > 0 else '-'} {abs(self.const)})"
        if self.sgn:
            return f"sgn({inner.strip('()')})"
        return inner


@dataclass(frozen=True, slots=True)
class Product:
    """``scale * dependency * factors``: ``dependency`` is ``x0``, ``y0`` or ``uK`` (``decimate`` = K)."""

    scale: float
    dependency: str
    factors: tuple[Factor, ...] = ()
    decimate: int = 0

    @property
    def dep_symbol(self) -> str:
        return f"u{self.decimate}" if self.dependency == "u" else self.dependency

    def __str__(self) -> str:
        return " * ".join([_number(self.scale), self.dep_symbol, *map(str, self.factors)])


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


Operand = Union["Rule", float]


@dataclass(frozen=True, slots=True)
class _Term:
    """A product being built: a coefficient, its factors, and the dependency if one was written."""

    coef: float
    factors: tuple[Factor, ...]
    dependency: str | None = None
    decimate: int = 0


class Rule:
    """A sum of products, built with Python operators from the symbols (``x0``, ``x1``, ..., ``w``, ``u(k)``).

    ``rule.products`` is the normal form (each product with its dependency); ``str(rule)`` writes it back
    as an expression that ``parse_rule`` reads.
    """

    __slots__ = ("_terms",)

    def __init__(self, terms: Iterable[_Term] = ()) -> None:
        self._terms: tuple[_Term, ...] = tuple(t for t in terms if t.coef != 0)

    # ---------------------------------------------------------------- building

    @classmethod
    def symbol(cls, name: str) -> Rule:
        if name in SPIKES:
            return cls([_Term(1.0, (), name)])
        if name in (*TRACES, *SYNAPTIC):
            return cls([_Term(1.0, (Factor(name),))])
        raise RuleSyntaxError(f"unknown learning-rule symbol {name!r} (symbols: {', '.join(SYMBOLS)}, u0..u9)")

    def _single_factor(self) -> Factor | None:
        if len(self._terms) == 1:
            t = self._terms[0]
            if t.coef == 1 and t.dependency is None and len(t.factors) == 1:
                return t.factors[0]
        return None

    def __add__(self, other: Operand) -> Rule:
        if isinstance(other, numbers.Real):
            f = self._single_factor()
            if f is None or f.sgn or not float(other).is_integer():
                raise RuleSyntaxError(
                    f"cannot add the constant {other!r} to {self}: a constant is added only to a single trace or "
                    "synaptic variable, as a factor such as (w - 64) or (y2 - 10), and it must be an integer")
            return Rule([_Term(1.0, (Factor(f.var, f.const + int(other)),))])
        if isinstance(other, Rule):
            return Rule((*self._terms, *other._terms))
        return NotImplemented

    def __radd__(self, other: Operand) -> Rule:
        return self.__add__(other)

    def __neg__(self) -> Rule:
        return self * -1

    def __sub__(self, other: Operand) -> Rule:
        return self + (-other)

    def __rsub__(self, other: Operand) -> Rule:
        return (-self) + other

    def __mul__(self, other: Operand) -> Rule:
        if isinstance(other, numbers.Real):
            return Rule(_Term(t.coef * float(other), t.factors, t.dependency, t.decimate) for t in self._terms)
        if isinstance(other, Rule):
            return Rule(_times(a, b) for a in self._terms for b in other._terms)
        return NotImplemented

    def __rmul__(self, other: Operand) -> Rule:
        return self.__mul__(other)

    def __truediv__(self, other: float) -> Rule:
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return self * (1.0 / float(other))

    def __pow__(self, k: int) -> Rule:
        if not isinstance(k, int) or k < 1:
            raise RuleSyntaxError(f"a rule can be raised only to a whole power >= 1, got {k!r}")
        out = self
        for _ in range(k - 1):
            out = out * self
        return out

    # ---------------------------------------------------------------- normal form

    @property
    def products(self) -> tuple[Product, ...]:
        """The products, each with its dependency (``u0`` where none was written), like terms merged."""
        merged: dict[tuple[str, int, tuple[Factor, ...]], float] = {}
        for t in self._terms:
            key = (t.dependency or "u", t.decimate if t.dependency else 0, tuple(sorted(t.factors)))
            merged[key] = merged.get(key, 0.0) + t.coef
        return tuple(Product(coef, dep, factors, k) for (dep, k, factors), coef in merged.items() if coef != 0)

    @property
    def decimate(self) -> int | None:
        """The K of the rule's ``uK`` products (the learning engine allows one K per rule); None if none."""
        ks = {p.decimate for p in self.products if p.dependency == "u"}
        if len(ks) > 1:
            used = ", ".join(f"u{k}" for k in sorted(ks))
            raise RuleSyntaxError(f"the rule {self} uses u with several decimations ({used}); the learning engine "
                                  "takes one uK per rule")
        return ks.pop() if ks else None

    def symbols(self) -> set[str]:
        """Every symbol the rule reads (dependencies and factor variables)."""
        out: set[str] = set()
        for p in self.products:
            out.add(p.dep_symbol if p.dependency == "u" else p.dependency)
            out.update(f.var for f in p.factors)
        return out

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def __bool__(self) -> bool:
        return bool(self.products)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rule):
            return NotImplemented
        return set(self.products) == set(other.products)

    def __hash__(self) -> int:
        return hash(frozenset(self.products))

    def __str__(self) -> str:
        if not self.products:
            return "0"
        out = []
        for i, p in enumerate(self.products):
            body = " * ".join([_number(abs(p.scale)), p.dep_symbol, *map(str, p.factors)])
            out.append(("- " if p.scale < 0 else "") + body if i == 0 else ("- " if p.scale < 0 else "+ ") + body)
        return " ".join(out)

    def __repr__(self) -> str:
        return f"Rule({str(self)!r})"


def _times(a: _Term, b: _Term) -> _Term:
    if a.dependency and b.dependency:
        # a second dependency is an ordinary factor (a spike is 1 or 0) unless both are uK
        if a.dependency == "u" or b.dependency == "u":
            raise RuleSyntaxError("a product takes one uK dependency; u multiplied by another dependency is not a rule")
        return _Term(a.coef * b.coef, (*a.factors, *b.factors, Factor(b.dependency)), a.dependency)
    dep = a.dependency or b.dependency
    k = a.decimate if a.dependency else b.decimate
    return _Term(a.coef * b.coef, (*a.factors, *b.factors), dep, k)


def u(k: int = 0) -> Rule:
    """The unconditional dependency ``uK``: every 2^K learning epochs."""
    if not isinstance(k, int) or not 0 <= k <= 9:
        raise RuleSyntaxError(f"u takes a decimation exponent K in 0..9 (one digit), got {k!r}")
    return Rule([_Term(1.0, (), "u", k)])


def sgn(r: Rule) -> Rule:
    """``sgn`` of ``w``, ``t`` or ``d`` (plus or minus an integer constant): −1, 0 or 1."""
    f = r._single_factor() if isinstance(r, Rule) else None
    if f is None or f.var not in SYNAPTIC or f.sgn:
        raise RuleSyntaxError(f"sgn takes w, t or d, optionally plus or minus an integer constant; got {r}")
    return Rule([_Term(1.0, (Factor(f.var, f.const, sgn=True),))])


def _namespace() -> dict[str, Any]:
    ns: dict[str, Any] = {name: Rule.symbol(name) for name in SYMBOLS}
    ns.update({f"u{k}": u(k) for k in range(10)})
    ns.update({"u": u, "sgn": sgn})
    return ns


def parse_rule(text: str) -> Rule:
    """A rule from its text (``str(rule)``, or what a user writes in a YAML config: ``2**-4 * x0 * y1``).

    The text is evaluated as a Python expression over the rule's symbols only (no builtins, no names but the
    symbols, ``u``, ``sgn``); ``^`` is read as a power, as in Lava's rule strings.
    """
    import ast

    source = text.replace("^", "**")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise RuleSyntaxError(f"learning rule {text!r} is not an expression: {exc.msg}") from None
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.Call, ast.Add, ast.Sub,
               ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise RuleSyntaxError(f"learning rule {text!r}: {type(node).__name__} is not allowed in a rule")
        if isinstance(node, ast.Name) and node.id not in _namespace():
            raise RuleSyntaxError(f"learning rule {text!r}: unknown symbol {node.id!r} "
                                  f"(symbols: {', '.join(SYMBOLS)}, u0..u9, sgn)")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise RuleSyntaxError(f"learning rule {text!r}: only numbers are allowed as constants")
        if isinstance(node, ast.Constant) and abs(node.value) > 1 << 16:
            raise RuleSyntaxError(f"learning rule {text!r}: the number {node.value} is far outside any scale or "
                                  "constant of the learning engine")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in ("u", "sgn")):
            raise RuleSyntaxError(f"learning rule {text!r}: only u(K) and sgn(...) can be called")
    value = eval(compile(tree, "<rule>", "eval"), {"__builtins__": {}}, _namespace())
    if isinstance(value, numbers.Real):
        if value != 0:
            raise RuleSyntaxError(f"learning rule {text!r} is a constant; a rule is a sum of products of symbols")
        return Rule()
    return value


def scale_parts(scale: float, mant_min: int = -8, mant_max: int = 7, exp_min: int = -7,
                exp_max: int = 8) -> tuple[int, int] | None:
    """(m, e) with m · 2^e == ``scale`` exactly, m in [mant_min, mant_max] and e in [exp_min, exp_max]; None if
    there is none. (The learning engine's product scale: Lava's 4-bit signed mantissa, ``product_series``.)"""
    if scale == 0:
        return 0, 0
    for e in range(exp_min, exp_max + 1):
        m = scale / 2.0 ** e
        if float(m).is_integer() and mant_min <= m <= mant_max:
            return int(m), e
    return None


def nearest_scale(scale: float, mant_min: int = -8, mant_max: int = 7, exp_min: int = -7, exp_max: int = 8) -> float:
    """The non-zero representable scale m · 2^e nearest to ``scale`` (for messages that suggest a fix)."""
    sign = 1 if scale >= 0 else -1
    cands = [max(mant_min, min(mant_max, round(scale / 2.0 ** e))) * 2.0 ** e for e in range(exp_min, exp_max + 1)]
    cands = [c for c in cands if c != 0] or [sign * 2.0 ** exp_min]
    return min([*cands, sign * 2.0 ** exp_min], key=lambda c: abs(c - scale))
