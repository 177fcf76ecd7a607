"""Spiking conversion: the float units of a balanced graph become spiking neurons.

Two modes (``ConversionMode``):

* ``convert_rate``: ReLU units become non-leaky integrate-and-fire neurons (rate coding).
  After ``balance_thresholds`` a unit's activation a ∈ [0, 1] is represented by the spike
  rate of an IF neuron with threshold 1 (du = 1: the synaptic current lasts one step;
  dv = 0: no leak). The logits become IF neurons too, and the prediction is the output
  neuron that spikes most over the T steps of a sample.
* ``convert_sdn``: ReLU units become sigma-delta neurons with graded spikes (O'Connor &
  Welling 2016; Loihi 2). The input is delta-encoded (the image is sent once, at a sample's
  first step); every neuron integrates its input deltas (sigma), applies the ReLU, and sends
  the change of its output (delta) as a graded spike once it reaches the delta threshold.
  The logits become sigma-delta neurons without a non-linearity, and the prediction is the
  output with the largest sum of graded spikes over the sample. A sum of graded spikes equals
  the unit's activation up to a residue below the threshold, so the network computes the ReLU
  network itself rather than an estimate of it, within a few steps.
"""

from __future__ import annotations

import enum

from compilers.passes.common import mark, require_chain
from toolkit import ir
from toolkit.errors import GraphError

__all__ = ["ConversionMode", "convert_rate", "convert_sdn"]


class ConversionMode(enum.Enum):
    RATE = "rate"  #: binary-spike IF/LIF neurons, rate coding (Loihi 1 and 2)
    SDN = "sdn"    #: sigma-delta neurons with graded spikes (Loihi 2 only)


def _require_balanced(graph: ir.Graph, pass_name: str) -> None:
    if "balance_thresholds" not in graph.meta.get("passes", []):
        raise GraphError(f"{pass_name}: run balance_thresholds first (thresholds are in units of each "
                         "layer's balanced activation scale)")


def convert_rate(graph: ir.Graph, *, reset: ir.ResetMode = ir.ResetMode.ZERO,
                 encoding: ir.Encoding = ir.Encoding.RATE, timesteps: int = 32,
                 threshold: float = 1.0) -> ir.Graph:
    """Replace every ReLU/Identity with an IF ``LIF`` group; set input encoding and readout."""
    require_chain(graph, "convert_rate")
    _require_balanced(graph, "convert_rate")
    if encoding in (ir.Encoding.ANALOG, ir.Encoding.DELTA):
        raise GraphError(f"convert_rate: a rate-coded network needs input encoding rate, poisson or current, "
                         f"not {encoding.value}")
    if timesteps < 1:
        raise GraphError(f"convert_rate: timesteps must be >= 1, got {timesteps}")
    nodes: list[ir.Node] = []
    for n in graph.nodes:
        if isinstance(n, (ir.ReLU, ir.Identity)):
            nodes.append(ir.LIF(name=n.name, shape=n.shape, threshold=threshold, bias=n.bias,
                                du=1.0, dv=0.0, reset=reset))
        elif isinstance(n, ir.Input):
            nodes.append(n.replace(encoding=encoding))
        elif isinstance(n, ir.Output):
            nodes.append(n.replace(readout=ir.ReadoutMode.SPIKE_COUNT))
        else:
            nodes.append(n)
    return mark(graph.with_nodes(nodes), "convert_rate", mode=ConversionMode.RATE.value,
                timesteps=timesteps)


#: float unit type -> the activation of the sigma-delta neuron that replaces it
_SDN_ACTIVATION: dict[type[ir.Node], ir.Activation] = {ir.ReLU: ir.Activation.RELU,
                                                       ir.Identity: ir.Activation.IDENTITY}


def convert_sdn(graph: ir.Graph, *, threshold: float = 0.0, cum_error: bool = False,
                timesteps: int = 1) -> ir.Graph:
    """Replace every ReLU/Identity with a ``SigmaDelta`` group; delta-encode the input; sigma readout.

    ``threshold`` is the delta threshold in units of each layer's balanced activation scale
    (the quantiser raises it to at least one unit of the graded spike payload).
    """
    require_chain(graph, "convert_sdn")
    _require_balanced(graph, "convert_sdn")
    if threshold < 0:
        raise GraphError(f"convert_sdn: the delta threshold must be >= 0, got {threshold}")
    if timesteps < 1:
        raise GraphError(f"convert_sdn: timesteps must be >= 1, got {timesteps}")
    nodes: list[ir.Node] = []
    for n in graph.nodes:
        if isinstance(n, (ir.ReLU, ir.Identity)):
            nodes.append(ir.SigmaDelta(name=n.name, shape=n.shape, threshold=threshold, bias=n.bias,
                                       activation=_SDN_ACTIVATION[type(n)], cum_error=cum_error))
        elif isinstance(n, ir.Input):
            nodes.append(n.replace(encoding=ir.Encoding.DELTA))
        elif isinstance(n, ir.Output):
            nodes.append(n.replace(readout=ir.ReadoutMode.SIGMA))
        elif isinstance(n, ir.NeuronGroup):
            raise GraphError(f"convert_sdn: {type(n).__name__} {n.name!r} has no sigma-delta equivalent "
                             f"(convertible: {', '.join(t.__name__ for t in _SDN_ACTIVATION)})")
        else:
            nodes.append(n)
    return mark(graph.with_nodes(nodes), "convert_sdn", mode=ConversionMode.SDN.value, timesteps=timesteps)
