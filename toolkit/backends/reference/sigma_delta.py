"""Reference model of Loihi 2's sigma-delta neuron, mirroring Lava's ``PySigmaDeltaModelFixed``.

Lava's model does every operation on numpy int32 arrays (the input arrives as int32); this
model performs the same operations (``sigma_delta_step``, the one place they are written), in the
same order and dtype, on the whole batch at once,
so it agrees bit for bit, wrap-around included (see ``ir.LoihiSigmaDelta`` for the equations):

    σ ← σ + a;  y ← f(σ + b);  δ ← y − y_prev + r
    s ← δ where |δ| ≥ θ (cum_error: e ← e + δ; s ← δ where |e| ≥ θ; e ← 0 where s ≠ 0)
    r ← δ − s;  message ← s >> state_exp

Recorded per step: the message ``s`` and the state ``sigma``, ``act``, ``residue`` and, with
``cum_error``, ``error`` (after the step), the names of the Lava Vars.
"""

from __future__ import annotations

import numpy as np

from toolkit import ir
from toolkit.backends.reference.core import NodeModel, register_model

__all__ = ["SigmaDeltaModel", "SigmaDeltaState", "sigma_delta_step"]


class SigmaDeltaState:
    """σ, y, r, e of a batch of sigma-delta groups, int32, zero at a sample's start."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.sigma = np.zeros(shape, np.int32)
        self.act = np.zeros(shape, np.int32)
        self.residue = np.zeros(shape, np.int32)
        self.error = np.zeros(shape, np.int32)


def _registers(n: ir.LoihiSigmaDelta) -> tuple[np.ndarray, np.ndarray]:
    """(θ, b) as Lava's process computes them: mantissa · 2^(spike_exp + state_exp), stored as int32."""
    scale = 1 << (n.spike_exp + n.state_exp)
    return (np.array([n.vth * scale], dtype=np.int32),
            (n.bias_mant.astype(np.int32) * scale).astype(np.int32))


def sigma_delta_step(st: SigmaDeltaState, a: np.ndarray, n: ir.LoihiSigmaDelta, vth: np.ndarray,
                     bias: np.ndarray) -> np.ndarray:
    """One step of ``LoihiSigmaDelta`` for input a (int32); updates ``st``; returns the messages."""
    st.sigma = a + st.sigma
    act = st.sigma + bias
    if n.activation is ir.Activation.RELU:
        act = np.maximum(act, 0)
    delta = act - st.act + st.residue
    if n.cum_error:
        st.error += delta
        s_out = np.where(np.abs(st.error) >= vth, delta, 0)
        st.error *= 1 - (np.abs(s_out) > 0)
    else:
        s_out = np.where(np.abs(delta) >= vth, delta, 0)
    st.residue = delta - s_out
    st.act = act
    return np.right_shift(s_out, n.state_exp)


@register_model(ir.LoihiSigmaDelta)
class SigmaDeltaModel(NodeModel):
    def start(self, node: ir.LoihiSigmaDelta, batch: int) -> SigmaDeltaState:
        return SigmaDeltaState((batch, *node.shape))

    def step(self, node: ir.LoihiSigmaDelta, state: SigmaDeltaState, x: np.ndarray) -> np.ndarray:
        vth, bias = _registers(node)
        a = np.asarray(x).reshape(state.sigma.shape).astype(np.int32)  # Lava's input port is int32 (wraps as it does)
        return sigma_delta_step(state, a, node, vth, bias)

    def traces(self, node: ir.LoihiSigmaDelta) -> tuple[str, ...]:
        return ("sigma", "act", "residue", "error") if node.cum_error else ("sigma", "act", "residue")

    def read(self, node: ir.LoihiSigmaDelta, state: SigmaDeltaState) -> dict[str, np.ndarray]:
        return {k: getattr(state, k).copy() for k in self.traces(node)}
