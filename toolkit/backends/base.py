"""What every backend returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RunResult"]


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

    @property
    def predictions(self) -> np.ndarray:
        """Arg-max of the scores; ties go to the lowest class index."""
        return np.argmax(self.scores, axis=1)

    def accuracy(self, labels: np.ndarray) -> float:
        return float(np.mean(self.predictions == labels)) if len(labels) else float("nan")
