"""``toolkit.run``: evaluate a compiled network on a dataset with any backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit import ir
from toolkit.backends import Backend, RunResult, run_backend
from toolkit.data import Dataset, DataSource, load_dataset

__all__ = ["Evaluation", "run"]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Accuracy of a network on ``n`` samples, with the backend's raw result."""

    accuracy: float
    n: int
    timesteps: int
    wall_s: float
    backend: str
    result: RunResult

    labels: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "n": self.n, "timesteps": self.timesteps,
                "wall_s": self.wall_s, "backend": self.backend}

    def per_sample(self) -> dict[str, list[Any]]:
        """Each test sample's label, prediction and output scores (``nfa run --json``), in dataset order."""
        return {"labels": [] if self.labels is None else [int(v) for v in self.labels],
                "predictions": [int(v) for v in self.result.predictions],
                "scores": np.asarray(self.result.scores).tolist()}


def _dataset(data: Dataset | DataSource | str | Path, data_dir: str | Path | None) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, DataSource):
        return data.load()[1]
    return load_dataset(str(data), data_dir=data_dir)[1]


def run(net: ir.Graph | str | Path, data: Dataset | DataSource | str | Path = "digits", *,
        backend: Backend | str = Backend.REFERENCE, limit: int | None = None,
        timesteps: int | None = None, data_dir: str | Path | None = None,
        progress: bool = False) -> Evaluation:
    """Evaluate ``net`` (a graph or compiled network folder) on ``data``'s test split.

    ``data`` is a ``Dataset``, a ``DataSource`` (``compilers.netdir.network_dataset``: the one it was compiled on),
    a dataset name (``digits``, ``fashion-mnist``, ...) or a path.
    """
    from compilers.netdir import load_network

    graph = net if isinstance(net, ir.Graph) else load_network(net)
    ds = _dataset(data, data_dir).take(limit)
    result = run_backend(backend, graph, ds.x, timesteps=timesteps, progress=progress)
    acc = float(np.mean(result.predictions == ds.y)) if len(ds) else float("nan")
    return Evaluation(accuracy=acc, n=len(ds), timesteps=result.timesteps, wall_s=result.wall_s,
                      backend=result.backend, result=result, labels=np.asarray(ds.y))
