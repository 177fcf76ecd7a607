"""What every backend returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolkit import ir
from toolkit.encoding import input_levels
from toolkit.errors import DataError

__all__ = ["RunResult", "input_batches", "learned_variables", "weight_snapshot"]


def input_batches(graph: ir.Graph, x: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Integer input levels (N, *shape) for every Input of ``graph``, from samples ``x`` in [0, 1]: one array for a
    graph with one Input, else a mapping from each Input's name to its samples (all with the same N)."""
    inputs = graph.of_type(ir.Input)
    if not isinstance(x, Mapping):
        if len(inputs) != 1:
            raise DataError(f"the network has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); pass the "
                            "samples as a mapping from input name to array")
        x = {inputs[0].name: x}
    names = {i.name for i in inputs}
    if set(x) != names:
        raise DataError(f"samples given for inputs {sorted(x)}, but the network's inputs are {sorted(names)}")
    levels = {i.name: input_levels(x[i.name], i) for i in inputs}
    counts = {name: len(v) for name, v in levels.items()}
    if len(set(counts.values())) > 1:
        raise DataError(f"every input needs the same number of samples, got {counts}")
    return levels


@dataclass(frozen=True, slots=True)
class RunResult:
    """Scores (N, classes) per sample, timesteps per sample, wall time, optional traces.

    ``traces[node][var]`` has shape (N, T, *node shape) in each sample's local time, for
    ``var`` in ``s`` (spikes or messages), ``u`` (current) and ``v`` (voltage).
    """

    backend: str
    scores: np.ndarray
    timesteps: int
    wall_s: float
    total_steps: int
    traces: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    engine: str = ""  #: which implementation ran, where a backend has several (reference: numpy or events)
    #: plastic synapses' variables after the run (``weight``, ``tag``, ``delay_var``), read once, by synapse name
    learned: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    #: plastic synapses' weights read during the run (``snapshot_every``): {"step", "samples", "weights": {name: W}}
    snapshots: list[dict[str, Any]] = field(default_factory=list)

    @property
    def predictions(self) -> np.ndarray:
        """Arg-max of the scores; ties go to the lowest class index."""
        return np.argmax(self.scores, axis=1)

    def accuracy(self, labels: np.ndarray) -> float:
        return float(np.mean(self.predictions == labels)) if len(labels) else float("nan")


def learned_variables(weight: Any, tag: Any, delay_var: Any) -> dict[str, np.ndarray]:
    """One plastic synapse's entry of ``RunResult.learned``: its weight, tag and delay variable as int32 copies."""
    return {"weight": np.array(weight, np.int32), "tag": np.array(tag, np.int32),
            "delay_var": np.array(delay_var, np.int32)}


def weight_snapshot(step: int, timesteps: int, weights: Mapping[str, Any]) -> dict[str, Any]:
    """A ``RunResult.snapshots`` entry: the plastic synapses' weights (by name) read after global step ``step``."""
    return {"step": step, "samples": step // timesteps,
            "weights": {k: np.array(w, np.int32) for k, w in weights.items()}}
