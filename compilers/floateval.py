"""Float evaluation of a float graph (before spiking conversion), batched, in NumPy.

Passes use it to measure activations on calibration data (threshold balancing) and
reports use it to check that the IR still computes what the trained model computed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from toolkit import ir
from toolkit.errors import LoweringError

__all__ = ["FLOAT_EVAL", "float_forward"]

Eval = Callable[[Any, np.ndarray], np.ndarray]

#: IR node type -> function(node, batch of inputs) -> batch of outputs
FLOAT_EVAL: dict[type[ir.Node], Eval] = {}


def _register(*types: type[ir.Node]) -> Callable[[Eval], Eval]:
    def deco(fn: Eval) -> Eval:
        for t in types:
            FLOAT_EVAL[t] = fn
        return fn
    return deco


def _with_bias(h: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    if bias is None:
        return h
    return h + bias.reshape((1, *bias.shape))


@_register(ir.Dense)
def _dense(n: ir.Dense, x: np.ndarray) -> np.ndarray:
    h = x.reshape(x.shape[0], -1) @ n.weight.T.astype(np.float64) * (2.0 ** n.weight_exp)
    return _with_bias(h, n.bias)


@_register(ir.Conv2d)
def _conv(n: ir.Conv2d, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        h = F.conv2d(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)),
                     torch.from_numpy(n.weight.astype(np.float64) * (2.0 ** n.weight_exp)),
                     None if n.bias is None else torch.from_numpy(n.bias.astype(np.float64)),
                     n.stride, n.padding, n.dilation, n.groups)
    return h.numpy()


@_register(ir.AvgPool2d)
def _avg_pool(n: ir.AvgPool2d, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return F.avg_pool2d(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)), n.kernel, n.stride).numpy()


@_register(ir.SigmaDelta)
def _sigma_delta(n: ir.SigmaDelta, x: np.ndarray) -> np.ndarray:
    """The value a sigma-delta group converges to (its residues aside): f(h + bias)."""
    h = _with_bias(x.reshape(x.shape[0], *n.shape), n.bias)
    return np.maximum(h, 0.0) if n.activation is ir.Activation.RELU else h


@_register(ir.ReLU)
def _relu(n: ir.ReLU, x: np.ndarray) -> np.ndarray:
    return np.maximum(_with_bias(x.reshape(x.shape[0], *n.shape), n.bias), 0.0)


@_register(ir.Identity)
def _identity(n: ir.Identity, x: np.ndarray) -> np.ndarray:
    return _with_bias(x.reshape(x.shape[0], *n.shape), n.bias)


@_register(ir.Flatten)
def _flatten(n: ir.Flatten, x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1)


@_register(ir.Input)
def _input(n: ir.Input, x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], *n.shape)


@_register(ir.Output)
def _passthrough(n: ir.Node, x: np.ndarray) -> np.ndarray:
    return x


def float_forward(graph: ir.Graph, x: np.ndarray, *, record: bool = False) -> dict[str, np.ndarray]:
    """Run ``x`` (N, *input shape) through a float chain graph.

    Returns ``{"output": scores}``, plus every node's output by name if ``record``.
    """
    if not graph.is_chain():
        raise LoweringError("float evaluation supports chain graphs only")
    out: dict[str, np.ndarray] = {}
    h = np.asarray(x, dtype=np.float64)
    for n in graph.topological():
        fn = FLOAT_EVAL.get(type(n))
        if fn is None:
            supported = ", ".join(sorted(t.__name__ for t in FLOAT_EVAL))
            raise LoweringError(f"float evaluation has no rule for {type(n).__name__} {n.name!r} "
                                f"(supported: {supported}); evaluate the graph before spiking conversion")
        h = fn(n, h)
        if record:
            out[n.name] = h
    out["output"] = h
    return out
