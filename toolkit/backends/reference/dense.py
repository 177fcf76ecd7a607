"""Reference models for Dense synapses (exact integer dendritic sums, Lava's ``PyDenseModelBitAcc``) and
for Flatten."""

from __future__ import annotations

from typing import Any

import numpy as np

from toolkit import ir
from toolkit.backends.reference.core import NodeModel, Recorder, dendritic_sum, register_model
from toolkit.backends.reference.fixed import shift
from toolkit.errors import LoweringError

__all__ = ["DenseModel", "FlattenModel"]


def require_quantized(n: ir.Synapse) -> None:
    if not n.quantized:
        raise LoweringError(f"{type(n).__name__} {n.name!r} has float weights: quantise the graph first (nfa compile)")


@register_model(ir.Dense)
class DenseModel(NodeModel):
    """a = Σ_i W_ji s_i, shifted by the weight exponent; one step, or all steps of a batch in one product."""

    def step(self, node: ir.Dense, state: Any, x: np.ndarray) -> np.ndarray:
        require_quantized(node)
        return shift(dendritic_sum(x.reshape(x.shape[0], -1), node.weight), node.weight_exp)

    def run(self, node: ir.Dense, x: np.ndarray, rec: Recorder) -> np.ndarray:
        require_quantized(node)
        b, t = x.shape[:2]
        if t > 1 and x.strides[1] == 0:  # the same input at every step (graded current): one sum per sample
            a = shift(dendritic_sum(x[:, 0].reshape(b, -1), node.weight), node.weight_exp)
            return np.broadcast_to(a[:, None, :], (b, t, node.out_features))
        # (T, B, ...) order: free when the input is time-major in memory, as encoders and neuron models make it
        a = dendritic_sum(np.moveaxis(x, 1, 0).reshape(t * b, -1), node.weight)
        return np.moveaxis(shift(a, node.weight_exp).reshape(t, b, node.out_features), 0, 1)


@register_model(ir.Flatten)
class FlattenModel(NodeModel):
    def step(self, node: ir.Flatten, state: Any, x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], -1)

    def run(self, node: ir.Flatten, x: np.ndarray, rec: Recorder) -> np.ndarray:
        return x.reshape(x.shape[0], x.shape[1], -1)
