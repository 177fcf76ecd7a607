"""``measure_ranges``: the largest values each neuron group takes on calibration data.

Fixed-point formats with graded values (sigma-delta neurons: 24-bit state, graded spike
payloads, 24-bit dendritic accumulators) are sized from these: the quantiser chooses each
group's scales so that the calibrated maxima, times a headroom factor, fit every register.
Recorded per neuron group in a ``Ranges`` record, in the float units of the graph at this
point of the pipeline (after ``balance_thresholds``: multiples of each group's λ):

* ``pre_max``: max |Σ_k W_k x_k| over the calibration samples and neurons (the sum of the group's
  synapses: its dendritic input);
* ``act_max``: max |f(Σ_k W_k x_k + b)| (the group's output).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from compilers.floateval import float_forward, n_samples
from compilers.passes.common import fanin, graph_pass
from toolkit import ir
from toolkit.errors import GraphError

__all__ = ["measure_ranges"]


def _max_abs(a: np.ndarray) -> float:
    return float(np.abs(a).max()) if a.size else 0.0


@graph_pass("measure_ranges", provides=(ir.Ranges,))
def measure_ranges(graph: ir.Graph, *, calibration: np.ndarray | Mapping[str, np.ndarray]) -> ir.Graph:
    """Record ``pre_max`` and ``act_max`` of every neuron group on ``calibration`` (N, *input shape), or a
    mapping from each input's name to its samples."""
    n = n_samples(calibration)
    if n == 0:
        raise GraphError("measure_ranges: the calibration set is empty; give at least one sample")
    acts = float_forward(graph, calibration, record=True)
    pre, act = {}, {}
    for group in graph.of_type(ir.NeuronGroup):
        total = sum((acts[f.synapse.name].reshape(n, -1) for f in fanin(graph, group.name)),
                    np.zeros((n, int(np.prod(group.shape)))))
        pre[group.name], act[group.name] = _max_abs(total), _max_abs(acts[group.name])
    return graph.with_record(ir.Ranges(pre_max=pre, act_max=act))
