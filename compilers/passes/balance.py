"""``balance_thresholds``: data-based weight normalisation for spiking conversion; and
``calibrate_readout``: the rate-coded output layer's operating range.

Diehl et al. (IJCNN 2015) and Rueckauer et al. (Front. Neurosci. 2017): with λ_g the
p-th percentile of neuron group g's positive activations on calibration data (λ = 1 for an
input in [0, 1]), scale every synapse from source s into group g as W ← W · λ_s / λ_g and
g's bias b ← b / λ_g. Every group's activations then lie mostly in [0, 1], which a neuron
with threshold 1 can represent as a spike rate in [0, 1] per step. A ReLU is positively
homogeneous, so a'_g = a_g / λ_g holds exactly for every group, whatever the graph's shape
(fan-in, skips, recurrent synapses): the float graph still classifies exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from compilers.floateval import float_forward, n_samples
from compilers.passes.common import fanin, graph_pass
from toolkit import ir
from toolkit.errors import GraphError

__all__ = ["READOUT_FLOOR", "balance_thresholds", "calibrate_readout", "layer_scales"]

Calibration = np.ndarray | Mapping[str, np.ndarray]


def layer_scales(graph: ir.Graph, calibration: Calibration, percentile: float) -> dict[str, float]:
    """λ for every neuron group: the ``percentile`` of its positive activations."""
    acts = float_forward(graph, calibration, record=True)
    scales = {}
    for group in graph.of_type(ir.NeuronGroup):
        a = acts[group.name]
        pos = a[a > 0]
        scales[group.name] = float(np.percentile(pos, percentile)) if pos.size else 1.0
    return scales


@graph_pass("balance_thresholds", requires=(ir.BiasesFolded,), provides=(ir.Balance,))
def balance_thresholds(graph: ir.Graph, *, calibration: Calibration, percentile: float = 99.9) -> ir.Graph:
    """Rescale weights and biases so each group's ``percentile`` activation is 1."""
    if not 0.0 < percentile <= 100.0:
        raise GraphError(f"balance_thresholds: percentile must be in (0, 100], got {percentile}")
    scales = layer_scales(graph, calibration, percentile)
    replaced: dict[str, ir.Node] = {}
    for group in graph.of_type(ir.NeuronGroup):
        lam = scales[group.name]
        for f in fanin(graph, group.name):
            lam_src = scales.get(f.source.name, 1.0)
            replaced[f.synapse.name] = f.synapse.replace(weight=f.synapse.weight * (lam_src / lam))
        bias = getattr(group, "bias", None)  # float groups carry one
        if bias is not None:
            replaced[group.name] = group.replace(bias=bias / lam)
    return graph.replace_nodes(replaced).with_record(
        ir.Balance(percentile=percentile, scales=scales, calibration_samples=n_samples(calibration)))


#: With ``calibrate_readout``, the least confident calibration sample's top logit is mapped to this rate.
READOUT_FLOOR = 0.05


@graph_pass("calibrate_readout", provides=(ir.Readout,))
def calibrate_readout(graph: ir.Graph, *, calibration: Calibration, percentile: float = 99.9,
                      floor: float = READOUT_FLOOR, ceiling: float = 1.0) -> ir.Graph:
    """Map the logits affinely so each calibration sample's top logit lies in [``floor``, 1].

    A rate-coded output neuron fires at rate clip(z, 0, 1) for a balanced logit z, and the
    prediction is the neuron that fires most. A sample whose logits are all ≤ 0 makes no output
    spike at all (a tie, resolved to class 0), and several logits ≥ 1 tie at the top. The top
    logit per sample is what decides, so with lo, hi the (100 − ``percentile``)-th and
    ``percentile``-th percentiles of the per-sample maximum logit on calibration data, every logit
    z becomes floor + (1 − floor)·(z − lo)/(hi − lo). An increasing affine map of all logits
    leaves every arg-max unchanged, so the float graph still classifies exactly as before.

    The logits are the group read by the (one) Output; it must be an ``Identity`` group that feeds no
    synapse (an affine map of a signal that other groups read would change what they compute).
    """
    if not 0.0 <= floor < 1.0:
        raise GraphError(f"calibrate_readout: floor must be in [0, 1), got {floor}")
    outputs = graph.of_type(ir.Output)
    if len(outputs) != 1:
        raise GraphError(f"calibrate_readout: needs exactly one Output, the graph has {len(outputs)}")
    group = graph.signal_source(outputs[0].name)
    if not isinstance(group, ir.Identity):
        raise GraphError(f"calibrate_readout: the output group {group.name!r} must be the logits "
                         "(Identity) of a float graph")
    readers = [e.dst for e in graph.out_edges(group.name) if not isinstance(graph.node(e.dst), ir.Output)]
    if readers:
        raise GraphError(f"calibrate_readout: the logits {group.name!r} also feed {', '.join(readers)}; "
                         "an affine map of them would change what those compute")
    top = float_forward(graph, calibration)["output"].reshape(n_samples(calibration), -1).max(axis=1)
    lo, hi = float(np.percentile(top, 100.0 - percentile)), float(np.percentile(top, percentile))
    if hi <= lo:
        return graph.with_record(ir.Readout(lo=lo, hi=hi, scale=1.0))
    scale = (ceiling - floor) / (hi - lo)
    b = np.zeros(group.shape) if group.bias is None else np.asarray(group.bias, dtype=np.float64)
    replaced: dict[str, ir.Node] = {f.synapse.name: f.synapse.replace(weight=f.synapse.weight * scale)
                                    for f in fanin(graph, group.name)}
    replaced[group.name] = group.replace(bias=(b - lo) * scale + floor)
    return graph.replace_nodes(replaced).with_record(ir.Readout(lo=lo, hi=hi, scale=scale, floor=floor))
