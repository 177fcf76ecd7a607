"""One experiment from a config: data, model, noise phase, data phase, metrics, checkpoints, plots.

``run_experiment(cfg, out)`` is what ``nfa train CONFIG.yaml`` does. The run folder gets:

* ``metrics.jsonl``: one JSON object per line (strict JSON: an undefined value is null): the
  noise phase's log (``phase: noise``, every ``metrics.noise_log_every`` steps: loss and
  ∠(Wᵀ, B) per layer), per-layer metrics at
  initialisation (``phase: init``) and after the noise phase (``phase: after_noise``), then one
  line per data epoch (``phase: data``: losses, accuracies, and per layer ``angle_wb``,
  ``angle_delta``, ``eff_dim``; see ``toolkit.training.metrics``).
* ``last.pt``: the checkpoint after the noise phase and after every epoch, with the optimiser
  state, so ``resume=True`` continues from it; ``model.pt``: the final checkpoint. Both load
  with ``load_checkpoint`` (``torch.load(..., weights_only=True)``) and compile with ``nfa compile``.
* ``config.json`` (the config as read), ``accuracy.png``, ``alignment.png`` and, with a noise
  phase, ``noise_alignment.png``.

Every file is written atomically and rewritten whole (the JSON-lines file too), so an
interrupted run leaves the previous complete version.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from toolkit.data import Dataset, load_dataset
from toolkit.errors import CheckpointError, ConfigError
from toolkit.fsutil import atomic_write, write_json
from toolkit.training.checkpoint import save_checkpoint
from toolkit.training.device import describe_device, resolve_device
from toolkit.training.metrics import layer_metrics
from toolkit.training.models import Arch, build_model
from toolkit.training.noise import pretrain_on_noise
from toolkit.training.rulestep import RuleStepper
from toolkit.training.trainer import _tensors, fit, make_optimizer

if TYPE_CHECKING:
    from toolkit.config import ExperimentConfig

__all__ = ["ExperimentResult", "arch_for", "json_safe", "load_experiment_data", "run_experiment"]

LAST, FINAL = "last.pt", "model.pt"


@dataclass(slots=True)
class ExperimentResult:
    out: Path
    arch: Arch
    history: list[dict[str, Any]]
    records: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int | None = None
    device: str = "cpu"   #: what trained it (``describe_device``)


def load_experiment_data(cfg: ExperimentConfig) -> tuple[Dataset, Dataset]:
    train, test = load_dataset(cfg.data.dataset, data_dir=cfg.data.data_dir, seed=cfg.seed, onoff=cfg.data.onoff)
    if cfg.data.shape is not None:
        train, test = train.with_shape(cfg.data.shape), test.with_shape(cfg.data.shape)
    return train.take(cfg.data.train_limit), test


def arch_for(cfg: ExperimentConfig, train: Dataset) -> Arch:
    m = cfg.model
    for key, sizes in (("hidden", m.hidden), ("conv_channels", m.conv_channels)):
        if any(s < 1 for s in sizes):
            raise ConfigError(f"model.{key}: every size must be >= 1 (got {list(sizes)})")
    return Arch(kind=m.kind, in_shape=train.shape, hidden=m.hidden, n_classes=train.n_classes, rule=cfg.rule,
                conv_channels=m.conv_channels, kernel=m.kernel, pool=m.pool)


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (strict JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


class _Log:
    """The JSON-lines metrics file, rewritten atomically after each addition."""

    def __init__(self, path: Path, records: list[dict[str, Any]] | None = None) -> None:
        self.path, self.records = path, list(records or [])

    def add(self, *recs: dict[str, Any]) -> None:
        self.records.extend(recs)
        with atomic_write(self.path) as f:
            for r in self.records:
                f.write(json.dumps(json_safe(r), allow_nan=False) + "\n")


def run_experiment(cfg: ExperimentConfig, out: str | Path, *, resume: bool = False,
                   progress: bool = True, device: str = "cpu") -> ExperimentResult:
    """Run ``cfg`` into the folder ``out`` (see the module docstring); resume from ``out/last.pt``. ``device``:
    ``cpu``, ``cuda[:N]`` or ``auto`` (``toolkit.training.device``); recorded in ``metrics.jsonl``."""
    out = Path(out)
    dev = resolve_device(device)   # before any work: a missing GPU fails at once
    train, test = load_experiment_data(cfg)
    arch = arch_for(cfg, train)
    state = _resume_state(cfg, out) if resume else _fresh(out)
    write_json(out / "config.json", cfg.to_dict())
    model = build_model(arch, seed=cfg.seed).to(dev)   # built (and its draws made) on the CPU, then moved
    log = _Log(out / "metrics.jsonl", state.get("metrics"))
    log.add({"phase": "device", "device": describe_device(dev), "resumed": bool(state)})
    x, y = _tensors(train.take(cfg.metrics.probe_size))
    probe = (x, y)
    if state:
        model.load_state_dict(state["model"])
    else:
        _noise_phase(cfg, arch, model, probe, log, out, progress)
    opt = make_optimizer(model, cfg.train.optimizer, cfg.train.lr, momentum=cfg.train.momentum,
                         weight_decay=cfg.train.weight_decay)
    start = int(state.get("epoch", 0))
    if state.get("optimizer"):
        opt.load_state_dict(state["optimizer"])
    stepper = RuleStepper(model, cfg.rule_options, seed=cfg.seed)
    if state.get("rule_state"):
        stepper.load_state_dict(state["rule_state"])
    history: list[dict[str, Any]] = list(state.get("history", []))

    def on_epoch(epoch: int, m: nn.Module) -> dict[str, Any]:
        return {"layers": layer_metrics(m, probe)}

    def on_record(rec: dict[str, Any]) -> None:
        history.append(rec)
        log.add({"phase": "data", **rec})
        save_checkpoint(out / LAST, model, arch, config=cfg.to_dict(), epoch=rec["epoch"], optimizer=opt.state_dict(),
                        rule_state=stepper.state_dict(), history=history, metrics=log.records,
                        dataset=cfg.data.dataset, seed=cfg.seed)

    fit(model, train, test, cfg.train, seed=cfg.seed, progress=progress, desc=f"train {cfg.rule.value}",
        on_epoch=on_epoch, optimizer=opt, start_epoch=start, on_record=on_record, stepper=stepper)
    save_checkpoint(out / FINAL, model, arch, config=cfg.to_dict(), epoch=cfg.train.epochs, history=history,
                    dataset=cfg.data.dataset, seed=cfg.seed)
    _plots(out, history, log.records, cfg)
    return ExperimentResult(out=out, arch=arch, history=history, records=log.records,
                            resumed_from=start if state else None, device=describe_device(dev))


def _fresh(out: Path) -> dict[str, Any]:
    if (out / LAST).exists():
        raise ConfigError(f"{out} already holds a run ({LAST}): pass --resume to continue it, "
                          "or choose another output folder")
    return {}


def _resume_state(cfg: ExperimentConfig, out: Path) -> dict[str, Any]:
    from toolkit.training.checkpoint import load_checkpoint

    path = out / LAST
    if not path.is_file():
        raise CheckpointError(f"{path}: nothing to resume (no checkpoint); run without --resume to start")
    _, _, ckpt = load_checkpoint(path)
    saved = ckpt.get("config")
    if saved != cfg.to_dict():
        diff = _first_difference(saved, cfg.to_dict()) if isinstance(saved, dict) else "config"
        raise ConfigError(f"{path}: was written with a different config ({diff} differs); resume with the same "
                          "config file or start a new run in another folder")
    return {"model": ckpt["state_dict"], "epoch": ckpt.get("epoch", 0), "optimizer": ckpt.get("optimizer"),
            "rule_state": ckpt.get("rule_state"),
            "history": ckpt.get("history", []), "metrics": ckpt.get("metrics", [])}


def _first_difference(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> str:
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if va != vb:
            if isinstance(va, dict) and isinstance(vb, dict):
                return _first_difference(va, vb, f"{prefix}{k}.")
            return f"{prefix}{k}"
    return prefix.rstrip(".") or "config"


def _noise_phase(cfg: ExperimentConfig, arch: Arch, model: nn.Module, probe: tuple[torch.Tensor, torch.Tensor],
                 log: _Log, out: Path, progress: bool) -> None:
    log.add({"phase": "init", "layers": layer_metrics(model, probe)})
    if cfg.noise.steps == 0:
        return
    noise_log = pretrain_on_noise(model, arch.in_shape, arch.n_classes, cfg.noise, seed=cfg.seed, progress=progress,
                                  log_every=cfg.metrics.noise_log_every, rule_options=cfg.rule_options)
    log.add(*({"phase": "noise", **r} for r in noise_log),
            {"phase": "after_noise", "layers": layer_metrics(model, probe)})
    save_checkpoint(out / LAST, model, arch, config=cfg.to_dict(), epoch=0, optimizer={}, history=[],
                    metrics=log.records, dataset=cfg.data.dataset, seed=cfg.seed)


def _plots(out: Path, history: list[dict[str, Any]], records: list[dict[str, Any]], cfg: ExperimentConfig) -> None:
    from toolkit.plots import plot_curves

    epochs = [r["epoch"] for r in history]
    name = f"{cfg.data.dataset}, rule {cfg.rule.value}" + (" + noise" if cfg.noise.steps else "")
    plot_curves(out / "accuracy.png", {
        "test": (epochs, [r["test_acc"] for r in history]),
        "train": (epochs[1:], [r["train_acc"] for r in history[1:]]),
    }, title=f"{name}: accuracy", xlabel="data epoch", ylabel="accuracy", ylim=(0.0, 1.0))
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for key, label in (("angle_wb", "∠(Wᵀ,B)"), ("angle_delta", "∠(δ,δ_BP)")):
        for i, row in enumerate(history[0].get("layers", [])):
            pts = [(r["epoch"], r["layers"][i][key]) for r in history if r["layers"][i][key] is not None]
            if pts:
                curves[f"{row['layer']} {label}"] = ([p[0] for p in pts], [p[1] for p in pts])
    if curves:
        plot_curves(out / "alignment.png", curves, title=f"{name}: alignment with backprop", xlabel="data epoch",
                    ylabel="angle (degrees)", ylim=(0.0, 120.0))
    noise = [r for r in records if r.get("phase") == "noise"]
    if noise and noise[0]["angles"]:
        layers = [row["layer"] for row in history[0].get("layers", [])][1:]
        n_angles = len(noise[0]["angles"])
        named = layers[-n_angles:] if len(layers) >= n_angles else [f"layer {i + 2}" for i in range(n_angles)]
        plot_curves(out / "noise_alignment.png",
                    {f"{named[i]} ∠(Wᵀ,B)": ([r["step"] for r in noise], [r["angles"][i] for r in noise])
                     for i in range(n_angles)},
                    title=f"{name}: noise phase", xlabel="noise step", ylabel="angle (degrees)", ylim=(0.0, 120.0))
