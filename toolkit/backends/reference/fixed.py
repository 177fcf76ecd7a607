"""Loihi's fixed-point neuron arithmetic, written once.

These functions are the only place the reference simulator states how a CUBA LIF neuron updates
(Lava 0.10's ``AbstractPyLifModelFixed.subthr_dynamics`` and ``PyLifModelBitAcc``), and the adaptive-threshold
LIF built on it (``ir.LoihiALIF``, our Lava ``ALIFReset``). They use only
arithmetic operators and NumPy ufuncs, so the same source runs

* on NumPy arrays, for a whole batch at once (the step engine and the node-over-time engine), and
* compiled by numba on single integers inside the event-driven kernel (``_event_kernel``), through
  ``register_jitable``, which leaves them ordinary Python functions when called from Python.

Exactness: u and v are 24-bit registers held in int64 (or, where the caller has proven the bounds
the docstrings give, int32); every intermediate below stays far inside int64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

__all__ = ["IF_INT32_BOUND", "MAX_UV", "TRACE_MAX", "alif_update", "bias_of", "decay", "if_update_int32",
           "learning_trace", "lif_update", "select", "shift", "subthreshold", "third_part", "wrap_current"]

#: the learning engine's 7-bit unsigned traces
TRACE_MAX = 127

F = TypeVar("F", bound=Callable[..., Any])

#: u and v are 24-bit signed registers: |u| ≤ 2^23, |v| ≤ 2^23 − 1
MAX_UV = 1 << 23


def _jitable(fn: F) -> F:
    """``numba.extending.register_jitable`` where numba is installed (callable from compiled code)."""
    try:
        from numba.extending import register_jitable
    except ImportError:  # numba is optional: the event engine is then unavailable, these stay plain functions
        return fn
    out: F = register_jitable(fn)
    return out


def select(cond, a, b):  # numba's overload needs unannotated parameters
    """``np.where(cond, a, b)``; compiled by numba on scalars, ``a if cond else b`` (``np.where`` on scalars
    would allocate a 0-d array per call inside the event kernel's innermost loop)."""
    return np.where(cond, a, b)


def _register_select() -> None:
    try:
        from numba import types
        from numba.extending import overload
    except ImportError:
        return

    @overload(select)
    def _select(cond, a, b):  # pragma: no cover (compiled)
        if isinstance(cond, types.Array):
            return lambda cond, a, b: np.where(cond, a, b)
        return lambda cond, a, b: a if cond else b


_register_select()


@_jitable
def decay(x: Any, keep: int) -> Any:
    """sgn(x)·(|x|·keep >> 12): Lava's decay of a 24-bit state by the factor keep/4096, rounding toward zero.

    ``keep`` = 4096 − decay constant. keep = 4096 (no decay) and keep = 0 (full decay) are returned exactly
    without arithmetic, so ``x`` may then be of any integer type. Otherwise |x| ≤ 2^23 makes |x·keep| ≤ 2^35
    (int64), and the result, ≤ 2^23, fits the int32 Lava casts it to, so that cast changes nothing.
    """
    if keep == 4096:
        return x
    if keep == 0:
        return x * 0
    d = x * keep
    return np.sign(d) * (np.abs(d) >> 12)


@_jitable
def wrap_current(cur: Any) -> Any:
    """Lava's wrap of the current into 24 bits: subtract 2^24 above 2^23, add 2^24 at or below −2^23 (once,
    from the unwrapped value, exactly as its two ``np.where`` calls do)."""
    return select(cur > MAX_UV, cur - 2 * MAX_UV, select(cur <= -MAX_UV, cur + 2 * MAX_UV, cur))


@_jitable
def lif_update(u: Any, v: Any, a: Any, bias: Any, keep_u: int, keep_v: int, vth: int,
               reset_zero: bool) -> tuple[Any, Any, Any]:
    """One step of Loihi's CUBA LIF; returns (u, v, spikes). Works elementwise on arrays or on integers.

        u ← wrap₂₄(decay(u, keep_u) + (a << 6))
        v ← clip(decay(v, keep_v) + u + bias, ±(2^23 − 1))
        s ← v > vth;  v ← 0 (reset_zero) or v − vth where s

    ``keep_u`` = 4096 − (du + 1), ``keep_v`` = 4096 − dv; ``vth`` is the threshold mantissa << 6; ``bias`` is
    bias_mant shifted by bias_exp (``bias_of``). In int32, exact for |a| < 2^17 with keep_u = 0 and keep_v = 4096
    (the integrate-and-fire neuron): a << 6, v + u + bias and every step then stay below 2^31.
    """
    cur, vv = subthreshold(u, v, a, bias, keep_u, keep_v)
    s = vv > vth
    return cur, select(s, vv * 0 if reset_zero else vv - vth, vv), s


@_jitable
def subthreshold(u: Any, v: Any, a: Any, bias: Any, keep_u: int, keep_v: int) -> tuple[Any, Any]:
    """The CUBA LIF's current and voltage before the spike (``lif_update``'s first two lines), shared by every
    neuron built on it (``alif_update``)."""
    cur = wrap_current(decay(u, keep_u) + (a << 6))
    return cur, np.minimum(np.maximum(decay(v, keep_v) + cur + bias, -MAX_UV + 1), MAX_UV - 1)


@_jitable
def alif_update(u: Any, v: Any, r: Any, a: Any, bias: Any, keep_u: int, keep_v: int, keep_r: int, vth: int,
                beta: int, reset_zero: bool) -> tuple[Any, Any, Any, Any]:
    """One step of the adaptive-threshold LIF (``ir.LoihiALIF``); returns (u, v, r, spikes):

        u, v ← as ``lif_update`` before its spike
        θ ← vth + r;  s ← v > θ;  v ← 0 (reset_zero) or v − θ where s
        r ← min(2^23 − 1, (r · keep_r >> 12) + beta · s)

    ``vth`` and ``beta`` are the mantissas << 6, ``keep_r`` = 4096 − dr. r ≥ 0, so the shift floors (toward
    zero); r · keep_r ≤ 2^35 and θ ≤ 2^24 need int64.
    """
    cur, vv = subthreshold(u, v, a, bias, keep_u, keep_v)
    theta = r + vth
    s = vv > theta
    vv = select(s, vv * 0 if reset_zero else vv - theta, vv)
    return cur, vv, np.minimum(((r * keep_r) >> 12) + beta * s, MAX_UV - 1), s


#: |a| below this keeps the integrate-and-fire step inside int32 (``if_update_int32``)
IF_INT32_BOUND = 1 << 17


@_jitable
def if_update_int32(v: Any, a: Any, bias: Any, vth: Any, reset_zero: bool) -> tuple[Any, Any]:
    """``lif_update`` of the integrate-and-fire neuron (keep_u = 0, keep_v = 4096) for |a| < 2^17, in int32, on
    single integers (the event kernel's loop); returns (v, spike as 0/1).

    With u discarded every step, u = a << 6 (|u| < 2^23: the 24-bit wrap never applies), and v + u + bias
    stays below 2^31, so every operation of ``lif_update`` gives the same integer in int32. Each
    ``np.int32(...)`` keeps the compiled arithmetic in 32-bit lanes (numba would widen it to int64), which
    lets LLVM vectorise the event kernel twice as wide. ``tests/test_reference.py`` checks this function
    against ``lif_update`` on random values up to the bound.
    """
    cur = np.int32(np.int32(a) << np.int32(6))
    vv = np.int32(np.int32(v + cur) + bias)
    vv = np.int32(min(max(vv, np.int32(-MAX_UV + 1)), np.int32(MAX_UV - 1)))
    spk = np.int32(vv > vth)
    return np.int32(vv - np.int32((vv if reset_zero else vth) * spk)), spk


def bias_of(bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    """bias_mant · 2^bias_exp per neuron (int64), a right shift for negative exponents, as Lava scales it."""
    bm = bias_mant.astype(np.int64)
    return np.where(bias_exp >= 0, np.left_shift(bm, np.maximum(bias_exp, 0)),
                    np.right_shift(bm, np.maximum(-bias_exp, 0)))


def shift(a: np.ndarray, exp: int) -> np.ndarray:
    """A dendritic sum shifted by a weight exponent: left if > 0, arithmetic (floor) right if < 0."""
    if exp == 0:
        return a
    return np.left_shift(a, exp) if exp > 0 else np.right_shift(a, -exp)


@_jitable
def learning_trace(y1: Any, spiked: Any, keep: int, impulse: int) -> Any:
    """A learning neuron's spike trace after a step (``ir.LoihiLearningLIF``, our Lava ``LearningLIFReset``):
    min(127, ⌊y1 · keep / 4096⌋ + impulse · spike), ``keep`` = 4096 − y1_decay; y1 ≥ 0, so the shift floors."""
    return np.minimum(TRACE_MAX, ((y1 * keep) >> 12) + impulse * spiked)


@_jitable
def third_part(a: Any) -> Any:
    """The non-negative part of a third factor a, clipped to a trace: y2 = third_part(a), y3 = third_part(−a)."""
    return np.minimum(np.maximum(a, 0), TRACE_MAX)
