"""Random-noise pretraining (Cheon, Lee & Paik, NeurIPS 2024).

Before any data, the network is trained with its own rule on pure noise: inputs drawn
from N(mean, std²) (or uniform), labels drawn uniformly from the classes. For FA this
moves the forward weights toward their fixed feedback matrices (the angle ∠(Wᵀ, B)
falls), so data training then starts aligned.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from toolkit.config import NoiseConfig, NoiseDistribution
from toolkit.rules import RuleOptions
from toolkit.training.device import device_of
from toolkit.training.metrics import weight_feedback_angles
from toolkit.training.rulestep import RuleStepper
from toolkit.training.trainer import make_gradient_step, make_optimizer

__all__ = ["noise_batch", "pretrain_on_noise"]


def noise_batch(cfg: NoiseConfig, in_shape: tuple[int, ...], n_classes: int,
                gen: torch.Generator, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` (default: one batch of) noise inputs and uniformly random labels."""
    n = cfg.batch_size if n is None else n
    shape = (n, *in_shape)
    if cfg.distribution is NoiseDistribution.GAUSSIAN:
        x = torch.randn(shape, generator=gen) * cfg.std + cfg.mean
    else:
        x = torch.rand(shape, generator=gen) * (cfg.high - cfg.low) + cfg.low
    y = torch.randint(0, n_classes, (n,), generator=gen)
    return x, y


class _NoiseSource:
    """Fresh noise every step, or batches drawn from a fixed pool of noise samples."""

    def __init__(self, cfg: NoiseConfig, in_shape: tuple[int, ...], n_classes: int,
                 gen: torch.Generator) -> None:
        self.cfg, self.in_shape, self.n_classes, self.gen = cfg, in_shape, n_classes, gen
        self.pool = noise_batch(cfg, in_shape, n_classes, gen, cfg.pool_size) if cfg.pool_size else None

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pool is None:
            return noise_batch(self.cfg, self.in_shape, self.n_classes, self.gen)
        idx = torch.randint(0, self.cfg.pool_size, (self.cfg.batch_size,), generator=self.gen)
        return self.pool[0][idx], self.pool[1][idx]


def pretrain_on_noise(model: nn.Module, in_shape: tuple[int, ...], n_classes: int, cfg: NoiseConfig,
                      *, seed: int = 0, progress: bool = True, log_every: int = 100,
                      rule_options: RuleOptions | None = None) -> list[dict[str, Any]]:
    """Train ``model`` on noise for ``cfg.steps`` with its own rule; return records every ``log_every`` steps.

    Each record has ``step``, the mean ``loss`` since the last record and the
    weight–feedback ``angles`` (degrees, one per layer above the first). The optimiser is
    fresh and discarded at the end (the data phase starts its own). KP and WM layers get
    their between-step work from ``rule_options``, pc and pc-fa their inference settings, as in
    the data phase.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(model, cfg.optimizer, cfg.lr)
    stepper = RuleStepper(model, rule_options, seed=seed + 1)
    grads = make_gradient_step(model, rule_options)
    model.train()
    log = [{"step": 0, "loss": float("nan"), "angles": weight_feedback_angles(model)}]
    source = _NoiseSource(cfg, in_shape, n_classes, gen)
    running, count = 0.0, 0
    steps = tqdm(range(1, cfg.steps + 1), desc="noise", disable=None if progress else True, leave=False, unit="step")
    device = device_of(model)
    for step in steps:
        x, y = source.next()   # drawn on the CPU (the same stream on any device), then moved
        x, y = x.to(device), y.to(device)
        opt.zero_grad(set_to_none=True)
        _, loss = grads(x, y)
        opt.step()
        if stepper.active:
            stepper()
        running, count = running + float(loss), count + 1
        if step % log_every == 0 or step == cfg.steps:
            log.append({"step": step, "loss": running / count, "angles": weight_feedback_angles(model)})
            running, count = 0.0, 0
    return log
