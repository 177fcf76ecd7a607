"""Pure update functions: how each rule forms the gradient a layer sends downward.

Each function is a plain function of tensors (no module state). The forward pass of every
rule is the ordinary affine map (or convolution); rules differ only in the backward pass,
i.e. in the teaching signal δ_l = (M δ_{l+1}) ⊙ f′(h_l) that the layer hands to the layer below:

* BP: M = Wᵀ (weight transport) — ``linear_bp`` / ``conv2d_bp``, autograd's exact backward.
* FA, KP, WM, sign symmetry: M = B, a tensor of Wᵀ's shape passed in by the caller —
  ``feedback_linear`` / ``feedback_conv2d``. The forward weight is not saved for the
  backward pass, so it cannot be read there. (How B changes, for KP and WM, is not the
  backward pass's business: see the update functions below and ``rulestep``.)
* DFA: the input gradient is D e, the output error e projected by a fixed matrix D straight
  to this layer's input — ``direct_feedback_linear`` / ``direct_feedback_conv2d``. The output
  layer publishes e on an ``ErrorHub`` during its backward; every hidden layer reads it there.
  Autograd runs the output layer's backward first, because every other layer's gradient
  depends on it.

* pc, zil, pc-fa: no backward pass at all. Their layers learn from the prediction errors of a
  relaxation over the whole network (``toolkit.training.pc``); ``inference_only`` runs the
  ordinary forward and makes ``loss.backward()`` through it an error instead of a silent BP.

The weight gradient is the same local outer product in every rule: ∂W = δ aᵀ (a
convolution's is the correlation of δ with its input).

Also here, the updates of B between steps: the sign-symmetric feedback (``sign_feedback``),
the weight-mirror update (``mirror_update_linear`` / ``mirror_update_conv2d``) and Kolen-Pollack's
(``kolen_pollack_update``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.nn import grad as nn_grad

__all__ = [
    "ConvGeometry",
    "ErrorHub",
    "conv2d_bp",
    "direct_feedback_conv2d",
    "direct_feedback_linear",
    "feedback_conv2d",
    "feedback_linear",
    "feedback_linear_unchecked",
    "inference_only",
    "kolen_pollack_update",
    "linear_bp",
    "mirror_update_conv2d",
    "mirror_update_linear",
    "sign_feedback",
]


def linear_bp(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Backprop baseline: y = x Wᵀ + b with autograd's exact backward (reads Wᵀ)."""
    return F.linear(x, weight, bias)


def _flat(t: Tensor) -> Tensor:
    return t if t.dim() == 2 else t.reshape(-1, t.shape[-1])


class _FeedbackLinearFn(torch.autograd.Function):
    """y = x Wᵀ + b forward; backward sends g Bᵀ down instead of g W.

    Only ``x`` and ``feedback`` are saved for the backward pass: the forward weight is
    not available there, so it cannot be read by construction.
    """

    # Kept lean on purpose: this runs once per layer per step, and its Python overhead is the
    # whole difference in cost between an FA and a BP step (docs/training.md, nfa bench speed).
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor) -> Tensor:
        ctx.save_for_backward(x, feedback)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor) -> tuple[Tensor | None, ...]:
        g = grad_outputs[0]
        x, feedback = ctx.saved_tensors
        need_x, need_w, need_b, _ = ctx.needs_input_grad  # need_b is False when there is no bias
        if g.dim() != 2:
            g2, x2 = _flat(g), _flat(x)
            return ((g2.mm(feedback.t())).reshape(x.shape) if need_x else None,
                    g2.t().mm(x2) if need_w else None, g2.sum(0) if need_b else None, None)
        return (g.mm(feedback.t()) if need_x else None, g.t().mm(x) if need_w else None,
                g.sum(0) if need_b else None, None)


def feedback_linear(x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor) -> Tensor:
    """Affine layer whose backward pass uses ``feedback`` (shape (in, out)) in place of Wᵀ (no gradient for B)."""
    if feedback.shape != (weight.shape[1], weight.shape[0]):
        raise ValueError(f"feedback must have the shape of Wᵀ {(weight.shape[1], weight.shape[0])}, "
                         f"got {tuple(feedback.shape)}")
    out: Tensor = _FeedbackLinearFn.apply(x, weight, bias, feedback)
    return out


#: ``feedback_linear`` without the shape check, for callers whose B has Wᵀ's shape by construction
#: (the layers in ``modules``; saves a few microseconds per layer and step)
feedback_linear_unchecked = _FeedbackLinearFn.apply


class ErrorHub:
    """Carries the output error e from the output layer's backward to the hidden layers' (DFA).

    One hub is shared by all DFA layers of a model (``modules.connect_direct_feedback``).
    It holds a reference to the latest e, nothing else, and is not part of a checkpoint.
    """

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: Tensor | None = None

    def publish(self, error: Tensor) -> None:
        self.error = error

    def read(self, batch: int) -> Tensor:
        e = self.error
        if e is None or e.shape[0] != batch:
            got = "nothing" if e is None else f"a batch of {e.shape[0]}"
            raise RuntimeError(f"DFA: the output error for a batch of {batch} was not published ({got} on the hub); "
                               "the loss must be computed from the output layer of the same forward pass")
        return e


class _DirectFeedbackFn(torch.autograd.Function):
    """Linear or convolutional forward; backward sends D e down (DFA) instead of Wᵀ g.

    ``feedback`` D has shape (numel of one input sample, n_errors). The output layer
    (``is_output``) publishes its incoming gradient, e, on ``hub`` before using it.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor, hub: ErrorHub,
                is_output: bool, geo: ConvGeometry | None) -> Tensor:
        ctx.save_for_backward(x, feedback)
        ctx.hub, ctx.is_output, ctx.geo, ctx.has_bias = hub, is_output, geo, bias is not None
        ctx.weight_shape = weight.shape
        if geo is None:
            return F.linear(x, weight, bias)
        return F.conv2d(x, weight, bias, geo.stride, geo.padding, geo.dilation, geo.groups)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor) -> tuple[Tensor | None, ...]:
        (g,) = grad_outputs
        x, feedback = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if ctx.is_output:
            ctx.hub.publish(_flat(g))
        grad_x = None
        if need_x:
            e = ctx.hub.read(x.shape[0] if ctx.geo is not None else _flat(x).shape[0])
            grad_x = (e @ feedback.t()).reshape(x.shape)
        grad_w = grad_b = None
        if ctx.geo is None:
            grad_w = _flat(g).t() @ _flat(x) if need_w else None
            grad_b = _flat(g).sum(0) if ctx.has_bias and need_b else None
        else:
            geo = ctx.geo
            args = (geo.stride, geo.padding, geo.dilation, geo.groups)
            grad_w = nn_grad.conv2d_weight(x, ctx.weight_shape, g, *args) if need_w else None
            grad_b = g.sum((0, 2, 3)) if ctx.has_bias and need_b else None
        return grad_x, grad_w, grad_b, None, None, None, None


def direct_feedback_linear(x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor, hub: ErrorHub,
                           *, is_output: bool) -> Tensor:
    """Affine layer for DFA: backward sends e Dᵀ down, e read from ``hub`` (D: (in, n_errors)).

    The output layer (``is_output``) publishes its own incoming gradient as e; for it, D has
    the shape of Wᵀ and the rule coincides with FA.
    """
    if feedback.dim() != 2 or feedback.shape[0] != weight.shape[1]:
        raise ValueError(f"DFA feedback must have shape (in={weight.shape[1]}, n_errors), got {tuple(feedback.shape)}")
    if is_output and feedback.shape[1] != weight.shape[0]:
        raise ValueError(f"the DFA output layer's feedback must have the shape of Wᵀ "
                         f"{(weight.shape[1], weight.shape[0])}, got {tuple(feedback.shape)}")
    out: Tensor = _DirectFeedbackFn.apply(x, weight, bias, feedback, hub, is_output, None)
    return out


@dataclass(frozen=True, slots=True)
class ConvGeometry:
    """Stride, padding, dilation and groups of a 2-D convolution (PyTorch semantics)."""

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1


def conv2d_bp(x: Tensor, weight: Tensor, bias: Tensor | None, geo: ConvGeometry) -> Tensor:
    """Backprop baseline: an ordinary convolution with autograd's exact backward."""
    return F.conv2d(x, weight, bias, geo.stride, geo.padding, geo.dilation, geo.groups)


class _FeedbackConv2dFn(torch.autograd.Function):
    """Convolution forward; backward sends conv_transpose(g, B) down instead of conv_transpose(g, W)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor,
                geo: ConvGeometry) -> Tensor:
        ctx.save_for_backward(x, feedback)
        ctx.geo, ctx.has_bias, ctx.weight_shape = geo, bias is not None, weight.shape
        return F.conv2d(x, weight, bias, geo.stride, geo.padding, geo.dilation, geo.groups)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor) -> tuple[Tensor | None, ...]:
        (g,) = grad_outputs
        x, feedback = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        geo = ctx.geo
        args = (geo.stride, geo.padding, geo.dilation, geo.groups)
        grad_x = nn_grad.conv2d_input(x.shape, feedback, g, *args) if need_x else None
        grad_w = nn_grad.conv2d_weight(x, ctx.weight_shape, g, *args) if need_w else None
        grad_b = g.sum((0, 2, 3)) if ctx.has_bias and need_b else None
        return grad_x, grad_w, grad_b, None, None


def feedback_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor,
                    geo: ConvGeometry) -> Tensor:
    """Convolution whose backward pass uses ``feedback`` (the shape of W) in place of W (no gradient for B)."""
    if feedback.shape != weight.shape:
        raise ValueError(f"feedback must have the shape of W {tuple(weight.shape)}, got {tuple(feedback.shape)}")
    out: Tensor = _FeedbackConv2dFn.apply(x, weight, bias, feedback, geo)
    return out


def direct_feedback_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor, hub: ErrorHub,
                           geo: ConvGeometry) -> Tensor:
    """Convolution for DFA (never the output layer): backward sends D e, reshaped to the input, down.

    ``feedback`` D has shape (channels × height × width of one input sample, n_errors).
    """
    if feedback.dim() != 2:
        raise ValueError(f"DFA feedback must be a matrix (input numel, n_errors), got {tuple(feedback.shape)}")
    if x.dim() == 4 and feedback.shape[0] != x[0].numel():
        raise ValueError(f"DFA feedback has {feedback.shape[0]} rows but one input sample has {x[0].numel()} "
                         f"values (shape {tuple(x.shape[1:])}); build the layer with in_size={tuple(x.shape[2:])}")
    out: Tensor = _DirectFeedbackFn.apply(x, weight, bias, feedback, hub, False, geo)
    return out


class _InferenceOnlyFn(torch.autograd.Function):
    """The layer's forward as given; a backward through it is refused (predictive-coding rules)."""

    @staticmethod
    def forward(ctx: Any, out: Tensor, rule: str) -> Tensor:
        ctx.rule = rule
        return out.view_as(out)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor) -> tuple[Tensor | None, ...]:
        raise RuntimeError(f"rule {ctx.rule} learns by inference, not by loss.backward(): compute the "
                           "gradients with toolkit.training.trainer.make_gradient_step(model)(x, y)")


def inference_only(out: Tensor, rule: str) -> Tensor:
    """``out`` unchanged, but autograd refuses to differentiate through it (see ``toolkit.training.pc``)."""
    if not torch.is_grad_enabled() or not out.requires_grad:
        return out
    res: Tensor = _InferenceOnlyFn.apply(out, rule)
    return res


def sign_feedback(weight: Tensor, magnitude: Tensor | float) -> Tensor:
    """Sign-concordant feedback M ⊙ sign(W), detached from W (shape of W; transpose it for a linear layer)."""
    return torch.sign(weight.detach()).mul_(magnitude)


def mirror_update_linear(feedback: Tensor, weight: Tensor, x: Tensor, *, lr: float, decay: float) -> Tensor:
    """Weight mirror, linear: B ← (1 − λ) B + η xᵀ y / N with y = x Wᵀ (x: (N, in) zero-mean noise).

    E[xᵀ y] / N = σ² Wᵀ, so B's fixed point is (η σ² / λ) Wᵀ. Returns the new B; no autograd.
    """
    with torch.no_grad():
        y = x @ weight.t()
        return feedback * (1.0 - decay) + (lr / x.shape[0]) * (x.t() @ y)


def mirror_update_conv2d(feedback: Tensor, weight: Tensor, x: Tensor, geo: ConvGeometry, *, lr: float,
                         decay: float) -> Tensor:
    """Weight mirror, convolution: B ← (1 − λ) B + η corr(x, y) / (N · positions), y = conv(x, W).

    corr is the weight-gradient correlation of input and output (``conv2d_weight``); for white
    noise x its expectation per output position is σ² W (up to the zero border), so the fixed
    point is again (η σ² / λ) W.
    """
    with torch.no_grad():
        args = (geo.stride, geo.padding, geo.dilation, geo.groups)
        y = F.conv2d(x, weight, None, *args)
        corr = nn_grad.conv2d_weight(x, weight.shape, y, *args)
        positions = y.shape[0] * y.shape[2] * y.shape[3]
        return feedback * (1.0 - decay) + (lr / positions) * corr


def kolen_pollack_update(feedback: Tensor, weight: Tensor, offset: Tensor, scale: float, *, decay: float,
                         transpose: bool) -> float:
    """Kolen-Pollack after an optimiser step, in place: B gets W's step, then W, B ← (1 − λ) W, (1 − λ) B.

    Because B receives exactly the step W received, Bᵀ − W changes only through the decay: after t
    steps it is (1 − λ)^t (B_0ᵀ − W_0). So instead of accumulating each step into B (five
    elementwise passes: difference, add, two decays, copy of W), the caller keeps ``offset`` =
    B_0ᵀ − W_0 (W's layout) and the scalar ``scale`` = (1 − λ)^t, and B is written as
    (1 − λ) W + (1 − λ)^{t+1} offset — the same numbers up to rounding, in two passes. Returns the
    new scale. ``transpose``: ``feedback`` is (in, out) of a linear layer (W is (out, in)).
    """
    keep = 1.0 - decay
    with torch.no_grad():
        if decay:
            weight.mul_(keep)
        new_scale = scale * keep
        fb = feedback.t() if transpose else feedback
        torch.add(weight, offset, alpha=new_scale, out=fb)
    return new_scale
