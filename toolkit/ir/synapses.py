"""Synapse nodes: how the output of one node becomes the input current of the next.

Float graphs hold float weights. After the ``quantize`` pass a synapse holds the
chip's integer weight registers (``int32``) and a shared exponent: the dendritic sum
is a_j = Σ_i W_ji s_i, then shifted arithmetically by ``weight_exp`` (left if > 0,
floor-right if < 0), as Lava's ``PyDenseModelBitAcc`` does.

A synapse's ``delay`` d (steps, default 0) delays its output: at step τ it delivers the sum of
its input at step τ − d. A synapse from a neuron group back to itself (a recurrent connection)
or to a group before it needs d ≥ 1. ``AvgPool2d`` and ``Flatten`` are reshapes of a signal
between a neuron group (or input) and a synapse, not synapses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from toolkit.ir.core import Flow, Node, Port, Synapse, register_node

__all__ = ["AvgPool2d", "Conv2d", "Dense", "Flatten"]


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Dense(Synapse):
    """All-to-all synapses: a = 2^weight_exp · W x (+ bias).

    ``weight``: (out, in). ``bias``: (out,) or None; the ``fold_biases`` pass moves it
    into the neuron group that follows. Units: the input's units times weight units.
    """

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.out_features,)


def _conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Conv2d(Synapse):
    """2-D convolution over (channels, height, width): a = 2^weight_exp · (W ⋆ x) (+ bias).

    ``weight``: (out_channels, in_channels / groups, kernel_h, kernel_w), PyTorch layout
    and semantics (cross-correlation, zero padding; ``stride``, ``padding``, ``dilation`` as
    (height, width)). ``bias``: (out_channels,) or None, one value per output channel.

    Quantised, the sum is that of Lava's ``PyConvModelFixed``: a = wrap₂₄(W ⋆ x), the exact
    integer sum wrapped into 24-bit two's complement. Lava's model applies no weight exponent,
    so a quantised ``Conv2d`` has ``weight_exp`` = 0 (the quantiser ensures it; lowering and the
    reference simulator refuse anything else). Lava itself works in (x, y, channels) = (width,
    height, channels) order with flipped kernels; the Lava lowering converts.
    """

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        _, h, w = in_shape
        kh, kw = self.weight.shape[2:]
        return (int(self.weight.shape[0]),
                _conv_out(h, kh, self.stride[0], self.padding[0], self.dilation[0]),
                _conv_out(w, kw, self.stride[1], self.padding[1], self.dilation[1]))


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class AvgPool2d(Node):
    """Average pooling of (channels, height, width): the mean over each ``kernel`` window, windows
    ``stride`` apart, no padding, partial windows at the border dropped (PyTorch's defaults).

    A float-graph node: Loihi has no pooling primitive, so the ``pool_to_conv`` pass replaces it
    with the equivalent depthwise ``Conv2d`` (weights 1 / (kernel_h · kernel_w)) feeding its own
    neuron group, which every later pass and backend then handles as any convolution layer.
    """

    kernel: tuple[int, int]
    stride: tuple[int, int]

    PORTS: ClassVar[tuple[Port, ...]] = (Port("in", Flow.SIGNAL, doc="the signal pooled"),)

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        c, h, w = in_shape
        return (c, _conv_out(h, self.kernel[0], self.stride[0], 0, 1),
                _conv_out(w, self.kernel[1], self.stride[1], 0, 1))


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Flatten(Node):
    """Reshape (channels, height, width) to one vector in C order (PyTorch's ``flatten``)."""

    PORTS: ClassVar[tuple[Port, ...]] = (Port("in", Flow.SIGNAL, doc="the signal flattened"),)

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(in_shape)),)
