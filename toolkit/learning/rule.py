"""``Plasticity``: one local learning rule of a synapse, written once, in Python.

A plasticity rule is what a plastic synapse carries: the sum-of-products updates of its weight ``w``, tag
``t`` and delay variable ``d`` (``toolkit.learning.expr``), the impulse and decay of each trace it uses,
and the learning epoch. From this one definition come a NumPy update anyone can read and test
(``toolkit.learning.engine``), the Lava rule (``compilers.lava.learning``, the one module that writes Lava's
rule strings), and the reference simulator's learning engine.

Two kinds, as on Loihi 2 (Lava's ``Loihi2FLearningRule`` and ``Loihi3FLearningRule``):

* ``third_factor=False``: the synapse keeps the postsynaptic traces ``y1..y3`` itself, each with an impulse
  at every postsynaptic spike and a decay, like the presynaptic traces;
* ``third_factor=True``: the postsynaptic neuron delivers ``y1``, ``y2`` and ``y3`` to its synapses every step
  (its own spike trace in ``y1``, and a third factor such as an error or a reward in ``y2`` and ``y3``); the
  rule sets no impulse or decay for them.

Trace decay: a trace z decays as z ← z · exp(−1/τ) each step and jumps by its impulse at each spike
(Lava's definition; on the chip traces are 7-bit unsigned integers with stochastic rounding). τ must be
positive for every trace a rule reads (Lava leaves a trace with τ = 0 at NaN or 0).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.learning.expr import Rule, RuleSyntaxError, parse_rule

__all__ = ["TRACE_NAMES", "Plasticity", "Trace"]

TRACE_NAMES = ("x1", "x2", "y1", "y2", "y3")


@dataclass(frozen=True, slots=True)
class Trace:
    """A trace's jump at each spike (``impulse``) and its decay time constant in steps (``tau``)."""

    impulse: float = 0.0
    tau: float = 0.0


def _rule(v: Rule | str | None) -> Rule:
    if v is None:
        return Rule()
    if isinstance(v, str):
        return parse_rule(v)
    if isinstance(v, Rule):
        return v
    raise RuleSyntaxError(f"a rule is an expression of the learning symbols or its text, got {type(v).__name__}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Plasticity:
    """A plastic synapse's learning rule (see the module doc). ``name`` names it in reports."""

    dw: Rule = dataclasses.field(default_factory=Rule)
    dt: Rule = dataclasses.field(default_factory=Rule)
    dd: Rule = dataclasses.field(default_factory=Rule)
    traces: Mapping[str, Trace] = dataclasses.field(default_factory=dict)
    t_epoch: int = 1
    third_factor: bool = False
    name: str = "custom"

    def __post_init__(self) -> None:
        for target in ("dw", "dt", "dd"):
            object.__setattr__(self, target, _rule(getattr(self, target)))
        traces: dict[str, Trace] = {}
        given: Mapping[str, Any] = self.traces
        for k, v in given.items():
            if k not in TRACE_NAMES:
                raise RuleSyntaxError(f"unknown trace {k!r} (traces: {', '.join(TRACE_NAMES)})")
            traces[k] = v if isinstance(v, Trace) else Trace(**v)
        object.__setattr__(self, "traces", dict(traces))
        if not (self.dw or self.dt or self.dd):
            raise RuleSyntaxError("a plasticity rule needs at least one of dw, dt, dd")
        if not isinstance(self.t_epoch, int) or self.t_epoch < 1:
            raise RuleSyntaxError(f"t_epoch must be an integer >= 1, got {self.t_epoch!r}")
        ks = {dec for r in self.rules().values() if (dec := r.decimate) is not None}
        if len(ks) > 1:
            raise RuleSyntaxError(f"dw, dt and dd use different uK decimations ({sorted(ks)}); the learning engine "
                                  "takes one K for all of a synapse's rules")
        self._check_traces()

    def _check_traces(self) -> None:
        if self.third_factor:
            given = [y for y in ("y1", "y2", "y3") if y in self.traces]
            if given:
                raise RuleSyntaxError(f"a third-factor rule takes y1..y3 from the postsynaptic neuron; it sets no "
                                      f"impulse or decay for {', '.join(given)}")
        for name in sorted(self.used_traces()):
            tr = self.traces.get(name)
            if self.third_factor and name.startswith("y"):
                continue
            if tr is None or tr.tau <= 0:
                raise RuleSyntaxError(f"the rule reads trace {name} but gives it no decay: set traces['{name}'] with "
                                      "tau > 0 (Lava leaves a trace with tau = 0 at NaN or 0)")
            if tr.impulse < 0:
                raise RuleSyntaxError(f"trace {name}: impulse must be >= 0, got {tr.impulse}")

    def rules(self) -> dict[str, Rule]:
        """The non-empty rules by target (``dw``, ``dt``, ``dd``)."""
        return {k: r for k, r in (("dw", self.dw), ("dt", self.dt), ("dd", self.dd)) if r}

    def used_traces(self) -> set[str]:
        return {s for r in self.rules().values() for s in r.symbols()} & set(TRACE_NAMES)

    def trace(self, name: str) -> Trace:
        return self.traces.get(name, Trace())

    @property
    def decimate(self) -> int | None:
        ks = {r.decimate for r in self.rules().values()} - {None}
        return ks.pop() if ks else None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dw": str(self.dw), "dt": str(self.dt), "dd": str(self.dd),
                "traces": {k: {"impulse": v.impulse, "tau": v.tau} for k, v in sorted(self.traces.items())},
                "t_epoch": self.t_epoch, "third_factor": self.third_factor}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plasticity:
        return cls(name=data.get("name", "custom"), dw=parse_rule(data.get("dw", "0")),
                   dt=parse_rule(data.get("dt", "0")), dd=parse_rule(data.get("dd", "0")),
                   traces={k: Trace(**v) for k, v in data.get("traces", {}).items()},
                   t_epoch=int(data.get("t_epoch", 1)), third_factor=bool(data.get("third_factor", False)))

    def __str__(self) -> str:
        parts = [f"{k} = {r}" for k, r in self.rules().items()]
        return f"{self.name}: " + "; ".join(parts)
