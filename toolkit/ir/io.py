"""Input and output nodes: where data enters a network and where predictions leave it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from toolkit.ir.core import Node, ReadoutMode, register_node

__all__ = ["Encoding", "Input", "Output"]


class Encoding(enum.Enum):
    """How a sample x ∈ [0, 1]^n becomes the input of the first synapse at step τ = 1..T.

    Input levels are quantised first: q = round(x · (2^bits − 1)), Q = 2^bits − 1.
    """

    ANALOG = "analog"      #: float graphs only: x itself
    RATE = "rate"          #: deterministic binary spikes, s_τ = ⌊τq/Q⌋ − ⌊(τ−1)q/Q⌋
    POISSON = "poisson"    #: Bernoulli spikes with P(s_τ = 1) = q/Q, seeded per sample
    CURRENT = "current"    #: graded spike with payload q at every step (Loihi 2 only)
    DELTA = "delta"        #: graded spike with payload q at step 1, nothing after (Loihi 2 only; the
    #: delta encoding of a constant image that a sigma-delta network integrates back into q)

    @property
    def graded(self) -> bool:
        """True if the payload is a multi-bit integer rather than a binary spike."""
        return self in (Encoding.CURRENT, Encoding.DELTA)


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Input(Node):
    """Network input of ``shape`` (features, or channels × height × width).

    ``encoding`` and ``bits`` fix how samples become spikes (see ``Encoding``);
    ``seed`` seeds Poisson encoding (the spikes of sample i depend only on seed and i).
    """

    shape: tuple[int, ...]
    encoding: Encoding = Encoding.ANALOG
    bits: int = 8
    seed: int = 0


@register_node
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Output(Node):
    """Network output: one score per class; the prediction is the argmax.

    With ``SPIKE_COUNT`` the score is the number of spikes of each output neuron over
    the sample's T steps; ties go to the lowest class index.
    """

    shape: tuple[int, ...]
    readout: ReadoutMode = ReadoutMode.VALUE
