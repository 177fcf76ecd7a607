"""Reference rule for Loihi's fixed-point CUBA LIF, mirroring Lava's ``PyLifModelBitAcc``.

Each step, for every sample of the batch at once (int64 state, Lava's rounding):

    u ← sgn(u)·(|u|·(4096 − du − 1) >> 12) + (a << 6), wrapped once into 24 bits as Lava does
    v ← clip(sgn(v)·(|v|·(4096 − dv) >> 12) + u + bias, ±(2^23 − 1))
    s ← v > vth << 6;  v ← 0 (ZERO) or v − vth << 6 (SUBTRACT) where s

The decays are skipped when they are exact identities (du = 4095 zeroes the old current,
dv = 0 keeps v). For the integrate-and-fire case (both at once, the converter's default)
and inputs small enough that a << 6 cannot wrap, a fast path updates v in place in int32;
the conformance tests compare both paths with Lava.
"""

from __future__ import annotations

import numpy as np

from toolkit import ir
from toolkit.backends.reference.core import Recorder, register_reference

__all__ = ["bias_of", "lif_step"]

_MAX_UV = 1 << 23  # u and v are 24-bit signed registers


def _decay(x: np.ndarray, keep: int) -> np.ndarray:
    """sgn(x) · (|x| · keep >> 12), passed through int32 as Lava's model does."""
    d = x * keep
    return (np.sign(d) * np.right_shift(np.abs(d), 12)).astype(np.int32).astype(np.int64)


def _current(u: np.ndarray, a: np.ndarray, du: int) -> np.ndarray:
    cur = np.left_shift(a, 6) if du == 4095 else _decay(u, 4096 - (du + 1)) + np.left_shift(a, 6)
    if np.abs(cur).max(initial=0) < _MAX_UV:
        return cur  # the common case: nothing to wrap
    wrapped = np.where(cur > _MAX_UV, cur - 2 * _MAX_UV, cur)
    return np.where(wrapped <= -_MAX_UV, cur + 2 * _MAX_UV, wrapped)


def lif_step(u: np.ndarray, v: np.ndarray, a: np.ndarray, n: ir.LoihiLIF,
             bias: np.ndarray, vth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of ``LoihiLIF`` on int64 state; returns (u, v, spikes)."""
    u = _current(u, a.astype(np.int64, copy=False), n.du)
    v = v if n.dv == 0 else _decay(v, 4096 - n.dv)
    v = np.clip(v + u + bias, -_MAX_UV + 1, _MAX_UV - 1)
    spikes = v > vth
    if n.reset is ir.ResetMode.ZERO:
        v[spikes] = 0
    else:
        v[spikes] -= vth
    return u, v, spikes


def bias_of(n: ir.LoihiLIF) -> np.ndarray:
    bm = n.bias_mant.astype(np.int64)
    return np.where(n.bias_exp >= 0, np.left_shift(bm, np.maximum(n.bias_exp, 0)),
                    np.right_shift(bm, np.maximum(-n.bias_exp, 0)))


def _if_fast(n: ir.LoihiLIF, a: np.ndarray, bias: np.ndarray, vth: int) -> np.ndarray | None:
    """Spikes (T, B, *shape) of a non-leaky IF group, or None if the fast path does not apply.

    With du = 4095 and dv = 0, u = a << 6 exactly (no wrap while |a| < 2^17) and v only
    accumulates, so the step is v += (a << 6) + bias, clip, compare, reset: all in int32,
    since |v| < 2^23, |a << 6| < 2^23 and |bias| < 2^19.
    """
    if n.du != 4095 or n.dv != 0 or a.size == 0 or np.abs(a).max() >= (1 << 17):
        return None
    b, t = a.shape[:2]
    bias32 = bias.astype(np.int32)
    v = np.zeros((b, *n.shape), np.int32)
    drive = np.empty_like(v)
    out = np.empty((t, b, *n.shape), np.int8)
    for k in range(t):
        np.left_shift(a[:, k], 6, out=drive, casting="unsafe")
        v += drive
        v += bias32
        np.clip(v, -_MAX_UV + 1, _MAX_UV - 1, out=v)
        spikes = np.greater(v, vth, out=out[k].view(np.bool_))
        if n.reset is ir.ResetMode.ZERO:
            v[spikes] = 0
        else:
            v[spikes] -= vth
    return out


@register_reference(ir.LoihiLIF)
def _lif(n: ir.LoihiLIF, a: np.ndarray, rec: Recorder) -> np.ndarray:
    b, t = a.shape[:2]
    a = a.reshape(b, t, *n.shape)
    bias, vth = bias_of(n), int(n.vth) << 6
    if not rec.wants(n.name):
        fast = _if_fast(n, a, bias, vth)
        if fast is not None:
            return np.moveaxis(fast, 0, 1)
    u = np.zeros((b, *n.shape), np.int64)
    v = np.zeros((b, *n.shape), np.int64)
    out = np.empty((t, b, *n.shape), np.int8)  # time-major: the next synapse reads it without a copy
    record = rec.wants(n.name)
    us, vs = [], []
    for k in range(t):
        u, v, s = lif_step(u, v, a[:, k], n, bias, vth)
        out[k] = s
        if record:
            us.append(u.astype(np.int32))
            vs.append(v.astype(np.int32))
    spikes = np.moveaxis(out, 0, 1)
    if record:
        rec.add(n.name, s=spikes.astype(np.int32), u=np.stack(us, 1), v=np.stack(vs, 1))
    return spikes
