"""Work a rule does between optimiser steps: Kolen-Pollack's update of B and weight-mirror phases.

``RuleStepper(model, options, seed)`` is called after every optimiser step of both the noise
and the data phase (``fit``, ``pretrain_on_noise`` and the benchmarks do this; a hand-written
loop must too, creating the stepper before its first step). For a model with neither KP nor
WM layers it does nothing.

Kolen-Pollack: B receives exactly the step the optimiser gave W (transposed), then both decay
by (1 − ``kp_decay``) (in closed form, see ``functional.kolen_pollack_update``). For SGD that
step is −η δ aᵀ, so ΔB = −η a δᵀ − λB as in Kolen & Pollack; for Adam it is Adam's
normalised step, which is what Adam would give B if B were a parameter with gradient (∂W)ᵀ
(its moment estimates would be the transposes of W's). Either way W − Bᵀ is untouched by the
step and shrinks exactly as (1 − λ)^t, whatever the optimiser and its own weight decay (which
acts on W and is copied to B like the rest of the step).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from toolkit.rules import Rule, RuleOptions
from toolkit.training import functional as Fn
from toolkit.training.modules import RuleConv2d, RuleLinear, rule_layers_of

__all__ = ["RuleStepper"]


class RuleStepper:
    """Applies ``options`` to the KP and WM layers of ``model`` after each optimiser step."""

    def __init__(self, model: nn.Module, options: RuleOptions | None = None, *, seed: int = 0) -> None:
        self.options = options or RuleOptions()
        layers = rule_layers_of(model)
        self.kp = [m for m in layers if m.rule is Rule.KP]
        self.wm = [m for m in layers if m.rule is Rule.WM]
        # Bᵀ − W at the start, in W's layout, and (1 − λ)^t: see functional.kolen_pollack_update
        self._offset = [_in_weight_layout(m) - m.weight.detach() for m in self.kp]
        self._scale = [1.0] * len(self.kp)
        self.gen = torch.Generator().manual_seed(seed + 7919)
        self.count = 0

    @property
    def active(self) -> bool:
        return bool(self.kp or self.wm)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (saved in ``nfa train`` checkpoints)."""
        return {"count": self.count, "generator": self.gen.get_state(), "kp_offset": [t.clone() for t in self._offset],
                "kp_scale": list(self._scale)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["kp_offset"]) != len(self._offset):
            raise ValueError(f"rule-step state has {len(state['kp_offset'])} KP layers, the model {len(self._offset)}")
        self.count = int(state["count"])
        self.gen.set_state(state["generator"])
        for mine, saved in zip(self._offset, state["kp_offset"], strict=True):
            mine.copy_(saved)
        self._scale = [float(s) for s in state["kp_scale"]]

    def __call__(self) -> None:
        self.count += 1
        if self.kp:
            self.kp_step()
        m = self.options.mirror
        if self.wm and m.steps > 0 and self.count % m.every == 0:
            for _ in range(m.steps):
                self.mirror_step()

    def kp_step(self) -> None:
        """Give every KP layer's B the step its W just took, then decay both."""
        for i, layer in enumerate(self.kp):
            if layer.feedback is not None:
                self._scale[i] = Fn.kolen_pollack_update(layer.feedback, layer.weight.data, self._offset[i],
                                                         self._scale[i], decay=self.options.kp_decay,
                                                         transpose=isinstance(layer, RuleLinear))

    @torch.no_grad()
    def mirror_step(self) -> None:
        """One mirror step for every WM layer, each driven by its own noise batch."""
        m = self.options.mirror
        for layer in self.wm:
            if isinstance(layer, RuleLinear):
                shape: tuple[int, ...] = (m.batch_size, layer.in_features)
            elif isinstance(layer, RuleConv2d):
                shape = (m.batch_size, layer.in_channels, m.image_size, m.image_size)
            else:  # pragma: no cover - rule_layers_of returns only these two
                continue
            x = torch.randn(shape, generator=self.gen).to(layer.weight.device) * m.std
            layer.mirror(x, lr=m.lr, decay=m.decay)


def _in_weight_layout(layer: nn.Module) -> torch.Tensor:
    fb = layer.feedback
    if fb is None:
        return torch.zeros_like(layer.weight.detach())
    return fb.t() if isinstance(layer, RuleLinear) else fb
