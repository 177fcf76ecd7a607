"""``pool_to_conv``: average pooling becomes a depthwise convolution feeding its own neuron group.

Loihi has no pooling primitive. Average pooling is linear, so each ``AvgPool2d`` (kernel
k_h × k_w, stride s) is replaced, exactly, by a ``Conv2d`` with one 1 × k_h × k_w kernel of
weights 1 / (k_h·k_w) per channel (``groups`` = channels, same stride, no padding), followed
by a neuron group of the pooled shape: ``ReLU`` if the pooled values are non-negative (the
pool follows a ReLU or the input, so max(0, ·) changes nothing), else ``Identity``. From
then on the pool is an ordinary convolution layer: it is balanced, converted (integrate-and-
fire or sigma-delta neurons), quantised (its equal weights are exact at any precision) and
lowered to Lava's ``Conv`` like any other.

Why a layer and not a fold into the next synapse: pooling followed by a Dense or Conv2d
could be composed into one synapse, but the composed synapse has k_h·k_w times the fan-in
(a 16×14×14 map pooled to 16×7×7 and flattened into a Dense of 784 inputs would become a
Dense of 3136 inputs), which runs into the cores' input-axon limit, and a composed
convolution is exact only when the map size divides by the stride. A pooling layer costs a
few neurons (C·H·W/(k_h·k_w)) and, in rate mode, one more integrate-and-fire stage.
"""

from __future__ import annotations

import numpy as np

from compilers.passes.common import mark, require_chain
from toolkit import ir
from toolkit.errors import GraphError

__all__ = ["pool_to_conv"]

#: predecessors whose output is never negative
_NON_NEGATIVE = (ir.ReLU, ir.Input)


def _pool_layer(pool: ir.AvgPool2d, pred: ir.Node, in_shape: tuple[int, ...],
                taken: set[str]) -> list[ir.Node]:
    channels = in_shape[0]
    kh, kw = pool.kernel
    conv = ir.Conv2d(name=pool.name, weight=np.full((channels, 1, kh, kw), 1.0 / (kh * kw)),
                     stride=pool.stride, groups=channels)
    group_name = f"{pool.name}_act"
    if group_name in taken:
        raise GraphError(f"pool_to_conv: cannot name the neuron group of {pool.name!r} {group_name!r}: "
                         "a node of that name exists")
    group_cls = ir.ReLU if isinstance(pred, _NON_NEGATIVE) else ir.Identity
    return [conv, group_cls(name=group_name, shape=pool.out_shape(in_shape))]


def pool_to_conv(graph: ir.Graph) -> ir.Graph:
    """Replace every ``AvgPool2d`` by a depthwise ``Conv2d`` and a neuron group (see module doc)."""
    order = require_chain(graph, "pool_to_conv")
    pools = [n for n in order if isinstance(n, ir.AvgPool2d)]
    if not pools:
        return mark(graph, "pool_to_conv")
    shapes = graph.shapes()
    taken = {n.name for n in order}
    nodes: list[ir.Node] = []
    for n in order:
        if isinstance(n, ir.AvgPool2d):
            pred = graph.predecessors(n.name)[0]
            nodes += _pool_layer(n, pred, shapes[pred.name], taken)
        else:
            nodes.append(n)
    return mark(ir.Graph.chain(nodes, meta=graph.meta), "pool_to_conv")
