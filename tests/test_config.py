"""Experiment configs: YAML -> frozen typed objects, unknown keys and bad values named by key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.config import ExperimentConfig, experiment_from_dict, load_experiment
from toolkit.errors import ConfigError
from toolkit.training import ModelKind, NoiseDistribution, OptimizerKind, Rule

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


def test_full_config_becomes_typed_objects(tmp_path):
    cfg = load_experiment(_write(tmp_path, """
seed: 3
data: {dataset: digits, shape: [1, 8, 8]}
model: {kind: cnn, conv_channels: [4], hidden: [16]}
rule: kp
rule_options: {kp_decay: 0.01, mirror: {every: 2}}
noise: {steps: 10, distribution: uniform, low: -0.5, high: 0.5, pool_size: 0}
train: {epochs: 2, optimizer: sgd, lr: 0.1}
"""))
    assert cfg.seed == 3 and cfg.rule is Rule.KP and cfg.model.kind is ModelKind.CNN
    assert cfg.data.shape == (1, 8, 8) and cfg.model.conv_channels == (4,)
    assert cfg.noise.distribution is NoiseDistribution.UNIFORM and cfg.noise.pool_size == 0
    assert cfg.train.optimizer is OptimizerKind.SGD and cfg.rule_options.mirror.every == 2
    assert experiment_from_dict(cfg.to_dict()) == cfg  # round trip through the checkpoint's dict


def test_defaults_mean_no_noise_phase(tmp_path):
    cfg = load_experiment(_write(tmp_path, "data: {dataset: digits}\n"))
    assert cfg.noise.steps == 0 and cfg.rule is Rule.FA and cfg == ExperimentConfig(data=cfg.data)


@pytest.mark.parametrize(("text", "message"), [
    ("data: {dataset: digits}\nnoise: {stpes: 3}\n", r"exp.yaml: noise.stpes: unknown key \(valid keys here: .*steps"),
    ("data: {dataset: digits}\nrule: backprop\n", r"rule: must be one of 'bp', 'fa', 'dfa'"),
    ("data: {dataset: digits}\ntrain: {epochs: -1}\n", r"train.epochs: must be >= 0 \(got -1\)"),
    ("data: {dataset: digits}\nmodel: {hidden: 100}\n", r"model.hidden: must be a list"),
    ("data: {dataset: digits}\nrule_options: {mirror: {lr: fast}}\n", r"rule_options.mirror.lr: must be a float"),
    ("seed: 1\n", r"data: required key is missing"),
    ("- a list\n", r"top level must be a mapping"),
])
def test_errors_name_the_key_path(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(_write(tmp_path, text))


def test_every_example_config_is_valid():
    paths = sorted(EXAMPLES.glob("*.yaml"))
    assert len(paths) >= 3
    for p in paths:
        load_experiment(p)
    from toolkit.config import load_learn_config

    onchip = sorted((EXAMPLES / "onchip").glob("*.yaml"))   # nfa learn configs
    assert len(onchip) >= 2
    for p in onchip:
        load_learn_config(p)


def test_layer_sizes_are_checked_before_building(tmp_path):
    from toolkit.training.experiment import arch_for, load_experiment_data

    cfg = load_experiment(_write(tmp_path, "data: {dataset: digits}\nmodel: {hidden: [10, 0]}\n"))
    with pytest.raises(ConfigError, match=r"model.hidden: every size must be >= 1 \(got \[10, 0\]\)"):
        arch_for(cfg, load_experiment_data(cfg)[0])
    with pytest.raises(ConfigError, match="data.train_limit: must be >= 1"):
        load_experiment(_write(tmp_path, "data: {dataset: digits, train_limit: 0}\n"))


def test_relative_paths_resolve_from_the_config_file(tmp_path, monkeypatch):
    """A config means the same files from any working directory: a .npz dataset, data_dir and the on-chip start
    checkpoint are taken relative to the YAML file's folder (names like digits stay names)."""
    from toolkit.config import load_learn_config

    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "exp.yaml").write_text("data: {dataset: ../data/signals.npz, data_dir: idx}\n")
    (folder / "learn.yaml").write_text("data: {dataset: digits}\nstart: {checkpoint: ~/runs/model.pt}\n")
    (folder / "learn2.yaml").write_text("data: {dataset: digits, data_dir: /abs/idx}\nstart: {checkpoint: m.pt}\n")
    monkeypatch.chdir(tmp_path.parent)   # anywhere but the config's folder
    cfg = load_experiment(folder / "exp.yaml")
    assert cfg.data.dataset == str((tmp_path / "data" / "signals.npz").resolve())
    assert cfg.data.data_dir == str((folder / "idx").resolve())
    learn = load_learn_config(folder / "learn.yaml")
    assert learn.data.dataset == "digits" and learn.data.data_dir is None
    assert learn.start.checkpoint == str(Path("~/runs/model.pt").expanduser())
    learn2 = load_learn_config(folder / "learn2.yaml")
    assert learn2.data.data_dir == "/abs/idx" and learn2.start.checkpoint == str((folder / "m.pt").resolve())
