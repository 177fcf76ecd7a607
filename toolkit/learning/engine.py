"""The NumPy definition of a plastic synapse: what a ``Plasticity`` rule does to a weight matrix, step by step.

This is the float semantics of Loihi's learning engine as Lava 0.10 models it
(``lava.magma.core.model.py.connection.LearningConnectionModelFloat``), written out so it can be read and
tested; ``tests/test_learning.py`` runs the same spike trains through it and through the rendered rule in
Lava's ``floating_pt`` ``LearningDense`` and finds the same weights. Per step τ (1-based):

1. Presynaptic spikes: a neuron that already spiked in this epoch adds its impulse to x1 and x2 at once;
   its within-epoch spike time t_x becomes τ's place in the epoch (1..t_epoch). Postsynaptic spikes the
   same with y1..y3 and t_y (two-factor rules). A third-factor rule then takes y1..y3 as delivered by the
   postsynaptic neuron this step.
2. At the end of an epoch (τ a multiple of ``t_epoch``): x0 = (t_x > 0), y0 = (t_y > 0); each trace is
   decayed step by step through the epoch from its value at the epoch's start, z ← z · exp(−1/τ_z), and
   jumps by its impulse at the neuron's (last) spike time in the epoch. A product with dependency x0 reads
   the traces at t_x of its presynaptic neuron (postsynaptic traces: the history at that time), one with
   y0 at t_y, one with uK at the epoch's end (and only every 2^K epochs). Every rule reads w, t and d as
   they were before the epoch's updates; w ← w + Σ products, t likewise, d ← max(0, d + Σ). The traces
   continue from their end-of-epoch values.

A third-factor rule's y traces are not decayed by the synapse; Lava models that with a decay time of
65535 steps (``Loihi3FLearningRule``), which this definition follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from toolkit.errors import DataError
from toolkit.learning.expr import Factor, Product, Rule
from toolkit.learning.rule import Plasticity

__all__ = ["THIRD_FACTOR_TAU", "SynapseState", "factor_value", "run_plastic_synapse", "spike_trains"]

#: decay time Lava gives y1..y3 of a third-factor rule (``np.iinfo(np.uint16).max``)
THIRD_FACTOR_TAU = 65535.0


@dataclass
class SynapseState:
    """A plastic synapse's variables: weights (post, pre), tag ``t`` and delay ``d``, and the traces."""

    w: np.ndarray
    t: np.ndarray
    d: np.ndarray
    x: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))    # (2, n_pre): x1, x2
    y: np.ndarray = field(default_factory=lambda: np.zeros((3, 0)))    # (3, n_post): y1, y2, y3

    @classmethod
    def start(cls, w: np.ndarray, t: np.ndarray | None = None, d: np.ndarray | None = None) -> SynapseState:
        w = np.array(w, dtype=np.float64)
        n_post, n_pre = w.shape
        return cls(w=w, t=np.zeros_like(w) if t is None else np.array(t, np.float64),
                   d=np.zeros_like(w) if d is None else np.array(d, np.float64),
                   x=np.zeros((2, n_pre)), y=np.zeros((3, n_post)))


def spike_trains(rule: Plasticity, pre: np.ndarray, post: np.ndarray,
                 y_in: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``pre`` and ``post`` as booleans (T, n), after checking that a third-factor rule is given ``y_in`` and that
    the trains have the same number of steps (both engines)."""
    pre, post = np.asarray(pre) != 0, np.asarray(post) != 0
    if rule.third_factor and y_in is None:
        raise DataError("a third-factor rule needs y_in: the y1..y3 the postsynaptic neuron delivers each step")
    if pre.ndim != 2 or post.ndim != 2 or pre.shape[0] != post.shape[0]:
        raise DataError(f"pre and post spike trains must be (steps, neurons) with the same steps; got {pre.shape} "
                        f"and {post.shape}")
    return pre, post


def _impulses_taus(rule: Plasticity) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xi = np.array([rule.trace("x1").impulse, rule.trace("x2").impulse])
    xt = np.array([rule.trace("x1").tau, rule.trace("x2").tau])
    if rule.third_factor:
        yi, yt = np.zeros(3), np.full(3, THIRD_FACTOR_TAU)
    else:
        yi = np.array([rule.trace(n).impulse for n in ("y1", "y2", "y3")])
        yt = np.array([rule.trace(n).tau for n in ("y1", "y2", "y3")])
    return xi, xt, yi, yt


def _history(start: np.ndarray, taus: np.ndarray, impulses: np.ndarray, t_spike: np.ndarray, steps: int) -> np.ndarray:
    """(steps + 1, k, n): the traces through an epoch from ``start`` (k, n); a trace with τ = 0 stays 0."""
    hist = np.zeros((steps + 1, *start.shape))
    hist[0] = start
    decay = np.where(taus > 0, np.exp(-1.0 / np.where(taus > 0, taus, 1.0)), 0.0)[:, None]
    for s in range(1, steps + 1):
        hist[s] = hist[s - 1] * decay
        hist[s][:, t_spike == s] += impulses[:, None]
    return hist


TRACE_ROW = {"x1": 0, "x2": 1, "y1": 0, "y2": 1, "y3": 2}


def factor_value(f: Factor, dep: str, xh: np.ndarray, yh: np.ndarray, tx: np.ndarray, ty: np.ndarray,
                 syn: Mapping[str, np.ndarray], spikes: Mapping[str, np.ndarray]) -> np.ndarray:
    """A factor's value, broadcastable to (post, pre), for a product of dependency ``dep`` (both engines): a
    synaptic variable (or its sign) plus the constant, a spike, or a trace from the epoch's history ``xh``/``yh``
    at the presynaptic (x0) or postsynaptic (y0) neuron's spike time, or at the epoch's end (uK)."""
    if f.var in ("w", "t", "d"):
        v = syn[f.var] + f.const
        return np.sign(v) if f.sgn else v
    if f.var in ("x0", "y0"):
        return spikes[f.var] + f.const
    row = TRACE_ROW[f.var]
    if f.var.startswith("x"):
        if dep == "x0":
            v = xh[tx, row, np.arange(xh.shape[2])][None, :]
        elif dep == "y0":
            v = xh[ty, row, :]                                    # (post, pre): x at each post's spike time
        else:
            v = xh[-1, row][None, :]
    else:
        if dep == "x0":
            v = yh[tx, row, :].T                                  # (post, pre): y at each pre's spike time
        elif dep == "y0":
            v = yh[ty, row, np.arange(yh.shape[2])][:, None]
        else:
            v = yh[-1, row][:, None]
    return v + f.const


def _apply(rule: Rule, dep_values: Mapping[str, np.ndarray | float], xh: np.ndarray, yh: np.ndarray,
           tx: np.ndarray, ty: np.ndarray, syn: Mapping[str, np.ndarray]) -> np.ndarray:
    total = np.zeros_like(syn["w"])
    spikes = {"x0": np.asarray(dep_values["x0"]), "y0": np.asarray(dep_values["y0"])}
    for p in rule.products:
        term: np.ndarray | float = p.scale * dep_values[p.dependency]
        for f in p.factors:
            term = term * factor_value(f, p.dependency, xh, yh, tx, ty, syn, spikes)
        total = total + term
    return total


def _epoch(rule: Plasticity, st: SynapseState, tx: np.ndarray, ty: np.ndarray, epoch_index: int) -> None:
    xi, xt, yi, yt = _impulses_taus(rule)
    xh = _history(st.x, xt, xi, tx, rule.t_epoch)
    yh = _history(st.y, yt, yi, ty, rule.t_epoch)
    k = rule.decimate
    u = 1.0 if k is not None and epoch_index % (1 << k) == 0 else 0.0
    deps: dict[str, np.ndarray | float] = {"x0": (tx > 0).astype(np.float64)[None, :],
                                           "y0": (ty > 0).astype(np.float64)[:, None], "u": u}
    syn = {"w": st.w, "t": st.t, "d": st.d}
    new = {}
    for target, var in (("dw", "w"), ("dt", "t"), ("dd", "d")):
        r = getattr(rule, target)
        if r:
            new[var] = syn[var] + _apply(r, deps, xh, yh, tx, ty, syn)
    st.x = xh[-1]
    if not rule.third_factor:
        st.y = yh[-1]
    st.w = new.get("w", st.w)
    st.t = new.get("t", st.t)
    st.d = np.maximum(0.0, new["d"]) if "d" in new else st.d


def run_plastic_synapse(rule: Plasticity, state: SynapseState, pre: np.ndarray, post: np.ndarray,
                        y_in: np.ndarray | None = None, *, first_step: int = 1,
                        record: bool = False) -> list[np.ndarray]:
    """Advance ``state`` through the spike trains ``pre`` (T, n_pre) and ``post`` (T, n_post) (row τ − 1 is step
    τ), and for a third-factor rule ``y_in`` (T, 3, n_post), the y1..y3 the postsynaptic neuron delivers.

    ``first_step`` is the global step number of row 0 (epochs end where it is a multiple of ``t_epoch``).
    Returns the weights after every step if ``record`` (else an empty list); ``state`` is updated in place.
    """
    pre, post = spike_trains(rule, pre, post, y_in)
    xi, _, yi, _ = _impulses_taus(rule)
    n_pre, n_post = pre.shape[1], post.shape[1]
    tx, ty = np.zeros(n_pre, np.int64), np.zeros(n_post, np.int64)
    out = []
    for i in range(pre.shape[0]):
        step = first_step + i
        within = step % rule.t_epoch or rule.t_epoch
        multi = (tx > 0) & pre[i]
        state.x[:, multi] += xi[:, None]
        tx[pre[i]] = within
        multi_y = (ty > 0) & post[i]
        state.y[:, multi_y] += yi[:, None]
        ty[post[i]] = within
        if rule.third_factor:
            assert y_in is not None
            state.y = np.array(y_in[i], dtype=np.float64).reshape(3, n_post)
        if step % rule.t_epoch == 0:
            _epoch(rule, state, tx, ty, step // rule.t_epoch)
            tx[:], ty[:] = 0, 0
        if record:
            out.append(state.w.copy())
    return out


def products_of(rule: Plasticity) -> dict[str, tuple[Product, ...]]:
    """Every target's products (for reports)."""
    return {k: r.products for k, r in rule.rules().items()}
