"""Core of the reference simulator: node models, their registry, recording, exact dendritic sums.

The reference simulator is the executable definition of what the chip computes. It steps a
quantised IR graph in Loihi's fixed-point arithmetic, as Lava's bit-accurate ProcessModels
(``PyDenseModelBitAcc``, ``PyLifModelBitAcc``, ...) do, for a whole batch of samples at once.
Every backend is tested spike for spike and state for state against it (tests/conformance).

Time is the IR's (``toolkit.ir.core``): each sample runs T steps from a zero state; a neuron group
integrates the sum of its synapses' outputs of the same step; a synapse with delay d delivers its
input of d steps earlier. The engines (``engines``) differ only in the order of the work:

* ``step``: every node advances one step in dependency order (``Graph.topological``), delays
  held in per-synapse queues. It runs any valid graph, recurrent ones included: the spec.
* ``nodes``: one node at a time over all T steps of the batch (a synapse is then one matrix
  product for all steps), for graphs without cycles.
* ``events`` (``events.py``): Dense → LIF chains, sample by sample, work per spike (numba).

A ``NodeModel`` per node type (registry ``MODELS``, falling back to the parent class) says how one
node computes one step (``step``) and, optionally, a whole sample faster (``run``); neuron models
take their arithmetic from ``fixed``, where it is written once.

Exactness of synaptic sums: the sum is computed with a float matrix product for speed, after proving
it exact: the largest possible |Σ r·s| is bounded by the row sums of |r| times the largest input, and
float32 (float64) products of integers are exact while that bound is below 2^24 (2^53). Above 2^53
the product is done in int64.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolkit import ir
from toolkit.registry import TypeRegistry

__all__ = ["MODELS", "NodeModel", "Recorder", "dendritic_sum", "exact_float_dtype", "register_model"]


@dataclass
class Recorder:
    """Collects per-step state of the nodes named in ``names`` (all if ``names`` is None)."""

    names: set[str] | None
    traces: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)

    @classmethod
    def of(cls, record: Iterable[str] | bool) -> Recorder:
        return cls(names=None if record is True else set(record or ()))

    def wants(self, name: str) -> bool:
        return self.names is None or name in self.names

    def add(self, name: str, **arrays: np.ndarray) -> None:
        """Append arrays (B, steps, *shape) of a batch; batches are concatenated along samples."""
        slot = self.traces.setdefault(name, {})
        for k, v in arrays.items():
            slot.setdefault(k, []).append(v)

    def result(self) -> dict[str, dict[str, np.ndarray]]:
        return {n: {k: np.concatenate(v) for k, v in d.items()} for n, d in self.traces.items()}


class NodeModel(abc.ABC):
    """How the reference computes one node type. Subclasses override what their type needs.

    ``start`` gives the state at a sample's start (zeros: every state of the node types so far has
    ``Lifetime.SAMPLE``); ``step`` maps one step's input (B, *in shape) (a neuron group's: the sum of its
    synapses) to the step's output, updating the state; ``run`` maps a whole sample's input (B, T, ...) to the
    output (B, T, ...) (by default, ``step`` T times). ``traces`` names the state recorded per step (the Lava
    Var names); ``read`` returns them from a state.
    """

    def start(self, node: Any, batch: int) -> Any:
        return None

    @abc.abstractmethod
    def step(self, node: Any, state: Any, x: np.ndarray) -> np.ndarray:
        """One step of a batch: the output for input ``x``; updates ``state`` in place."""

    def run(self, node: Any, x: np.ndarray, rec: Recorder) -> np.ndarray:
        state = self.start(node, x.shape[0])
        record = rec.wants(node.name) and bool(self.traces(node))
        outs: list[np.ndarray] = []
        trace: dict[str, list[np.ndarray]] = {k: [] for k in self.traces(node)} if record else {}
        for k in range(x.shape[1]):
            outs.append(self.step(node, state, x[:, k]))
            for name, value in (self.read(node, state) if record else {}).items():
                trace[name].append(value)
        # time-major in memory (a view (B, T, ...)): the next synapse reads it as (T·B, ...) without a copy
        out = np.moveaxis(np.stack(outs), 0, 1) if outs else np.zeros((x.shape[0], 0), np.int64)
        if record:
            rec.add(node.name, s=out.astype(np.int32), **{k: np.stack(v, 1) for k, v in trace.items()})
        return out

    def traces(self, node: Any) -> tuple[str, ...]:
        return ()

    def read(self, node: Any, state: Any) -> dict[str, np.ndarray]:
        return {}


#: IR node type -> its model in the reference simulator
MODELS: TypeRegistry[NodeModel] = TypeRegistry("reference simulator model")


def register_model(*types: type[ir.Node]) -> Any:
    """Class decorator: register an instance of the decorated ``NodeModel`` for ``types``."""
    def deco(cls: type[NodeModel]) -> type[NodeModel]:
        model = cls()
        for t in types:
            MODELS.add(t, model)
        return cls
    return deco


def exact_float_dtype(bound: int) -> type[np.floating[Any]] | None:
    """The narrowest float dtype whose products and sums of integers up to ``bound`` are exact."""
    if bound < (1 << 24):
        return np.float32
    if bound < (1 << 53):
        return np.float64
    return None


def dendritic_sum(s: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Σ_i W_ji s_i for a batch s (M, in) of integers, exactly, as int64 (M, out)."""
    w = weight.reshape(weight.shape[0], -1)
    smax = int(np.abs(s).max()) if s.size else 0  # graded (sigma-delta) inputs can be negative
    bound = int(np.abs(w).sum(axis=1).max()) * smax if w.size else 0
    dtype = exact_float_dtype(bound)
    if dtype is None:
        return s.astype(np.int64) @ w.T.astype(np.int64)
    return np.rint(np.asarray(s, dtype=dtype) @ w.T.astype(dtype)).astype(np.int64)
