"""Reference models of Loihi's fixed-point CUBA LIF (``ir.LoihiLIF``, Lava's ``PyLifModelBitAcc``) and of the
adaptive-threshold LIF built on it (``ir.LoihiALIF``, our Lava ``ALIFReset``).

The arithmetic is ``fixed.lif_update`` and ``fixed.alif_update``; this module only holds the state and schedules
the update:
one step of a batch (the step engine), or all T steps of a batch (the node-over-time engine). For the
integrate-and-fire neuron (du = 4095, dv = 0) with inputs |a| < 2^17, which ``lif_update`` is exact for
in int32, a whole sample runs in int32 (half the memory traffic of int64); the conformance tests
compare every path with Lava.

Recorded per step: ``u``, ``v`` (ALIF: and ``r``) after the step, and the spikes ``s``. An ALIF group runs
step by step in every engine (its ``run`` is ``NodeModel``'s); the event engine's Dense/LIF chains exclude it,
and the stream engine runs it in its NumPy path only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit import ir
from toolkit.backends.reference.core import NodeModel, Recorder, register_model
from toolkit.backends.reference.fixed import alif_update, bias_of, lif_update

__all__ = ["ALIFModel", "ALIFState", "LIFModel", "LIFState", "lif_constants"]


@dataclass
class LIFState:
    u: np.ndarray
    v: np.ndarray


def lif_constants(n: ir.LoihiLIF | ir.LoihiALIF) -> tuple[np.ndarray, int, int, int, bool]:
    """(bias, keep_u, keep_v, vth << 6, reset to zero) as ``lif_update`` takes them."""
    return (bias_of(n.bias_mant, n.bias_exp), 4096 - (int(n.du) + 1), 4096 - int(n.dv), int(n.vth) << 6,
            n.reset is ir.ResetMode.ZERO)


@register_model(ir.LoihiLIF)
class LIFModel(NodeModel):
    def start(self, node: ir.LoihiLIF, batch: int) -> LIFState:
        return LIFState(u=np.zeros((batch, *node.shape), np.int64), v=np.zeros((batch, *node.shape), np.int64))

    def step(self, node: ir.LoihiLIF, state: LIFState, x: np.ndarray) -> np.ndarray:
        bias, keep_u, keep_v, vth, zero = lif_constants(node)
        a = np.asarray(x, dtype=np.int64).reshape(state.u.shape)
        state.u, state.v, s = lif_update(state.u, state.v, a, bias, keep_u, keep_v, vth, zero)
        return s.astype(np.int8)

    def traces(self, node: ir.LoihiLIF) -> tuple[str, ...]:
        return ("u", "v")

    def read(self, node: ir.LoihiLIF, state: LIFState) -> dict[str, np.ndarray]:
        return {"u": state.u.astype(np.int32), "v": state.v.astype(np.int32)}

    def run(self, node: ir.LoihiLIF, x: np.ndarray, rec: Recorder) -> np.ndarray:
        if rec.wants(node.name) or not _narrow(node, x):
            return super().run(node, x, rec)
        bias, keep_u, keep_v, vth, zero = lif_constants(node)
        b, t = x.shape[:2]
        a = x.reshape(b, t, *node.shape)
        u = np.zeros((b, *node.shape), np.int32)   # unused by the update (keep_u = 0), kept for the signature
        v = np.zeros((b, *node.shape), np.int32)
        out = np.empty((t, b, *node.shape), np.int8)  # time-major: the next synapse reads it without a copy
        bias32 = bias.astype(np.int32)
        a32 = a.astype(np.int32, copy=False)
        for k in range(t):
            _, v, out[k] = lif_update(u, v, a32[:, k], bias32, keep_u, keep_v, vth, zero)
        return np.moveaxis(out, 0, 1)


def _narrow(node: ir.LoihiLIF, x: np.ndarray) -> bool:
    """Integrate-and-fire with inputs small enough that ``lif_update`` is exact in int32 (see ``fixed``)."""
    return node.du == 4095 and node.dv == 0 and x.size > 0 and int(x.min()) > -(1 << 17) and int(x.max()) < (1 << 17)


@dataclass
class ALIFState:
    u: np.ndarray
    v: np.ndarray
    r: np.ndarray


@register_model(ir.LoihiALIF)
class ALIFModel(NodeModel):
    def start(self, node: ir.LoihiALIF, batch: int) -> ALIFState:
        shape = (batch, *node.shape)
        return ALIFState(u=np.zeros(shape, np.int64), v=np.zeros(shape, np.int64), r=np.zeros(shape, np.int64))

    def step(self, node: ir.LoihiALIF, state: ALIFState, x: np.ndarray) -> np.ndarray:
        bias, keep_u, keep_v, vth, zero = lif_constants(node)
        a = np.asarray(x, dtype=np.int64).reshape(state.u.shape)
        state.u, state.v, state.r, s = alif_update(state.u, state.v, state.r, a, bias, keep_u, keep_v,
                                                   4096 - int(node.dr), vth, int(node.beta) << 6, zero)
        return s.astype(np.int8)

    def traces(self, node: ir.LoihiALIF) -> tuple[str, ...]:
        return ("u", "v", "r")

    def read(self, node: ir.LoihiALIF, state: ALIFState) -> dict[str, np.ndarray]:
        return {"u": state.u.astype(np.int32), "v": state.v.astype(np.int32), "r": state.r.astype(np.int32)}
