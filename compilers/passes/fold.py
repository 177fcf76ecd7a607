"""``fold_biases``: move each synapse's bias into the neuron group it feeds.

On Loihi a bias is a per-neuron constant current, not a synaptic quantity, so after this
pass synapses carry only weights. Computation is unchanged: max(0, Wx + b) = ReLU_b(Wx).
"""

from __future__ import annotations

import numpy as np

from compilers.passes.common import layers, mark, require_chain
from toolkit import ir
from toolkit.errors import GraphError

__all__ = ["fold_biases"]

#: float neuron groups that carry a bias field
_BIASED = (ir.ReLU, ir.Identity, ir.LIF, ir.SigmaDelta)


def _group_bias(syn: ir.Synapse, shape: tuple[int, ...]) -> np.ndarray:
    bias = np.asarray(syn.bias, dtype=np.float64)
    if isinstance(syn, ir.Conv2d):  # one bias per output channel, broadcast over the map
        return np.broadcast_to(bias.reshape(-1, 1, 1), shape).copy()
    return bias.reshape(shape)


def fold_biases(graph: ir.Graph) -> ir.Graph:
    require_chain(graph, "fold_biases")
    replaced: dict[str, ir.Node] = {}
    for layer in layers(graph):
        syn, group = layer.synapse, layer.group
        if syn.bias is None:
            continue
        if not isinstance(group, _BIASED):
            raise GraphError(f"fold_biases: {type(group).__name__} {group.name!r} cannot take a bias")
        new_bias = _group_bias(syn, tuple(group.shape))
        if group.bias is not None:
            new_bias = new_bias + group.bias
        replaced[syn.name] = syn.replace(bias=None)
        replaced[group.name] = group.replace(bias=new_bias)
    nodes = [replaced.get(n.name, n) for n in graph.nodes]
    return mark(graph.with_nodes(nodes), "fold_biases")
