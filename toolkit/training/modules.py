"""Drop-in layers that hold the state (weights, feedback) of each learning rule.

``RuleLinear`` and ``RuleConv2d`` behave as ``torch.nn.Linear`` / ``Conv2d`` in the forward
pass; the backward pass is chosen by their ``Rule`` (functions in ``functional``). State per rule:

===========  ==================================================================================
rule         state beside ``weight`` and ``bias``
===========  ==================================================================================
bp           none
fa           buffer ``feedback`` B (Wᵀ's shape for linear, W's for conv), fixed random
dfa          buffer ``feedback`` D (input numel, n_errors), fixed random; a shared ``ErrorHub``
sign         none (B = c·sign(W)ᵀ, c = 1/(2√fan_in), the mean of the random magnitudes below)
brsf         none (magnitudes redrawn every training forward from the layer's own generator)
frsf         buffer ``magnitude`` M (W's shape), fixed random; B = (M ⊙ sign(W))ᵀ
kp           buffer ``feedback`` B (stored as a view of Wᵀ's layout); ``RuleStepper`` gives it W's steps
wm           buffer ``feedback`` B, moved by ``mirror`` in mirror phases
pc, zil      none (the relaxation in ``pc`` reads Wᵀ)
pc-fa        buffer ``feedback`` B (as fa), fixed random; the relaxation sends errors down through it
===========  ==================================================================================

The predictive-coding layers compute the ordinary forward; ``loss.backward()`` through them is
an error (their gradients come from ``pc.InferenceLearner``), except inside ``transport_backward``.

Every random tensor is drawn once, at construction, from U(−1/√fan_in, 1/√fan_in) — PyTorch's
default for ``nn.Linear`` — using the ``generator`` given, in the order weight, bias, feedback.
``transport_backward(model)`` makes every layer use backprop's exact backward for as long as
it is active (used to measure δ_BP on the same weights, see ``metrics``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from toolkit.rules import Rule
from toolkit.training import functional as Fn

__all__ = [
    "RuleConv2d",
    "RuleLinear",
    "connect_direct_feedback",
    "feedback_angle_pair",
    "rule_layers_of",
    "transport_backward",
]

_SIGN_RULES = (Rule.SIGN, Rule.BRSF, Rule.FRSF)
_NO_FEEDBACK = (Rule.BP, Rule.PC, Rule.ZIL, *_SIGN_RULES)


class _RuleLayer(nn.Module):
    """State and dispatch shared by the linear and convolutional rule layers."""

    feedback: Tensor | None
    magnitude: Tensor | None
    weight: nn.Parameter
    bias: nn.Parameter | None

    def _init_rule_state(self, rule: Rule, fb_shape: tuple[int, ...] | None, bound: float,
                         generator: torch.Generator | None) -> None:
        self.rule = rule
        self.hub: Fn.ErrorHub | None = None     # set by connect_direct_feedback (DFA)
        self.is_output = False                  # the DFA layer that publishes e
        self.exact_backward = False             # set by transport_backward
        self.sign_scale = bound / 2.0
        fb = _uniform(fb_shape, bound, generator) if fb_shape is not None else None
        if fb is not None and rule is Rule.KP and fb.dim() == 2:
            # KP adds W's step to B every step: lay B out as Wᵀ is (a transposed view of an (out, in)
            # block) so that this elementwise update runs over contiguous memory
            fb = fb.t().contiguous().t()
        self.register_buffer("feedback", fb)
        mag = _uniform(tuple(self.weight.shape), bound, generator).abs() if rule is Rule.FRSF else None
        self.register_buffer("magnitude", mag)
        self._draws: torch.Generator | None = None
        if rule is Rule.BRSF:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            self._draws = torch.Generator().manual_seed(seed)

    def _sign_matrix(self) -> Tensor:
        """M ⊙ sign(W) in W's shape, for the sign-symmetric rules."""
        if self.rule is Rule.FRSF:
            return Fn.sign_feedback(self.weight, _required(self.magnitude))
        if self.rule is Rule.BRSF and self.training:
            m = torch.rand(self.weight.shape, generator=self._draws).to(self.weight.device) * (2.0 * self.sign_scale)
            return Fn.sign_feedback(self.weight, m)
        return Fn.sign_feedback(self.weight, self.sign_scale)

    def _expected_sign_matrix(self) -> Tensor:
        """M ⊙ sign(W) with brsf's magnitudes at their mean c (for measuring, never drawn)."""
        if self.rule is Rule.FRSF:
            return Fn.sign_feedback(self.weight, _required(self.magnitude))
        return Fn.sign_feedback(self.weight, self.sign_scale)

    def _hub(self) -> Fn.ErrorHub:
        if self.hub is None:
            raise RuntimeError(f"{self.__class__.__name__} with rule dfa is not connected to an error hub: "
                               "build the model with build_model() or call connect_direct_feedback(model)")
        return self.hub


class RuleLinear(_RuleLayer):
    """Linear layer y = x Wᵀ + b trained with ``rule``.

    ``error_features`` (DFA only) is the size of the output error e the layer's feedback
    projects from (the number of classes); for FA-like rules B has shape (in, out).
    """

    def __init__(self, in_features: int, out_features: int, *, rule: Rule = Rule.BP,
                 bias: bool = True, generator: torch.Generator | None = None,
                 error_features: int | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(_uniform((out_features, in_features), bound, generator))
        self.bias = nn.Parameter(_uniform((out_features,), bound, generator)) if bias else None
        self._init_rule_state(rule, _linear_feedback_shape(rule, in_features, out_features, error_features),
                              bound, generator)

    def forward(self, x: Tensor) -> Tensor:
        rule = self.rule
        if rule is Rule.BP or self.exact_backward:
            return Fn.linear_bp(x, self.weight, self.bias)
        if rule.learns_by_inference:
            return Fn.inference_only(Fn.linear_bp(x, self.weight, self.bias), rule.value)
        if rule is Rule.DFA:
            return Fn.direct_feedback_linear(x, self.weight, self.bias, _required(self.feedback), self._hub(),
                                             is_output=self.is_output)
        fb = self._sign_matrix().t() if rule in _SIGN_RULES else self.feedback
        if fb is None:
            raise RuntimeError(f"rule {rule.value} layer has no feedback (was it built with another rule?)")
        out: Tensor = Fn.feedback_linear_unchecked(x, self.weight, self.bias, fb)  # B's shape is fixed in __init__
        return out

    def feedback_matrix(self) -> Tensor | None:
        """The matrix the backward pass applies where BP applies Wᵀ (shape (in, out)), or None.

        None for BP, pc, zil and for a hidden DFA layer (its D projects from e, not from the layer
        above). For brsf: the expected feedback c·sign(W)ᵀ.
        """
        if self.rule in (Rule.BP, Rule.PC, Rule.ZIL) or (self.rule is Rule.DFA and not self.is_output):
            return None
        if self.rule in _SIGN_RULES:
            return self._expected_sign_matrix().t()
        return self.feedback

    @torch.no_grad()
    def mirror(self, x: Tensor, *, lr: float, decay: float) -> None:
        """One weight-mirror step on noise ``x`` (N, in): B ← (1 − λ) B + η xᵀ (x Wᵀ) / N."""
        if self.feedback is None or self.rule is not Rule.WM:
            raise RuntimeError(f"mirror() is only defined for rule wm (this layer: {self.rule.value})")
        self.feedback.copy_(Fn.mirror_update_linear(self.feedback, self.weight, x, lr=lr, decay=decay))

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, rule={self.rule.value}"


class RuleConv2d(_RuleLayer):
    """2-D convolution (PyTorch semantics) trained with ``rule``.

    For FA-like rules ``feedback`` has the shape of the weight (out, in/groups, kh, kw) and
    replaces it in the transposed convolution of the backward pass. For DFA it is a matrix
    (in_channels·H·W, error_features) and needs the input's spatial size ``in_size`` (H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, rule: Rule = Rule.BP, bias: bool = True,
                 generator: torch.Generator | None = None, error_features: int | None = None,
                 in_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (kernel_size, kernel_size)
        self.geometry = Fn.ConvGeometry(stride=(stride, stride), padding=(padding, padding))
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        bound = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.weight = nn.Parameter(_uniform(shape, bound, generator))
        self.bias = nn.Parameter(_uniform((out_channels,), bound, generator)) if bias else None
        self._init_rule_state(rule, _conv_feedback_shape(rule, shape, error_features, in_size), bound, generator)

    @property
    def stride(self) -> tuple[int, int]:
        return self.geometry.stride

    @property
    def padding(self) -> tuple[int, int]:
        return self.geometry.padding

    def forward(self, x: Tensor) -> Tensor:
        rule = self.rule
        if rule is Rule.BP or self.exact_backward:
            return Fn.conv2d_bp(x, self.weight, self.bias, self.geometry)
        if rule.learns_by_inference:
            return Fn.inference_only(Fn.conv2d_bp(x, self.weight, self.bias, self.geometry), rule.value)
        if rule is Rule.DFA:
            return Fn.direct_feedback_conv2d(x, self.weight, self.bias, _required(self.feedback), self._hub(),
                                             self.geometry)
        if rule in _SIGN_RULES:
            return Fn.feedback_conv2d(x, self.weight, self.bias, self._sign_matrix(), self.geometry)
        return Fn.feedback_conv2d(x, self.weight, self.bias, _required(self.feedback), self.geometry)

    def feedback_matrix(self) -> Tensor | None:
        """The kernel the backward pass applies where BP applies W (W's shape), or None (BP, DFA, pc, zil)."""
        if self.rule in (Rule.BP, Rule.DFA, Rule.PC, Rule.ZIL):
            return None
        if self.rule in _SIGN_RULES:
            return self._expected_sign_matrix()
        return self.feedback

    @torch.no_grad()
    def mirror(self, x: Tensor, *, lr: float, decay: float) -> None:
        """One weight-mirror step on noise images ``x`` (N, C, H, W)."""
        if self.feedback is None or self.rule is not Rule.WM:
            raise RuntimeError(f"mirror() is only defined for rule wm (this layer: {self.rule.value})")
        self.feedback.copy_(Fn.mirror_update_conv2d(self.feedback, self.weight, x, self.geometry, lr=lr, decay=decay))

    def extra_repr(self) -> str:
        return (f"in={self.in_channels}, out={self.out_channels}, kernel={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, rule={self.rule.value}")


def _linear_feedback_shape(rule: Rule, n_in: int, n_out: int, error_features: int | None) -> tuple[int, int] | None:
    if rule in _NO_FEEDBACK:
        return None
    if rule is Rule.DFA:
        if error_features is None:
            raise ValueError("a DFA layer needs error_features (the size of the output error, e.g. n_classes)")
        return (n_in, error_features)
    return (n_in, n_out)


def _conv_feedback_shape(rule: Rule, shape: tuple[int, int, int, int], error_features: int | None,
                         in_size: tuple[int, int] | None) -> tuple[int, ...] | None:
    if rule in _NO_FEEDBACK:
        return None
    if rule is Rule.DFA:
        if error_features is None or in_size is None:
            raise ValueError("a DFA convolution needs error_features (n_classes) and in_size (input height, width)")
        return (shape[1] * in_size[0] * in_size[1], error_features)
    return shape


def rule_layers_of(model: nn.Module) -> list[_RuleLayer]:
    return [m for m in model.modules() if isinstance(m, _RuleLayer)]


def connect_direct_feedback(model: nn.Module) -> Fn.ErrorHub | None:
    """Give every DFA layer of ``model`` one shared ``ErrorHub``; the last rule layer publishes e.

    Returns the hub (None if the model has no DFA layer). ``build_model`` calls this; call it
    yourself for a model assembled by hand. The output layer must be a ``RuleLinear``.
    """
    layers = [m for m in rule_layers_of(model) if m.rule is Rule.DFA]
    if not layers:
        return None
    out = rule_layers_of(model)[-1]
    if not isinstance(out, RuleLinear) or out.rule is not Rule.DFA:
        raise ValueError("DFA needs the model's last rule layer to be a RuleLinear with rule dfa (the output layer)")
    hub = Fn.ErrorHub()
    for m in layers:
        m.hub, m.is_output = hub, m is out
    return hub


@contextlib.contextmanager
def transport_backward(model: nn.Module) -> Iterator[None]:
    """Within the block, every rule layer of ``model`` backpropagates with its true Wᵀ (BP)."""
    layers = rule_layers_of(model)
    saved = [m.exact_backward for m in layers]
    for m in layers:
        m.exact_backward = True
    try:
        yield
    finally:
        for m, s in zip(layers, saved, strict=True):
            m.exact_backward = s


def feedback_angle_pair(layer: nn.Module) -> tuple[Tensor, Tensor] | None:
    """(the forward matrix as the feedback sees it, the feedback) of a rule layer, or None.

    Linear: (Wᵀ, B) with B of shape (in, out). Conv2d: (W, B), both (out, in/groups, kh, kw),
    since the transposed convolution applies B where backprop applies W. None where no such
    B exists (BP, a hidden DFA layer).
    """
    if isinstance(layer, RuleLinear):
        fb = layer.feedback_matrix()
        return None if fb is None else (layer.weight.t(), fb)
    if isinstance(layer, RuleConv2d):
        fb = layer.feedback_matrix()
        return None if fb is None else (layer.weight, fb)
    return None


def _required(t: Tensor | None) -> Tensor:
    """The rule state a layer registered in __init__ (FA, DFA, KP, WM: feedback; frsf: magnitude)."""
    if t is None:
        raise RuntimeError("this rule layer lacks the state its rule needs (was it built with another rule?)")
    return t


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator | None) -> Tensor:
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound
