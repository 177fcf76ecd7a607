"""Input and output nodes: where data enters a network and where predictions leave it.

An ``Input`` has no ports; an ``Output`` reads one signal and has no output of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from toolkit.encoding import Encoding
from toolkit.ir.core import Flow, Node, Port, ReadoutMode, register_node

__all__ = ["Encoding", "Input", "Output"]


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Input(Node):
    """Network input of ``shape`` (features, or channels × height × width).

    ``encoding`` and ``bits`` fix how samples become spikes (see ``toolkit.encoding.Encoding``);
    ``seed`` seeds Poisson encoding (the spikes of sample i depend only on seed and i). A graph
    may have several inputs (data and labels, say); each is fed its own samples by name.

    ``sequence`` = S ≥ 1 makes it a sequence input: a sample is S rows of ``shape`` ((S, *shape), an image
    read row by row, say), row τ sent at step τ (``Encoding.SEQUENCE``; ``ANALOG`` in a float graph), nothing
    after step S. 0 (the default): a static sample of ``shape``, encoded over the T steps.
    """

    shape: tuple[int, ...]
    encoding: Encoding = Encoding.ANALOG
    bits: int = 8
    seed: int = 0
    sequence: int = 0


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Output(Node):
    """Network output: one score per class; the prediction is the argmax.

    With ``SPIKE_COUNT`` the score is the number of spikes of each output neuron over
    the sample's T steps; ties go to the lowest class index. With ``VOLTAGE`` (a leaky-integrator
    read-out) the score is the voltage register v of each neuron of the ``LoihiLIF`` group read,
    after the sample's last step T (in its integer units, shared by the group, so the argmax is
    the class whose membrane is highest at the end of the sample; ties to the lowest index).
    """

    shape: tuple[int, ...]
    readout: ReadoutMode = ReadoutMode.VALUE

    PORTS: ClassVar[tuple[Port, ...]] = (Port("in", Flow.SIGNAL, doc="the signal read out"),)
    OUTPUT: ClassVar[Flow | None] = None

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(self.shape)
