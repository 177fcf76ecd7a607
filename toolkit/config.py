"""Experiment configs: one YAML file describes a whole ``nfa train`` run.

Parsed once, at the edge, by ``toolkit.schema`` into the frozen dataclasses below (unknown
keys rejected with their key path, enums by value, ranges checked). The phase sections are
the types the training package takes (``NoiseConfig``, ``TrainConfig``, ``toolkit.rules.RuleOptions``),
defined here, below the training package, so that reading a config imports no torch; a YAML key
and a Python keyword argument are the same thing. Example (every key optional
except ``data.dataset``; see ``examples/`` and docs/training.md)::

    seed: 0
    data: {dataset: digits}
    model: {kind: mlp, hidden: [100, 100]}
    rule: fa                 # bp, fa, dfa, sign, brsf, frsf, kp, wm
    noise: {steps: 3000, pool_size: 10000}    # steps: 0 = no noise phase
    train: {epochs: 20, batch_size: 32, lr: 0.001, optimizer: adam}
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from toolkit.rules import Rule, RuleOptions
from toolkit.schema import bounded, build, load_yaml_mapping

__all__ = ["DataConfig", "ExperimentConfig", "MetricsConfig", "ModelConfig", "ModelKind", "NoiseConfig",
           "NoiseDistribution", "OptimizerKind", "TrainConfig", "load_experiment"]


class OptimizerKind(enum.Enum):
    ADAM = "adam"
    ADAMW = "adamw"   #: Adam with decoupled weight decay
    SGD = "sgd"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """The data phase: epochs over the training set with mini-batches."""

    epochs: int = bounded(20, lo=0, hi=100000)
    batch_size: int = bounded(32, lo=1, hi=1 << 20)
    lr: float = bounded(1e-3, lo=0.0, hi=10.0)
    optimizer: OptimizerKind = OptimizerKind.ADAM
    momentum: float = bounded(0.9, lo=0.0, hi=1.0)
    weight_decay: float = bounded(0.0, lo=0.0, hi=1.0)


class NoiseDistribution(enum.Enum):
    GAUSSIAN = "gaussian"
    UNIFORM = "uniform"


@dataclass(frozen=True, slots=True, kw_only=True)
class NoiseConfig:
    """The noise phase. ``steps`` = 0 disables it.

    ``pool_size`` > 0 draws that many noise inputs with fixed random labels once and
    samples batches from them; 0 draws fresh inputs and labels at every step. In our
    measurements only a fixed pool aligns W with B: with fresh noise the labels carry no
    information that persists from one step to the next, so ∠(Wᵀ, B) stays near 90°
    (see docs/training.md and tests/test_training.py).
    """

    steps: int = bounded(2000, lo=0, hi=10_000_000)
    batch_size: int = bounded(64, lo=1, hi=1 << 20)
    lr: float = bounded(1e-3, lo=0.0, hi=10.0)
    optimizer: OptimizerKind = OptimizerKind.ADAM
    distribution: NoiseDistribution = NoiseDistribution.GAUSSIAN
    mean: float = 0.0
    std: float = bounded(1.0, lo=0.0)
    low: float = -1.0
    high: float = 1.0
    pool_size: int = bounded(10000, lo=0, hi=10_000_000)


class ModelKind(enum.Enum):
    MLP = "mlp"
    CNN = "cnn"



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
