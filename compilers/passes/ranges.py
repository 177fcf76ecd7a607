"""``measure_ranges``: the largest values each layer takes on calibration data.

Fixed-point formats with graded values (sigma-delta neurons: 24-bit state, graded spike
payloads, 24-bit dendritic accumulators) are sized from these: the quantiser chooses each
layer's scales so that the calibrated maxima, times a headroom factor, fit every register.
Recorded per neuron group in ``meta["ranges"]``, in the float units of the graph at this
point of the pipeline (after ``balance_thresholds``: multiples of each layer's λ):

* ``pre_max``: max |Σ W x| over the calibration samples and neurons (the synapse's output);
* ``act_max``: max |f(Σ W x + b)| (the group's output).
"""

from __future__ import annotations

import numpy as np

from compilers.floateval import float_forward
from compilers.passes.common import layers, mark, require_chain
from toolkit import ir
from toolkit.errors import GraphError

__all__ = ["measure_ranges"]


def _max_abs(a: np.ndarray) -> float:
    return float(np.abs(a).max()) if a.size else 0.0


def measure_ranges(graph: ir.Graph, *, calibration: np.ndarray) -> ir.Graph:
    """Record ``pre_max`` and ``act_max`` of every layer on ``calibration`` (N, *input shape)."""
    require_chain(graph, "measure_ranges")
    if calibration.shape[0] == 0:
        raise GraphError("measure_ranges: the calibration set is empty; give at least one sample")
    acts = float_forward(graph, calibration, record=True)
    ranges = {layer.group.name: {"pre_max": _max_abs(acts[layer.synapse.name]),
                                 "act_max": _max_abs(acts[layer.group.name])}
              for layer in layers(graph)}
    return mark(graph, "measure_ranges", ranges=ranges)
