"""The learning engine's fixed-point arithmetic, step by step, bit for bit as Lava 0.10 models it.

Lava's ``fixed_pt`` learning model (``LearningConnectionModelBitApproximate`` with
``LearningRuleApplierBitApprox``, ``lava/magma/core/model/py/connection.py``,
``lava/magma/core/learning/learning_rule_applier.py``) rounds stochastically, but from seeded NumPy
generators with one random number per step (or per epoch) shared by every synapse
(``lava/magma/core/learning/random.py``): traces draw from ``default_rng(seed)`` (x decay),
``seed + 1`` (x impulse), ``seed + 2`` (y decay), ``seed + 3`` (y impulse), each advanced twice per step;
the synaptic-variable rounding draws from ``default_rng(2)``, advanced once per epoch. This module
reproduces those streams, so the same spike trains and the same ``rng_seed`` give the same integers
(``tests/test_learning.py`` compares every weight, tag and delay after every step with Lava).

Per step (1-based τ): a presynaptic neuron that already spiked in this epoch adds its impulse to x1 and
x2 (integer part, plus one if 0 < the 8-bit fraction), and every spike records the within-epoch time;
then the trace randoms advance; postsynaptic spikes likewise (their extra impulse rounded with the y
impulse random); a third-factor rule then takes y1..y3 as delivered; the trace randoms advance again.
At the end of an epoch the synaptic random advances; traces are decayed step by step through the epoch,
z ← ⌊e^(−1/τ)·z⌋ + (r_decay < frac), and get their impulse at the spike time, ⌊z + int⌋ + (r_impulse <
frac), clipped to 0..127. Each product is (m · Π clip(factor, ±2^width)) >> max(0, Σ widths + 4 − 15),
then << (e + 7), saturated to ±2^15 (−2^15 − 1 below), and added to the variable << 7 (saturated
likewise); the sum is rounded to a multiple of 2^7 stochastically (r_syn < fraction), shifted back and
clipped to the variable's range (weights −256..255, tag −257..255, delay 0..255). Initial weights lose
their least significant bit (Lava's mixed-sign truncation).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from toolkit.learning.engine import TRACE_ROW, factor_value, spike_trains
from toolkit.learning.expr import Product, Rule, scale_parts
from toolkit.learning.rule import Plasticity

__all__ = ["RANGES", "WIDTH", "FixedLearner", "FixedSynapse", "LavaRandoms", "engine_scale",
           "run_plastic_synapse_fixed", "split_impulse", "synapse_seed"]


def synapse_seed(seed: int, synapse: str) -> int:
    """The seed of plastic synapse ``synapse``'s stochastic rounding in a run seeded ``seed`` (Lava's lowering and the
    reference's stream engine): (seed + CRC-32 of the name) mod (2^31 − 4) (Lava draws from it and the next three)."""
    return (seed + zlib.crc32(synapse.encode())) % ((1 << 31) - 4)

_TRACE_MAX = 127          # W_TRACE = 7 bits, unsigned
_FRAC_BITS = 8            # W_TRACE_FRACTIONAL_PART
_ACC = 15                 # W_ACCUMULATOR_U
_SYN_SHIFT = 7            # W_ACCUMULATOR_S - W_SYN_VAR_S (16 - 9) for w, t and d
#: factor widths (Lava's ``FACTOR_TO_WIDTH_DICT``) and synaptic-variable ranges of Lava's fixed-point model
WIDTH = {"x0": 1, "y0": 1, "x1": 7, "x2": 7, "y1": 7, "y2": 7, "y3": 7, "w": 9, "d": 9, "t": 9}
_THIRD_FACTOR_TAU = 65535.0
RANGES = {"w": (-256, 255), "t": (-257, 255), "d": (0, 255)}


def engine_scale(scale: float) -> tuple[int, int]:
    """The (mantissa, exponent) the learning engine uses for a product's scale: the smallest exponent with an
    integer mantissa in −8..7, then, as Lava's parser does, an even mantissa beyond ±7 halved into the exponent.
    (The split matters in fixed point: the mantissa multiplies before the product's right shift.)"""
    parts = scale_parts(scale)
    if parts is None:
        raise ValueError(f"scale {scale} is not m * 2^e with m in -8..7 and e in -7..8")
    m, e = parts
    while abs(m) > 7 and m % 2 == 0 and e < 8:
        m, e = m // 2, e + 1
    return m, e


class LavaRandoms:
    """Lava's random streams of one learning connection (``TraceRandom`` x2, ``ConnVarRandom``): one draw at a
    time (``advance_*``), or a block of them for the compiled stream engine (``*_block``; a block of k draws
    equals k single draws of NumPy's generators)."""

    def __init__(self, seed: int) -> None:
        self._gens = [np.random.default_rng(seed + k) for k in range(4)]     # x decay, x impulse, y decay, y impulse
        self._syn = np.random.default_rng(2)
        self.x_decay = self.x_impulse = self.y_decay = self.y_impulse = 0.0
        self._draw_traces()
        self.syn = float(self._syn.random(1)[0])

    def _draw_traces(self) -> None:
        xd, xi, yd, yi = self._gens
        self.x_decay = float(xd.random(1)[0])
        self.x_impulse = int(xi.integers(0, 1 << 7, size=1, dtype=int)[0])
        self.y_decay = float(yd.random(1)[0])
        self.y_impulse = int(yi.integers(0, 1 << 7, size=1, dtype=int)[0])

    def advance_traces(self) -> None:
        self._draw_traces()

    def advance_synaptic(self) -> None:
        self.syn = float(self._syn.random(1)[0])

    def trace_block(self, advances: int) -> np.ndarray:
        """(advances, 4) float64: the next ``advances`` trace draws (x decay, x impulse, y decay, y impulse)."""
        xd, xi, yd, yi = self._gens
        return np.stack([xd.random(advances), xi.integers(0, 1 << 7, size=advances, dtype=int),
                         yd.random(advances), yi.integers(0, 1 << 7, size=advances, dtype=int)], axis=1)

    def synaptic_block(self, epochs: int) -> np.ndarray:
        """The next ``epochs`` synaptic rounding draws."""
        return self._syn.random(epochs) if epochs > 0 else np.zeros(0)


def split_impulse(v: float) -> tuple[int, int]:
    """A trace impulse as the engine holds it: (integer part, fraction in 1/256)."""
    whole = int(np.floor(v))
    return whole, int(np.round((v - whole) * (1 << _FRAC_BITS)))


def _add_impulse(z: np.ndarray, random: float, whole: np.ndarray, frac: np.ndarray) -> np.ndarray:
    out = z + whole
    out = (out + (random < frac).astype(int)).astype(int)
    return np.clip(out, 0, _TRACE_MAX)


def _decay(z: np.ndarray, taus: np.ndarray, random: float) -> np.ndarray:
    v = np.exp(-1.0 / taus) * z
    return (np.floor(v) + (random < v % 1).astype(int)).astype(int)


@dataclass
class FixedSynapse:
    """A plastic synapse's integer state in the learning engine: weights (post, pre), tag, delay, traces."""

    w: np.ndarray
    t: np.ndarray
    d: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @classmethod
    def start(cls, w: np.ndarray, t: np.ndarray | None = None, d: np.ndarray | None = None) -> FixedSynapse:
        """Integer weights as Lava's mixed-sign model keeps them: the least significant bit dropped."""
        wi = (np.asarray(w).astype(np.int32) >> 1) << 1
        n_post, n_pre = wi.shape
        return cls(w=wi.astype(np.int64), t=np.zeros_like(wi, np.int64) if t is None else np.asarray(t, np.int64),
                   d=np.zeros_like(wi, np.int64) if d is None else np.asarray(d, np.int64),
                   x=np.zeros((2, n_pre), np.int64), y=np.zeros((3, n_post), np.int64))


def _traces(rule: Plasticity) -> tuple[np.ndarray, ...]:
    x_imp = [split_impulse(rule.trace(n).impulse) for n in ("x1", "x2")]
    x_tau = np.array([rule.trace(n).tau for n in ("x1", "x2")], float)
    if rule.third_factor:
        y_imp, y_tau = [(0, 0)] * 3, np.full(3, _THIRD_FACTOR_TAU)
    else:
        y_imp = [split_impulse(rule.trace(n).impulse) for n in ("y1", "y2", "y3")]
        y_tau = np.array([rule.trace(n).tau for n in ("y1", "y2", "y3")], float)
    return (np.array([i for i, _ in x_imp]), np.array([f for _, f in x_imp]), x_tau,
            np.array([i for i, _ in y_imp]), np.array([f for _, f in y_imp]), y_tau)


def _history(start: np.ndarray, taus: np.ndarray, whole: np.ndarray, frac: np.ndarray, t_spike: np.ndarray,
             steps: int, r_decay: float, r_impulse: float) -> np.ndarray:
    hist = np.zeros((steps + 1, *start.shape), np.int64)
    hist[0] = start
    live = taus != 0
    for s in range(1, steps + 1):
        if live.any():
            hist[s][live] = _decay(hist[s - 1][live], taus[live][:, None], r_decay)
        ids = np.where(t_spike == s)[0]
        if ids.size:
            hist[s][:, ids] = _add_impulse(hist[s][:, ids], r_impulse, whole[:, None], frac[:, None])
    return hist


def _product(p: Product, deps: dict[str, np.ndarray | int], xh: np.ndarray, yh: np.ndarray, tx: np.ndarray,
             ty: np.ndarray, syn: dict[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    m, e = engine_scale(p.scale)
    cur = np.ones(shape, np.int32) * np.asarray(deps[p.dependency]).astype(np.int32)
    width = 0
    spikes = {"x0": np.asarray(deps["x0"]).astype(np.int64), "y0": np.asarray(deps["y0"]).astype(np.int64)}
    for f in p.factors:
        w = WIDTH[f.var]
        width += w
        val = np.clip(factor_value(f, p.dependency, xh, yh, tx, ty, syn, spikes), -(1 << w), (1 << w) - 1)
        cur = cur * val.astype(np.int32)
    width += 4
    cur = cur * m
    cur = np.right_shift(cur, max(0, width - _ACC))
    cur = np.left_shift(cur, e + 7)
    return np.clip(cur, -(1 << _ACC) - 1, (1 << _ACC) - 1)


def _support(products: tuple[Product, ...], u: int, xh: np.ndarray, yh: np.ndarray, tx: np.ndarray,
             ty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (post) and columns (pre) outside which every product is zero in this epoch: a product needs its
    dependency (a pre or post spike in the epoch, or u = 1) and each trace factor without a constant non-zero at
    some step of the epoch. Outside the rectangle the update adds nothing, and the shared stochastic rounding of an
    unchanged register is exact, so the engine computes only inside it (the result is the same integers)."""
    rows, cols = np.zeros(yh.shape[2], bool), np.zeros(xh.shape[2], bool)
    for p in products:
        if p.dependency == "u" and not u:
            continue
        r = ty > 0 if p.dependency == "y0" else np.ones(yh.shape[2], bool)
        c = tx > 0 if p.dependency == "x0" else np.ones(xh.shape[2], bool)
        for f in p.factors:
            if f.const or f.var not in TRACE_ROW:
                continue
            if f.var.startswith("x"):
                c = c & (xh[:, TRACE_ROW[f.var]] != 0).any(axis=0)
            else:
                r = r & (yh[:, TRACE_ROW[f.var]] != 0).any(axis=0)
        if r.any() and c.any():
            rows |= r
            cols |= c
    return rows, cols


def _update(var: str, r: Rule, syn: dict[str, np.ndarray], deps: dict[str, np.ndarray | int], xh: np.ndarray,
            yh: np.ndarray, tx: np.ndarray, ty: np.ndarray, rnd: LavaRandoms) -> np.ndarray:
    """One synaptic variable after the epoch's rule ``r`` (computed inside ``_support``'s rectangle)."""
    rows, cols = _support(r.products, int(deps["u"]), xh, yh, tx, ty)
    lo, hi = RANGES[var]
    if var == "t":   # a tag at −257 is moved by the accumulator's saturation even without an update
        rows, cols = rows | (syn["t"] == lo).any(axis=1), cols | (syn["t"] == lo).any(axis=0)
    out = syn[var].copy()
    if not rows.any() or not cols.any():
        return out
    ri, ci = np.where(rows)[0], np.where(cols)[0]
    sub = {k: v[np.ix_(ri, ci)] for k, v in syn.items()}
    sdeps = {"x0": np.asarray(deps["x0"])[:, ci], "y0": np.asarray(deps["y0"])[ri], "u": deps["u"]}
    sxh, syh = xh[:, :, ci], yh[:, :, ri]
    acc = sub[var] << _SYN_SHIFT
    for p in r.products:
        acc = np.clip(acc + _product(p, sdeps, sxh, syh, tx[ci], ty[ri], sub, acc.shape),
                      -(1 << _ACC) - 1, (1 << _ACC) - 1)
    if var == "d":
        acc = np.maximum(0, acc)
    q = acc / (1 << _SYN_SHIFT)
    acc = ((np.floor(q) + (rnd.syn < q % 1).astype(int)) * (1 << _SYN_SHIFT)).astype(np.int64)
    out[np.ix_(ri, ci)] = np.clip(acc >> _SYN_SHIFT, lo, hi)
    return out


def _epoch(rule: Plasticity, st: FixedSynapse, tx: np.ndarray, ty: np.ndarray, step: int, rnd: LavaRandoms,
           traces: tuple[np.ndarray, ...]) -> None:
    rnd.advance_synaptic()
    xw, xf, xt, yw, yf, yt = traces
    xh = _history(st.x, xt, xw, xf, tx, rule.t_epoch, rnd.x_decay, rnd.x_impulse)
    yh = _history(st.y, yt, yw, yf, ty, rule.t_epoch, rnd.y_decay, rnd.y_impulse)
    k = rule.decimate
    u = 1 if k is not None and int(step / rule.t_epoch) % (1 << k) == 0 else 0
    deps: dict[str, np.ndarray | int] = {"x0": (tx > 0)[None, :], "y0": (ty > 0)[:, None], "u": u}
    syn = {"w": st.w, "t": st.t, "d": st.d}
    new = {}
    for target, var in (("dw", "w"), ("dd", "d"), ("dt", "t")):
        r = getattr(rule, target)
        if r:
            new[var] = _update(var, r, syn, deps, xh, yh, tx, ty, rnd)
    st.x = xh[-1]
    if not rule.third_factor:
        st.y = yh[-1]
    st.w, st.t, st.d = new.get("w", st.w), new.get("t", st.t), new.get("d", st.d)


class FixedLearner:
    """One plastic synapse in the learning engine, advanced one chip step at a time (steps start at 1, as Lava's
    and its random streams do): ``step`` takes the step's pre spikes (n_pre,), post spikes (n_post,) and, for a
    third-factor rule, the delivered y1..y3 (3, n_post), and at the end of a learning epoch updates ``state``."""

    def __init__(self, rule: Plasticity, state: FixedSynapse, *, rng_seed: int) -> None:
        self.rule, self.state = rule, state
        self._traces = _traces(rule)
        self._rnd = LavaRandoms(rng_seed)
        self.tx = np.zeros(state.x.shape[1], np.int64)
        self.ty = np.zeros(state.y.shape[1], np.int64)
        self.steps = 0

    def step(self, pre: np.ndarray, post: np.ndarray, y_in: np.ndarray | None = None) -> bool:
        """Advance one step; True if a learning epoch ended (the synaptic variables were updated)."""
        rule, st, rnd = self.rule, self.state, self._rnd
        xw, xf, _, yw, yf, _ = self._traces
        self.steps += 1
        step = self.steps
        within = step % rule.t_epoch or rule.t_epoch
        tx, ty = self.tx, self.ty
        multi = (tx > 0) & pre
        if multi.any():
            st.x[:, multi] = _add_impulse(st.x[:, multi], 0, xw[:, None], xf[:, None])
        tx[pre] = within
        rnd.advance_traces()
        multi_y = (ty > 0) & post
        if multi_y.any():
            st.y[:, multi_y] = _add_impulse(st.y[:, multi_y], rnd.y_impulse, yw[:, None], yf[:, None])
        ty[post] = within
        if rule.third_factor:
            assert y_in is not None
            st.y = np.asarray(y_in).astype(np.int64).reshape(3, -1)
        rnd.advance_traces()
        if step % rule.t_epoch:
            return False
        _epoch(rule, st, tx, ty, step, rnd, self._traces)
        tx[:], ty[:] = 0, 0
        return True


def run_plastic_synapse_fixed(rule: Plasticity, state: FixedSynapse, pre: np.ndarray, post: np.ndarray,
                              y_in: np.ndarray | None = None, *, rng_seed: int,
                              record: bool = False) -> list[dict[str, np.ndarray]]:
    """Advance ``state`` through ``pre`` (T, n_pre) and ``post`` (T, n_post) spikes (row τ − 1 is step τ) and, for a
    third-factor rule, ``y_in`` (T, 3, n_post) integers delivered by the postsynaptic neuron, with Lava's
    random streams of ``rng_seed`` (see the module doc). Returns w, t, d and the traces x (x1, x2) and y (y1..y3)
    after every step if ``record``."""
    pre, post = spike_trains(rule, pre, post, y_in)
    learner = FixedLearner(rule, state, rng_seed=rng_seed)
    out = []
    for i in range(pre.shape[0]):
        learner.step(pre[i], post[i], None if y_in is None else y_in[i])
        if record:
            out.append({"w": state.w.copy(), "t": state.t.copy(), "d": state.d.copy(), "x": state.x.copy(),
                        "y": state.y.copy()})
    return out
