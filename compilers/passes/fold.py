"""``fold_biases``: move each synapse's bias into the neuron group it feeds.

On Loihi a bias is a per-neuron constant current, not a synaptic quantity, so after this
pass synapses carry only weights. Computation is unchanged: max(0, Wx + b) = ReLU_b(Wx); a group
fed by several synapses takes the sum of their biases.

Which neuron groups can take a bias, and how a synapse's bias is laid out over the group, is
registered per type (``BIAS_LAYOUT`` for synapses, ``TAKES_BIAS`` for groups).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from compilers.passes.common import fanin, graph_pass
from toolkit import ir
from toolkit.errors import GraphError
from toolkit.registry import TypeRegistry

__all__ = ["BIAS_LAYOUT", "TAKES_BIAS", "fold_biases"]

#: synapse type -> function(synapse, group shape) -> its bias as one value per neuron of the group
BIAS_LAYOUT: TypeRegistry[Callable[[ir.Synapse, tuple[int, ...]], np.ndarray]] = TypeRegistry("bias layout")
#: float neuron-group types that carry a ``bias`` field (value: True)
TAKES_BIAS: TypeRegistry[bool] = TypeRegistry("bias folding")

for _t in (ir.ReLU, ir.Identity, ir.LIF, ir.ALIF, ir.SigmaDelta):
    TAKES_BIAS.add(_t, True)


@BIAS_LAYOUT.register(ir.Dense)
def _dense_bias(syn: ir.Synapse, shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(syn.bias, dtype=np.float64).reshape(shape)


@BIAS_LAYOUT.register(ir.Conv2d)
def _conv_bias(syn: ir.Synapse, shape: tuple[int, ...]) -> np.ndarray:
    """One bias per output channel, broadcast over the map."""
    return np.broadcast_to(np.asarray(syn.bias, dtype=np.float64).reshape(-1, 1, 1), shape).copy()


@graph_pass("fold_biases", provides=(ir.BiasesFolded,))
def fold_biases(graph: ir.Graph) -> ir.Graph:
    """Every synapse's bias, added to the bias of the neuron group it feeds."""
    replaced: dict[str, ir.Node] = {}
    for group in graph.of_type(ir.NeuronGroup):
        biased = [f.synapse for f in fanin(graph, group.name) if f.synapse.bias is not None]
        if not biased:
            continue
        if not TAKES_BIAS.of(group):
            raise GraphError(f"fold_biases: {type(group).__name__} {group.name!r} cannot take a bias "
                             f"(groups that can: {TAKES_BIAS.supported()})")
        own = getattr(group, "bias", None)
        total = np.zeros(group.shape) if own is None else np.asarray(own, dtype=np.float64)
        for syn in biased:
            layout = BIAS_LAYOUT.of(syn)
            if layout is None:
                raise GraphError(f"fold_biases: no bias layout for {type(syn).__name__} {syn.name!r} "
                                 f"(supported: {BIAS_LAYOUT.supported()})")
            total = total + layout(syn, tuple(group.shape))
            replaced[syn.name] = syn.replace(bias=None)
        replaced[group.name] = group.replace(bias=total)
    return graph.replace_nodes(replaced).with_record(ir.BiasesFolded())
