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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from toolkit.rules import Rule, RuleOptions
from toolkit.schema import bounded, build, load_yaml_mapping, plain

__all__ = ["DataConfig", "ExperimentConfig", "LearnBackend", "LearnConfig", "MetricsConfig", "ModelConfig", "ModelKind",
           "NoiseConfig", "NoiseDistribution", "OnChipNetworkConfig", "OnChipNoiseConfig", "OnChipStartConfig",
           "OptimizerKind", "TrainConfig", "load_experiment", "load_learn_config", "resolve_path"]


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
    #: signed samples (a .npz of standardised signals, say) as two channels in [0, 1], ON = max(x, 0)/s and
    #: OFF = max(−x, 0)/s (``toolkit.data.onoff``); compile, run, verify and inspect then feed them the same way
    onoff: bool = False


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
        return plain(asdict(self))


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate the experiment config in ``path`` (errors name the file and key path). Relative paths in
    it (a ``.npz`` dataset, ``data_dir``) resolve from the config file's folder, not the working directory."""
    cfg = build(ExperimentConfig, load_yaml_mapping(path), source=str(path))
    return replace(cfg, data=_resolve_data(cfg.data, Path(path).parent))


def resolve_path(value: str, base: Path) -> str:
    """``value`` (``~`` expanded) as an absolute path, relative paths taken from ``base``: so a config means the
    same files whichever folder ``nfa`` runs in, and the absolute path recorded in a checkpoint or report stays
    meaningful when it is read from elsewhere."""
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _resolve_data(data: DataConfig, base: Path) -> DataConfig:
    """Dataset names (``digits``) stay names; a ``.npz`` dataset path and ``data_dir`` resolve from ``base``."""
    dataset = resolve_path(data.dataset, base) if data.dataset.endswith(".npz") else data.dataset
    data_dir = None if data.data_dir is None else resolve_path(data.data_dir, base)
    return replace(data, dataset=dataset, data_dir=data_dir)


def experiment_from_dict(d: dict[str, Any], *, source: str = "<checkpoint>") -> ExperimentConfig:
    return build(ExperimentConfig, d, source=source)


# ---------------------------------------------------------------- nfa learn: on-chip learning


@dataclass(frozen=True, slots=True, kw_only=True)
class OnChipNetworkConfig:
    """The on-chip FA network (``compilers.onchip.OnChipFA``, whose docstring explains each part); input size and
    classes come from the data. Weights, thresholds and gains are 8-bit registers and LIF thresholds; learning
    rates are m·2^e scales of the learning engine."""

    hidden: int = bounded(100, lo=1, hi=8192)
    timesteps: int = bounded(16, lo=2, hi=1024)
    input_bits: int = bounded(4, lo=1, hi=8)
    lr_hidden: float = bounded(2.0 ** -7, lo=2.0 ** -7, hi=7 * 2.0 ** 8)
    lr_output: float = bounded(2.0 ** -7, lo=2.0 ** -7, hi=7 * 2.0 ** 8)
    trace_impulse: float = bounded(16.0, lo=0.0, hi=127.0)
    trace_tau: float = bounded(8.0, lo=1.0, hi=4096.0)
    w1_init: int = bounded(60, lo=0, hi=254)
    w2_init: int = bounded(0, lo=0, hi=254)
    vth_hidden: int = bounded(150, lo=0, hi=(1 << 17) - 1)
    vth_output: int = bounded(400, lo=0, hi=(1 << 17) - 1)
    label_rate: float = bounded(0.75, lo=0.01, hi=1.0)
    error_gain: int = bounded(2, lo=1, hi=254)
    error_vth: int = bounded(1, lo=1, hi=(1 << 17) - 1)
    third_output: int = bounded(4, lo=0, hi=254)
    third_hidden: int = bounded(2, lo=0, hi=254)


@dataclass(frozen=True, slots=True, kw_only=True)
class OnChipNoiseConfig:
    """On-chip noise pretraining: ``samples`` random inputs with random labels before the data (0: none), drawn
    from a pool of ``pool`` fixed noise samples (0: fresh noise every sample). ``compare: true`` also runs every
    seed without the noise phase, for the comparison."""

    samples: int = bounded(0, lo=0, hi=10_000_000)
    pool: int = bounded(50, lo=0, hi=10_000_000)
    compare: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OnChipStartConfig:
    """Where on-chip learning starts: random weights (``checkpoint`` unset), or an ``nfa train`` checkpoint of an
    MLP with one hidden layer trained with fa, dfa, kp or wm, whose weights, biases and B the chip continues from
    (``compilers.onchip.from_offline``: rates normalised at the ``percentile`` of the activations on the training
    set; the network's hidden size, thresholds and w1_init/w2_init then come from the checkpoint)."""

    checkpoint: str | None = None
    percentile: float = bounded(99.9, lo=50.0, hi=100.0)


class LearnBackend(enum.Enum):
    REFERENCE = "reference"
    LAVA_SIM = "lava-sim"


@dataclass(frozen=True, slots=True, kw_only=True)
class LearnConfig:
    """``nfa learn CONFIG.yaml``: on-chip learning from random weights, optionally after on-chip noise
    pretraining. Example::

        data: {dataset: digits}
        seeds: [0, 1, 2]
        passes: 3
        noise: {samples: 2000, pool: 50, compare: true}
        eval_every: 250          # training samples between test evaluations (the curve); 0: once per pass
        start: {checkpoint: runs/fa-digits/model.pt}   # optional: continue an offline FA network on chip
    """

    data: DataConfig
    seeds: tuple[int, ...] = (0,)
    network: OnChipNetworkConfig = field(default_factory=OnChipNetworkConfig)
    noise: OnChipNoiseConfig = field(default_factory=OnChipNoiseConfig)
    start: OnChipStartConfig = field(default_factory=OnChipStartConfig)
    passes: int = bounded(1, lo=1, hi=1000)
    eval_every: int = bounded(0, lo=0, hi=10_000_000)
    test_limit: int | None = bounded(None, lo=1)
    backend: LearnBackend = LearnBackend.REFERENCE

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))


def load_learn_config(path: str | Path) -> LearnConfig:
    """Read and validate an ``nfa learn`` config (errors name the file and key path)."""
    cfg = build(LearnConfig, load_yaml_mapping(path), source=str(path))
    base = Path(path).parent   # relative paths resolve from the config's folder, as in load_experiment
    checkpoint = None if cfg.start.checkpoint is None else resolve_path(cfg.start.checkpoint, base)
    cfg = replace(cfg, data=_resolve_data(cfg.data, base), start=replace(cfg.start, checkpoint=checkpoint))
    if not cfg.seeds or any(not 0 <= s < 2**31 for s in cfg.seeds):
        from toolkit.errors import ConfigError

        raise ConfigError(f"{path}: seeds: give a list of seeds in 0..2^31-1 (got {list(cfg.seeds)})")
    return cfg
