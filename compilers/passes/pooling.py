"""``pool_to_conv``: average pooling becomes a depthwise convolution feeding its own neuron group.

Loihi has no pooling primitive. Average pooling is linear, so each ``AvgPool2d`` (kernel
k_h × k_w, stride s) is replaced, exactly, by a ``Conv2d`` of the same name with one
1 × k_h × k_w kernel of weights 1 / (k_h·k_w) per channel (``groups`` = channels, same stride,
no padding), feeding a new neuron group ``<name>_act`` of the pooled shape, which takes over
every edge out of the pool: ``ReLU`` if the pooled values are non-negative (the pool's signal
comes from a ReLU group or an input, so max(0, ·) changes nothing), else ``Identity``. From
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

from compilers.passes.common import graph_pass
from toolkit import ir
from toolkit.errors import GraphError

__all__ = ["pool_to_conv"]

#: signal sources whose output is never negative
_NON_NEGATIVE = (ir.ReLU, ir.Input)


@graph_pass("pool_to_conv")
def pool_to_conv(graph: ir.Graph) -> ir.Graph:
    """Replace every ``AvgPool2d`` by a depthwise ``Conv2d`` and a neuron group (see module doc)."""
    pools = graph.of_type(ir.AvgPool2d)
    if not pools:
        return graph
    shapes = graph.shapes()
    taken = {n.name for n in graph.nodes}
    nodes: list[ir.Node] = []
    edges = [e for e in graph.edges]
    for n in graph.nodes:
        if not isinstance(n, ir.AvgPool2d):
            nodes.append(n)
            continue
        src = graph.source(n.name)
        channels = shapes[src.name][0]
        kh, kw = n.kernel
        act = f"{n.name}_act"
        if act in taken:
            raise GraphError(f"pool_to_conv: cannot name the neuron group of {n.name!r} {act!r}: "
                             "a node of that name exists")
        group_cls = ir.ReLU if isinstance(graph.signal_source(n.name), _NON_NEGATIVE) else ir.Identity
        nodes += [ir.Conv2d(name=n.name, weight=np.full((channels, 1, kh, kw), 1.0 / (kh * kw)),
                            stride=n.stride, groups=channels),
                  group_cls(name=act, shape=n.out_shape(shapes[src.name]))]
        edges = [ir.Edge(act, e.dst, e.port) if e.src == n.name else e for e in edges] + [ir.Edge(n.name, act)]
    return graph.with_nodes(nodes, edges)
