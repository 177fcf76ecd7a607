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

What each node type becomes is registered per mode (``RATE_CONVERSIONS``, ``SDN_CONVERSIONS``:
node type -> function(node, options) -> node). A neuron group with no entry is refused, naming the
types that convert; any other node is kept as it is.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from compilers.passes.common import graph_pass
from toolkit import ir
from toolkit.errors import GraphError, LoweringError
from toolkit.registry import TypeRegistry

__all__ = ["RATE_CONVERSIONS", "SDN_CONVERSIONS", "ConversionMode", "convert_rate", "convert_sdn"]


class ConversionMode(enum.Enum):
    RATE = "rate"  #: binary-spike IF/LIF neurons, rate coding (Loihi 1 and 2)
    SDN = "sdn"    #: sigma-delta neurons with graded spikes (Loihi 2 only)


@dataclass(frozen=True, slots=True)
class _RateOptions:
    reset: ir.ResetMode
    encoding: ir.Encoding
    threshold: float


@dataclass(frozen=True, slots=True)
class _SdnOptions:
    threshold: float
    cum_error: bool


Convert = Callable[[ir.Node, object], ir.Node]
#: node type -> what it becomes in rate mode
RATE_CONVERSIONS: TypeRegistry[Convert] = TypeRegistry("rate conversion")
#: node type -> what it becomes in sigma-delta mode
SDN_CONVERSIONS: TypeRegistry[Convert] = TypeRegistry("sigma-delta conversion")


@RATE_CONVERSIONS.register(ir.ReLU, ir.Identity)
def _to_if(n: ir.ReLU | ir.Identity, o: _RateOptions) -> ir.Node:
    return ir.LIF(name=n.name, shape=n.shape, threshold=o.threshold, bias=n.bias, du=1.0, dv=0.0, reset=o.reset)


@RATE_CONVERSIONS.register(ir.Input)
def _rate_input(n: ir.Input, o: _RateOptions) -> ir.Node:
    return n.replace(encoding=o.encoding)


@RATE_CONVERSIONS.register(ir.Output)
def _rate_output(n: ir.Output, o: object) -> ir.Node:
    return n.replace(readout=ir.ReadoutMode.SPIKE_COUNT)


@SDN_CONVERSIONS.register(ir.ReLU, ir.Identity)
def _to_sd(n: ir.ReLU | ir.Identity, o: _SdnOptions) -> ir.Node:
    act = ir.Activation.RELU if isinstance(n, ir.ReLU) else ir.Activation.IDENTITY
    return ir.SigmaDelta(name=n.name, shape=n.shape, threshold=o.threshold, bias=n.bias, activation=act,
                         cum_error=o.cum_error)


@SDN_CONVERSIONS.register(ir.Input)
def _sdn_input(n: ir.Input, o: object) -> ir.Node:
    return n.replace(encoding=ir.Encoding.DELTA)


@SDN_CONVERSIONS.register(ir.Output)
def _sdn_output(n: ir.Output, o: object) -> ir.Node:
    return n.replace(readout=ir.ReadoutMode.SIGMA)


def _convert(graph: ir.Graph, table: TypeRegistry[Convert], options: object, pass_name: str) -> ir.Graph:
    replaced = {}
    for n in graph.nodes:
        fn = table.of(n)
        if fn is not None:
            replaced[n.name] = fn(n, options)
        elif isinstance(n, ir.NeuronGroup):
            raise GraphError(f"{pass_name}: {type(n).__name__} {n.name!r} has no {table.what} "
                             f"(convertible: {table.supported()})")
    return graph.replace_nodes(replaced)


@graph_pass("convert_rate", requires=(ir.Balance,), provides=(ir.Converted, ir.Timesteps))
def convert_rate(graph: ir.Graph, *, reset: ir.ResetMode = ir.ResetMode.ZERO,
                 encoding: ir.Encoding = ir.Encoding.RATE, timesteps: int = 32,
                 threshold: float = 1.0) -> ir.Graph:
    """Replace every ReLU/Identity with an IF ``LIF`` group; set input encoding and readout."""
    if encoding in (ir.Encoding.ANALOG, ir.Encoding.DELTA, ir.Encoding.SEQUENCE):
        raise GraphError(f"convert_rate: a rate-coded network needs input encoding rate, poisson or current, "
                         f"not {encoding.value}")
    if timesteps < 1:
        raise GraphError(f"convert_rate: timesteps must be >= 1, got {timesteps}")
    out = _convert(graph, RATE_CONVERSIONS, _RateOptions(reset, encoding, threshold), "convert_rate")
    return out.with_record(ir.Converted(mode=ConversionMode.RATE.value), ir.Timesteps(steps=timesteps))


@graph_pass("convert_sdn", requires=(ir.Balance,), provides=(ir.Converted, ir.Timesteps))
def convert_sdn(graph: ir.Graph, *, threshold: float = 0.0, cum_error: bool = False,
                timesteps: int = 1) -> ir.Graph:
    """Replace every ReLU/Identity with a ``SigmaDelta`` group; delta-encode the input; sigma readout.

    ``threshold`` is the delta threshold in units of each layer's balanced activation scale
    (the quantiser raises it to at least one unit of the graded spike payload).
    """
    if threshold < 0:
        raise GraphError(f"convert_sdn: the delta threshold must be >= 0, got {threshold}")
    if timesteps < 1:
        raise GraphError(f"convert_sdn: timesteps must be >= 1, got {timesteps}")
    for g in graph.of_type(ir.NeuronGroup):
        k = len(graph.in_edges(g.name))
        if k > 1:
            raise LoweringError(f"convert_sdn: group {g.name!r} has {k} synapses into it; sigma-delta conversion "
                                "takes one synapse per group (no fan-in, skips or recurrence) for now: compile "
                                "with --mode rate")
    out = _convert(graph, SDN_CONVERSIONS, _SdnOptions(threshold, cum_error), "convert_sdn")
    return out.with_record(ir.Converted(mode=ConversionMode.SDN.value), ir.Timesteps(steps=timesteps))
