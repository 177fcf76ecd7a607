"""Predictive coding: inference learning (``pc``), zero-divergence inference learning (``zil``), ``pc-fa``.

The network, read as a predictive-coding network. The model is a flat ``nn.Sequential`` of rule
layers with parameter-free modules between them (ReLU, average pooling, flatten). A value node
x_l sits at the output of rule layer l (where the forward pass has h_l); x_0 is the input. With
g_l the chain of parameter-free modules in front of layer l, the layer predicts
μ_l = W_l g_l(x_{l−1}) + b_l (a convolution for ``RuleConv2d``) and its prediction error is
ε_l = x_l − μ_l. The output node is clamped to the target; for the trainer's cross-entropy its
error is ε_L = onehot(y) − softmax(μ_L) = −∂ℓ/∂μ_L (the energy is ℓ(μ_L, y) + Σ_{l<L} ½‖ε_l‖² per
sample, so at the forward pass ε_L is −e, the negative of backprop's output error).

Inference (one step, all hidden nodes at once, from the same state):
    x_l ← x_l + γ (−ε_l + J_{g_{l+1}}(x_l)ᵀ M_{l+1} ε_{l+1})
where M_{l+1} ε is ε sent down through layer l+1: W_{l+1}ᵀ ε for pc and zil, B_{l+1} ε for pc-fa
(a convolution: the transposed convolution with W or B), and J_gᵀ is the modules' own transpose
(ReLU: ⊙ f′(x_l); average pooling: spread back over the window; flatten: reshape). Each layer's
weights are then updated from the error and presynaptic activity read at its update step:
∂W_l = −(1/N) Σ_n ε_l g_l(x_{l−1})ᵀ, ∂b_l = −(1/N) Σ_n ε_l (written into ``.grad``, so the
optimiser's step is ΔW ∝ ε aᵀ). The weights change only after inference, as with backprop.

* pc, pc-fa: T = ``InferenceConfig.steps`` steps of rate γ = ``InferenceConfig.rate``; every layer
  reads its error at step T.
* zil: values start at the forward pass (so every hidden ε starts at 0), γ = 1, and layer l reads
  its error at step t = L − l (the output layer at t = 0). Then the error wave moves down one layer
  per step and reaches each layer exactly when it is read; the errors read are backprop's
  −δ_l and the updates are backprop's (docs/training.md, "Predictive coding"). Since every node
  below the wave still holds its forward value and no read depends on the nodes above it after
  their step, the sweep computes only the wavefront: one forward and one downward pass, the cost
  of a backprop step. ``relax`` runs the full dynamics of every node at every step; the tests check
  that the wavefront gives its numbers.

Why a model-level procedure and not a custom backward per layer, as the other rules: the
relaxation couples all layers over T steps, so no layer's update is a function of what autograd
hands it. ``InferenceLearner`` therefore runs the relaxation itself (no autograd anywhere) and
leaves the optimiser step, ``RuleStepper`` and checkpoints as for every other rule; training loops
obtain it, or autograd's backward for the other rules, from ``trainer.make_gradient_step``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from toolkit.rules import PC_RULES, InferenceConfig, Rule
from toolkit.training.modules import RuleConv2d, RuleLinear, rule_layers_of

__all__ = ["InferenceLearner", "Relaxation", "learns_by_inference", "relax", "zil_sweep"]

RuleLayer = RuleLinear | RuleConv2d

# ----------------------------------------------------------------------------- the modules between layers

#: (module, its input, a gradient at its output) -> that gradient pulled back to its input: J_gᵀ g.
#: g is a temporary of the downward pass, so a pullback may overwrite it (saves a copy per module and step)
_Pullback = Callable[[nn.Module, Tensor, Tensor], Tensor]
_PULLBACKS: dict[type[nn.Module], _Pullback] = {}


def _pullback(kind: type[nn.Module]) -> Callable[[_Pullback], _Pullback]:
    def register(fn: _Pullback) -> _Pullback:
        _PULLBACKS[kind] = fn
        return fn
    return register


@_pullback(nn.ReLU)
def _relu(_m: nn.Module, x: Tensor, g: Tensor) -> Tensor:
    return g.masked_fill_(x <= 0, 0.0)  # f′(0) = 0, as autograd takes it


@_pullback(nn.Flatten)
def _flatten(_m: nn.Module, x: Tensor, g: Tensor) -> Tensor:
    return g.reshape(x.shape)


@_pullback(nn.Identity)
def _identity(_m: nn.Module, _x: Tensor, g: Tensor) -> Tensor:
    return g


@_pullback(nn.AvgPool2d)
def _avg_pool(m: nn.Module, x: Tensor, g: Tensor) -> Tensor:
    k = _pool_size(m)
    up = F.interpolate(g, scale_factor=k, mode="nearest").div_(k * k)  # each input pixel gets 1/k² of its window's
    dropped = (0, x.shape[-1] - up.shape[-1], 0, x.shape[-2] - up.shape[-2])
    # rows and columns the pooling dropped (size not a multiple of k) received nothing
    return F.pad(up, dropped) if any(dropped) else up


def _pool_size(m: nn.Module) -> int:
    if not isinstance(m, nn.AvgPool2d):  # pragma: no cover - the registry dispatches on the type
        raise TypeError(f"not an AvgPool2d: {m}")
    k, s = m.kernel_size, m.stride if m.stride is not None else m.kernel_size
    if k != s or isinstance(k, tuple) or m.padding != 0 or m.ceil_mode or m.divisor_override:
        raise ValueError(f"predictive coding supports AvgPool2d with square windows, stride = kernel and no "
                         f"padding, got {m}")
    return int(k)


# ----------------------------------------------------------------------------- the network as blocks


@dataclass(frozen=True, slots=True)
class _Block:
    """Rule layer l and the parameter-free modules g_l in front of it."""

    pre: tuple[nn.Module, ...]
    layer: RuleLayer


def _blocks(model: nn.Module) -> list[_Block]:
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"predictive coding needs a flat nn.Sequential (as build_model makes), got "
                         f"{type(model).__name__}")
    blocks: list[_Block] = []
    pre: list[nn.Module] = []
    for m in model:
        if isinstance(m, (RuleLinear, RuleConv2d)):
            blocks.append(_Block(tuple(pre), m))
            pre = []
        elif type(m) in _PULLBACKS:
            pre.append(m)
        else:
            supported = ", ".join(sorted(k.__name__ for k in _PULLBACKS))
            raise ValueError(f"predictive coding cannot relax through {type(m).__name__}: between rule layers it "
                             f"supports {supported}")
    if not blocks or pre:
        raise ValueError("predictive coding needs the model to end in a rule layer (its logits)")
    rules = {b.layer.rule for b in blocks}
    if len(rules) != 1 or not rules <= PC_RULES:
        raise ValueError(f"predictive coding needs every rule layer on one of pc, zil, pc-fa, got "
                         f"{', '.join(sorted(r.value for r in rules))}")
    return blocks


def learns_by_inference(model: nn.Module) -> bool:
    """True if ``model`` has a rule layer trained by predictive coding."""
    return any(m.rule in PC_RULES for m in rule_layers_of(model))


@dataclass(slots=True)
class _State:
    """Layer l at the current values: inputs of its g_l modules, a = g_l(x_{l−1}), prediction μ_l."""

    ins: list[Tensor]
    a: Tensor
    mu: Tensor


def _predict(block: _Block, x_prev: Tensor) -> _State:
    ins = []
    a = x_prev
    for m in block.pre:
        ins.append(a)
        a = m(a)
    layer = block.layer
    if isinstance(layer, RuleLinear):
        mu = F.linear(a, layer.weight, layer.bias)
    else:
        geo = layer.geometry
        mu = F.conv2d(a, layer.weight, layer.bias, geo.stride, geo.padding, geo.dilation, geo.groups)
    return _State(ins, a, mu)


def _send_down(block: _Block, state: _State, eps: Tensor) -> Tensor:
    """J_{g_l}ᵀ M_l ε_l: layer l's error at its input node x_{l−1}; M = B for pc-fa, else Wᵀ."""
    layer = block.layer
    through = layer.feedback if layer.rule is Rule.PC_FA else layer.weight
    if through is None:
        raise RuntimeError("a pc-fa layer has no feedback B (was it built with another rule?)")
    if isinstance(layer, RuleLinear):
        g = eps @ through.t() if layer.rule is Rule.PC_FA else eps @ through  # B: (in, out); W: (out, in)
    else:
        g = _conv_transposed(layer, eps, state.a, through, want_input=True)
    for m, x in zip(reversed(block.pre), reversed(state.ins), strict=True):
        g = _PULLBACKS[type(m)](m, x, g)
    return g


def _conv_transposed(layer: RuleConv2d, eps: Tensor, a: Tensor, kernel: Tensor, *, want_input: bool) -> Tensor:
    """The convolution's transposed products: ``kernel`` sent back over ε (want_input), or ε correlated with a.

    ``torch.nn.grad.conv2d_input`` / ``conv2d_weight`` compute the same, but pass an expanded
    placeholder for the tensor they do not need, which the CPU convolution copies out in full
    (a third of a Z-IL step on the CNN of ``nfa bench speed``); here both real tensors are passed.
    """
    geo = layer.geometry
    mask = (True, False, False) if want_input else (False, True, False)
    out = torch.ops.aten.convolution_backward(eps, a, kernel, None, geo.stride, geo.padding, geo.dilation,
                                              False, [0, 0], geo.groups, mask)
    res: Tensor = out[0] if want_input else out[1]
    return res


def _output_error(mu: Tensor, y: Tensor) -> Tensor:
    """ε_L = onehot(y) − softmax(μ_L): the clamped output's error under cross-entropy."""
    eps = torch.softmax(mu, dim=1).neg_()
    eps[torch.arange(y.shape[0], device=y.device), y] += 1.0
    return eps


# ----------------------------------------------------------------------------- the dynamics


@dataclass(frozen=True, slots=True)
class Relaxation:
    """What the weight updates read: per layer (input to output) ε_l and a_{l−1} at its update step.

    ``logits`` are the forward pass's (step 0), for the loss and accuracy the trainer reports.
    """

    errors: list[Tensor]
    inputs: list[Tensor]
    logits: Tensor


@torch.no_grad()
def relax(model: nn.Module, x: Tensor, y: Tensor, *, steps: int, rate: float,
          update_at: Sequence[int] | None = None) -> Relaxation:
    """Run ``steps`` inference steps of every hidden node; read layer l's error at step ``update_at[l]``.

    Values start at the forward pass, the output is clamped to ``y``. ``update_at`` defaults to
    ``steps`` for every layer (pc, pc-fa); the Z-IL schedule is L − 1 − l for 0-based l. This is the
    full dynamics, T forward and downward passes over the whole network; ``zil_sweep`` computes the
    Z-IL schedule's reads alone.
    """
    blocks = _blocks(model)
    n = len(blocks)
    at = [steps] * n if update_at is None else list(update_at)
    if len(at) != n or min(at) < 0 or max(at) > steps:
        raise ValueError(f"update_at must give {n} steps in 0..{steps}, got {list(at)}")
    values = [x]
    states: list[_State] = []
    for b in blocks:
        states.append(_predict(b, values[-1]))
        values.append(states[-1].mu)
    logits, values = values[-1], values[:-1]   # values[l] is the node layer l reads, x_l (x_0: the input)
    errors: list[Tensor | None] = [None] * n
    inputs: list[Tensor | None] = [None] * n
    for t in range(steps + 1):
        if t > 0:
            states = [_predict(b, v) for b, v in zip(blocks, values, strict=True)]
        eps = [values[i + 1] - states[i].mu for i in range(n - 1)] + [_output_error(states[-1].mu, y)]
        for i in range(n):
            if at[i] == t:
                errors[i], inputs[i] = eps[i], states[i].a
        if t == steps:
            break
        for i in range(1, n):  # node values[i] is between layer i − 1 (it predicts it) and layer i (it reads it)
            values[i] = values[i] + rate * (_send_down(blocks[i], states[i], eps[i]) - eps[i - 1])
    return Relaxation(errors=_all(errors), inputs=_all(inputs), logits=logits)


@torch.no_grad()
def zil_sweep(model: nn.Module, x: Tensor, y: Tensor, *, rate: float = 1.0) -> Relaxation:
    """The reads of Z-IL's schedule (layer l at step L − l) without simulating the nodes no read depends on.

    At step t the nodes below layer L − t still hold their forward values (their errors are 0), so
    the node x_{L−t−1} moves by γ J_gᵀ M ε_{L−t} and its error becomes exactly that; the layers above
    were read at earlier steps. Equal to ``relax(..., steps=L − 1, update_at=[L − 1 − l])`` for any
    ``rate``; with ``rate`` 1 the errors are backprop's −δ_l. ``rate`` is here for that comparison.
    """
    blocks = _blocks(model)
    states: list[_State] = []
    v = x
    for b in blocks:
        states.append(_predict(b, v))
        v = states[-1].mu
    errors = [_output_error(v, y)]
    for i in range(len(blocks) - 1, 0, -1):
        down = _send_down(blocks[i], states[i], errors[-1])
        errors.append(down if rate == 1.0 else down.mul_(rate))
    errors.reverse()
    return Relaxation(errors=errors, inputs=[s.a for s in states], logits=v)


def _all(ts: list[Tensor | None]) -> list[Tensor]:
    out = [t for t in ts if t is not None]
    if len(out) != len(ts):  # pragma: no cover - relax checks update_at before the loop
        raise RuntimeError("a layer's update step was never reached")
    return out


# ----------------------------------------------------------------------------- the learner


class InferenceLearner:
    """Puts one batch's predictive-coding gradients into ``.grad``; ``(x, y) -> (logits, loss)``.

    ``zil`` runs ``zil_sweep``; ``pc`` and ``pc-fa`` run ``relax`` with ``config`` (T, γ). The loss
    returned is the forward pass's mean cross-entropy (what the trainer reports for every rule).
    Gradients are added to existing ``.grad``, as autograd does.
    """

    def __init__(self, model: nn.Module, config: InferenceConfig | None = None) -> None:
        self.model = model
        self.config = config or InferenceConfig()
        self.blocks = _blocks(model)
        self.rule = self.blocks[0].layer.rule

    def relaxation(self, x: Tensor, y: Tensor) -> Relaxation:
        if self.rule is Rule.ZIL:
            return zil_sweep(self.model, x, y)
        return relax(self.model, x, y, steps=self.config.steps, rate=self.config.rate)

    def teaching_signals(self, x: Tensor, y: Tensor) -> list[Tensor]:
        """δ_l = −ε_l / N per rule layer, the counterpart of ∂(mean cross-entropy)/∂h_l (metrics)."""
        r = self.relaxation(x, y)
        return [e / -x.shape[0] for e in r.errors]

    def __call__(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        r = self.relaxation(x, y)
        scale = -1.0 / x.shape[0]
        with torch.no_grad():
            for b, eps, a in zip(self.blocks, r.errors, r.inputs, strict=True):
                _write_grads(b.layer, eps, a, scale)
        return r.logits, F.cross_entropy(r.logits, y)


def _write_grads(layer: RuleLayer, eps: Tensor, a: Tensor, scale: float) -> None:
    if isinstance(layer, RuleLinear):
        gw = eps.t().mm(a).mul_(scale)
        gb = eps.sum(0).mul_(scale) if layer.bias is not None else None
    else:
        gw = _conv_transposed(layer, eps, a, layer.weight, want_input=False).mul_(scale)
        gb = eps.sum((0, 2, 3)).mul_(scale) if layer.bias is not None else None
    _accumulate(layer.weight, gw)
    if layer.bias is not None and gb is not None:
        _accumulate(layer.bias, gb)


def _accumulate(p: nn.Parameter, g: Tensor) -> None:
    if p.grad is None:
        p.grad = g
    else:
        p.grad.add_(g)
