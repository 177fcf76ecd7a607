"""``balance_thresholds``: data-based weight normalisation for spiking conversion; and
``calibrate_readout``: the rate-coded output layer's operating range.

Diehl et al. (IJCNN 2015) and Rueckauer et al. (Front. Neurosci. 2017): with λ_l the
p-th percentile of layer l's positive activations on calibration data (λ_0 = 1 for
inputs in [0, 1]), scale W_l ← W_l · λ_{l−1} / λ_l and b_l ← b_l / λ_l. Every layer's
activations then lie mostly in [0, 1], which a neuron with threshold 1 can represent as a
spike rate in [0, 1] per step. Positive rescaling leaves every ReLU and the arg-max
unchanged, so the float graph still classifies exactly as before.
"""

from __future__ import annotations

import numpy as np

from compilers.floateval import float_forward
from compilers.passes.common import layers, mark, require_chain
from toolkit import ir
from toolkit.errors import GraphError

__all__ = ["READOUT_FLOOR", "balance_thresholds", "calibrate_readout", "layer_scales"]


def layer_scales(graph: ir.Graph, calibration: np.ndarray, percentile: float) -> dict[str, float]:
    """λ for every neuron group: the ``percentile`` of its positive activations."""
    acts = float_forward(graph, calibration, record=True)
    scales = {}
    for layer in layers(graph):
        a = acts[layer.group.name]
        pos = a[a > 0]
        scales[layer.group.name] = float(np.percentile(pos, percentile)) if pos.size else 1.0
    return scales


def balance_thresholds(graph: ir.Graph, *, calibration: np.ndarray, percentile: float = 99.9) -> ir.Graph:
    """Rescale weights and biases so each layer's ``percentile`` activation is 1."""
    require_chain(graph, "balance_thresholds")
    if not 0.0 < percentile <= 100.0:
        raise GraphError(f"balance_thresholds: percentile must be in (0, 100], got {percentile}")
    if "fold_biases" not in graph.meta.get("passes", []):
        raise GraphError("balance_thresholds: run fold_biases first (biases must sit on neuron groups)")
    scales = layer_scales(graph, calibration, percentile)
    replaced: dict[str, ir.Node] = {}
    prev = 1.0
    for layer in layers(graph):
        lam = scales[layer.group.name]
        syn, group = layer.synapse, layer.group
        replaced[syn.name] = syn.replace(weight=syn.weight * (prev / lam))
        bias = getattr(group, "bias", None)  # float groups carry one
        if bias is not None:
            replaced[group.name] = group.replace(bias=bias / lam)
        prev = lam
    nodes = [replaced.get(n.name, n) for n in graph.nodes]
    return mark(graph.with_nodes(nodes), "balance_thresholds",
                balance={"percentile": percentile, "scales": scales,
                         "calibration_samples": int(calibration.shape[0])})


#: With ``calibrate_readout``, the least confident calibration sample's top logit is mapped to this rate.
READOUT_FLOOR = 0.05


def calibrate_readout(graph: ir.Graph, *, calibration: np.ndarray, percentile: float = 99.9,
                      floor: float = READOUT_FLOOR, ceiling: float = 1.0) -> ir.Graph:
    """Map the logits affinely so each calibration sample's top logit lies in [``floor``, 1].

    A rate-coded output neuron fires at rate clip(z, 0, 1) for a balanced logit z, and the
    prediction is the neuron that fires most. A sample whose logits are all ≤ 0 makes no output
    spike at all (a tie, resolved to class 0), and several logits ≥ 1 tie at the top. The top
    logit per sample is what decides, so with lo, hi the (100 − ``percentile``)-th and
    ``percentile``-th percentiles of the per-sample maximum logit on calibration data, every logit
    z becomes floor + (1 − floor)·(z − lo)/(hi − lo). An increasing affine map of all logits
    leaves every arg-max unchanged, so the float graph still classifies exactly as before.
    """
    require_chain(graph, "calibrate_readout")
    if not 0.0 <= floor < 1.0:
        raise GraphError(f"calibrate_readout: floor must be in [0, 1), got {floor}")
    last = layers(graph)[-1]
    bias = getattr(last.group, "bias", None)
    if not isinstance(last.group, ir.Identity):
        raise GraphError(f"calibrate_readout: the output group {last.group.name!r} must be the logits "
                         "(Identity) of a float graph")
    top = float_forward(graph, calibration)["output"].reshape(len(calibration), -1).max(axis=1)
    lo, hi = float(np.percentile(top, 100.0 - percentile)), float(np.percentile(top, percentile))
    if hi <= lo:
        return mark(graph, "calibrate_readout", readout={"lo": lo, "hi": hi, "scale": 1.0})
    scale = (ceiling - floor) / (hi - lo)
    b = np.zeros(last.group.shape) if bias is None else np.asarray(bias, dtype=np.float64)
    syn = last.synapse.replace(weight=last.synapse.weight * scale)
    group = last.group.replace(bias=(b - lo) * scale + floor)
    nodes = [{syn.name: syn, group.name: group}.get(n.name, n) for n in graph.nodes]
    return mark(graph.with_nodes(nodes), "calibrate_readout",
                readout={"lo": lo, "hi": hi, "scale": scale, "floor": floor})
