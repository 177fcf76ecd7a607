"""The built-in learning rules, each a ``Plasticity`` written in the expression language.

Error signals are unsigned on the chip (a trace is 0..127), so a signed error e reaches a synapse as two
non-negative parts delivered by its postsynaptic neuron: y2 = max(e, 0) ("fire more") and y3 = max(−e, 0)
("fire less"); y1 is the neuron's own spike trace. Learning rates are powers of two (times −8..7), the
scales the learning engine multiplies by.

=================  ========================================================================================
``fa``             feedback alignment, three-factor: Δw = η · y0 · x1 · (y2 − y3). The error comes through
                   the fixed random feedback synapses B into the neuron's third-factor input; the product
                   runs only for a postsynaptic neuron that spiked in the epoch (y0: the gate f′(h) > 0 of a
                   ReLU unit) and takes the presynaptic trace x1 at that time.
``dfa``            direct feedback alignment: the same synaptic rule; B runs from the output error
                   straight to every hidden layer (a wiring, not a rule, difference).
``delta``          the delta rule at the output layer: Δw = η · x1 · (y2 − y3) every epoch, y2 − y3 the
                   output's error (target minus output), no gate.
``stdp``           pair STDP: Δw = a⁺ · y0 · x1 − a⁻ · x0 · y1 (potentiate a presynaptic spike followed by
                   a postsynaptic one, depress the reverse); two-factor, the synapse keeps y1.
``rstdp``          reward-modulated STDP: the tag t is the STDP eligibility, Δt = a⁺·y0·x1 − a⁻·x0·y1 −
                   2^−k·t (decaying by 2^−k per epoch), and Δw = η · t · (y2 − y3), y2 − y3 the reward.
=================  ========================================================================================
"""

from __future__ import annotations

from collections.abc import Callable

from toolkit.learning.expr import Rule, u
from toolkit.learning.rule import Plasticity, Trace

__all__ = ["BUILTIN", "delta", "dfa", "fa", "rstdp", "stdp"]

_x0, _x1, _y0, _y1 = Rule.symbol("x0"), Rule.symbol("x1"), Rule.symbol("y0"), Rule.symbol("y1")
_y2, _y3, _t = Rule.symbol("y2"), Rule.symbol("y3"), Rule.symbol("t")


def fa(lr: float = 2.0 ** -2, *, x_impulse: float = 16, x_tau: float = 8, t_epoch: int = 1) -> Plasticity:
    """Feedback alignment (three factors: presynaptic trace, postsynaptic spike, error through B)."""
    return Plasticity(name="fa", dw=lr * _y0 * _x1 * (_y2 - _y3), traces={"x1": Trace(x_impulse, x_tau)},
                      t_epoch=t_epoch, third_factor=True)


def dfa(lr: float = 2.0 ** -2, *, x_impulse: float = 16, x_tau: float = 8, t_epoch: int = 1) -> Plasticity:
    """Direct feedback alignment: ``fa``'s synaptic rule (B from the output error to every layer)."""
    rule = fa(lr, x_impulse=x_impulse, x_tau=x_tau, t_epoch=t_epoch)
    return Plasticity(name="dfa", dw=rule.dw, traces=rule.traces, t_epoch=t_epoch, third_factor=True)


def delta(lr: float = 2.0 ** -4, *, x_impulse: float = 16, x_tau: float = 8, t_epoch: int = 1) -> Plasticity:
    """The delta rule at the output: presynaptic trace times the output error, every epoch."""
    return Plasticity(name="delta", dw=lr * u(0) * _x1 * (_y2 - _y3), traces={"x1": Trace(x_impulse, x_tau)},
                      t_epoch=t_epoch, third_factor=True)


def stdp(a_plus: float = 2.0 ** -2, a_minus: float = 2.0 ** -2, *, impulse: float = 16, tau: float = 8,
         t_epoch: int = 1) -> Plasticity:
    """Pair STDP with exponential pre and post traces."""
    return Plasticity(name="stdp", dw=a_plus * _y0 * _x1 - a_minus * _x0 * _y1,
                      traces={"x1": Trace(impulse, tau), "y1": Trace(impulse, tau)}, t_epoch=t_epoch)


def rstdp(lr: float = 2.0 ** -3, a_plus: float = 1.0, a_minus: float = 1.0, *, tag_decay_exp: int = 2,
          impulse: float = 16, tau: float = 8, t_epoch: int = 1) -> Plasticity:
    """Reward-modulated STDP: an STDP eligibility in the tag, turned into a weight change by the reward."""
    return Plasticity(name="rstdp",
                      dt=a_plus * _y0 * _x1 - a_minus * _x0 * _y1 - 2.0 ** -tag_decay_exp * u(0) * _t,
                      dw=lr * u(0) * _t * (_y2 - _y3), traces={"x1": Trace(impulse, tau)}, t_epoch=t_epoch,
                      third_factor=True)


#: name -> factory of the rule with its default parameters
BUILTIN: dict[str, Callable[..., Plasticity]] = {"fa": fa, "dfa": dfa, "delta": delta, "stdp": stdp, "rstdp": rstdp}
