"""Reference model of ``Conv2d``, mirroring Lava's ``PyConvModelFixed``.

Lava computes the convolution of each step's input (in its (x, y, channel) layout, with the
kernel flipped: the same numbers as PyTorch's cross-correlation in (channel, y, x)) exactly,
casts it to int32 and wraps it into 24-bit two's complement (``utils.signed_clamp``). Lava's
model applies no weight exponent, so a ``Conv2d`` with ``weight_exp`` ≠ 0 is refused.

Here, every (sample, step) frame of the batch is unfolded into patches (im2col) and the
patches are multiplied with the kernel matrix by ``dendritic_sum``, which is exact: it
bounds |Σ r·s| by the largest row sum of |r| times the largest |s| and uses float32 (float64)
only while that bound is below 2^24 (2^53), where every product and partial sum of integers is
an exactly representable integer, whatever the summation order. Frames whose input is all
zero (most steps of a delta-encoded input) produce zero and are skipped. Frames are
processed in chunks so the patch matrix stays below ``_CHUNK_ELEMENTS`` elements.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from toolkit import ir
from toolkit.backends.reference.core import NodeModel, Recorder, dendritic_sum, register_model
from toolkit.backends.reference.dense import require_quantized
from toolkit.errors import LoweringError

__all__ = ["ConvModel", "conv2d_exact", "wrap24"]

_CHUNK_ELEMENTS = 1 << 24
_HALF = 1 << 23


def wrap24(a: np.ndarray) -> np.ndarray:
    """Wrap integers into 24-bit two's complement, as Lava's ``signed_clamp(x, bits=24)``."""
    return (a + _HALF) % (2 * _HALF) - _HALF


def _patches(x: np.ndarray, n: ir.Conv2d) -> np.ndarray:
    """(M, C, H_out, W_out, k_h, k_w) view of the (zero-padded) input frames x (M, C, H, W)."""
    (kh, kw), (sh, sw) = n.weight.shape[2:], n.stride
    (ph, pw), (dh, dw) = n.padding, n.dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    win = sliding_window_view(xp, (1, 1, dh * (kh - 1) + 1, dw * (kw - 1) + 1))[:, :, :, :, 0, 0]
    return win[:, :, ::sh, ::sw, ::dh, ::dw]


def conv2d_exact(x: np.ndarray, n: ir.Conv2d) -> np.ndarray:
    """Exact integer cross-correlation (PyTorch semantics) of frames x (M, C, H, W): (M, C_out, H_out, W_out) int64."""
    c_out, c_in_g = n.weight.shape[:2]
    out_g = c_out // n.groups
    win = _patches(x, n)
    m, _, ho, wo = win.shape[:4]
    out = np.empty((m, c_out, ho, wo), np.int64)
    for g in range(n.groups):
        cols = win[:, g * c_in_g:(g + 1) * c_in_g].transpose(0, 2, 3, 1, 4, 5).reshape(m * ho * wo, -1)
        w = n.weight[g * out_g:(g + 1) * out_g].reshape(out_g, -1)
        out[:, g * out_g:(g + 1) * out_g] = dendritic_sum(cols, w).reshape(m, ho, wo, out_g).transpose(0, 3, 1, 2)
    return out


@register_model(ir.Conv2d)
class ConvModel(NodeModel):
    """Exact convolution of every (sample, step) frame, wrapped into 24 bits as Lava's model does."""

    def step(self, node: ir.Conv2d, state: Any, x: np.ndarray) -> np.ndarray:
        return self.run(node, x[:, None], Recorder.of(()))[:, 0]

    def run(self, node: ir.Conv2d, x: np.ndarray, rec: Recorder) -> np.ndarray:
        require_quantized(node)
        if node.weight_exp != 0:
            raise LoweringError(f"Conv2d {node.name!r} has weight_exp {node.weight_exp}: Lava's Conv model applies "
                                "no weight exponent (the quantiser folds it into the weights)")
        b, t = x.shape[:2]
        frames = x.reshape(b * t, node.weight.shape[1] * node.groups, *x.shape[-2:])
        active = np.flatnonzero(frames.reshape(b * t, -1).any(axis=1))
        kh, kw = node.weight.shape[2:]
        c_out, ho, wo = node.out_shape(frames.shape[1:])
        out = np.zeros((b * t, c_out, ho, wo), np.int64)
        per_frame = max(1, ho * wo * node.weight.shape[1] * kh * kw)
        chunk = max(1, _CHUNK_ELEMENTS // per_frame)
        for i in range(0, len(active), chunk):
            idx = active[i:i + chunk]
            out[idx] = wrap24(conv2d_exact(frames[idx], node))
        return out.reshape(b, t, c_out, ho, wo)
