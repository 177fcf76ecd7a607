"""Experiment configs: one YAML file describes a whole ``nfa train`` run.

Parsed once, at the edge, by ``toolkit.schema`` into the frozen dataclasses below (unknown
keys rejected with their key path, enums by value, ranges checked). The phase sections reuse
the training package's own config types (``NoiseConfig``, ``TrainConfig``, ``RuleOptions``),
so a YAML key and a Python keyword argument are the same thing. Example (every key optional
except ``data.dataset``; see ``examples/`` and docs/training.md)::

    seed: 0
    data: {dataset: digits}
    model: {kind: mlp, hidden: [100, 100]}
    rule: fa                 # bp, fa, dfa, sign, brsf, frsf, kp, wm
    noise: {steps: 3000, pool_size: 10000}    # steps: 0 = no noise phase
    train: {epochs: 20, batch_size: 32, lr: 0.001, optimizer: adam}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from toolkit.schema import bounded, build, load_yaml_mapping
from toolkit.training.models import ModelKind
from toolkit.training.noise import NoiseConfig
from toolkit.training.rules import Rule, RuleOptions
from toolkit.training.trainer import TrainConfig

__all__ = ["DataConfig", "ExperimentConfig", "MetricsConfig", "ModelConfig", "load_experiment"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DataConfig:
    """Which dataset: a name (digits, mnist, fashion-mnist, kmnist) or a ``.npz`` path."""

    dataset: str
    data_dir: str | None = None
    train_limit: int | None = bounded(None, lo=1)   #: use only the first N training samples (quick runs)
    shape: tuple[int, ...] | None = None   #: view each sample with this shape, e.g. [1, 8, 8] for a CNN on digits


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """The network (see ``toolkit.training.Arch``); input shape and classes come from the data."""

    kind: ModelKind = ModelKind.MLP
    hidden: tuple[int, ...] = (100, 100)
    conv_channels: tuple[int, ...] = ()
    kernel: int = bounded(3, lo=1, hi=15)
    pool: int = bounded(2, lo=1, hi=8)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig:
    """What is measured after the noise phase and every epoch (logged to ``metrics.jsonl``)."""

    probe_size: int = bounded(256, lo=1, hi=100_000)   #: training samples in the δ-angle probe batch
    noise_log_every: int = bounded(100, lo=1, hi=1_000_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentConfig:
    data: DataConfig
    seed: int = bounded(0, lo=0, hi=2**31 - 1)
    model: ModelConfig = field(default_factory=ModelConfig)
    rule: Rule = Rule.FA
    rule_options: RuleOptions = field(default_factory=RuleOptions)
    noise: NoiseConfig = field(default_factory=lambda: NoiseConfig(steps=0))
    train: TrainConfig = field(default_factory=TrainConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that ``build(ExperimentConfig, ...)`` reads back to an equal config."""
        return _plain(asdict(self))


def _plain(v: Any) -> Any:
    import enum

    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, enum.Enum):
        return v.value
    return v


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate the experiment config in ``path`` (errors name the file and key path)."""
    return build(ExperimentConfig, load_yaml_mapping(path), source=str(path))


def experiment_from_dict(d: dict[str, Any], *, source: str = "<checkpoint>") -> ExperimentConfig:
    return build(ExperimentConfig, d, source=source)
