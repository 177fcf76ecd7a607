"""Training loops: the data phase (``fit``) and evaluation.

Every loop is seeded: the same seed, data and config give the same weights, also across a
resume (``start_epoch`` replays the shuffling of the epochs already done). Every loop gets a
batch's gradients from ``make_gradient_step``: autograd's backward of the mean cross-entropy, or,
for the predictive-coding rules, the relaxation of ``pc.InferenceLearner``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from toolkit.config import OptimizerKind, TrainConfig
from toolkit.data.base import Dataset
from toolkit.rules import RuleOptions
from toolkit.training.device import device_of
from toolkit.training.pc import InferenceLearner, learns_by_inference
from toolkit.training.rulestep import RuleStepper

__all__ = ["GradientStep", "evaluate", "evaluate_loss", "fit", "make_gradient_step", "make_optimizer"]

#: (x, y) -> (logits, mean cross-entropy), with the batch's gradients added to the parameters' ``.grad``
GradientStep = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def make_gradient_step(model: nn.Module, rule_options: RuleOptions | None = None) -> GradientStep:
    """The function a training loop calls between ``zero_grad`` and the optimiser step.

    For the rules with a backward pass: forward, mean cross-entropy, ``loss.backward()``. For
    pc, zil and pc-fa: the relaxation of ``pc.InferenceLearner`` with ``rule_options.inference``.
    Make it once per loop (it looks at the model's layers).
    """
    if learns_by_inference(model):
        return InferenceLearner(model, (rule_options or RuleOptions()).inference)

    def backward(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        return logits, loss.detach()

    return backward


def make_optimizer(model: nn.Module, kind: OptimizerKind, lr: float, *, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """An optimiser over the trainable parameters (weights and biases; feedback tensors are never among them)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if kind is OptimizerKind.ADAM:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if kind is OptimizerKind.ADAMW:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if kind is OptimizerKind.SGD:
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind}")


def _tensors(ds: Dataset, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(ds.x, dtype=np.float32))
    y = torch.from_numpy(ds.y.astype(np.int64))
    return (x, y) if device is None or device.type == "cpu" else (x.to(device), y.to(device))


@torch.no_grad()
def evaluate(model: nn.Module, ds: Dataset, *, batch_size: int = 2048) -> float:
    """Fraction of ``ds`` classified correctly (argmax of the logits)."""
    return evaluate_loss(model, ds, batch_size=batch_size)[1]


@torch.no_grad()
def evaluate_loss(model: nn.Module, ds: Dataset, *, batch_size: int = 2048) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on ``ds``."""
    if len(ds) == 0:
        return float("nan"), float("nan")
    model.eval()
    x, y = _tensors(ds, device_of(model))
    correct, loss = 0, 0.0
    for i in range(0, len(ds), batch_size):
        logits = model(x[i:i + batch_size])
        loss += float(F.cross_entropy(logits, y[i:i + batch_size], reduction="sum"))
        correct += int((logits.argmax(1) == y[i:i + batch_size]).sum())
    return loss / len(ds), correct / len(ds)


EpochHook = Callable[[int, nn.Module], dict[str, Any]]
RecordHook = Callable[[dict[str, Any]], None]


def fit(model: nn.Module, train: Dataset, test: Dataset, cfg: TrainConfig, *, seed: int = 0,
        progress: bool = True, desc: str = "train", on_epoch: EpochHook | None = None,
        optimizer: torch.optim.Optimizer | None = None, start_epoch: int = 0,
        rule_options: RuleOptions | None = None, on_record: RecordHook | None = None,
        stepper: RuleStepper | None = None) -> list[dict[str, Any]]:
    """Train ``model`` on ``train`` for ``cfg.epochs``; return one record per epoch.

    Record 0 is the untrained model (``epoch`` 0, test accuracy before any data), then one
    per epoch with ``train_loss``, ``train_acc``, ``test_loss`` and ``test_acc``, plus
    whatever ``on_epoch(epoch, model)`` returns. ``start_epoch`` > 0 resumes after that epoch
    (pass the restored ``optimizer``); the records of earlier epochs are not repeated.
    KP and WM layers get their between-step work from ``stepper`` (default: a new
    ``RuleStepper(model, rule_options, seed=seed)``; pass a restored one to resume exactly);
    pc and pc-fa their inference settings from ``rule_options.inference``.
    ``on_record(record)`` is called with each record as soon as it exists (to log or checkpoint).
    """
    gen = torch.Generator().manual_seed(seed)
    opt = optimizer or make_optimizer(model, cfg.optimizer, cfg.lr, momentum=cfg.momentum,
                                      weight_decay=cfg.weight_decay)
    stepper = stepper or RuleStepper(model, rule_options, seed=seed)
    grads = make_gradient_step(model, rule_options)
    x, y = _tensors(train, device_of(model))   # the data lives where the model does; the shuffles stay on the CPU
    for _ in range(start_epoch):  # replay the shuffles of the epochs already done
        torch.randperm(x.shape[0], generator=gen)
    history: list[dict[str, Any]] = []

    def add(rec: dict[str, Any]) -> None:
        history.append(rec)
        if on_record is not None:
            on_record(rec)

    if start_epoch == 0:
        add(_record(0, model, test, float("nan"), float("nan"), on_epoch))
    bar = tqdm(range(start_epoch + 1, cfg.epochs + 1), desc=desc, disable=None if progress else True,
               leave=False, unit="epoch")
    for epoch in bar:
        loss, acc = _one_epoch(model, opt, grads, (x, y), cfg.batch_size, gen, stepper if stepper.active else None)
        add(_record(epoch, model, test, loss, acc, on_epoch))
        bar.set_postfix(loss=f"{loss:.3f}", test_acc=f"{history[-1]['test_acc']:.3f}")
    return history


def _one_epoch(model: nn.Module, opt: torch.optim.Optimizer, grads: GradientStep,
               data: tuple[torch.Tensor, torch.Tensor], batch_size: int, gen: torch.Generator,
               stepper: RuleStepper | None) -> tuple[float, float]:
    x, y = data
    model.train()
    perm = torch.randperm(x.shape[0], generator=gen)
    total_loss, correct = 0.0, 0
    for i in range(0, x.shape[0], batch_size):
        idx = perm[i:i + batch_size].to(x.device)
        opt.zero_grad(set_to_none=True)
        logits, loss = grads(x[idx], y[idx])
        opt.step()
        if stepper is not None:
            stepper()
        total_loss += float(loss) * len(idx)
        correct += int((logits.argmax(1) == y[idx]).sum())
    return total_loss / x.shape[0], correct / x.shape[0]


def _record(epoch: int, model: nn.Module, test: Dataset, loss: float, acc: float,
            on_epoch: EpochHook | None) -> dict[str, Any]:
    test_loss, test_acc = evaluate_loss(model, test)
    rec: dict[str, Any] = {"epoch": epoch, "train_loss": loss, "train_acc": acc,
                           "test_loss": test_loss, "test_acc": test_acc}
    if on_epoch is not None:
        rec.update(on_epoch(epoch, model))
    return rec
