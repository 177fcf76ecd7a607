"""Measurements of learning without weight transport.

**Angle** between two tensors A and B of the same shape, in degrees:
    ∠(A, B) = arccos(⟨vec A, vec B⟩ / (‖A‖_F ‖B‖_F))          (90° if either is zero)

* Weight–feedback angle of layer l: ∠(W_lᵀ, B_l) for a linear layer (both (in, out)), ∠(W_l, B_l)
  for a convolution (both of the kernel's shape). 0° means B sends back exactly the direction
  BP would. Defined where the layer has such a B (not BP, not a hidden DFA layer); the first
  layer's B never carries a signal (nothing lies below it), so ``weight_feedback_angles``
  leaves it out.
* Teaching-signal angle of layer l: ∠(δ_l^rule, δ_l^BP) over the whole probe batch flattened
  (N × units, or N × C × H × W), where δ_l = ∂L/∂h_l is the gradient of the mean
  cross-entropy with respect to the layer's pre-activation, once through the rule's backward
  and once, on the same batch and the same weights, through the exact backward
  (``modules.transport_backward``). ``torch.autograd.grad`` is used, so no parameter's
  ``.grad`` is touched. The output layer's δ is e in every rule (0°) and is left out. For the
  predictive-coding rules δ_l^rule is −ε_l / N, the error their update reads after the relaxation
  (``pc``, with the default ``InferenceConfig``).

**Effective dimensionality** of a weight matrix W (a kernel is viewed as (out, in·kh·kw)):
the participation ratio of its singular values σ_i,
    PR(W) = (Σ σ_i²)² / Σ σ_i⁴,
between 1 (rank one) and min(out, in) (all singular values equal).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from toolkit.training.device import device_of
from toolkit.training.models import rule_layers
from toolkit.training.modules import RuleConv2d, feedback_angle_pair, transport_backward
from toolkit.training.pc import InferenceLearner, learns_by_inference

__all__ = [
    "angle_deg",
    "effective_dimensionality",
    "layer_metrics",
    "layer_names",
    "participation_ratio",
    "signal_angles",
    "teaching_signals",
    "weight_feedback_angles",
]


def angle_deg(a: Tensor, b: Tensor) -> float:
    """Angle between ``a`` and ``b`` flattened, in degrees (90 if either is zero)."""
    a, b = a.detach().flatten().double(), b.detach().flatten().double()
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return 90.0
    cos = float(torch.clamp(a @ b / (na * nb), -1.0, 1.0))
    return math.degrees(math.acos(cos))


def weight_feedback_angles(model: nn.Module) -> list[float]:
    """∠(W_lᵀ, B_l) for every layer with a feedback matrix except the first."""
    pairs = [feedback_angle_pair(layer) for layer in rule_layers(model)[1:]]
    return [angle_deg(w, b) for w, b in (p for p in pairs if p is not None)]


def participation_ratio(weight: Tensor) -> float:
    """(Σσ²)² / Σσ⁴ of the singular values of ``weight`` viewed as (rows, rest)."""
    w = weight.detach().double().reshape(weight.shape[0], -1)
    s2 = torch.linalg.svdvals(w) ** 2
    denom = float((s2**2).sum())
    return float(s2.sum() ** 2 / denom) if denom > 0 else 0.0


def effective_dimensionality(model: nn.Module) -> list[float]:
    """Participation ratio of every rule layer's weight, input to output."""
    return [participation_ratio(m.weight) for m in rule_layers(model)]


def layer_names(model: nn.Module) -> list[str]:
    """``conv1``, ``conv2``, ``linear1``, ... for the rule layers, input to output."""
    names, counts = [], {"conv": 0, "linear": 0}
    for m in rule_layers(model):
        kind = "conv" if isinstance(m, RuleConv2d) else "linear"
        counts[kind] += 1
        names.append(f"{kind}{counts[kind]}")
    return names


def teaching_signals(model: nn.Module, x: Tensor, y: Tensor, *, exact: bool = False) -> list[Tensor]:
    """δ_l = ∂(mean cross-entropy)/∂h_l for every rule layer, with the rule's backward or BP's.

    Runs one forward and one ``torch.autograd.grad``; parameters' ``.grad`` are not touched.
    The model is put in eval mode meanwhile, so brsf layers use their expected feedback
    c·sign(W)ᵀ and draw nothing (measuring does not change the training trajectory). The
    predictive-coding rules relax instead (``InferenceLearner.teaching_signals``).
    """
    if not exact and learns_by_inference(model):
        return InferenceLearner(model).teaching_signals(x, y)
    outs: list[Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: outs.append(o)) for m in rule_layers(model)]
    was_training = model.training
    model.eval()  # no layer here behaves differently, except brsf, which then uses its expected feedback
    try:
        with torch.enable_grad():
            if exact:
                with transport_backward(model):
                    loss = F.cross_entropy(model(x), y)
            else:
                loss = F.cross_entropy(model(x), y)
            grads = torch.autograd.grad(loss, outs)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return [g.detach() for g in grads]


def signal_angles(model: nn.Module, x: Tensor, y: Tensor) -> list[float]:
    """∠(δ_l^rule, δ_l^BP) on the batch (x, y) for every rule layer below the output."""
    device = device_of(model)
    x, y = x.to(device), y.to(device)
    rule = teaching_signals(model, x, y)
    bp = teaching_signals(model, x, y, exact=True)
    return [angle_deg(a, b) for a, b in zip(rule[:-1], bp[:-1], strict=True)]


def layer_metrics(model: nn.Module, probe: tuple[Tensor, Tensor] | None = None) -> list[dict[str, Any]]:
    """Per rule layer: ``layer`` name, ``angle_wb`` ∠(Wᵀ, B), ``angle_delta`` ∠(δ, δ_BP), ``eff_dim``.

    A value is None where it is not defined (see the module docstring); ``angle_delta`` is
    computed only if a ``probe`` batch (x, y) is given.
    """
    layers = rule_layers(model)
    deltas: list[float | None] = [None] * len(layers)
    if probe is not None:
        deltas[:-1] = signal_angles(model, *probe)
    rows = []
    for i, (name, m) in enumerate(zip(layer_names(model), layers, strict=True)):
        pair = feedback_angle_pair(m) if i > 0 else None
        rows.append({"layer": name, "angle_wb": None if pair is None else angle_deg(*pair),
                     "angle_delta": deltas[i], "eff_dim": participation_ratio(m.weight)})
    return rows
