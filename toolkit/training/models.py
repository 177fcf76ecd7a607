"""Network architectures, described by a small JSON-able ``Arch`` and built from it.

A checkpoint stores the ``Arch`` next to the weights, so a model can be rebuilt (and
compiled) without the code that trained it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from toolkit.config import ModelKind
from toolkit.errors import CheckpointError, ConfigError
from toolkit.rules import Rule
from toolkit.training.modules import RuleConv2d, RuleLinear, connect_direct_feedback

__all__ = ["Arch", "build_model", "rule_layers"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Arch:
    """A network's architecture and learning rule.

    MLP: ``in_shape`` is flattened, then ``hidden`` ReLU layers, then ``n_classes`` logits.
    CNN: ``in_shape`` is (channels, height, width); for each entry of ``conv_channels`` a
    ``kernel``×``kernel`` convolution (zero padding keeps the size) + ReLU, followed by
    ``pool``×``pool`` average pooling when ``pool`` > 1; then flatten, the ``hidden`` ReLU
    layers and the logits.
    """

    kind: ModelKind = ModelKind.MLP
    in_shape: tuple[int, ...]
    hidden: tuple[int, ...]
    n_classes: int
    rule: Rule = Rule.FA
    conv_channels: tuple[int, ...] = ()
    kernel: int = 3
    pool: int = 2

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "in_shape": list(self.in_shape), "hidden": list(self.hidden),
                "n_classes": self.n_classes, "rule": self.rule.value, "conv_channels": list(self.conv_channels),
                "kernel": self.kernel, "pool": self.pool}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Arch:
        try:
            return cls(kind=ModelKind(d["kind"]), in_shape=tuple(d["in_shape"]), hidden=tuple(d["hidden"]),
                       n_classes=int(d["n_classes"]), rule=Rule(d["rule"]),
                       conv_channels=tuple(d.get("conv_channels", ())), kernel=int(d.get("kernel", 3)),
                       pool=int(d.get("pool", 2)))
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"checkpoint has an invalid architecture description {d!r}: {exc}") from None

    def with_rule(self, rule: Rule) -> Arch:
        return Arch(kind=self.kind, in_shape=self.in_shape, hidden=self.hidden, n_classes=self.n_classes,
                    rule=rule, conv_channels=self.conv_channels, kernel=self.kernel, pool=self.pool)


def _conv_stack(arch: Arch, gen: torch.Generator) -> tuple[list[nn.Module], tuple[int, ...]]:
    if len(arch.in_shape) != 3:
        raise ConfigError(f"a CNN needs samples of shape (channels, height, width), got {arch.in_shape}: "
                          "view the data as images (e.g. data.shape: [1, 8, 8] for digits)")
    c, h, w = arch.in_shape
    layers: list[nn.Module] = []
    for out_c in arch.conv_channels:
        layers += [RuleConv2d(c, out_c, arch.kernel, padding=arch.kernel // 2, rule=arch.rule, generator=gen,
                              error_features=arch.n_classes, in_size=(h, w)),
                   nn.ReLU()]
        c = out_c
        if arch.pool > 1:
            layers.append(nn.AvgPool2d(arch.pool))
            h, w = h // arch.pool, w // arch.pool
    return layers, (c, h, w)


def build_model(arch: Arch, *, seed: int = 0) -> nn.Sequential:
    """A freshly initialised network for ``arch``; weights and feedback drawn from ``seed``.

    For DFA every layer's feedback projects from the output error (``n_classes`` values) and
    the layers share one error hub (``connect_direct_feedback``).
    """
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    shape = arch.in_shape
    if arch.kind is ModelKind.CNN:
        layers, shape = _conv_stack(arch, gen)
    if len(shape) > 1:
        layers.append(nn.Flatten())
    n_in = 1
    for s in shape:
        n_in *= s
    sizes = [n_in, *arch.hidden]
    for a, b in itertools.pairwise(sizes):
        layers += [RuleLinear(a, b, rule=arch.rule, generator=gen, error_features=arch.n_classes), nn.ReLU()]
    layers.append(RuleLinear(sizes[-1], arch.n_classes, rule=arch.rule, generator=gen, error_features=arch.n_classes))
    model = nn.Sequential(*layers)
    connect_direct_feedback(model)
    return model


def rule_layers(model: nn.Module) -> list[nn.Module]:
    """The rule-trained layers of ``model`` (linear and convolutional), input to output."""
    return [m for m in model.modules() if isinstance(m, (RuleLinear, RuleConv2d))]
