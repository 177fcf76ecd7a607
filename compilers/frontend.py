"""Front end: a trained PyTorch model becomes a float IR graph.

Each supported module type has one translator, registered with ``@register_frontend``
(a ``TypeRegistry``: a subclass of a registered module type uses its parent's translator).
A classifier's final synapse gets an explicit ``Identity`` neuron group (its logits), so
that every synapse in the graph feeds a neuron group.

What was trained travels with the weights: a ``RuleLinear``/``RuleConv2d`` synapse carries its
learning rule and, for the rules that keep a feedback matrix B as state (fa, dfa, kp, wm, pc-fa), that
B (``Synapse.rule``, ``Synapse.feedback``), so a later step can keep learning with the same B.
The sign-symmetric rules keep no B (theirs is a function of W) and plain torch layers no rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit import ir
from toolkit.errors import LoweringError
from toolkit.registry import TypeRegistry
from toolkit.rules import Rule
from toolkit.training.modules import RuleConv2d, RuleLinear

__all__ = ["FRONTEND", "from_torch", "register_frontend"]

Translator = Callable[[nn.Module, str, tuple[int, ...]], ir.Node]

#: torch module type -> function(module, node name, input shape) -> IR node
#: (the front end renames nodes by IR type: dense1, relu1, ...)
FRONTEND: TypeRegistry[Translator] = TypeRegistry("PyTorch front end")
register_frontend = FRONTEND.register

#: the rules whose layers hold B as state (``modules``: the ``feedback`` buffer)
_STATEFUL_FEEDBACK = (Rule.FA, Rule.DFA, Rule.KP, Rule.WM, Rule.PC_FA)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def _provenance(m: nn.Module) -> dict[str, Any]:
    """``rule`` and ``feedback`` of a rule layer (see the module doc); nothing for a plain torch layer."""
    rule = getattr(m, "rule", None)
    if not isinstance(rule, Rule):
        return {}
    fb = getattr(m, "feedback", None)
    return {"rule": rule, "feedback": _np(fb) if rule in _STATEFUL_FEEDBACK and fb is not None else None}


@register_frontend(RuleLinear, nn.Linear)
def _linear(m: nn.Module, name: str, in_shape: tuple[int, ...]) -> ir.Node:
    bias = getattr(m, "bias", None)
    return ir.Dense(name=name, weight=_np(m.weight), bias=None if bias is None else _np(bias), **_provenance(m))


def _pair(v: object, what: str, layer: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(x, int) for x in v):
        return (int(v[0]), int(v[1]))
    raise LoweringError(f"{layer}: {what} {v!r} is not supported (give an int or a pair of ints)")


@register_frontend(RuleConv2d)
def _rule_conv(m: nn.Module, name: str, in_shape: tuple[int, ...]) -> ir.Node:
    geo = m.geometry
    bias = getattr(m, "bias", None)
    return ir.Conv2d(name=name, weight=_np(m.weight), bias=None if bias is None else _np(bias),
                     stride=tuple(geo.stride), padding=tuple(geo.padding), dilation=tuple(geo.dilation),
                     groups=int(geo.groups), **_provenance(m))


@register_frontend(nn.Conv2d)
def _conv(m: nn.Module, name: str, in_shape: tuple[int, ...]) -> ir.Node:
    layer = f"Conv2d({m.in_channels}, {m.out_channels})"
    if m.padding_mode != "zeros":
        raise LoweringError(f"{layer}: padding_mode {m.padding_mode!r} is not supported; only zero padding "
                            "('zeros') has a Loihi equivalent")
    return ir.Conv2d(name=name, weight=_np(m.weight), bias=None if m.bias is None else _np(m.bias),
                     stride=_pair(m.stride, "stride", layer), padding=_pair(m.padding, "padding", layer),
                     dilation=_pair(m.dilation, "dilation", layer), groups=int(m.groups))


@register_frontend(nn.AvgPool2d)
def _avg_pool(m: nn.Module, name: str, in_shape: tuple[int, ...]) -> ir.Node:
    layer = "AvgPool2d"
    kernel = _pair(m.kernel_size, "kernel_size", layer)
    stride = kernel if m.stride is None else _pair(m.stride, "stride", layer)
    if _pair(m.padding, "padding", layer) != (0, 0) or m.ceil_mode or m.divisor_override is not None:
        raise LoweringError(f"{layer}: only padding=0, ceil_mode=False and no divisor_override are supported "
                            f"(got padding={m.padding}, ceil_mode={m.ceil_mode}, "
                            f"divisor_override={m.divisor_override})")
    return ir.AvgPool2d(name=name, kernel=kernel, stride=stride)


@register_frontend(nn.ReLU)
def _relu(m: nn.Module, name: str, in_shape: tuple[int, ...]) -> ir.Node:
    return ir.ReLU(name=name, shape=in_shape)


@register_frontend(nn.Flatten)
def _flatten(m: nn.Module, name: str, in_shape: tuple[int, ...]) -> ir.Node:
    if m.start_dim != 1 or m.end_dim != -1:
        raise LoweringError(f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) is not supported: only the "
                            "default Flatten() of everything but the batch dimension")
    return ir.Flatten(name=name)


def _modules(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return list(model)
    raise LoweringError(f"only torch.nn.Sequential models can be compiled, got {type(model).__name__}")


def from_torch(model: nn.Module, in_shape: tuple[int, ...]) -> ir.Graph:
    """Translate ``model`` (an ``nn.Sequential``) taking inputs of ``in_shape`` into a float graph."""
    nodes: list[ir.Node] = [ir.Input(name="input", shape=tuple(in_shape))]
    shape = tuple(in_shape)
    counts: dict[str, int] = {}
    for m in _modules(model):
        fn = FRONTEND.of(m)
        if fn is None:
            raise LoweringError(f"cannot compile layer {type(m).__name__}: supported layers are {FRONTEND.supported()}")
        node = fn(m, "", shape)
        if isinstance(node, ir.Flatten) and len(shape) == 1:
            continue  # flattening a vector is a no-op
        kind = type(node).__name__.lower()
        counts[kind] = counts.get(kind, 0) + 1
        node = node.replace(name=f"{kind}{counts[kind]}")
        nodes.append(node)
        shape = node.out_shape(shape)
    if not isinstance(nodes[-1], ir.NeuronGroup):  # the logits: a group with no non-linearity
        nodes.append(ir.Identity(name="logits", shape=shape))
    nodes.append(ir.Output(name="output", shape=shape))
    return ir.check_graph(ir.Graph.chain(nodes, records=(ir.PassLog(passes=("from_torch",)),)))
