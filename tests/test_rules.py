"""Every rule's update against a small case computed by hand, plus KP/WM convergence and checkpoints.

The hand case (see each test): x = [1, 2], layer 1 W1 = [[1, -1], [0.5, 1]], so
h1 = [-1, 2.5] and f′(h1) = [0, 1]; the layer above has W2 = [[1, 2], [3, -4]]
(a1 = relu(h1) = [0, 2.5]); its output gradient is e = [1, -1]. Every rule's ∂W1 = δ1 xᵀ.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from toolkit.training import (
    Arch,
    ModelKind,
    OptimizerKind,
    Rule,
    RuleConv2d,
    RuleLinear,
    RuleOptions,
    RuleStepper,
    build_model,
    connect_direct_feedback,
    load_checkpoint,
    save_checkpoint,
    signal_angles,
    teaching_signals,
)
from toolkit.training.functional import ConvGeometry, ErrorHub, direct_feedback_conv2d, mirror_update_linear
from toolkit.training.metrics import angle_deg, participation_ratio
from toolkit.training.trainer import make_gradient_step, make_optimizer

X = torch.tensor([[1.0, 2.0]])
W1 = torch.tensor([[1.0, -1.0], [0.5, 1.0]])
W2 = torch.tensor([[1.0, 2.0], [3.0, -4.0]])
E = torch.tensor([[1.0, -1.0]])
B2 = torch.tensor([[0.5, -1.0], [2.0, 1.0]])  # feedback of layer 2, shape of W2ᵀ (in, out)


pytestmark = pytest.mark.usefixtures("one_thread")


def _two_layers(rule: Rule) -> nn.Sequential:
    l1 = RuleLinear(2, 2, rule=rule, bias=False, error_features=2)
    l2 = RuleLinear(2, 2, rule=rule, bias=False, error_features=2)
    with torch.no_grad():
        l1.weight.copy_(W1)
        l2.weight.copy_(W2)
        if l2.feedback is not None:
            l2.feedback.copy_(B2)
    model = nn.Sequential(l1, nn.ReLU(), l2)
    connect_direct_feedback(model)
    return model


def _grad_w1(model: nn.Sequential) -> torch.Tensor:
    model.zero_grad()
    model(X).backward(E)
    return model[0].weight.grad


def test_bp_hand_case():
    # δ1 = (W2ᵀ e) ⊙ f′ = [1 - 3, 2 + 4] ⊙ [0, 1] = [0, 6]
    assert torch.allclose(_grad_w1(_two_layers(Rule.BP)), torch.tensor([[0.0, 0.0], [6.0, 12.0]]))


@pytest.mark.parametrize("rule", [Rule.FA, Rule.KP, Rule.WM])
def test_fa_like_hand_case(rule):
    # δ1 = (B2 e) ⊙ f′ = [0.5 + 1, 2 - 1] ⊙ [0, 1] = [0, 1]
    assert torch.allclose(_grad_w1(_two_layers(rule)), torch.tensor([[0.0, 0.0], [1.0, 2.0]]))


def test_dfa_hand_case_output_layer_equals_fa():
    # with two layers the output layer's D has Wᵀ's shape and DFA coincides with FA
    assert torch.allclose(_grad_w1(_two_layers(Rule.DFA)), torch.tensor([[0.0, 0.0], [1.0, 2.0]]))


def test_dfa_three_layers_hidden_gets_output_error_directly():
    """h1 = W1 x, h2 = W2 a1, logits = W3 a2. DFA: δ1 = (D2 e) ⊙ f′(h1), δ2 = (D3 e) ⊙ f′(h2)."""
    l1, l2, l3 = (RuleLinear(2, 2, rule=Rule.DFA, bias=False, error_features=2) for _ in range(3))
    w3 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    d2 = torch.tensor([[3.0, 1.0], [1.0, 2.0]])   # layer 2's D: e -> input of layer 2 (= a1)
    d3 = torch.tensor([[1.0, 1.0], [-1.0, 2.0]])  # output layer's D: e -> a2
    with torch.no_grad():
        l1.weight.copy_(W1)
        l2.weight.copy_(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
        l3.weight.copy_(w3)
        l2.feedback.copy_(d2)
        l3.feedback.copy_(d3)
    model = nn.Sequential(l1, nn.ReLU(), l2, nn.ReLU(), l3)
    connect_direct_feedback(model)
    assert l3.is_output and not l1.is_output and l1.hub is l3.hub
    model(X).backward(E)
    # h1 = [-1, 2.5] -> f′ = [0, 1]; D2 e = [3 - 1, 1 - 2] = [2, -1]; δ1 = [0, -1]; ∂W1 = δ1 xᵀ
    assert torch.allclose(l1.weight.grad, torch.tensor([[0.0, 0.0], [-1.0, -2.0]]))
    # a1 = [0, 2.5], h2 = [2.5, 2.5] -> f′ = [1, 1]; D3 e = [1 - 1, -1 - 2] = [0, -3]; ∂W2 = δ2 a1ᵀ
    assert torch.allclose(l2.weight.grad, torch.tensor([[0.0, 0.0], [0.0, -7.5]]))
    # the hidden layer's D does not depend on W3: changing W3 leaves δ1 unchanged
    g1 = l1.weight.grad.clone()
    model.zero_grad()
    with torch.no_grad():
        l3.weight.mul_(-5.0)
    model(X).backward(E)
    assert torch.allclose(l1.weight.grad, g1)


def test_dfa_unconnected_layer_says_how_to_fix():
    layer = RuleLinear(2, 2, rule=Rule.DFA, error_features=2)
    with pytest.raises(RuntimeError, match="connect_direct_feedback"):
        layer(X)


def test_sign_symmetry_hand_case():
    # B = c·sign(W2)ᵀ, c = 1/(2√2); sign(W2)ᵀ e = [1 - 1, 1 + 1] = [0, 2]; δ1 = [0, 2c]
    c = 1.0 / (2.0 * math.sqrt(2.0))
    assert torch.allclose(_grad_w1(_two_layers(Rule.SIGN)), torch.tensor([[0.0, 0.0], [2 * c, 4 * c]]))


def test_frsf_hand_case():
    model = _two_layers(Rule.FRSF)
    with torch.no_grad():
        model[2].magnitude.copy_(torch.tensor([[2.0, 1.0], [1.0, 3.0]]))
    # M ⊙ sign(W2) = [[2, 1], [1, -3]]; its transpose times e = [2 - 1, 1 + 3] = [1, 4]; δ1 = [0, 4]
    assert torch.allclose(_grad_w1(model), torch.tensor([[0.0, 0.0], [4.0, 8.0]]))


def test_brsf_redraws_magnitudes_every_batch_keeping_signs():
    layer = RuleLinear(6, 1, rule=Rule.BRSF, generator=torch.Generator().manual_seed(0))
    layer.train()
    grads = []
    for _ in range(2):
        x = torch.ones(1, 6, requires_grad=True)
        layer(x).backward(torch.ones(1, 1))
        grads.append(x.grad[0])
    sign_w = torch.sign(layer.weight.detach()[0])
    for g in grads:  # g = M ⊙ sign(W), 0 <= M <= 2c
        assert torch.equal(torch.sign(g), sign_w)
        assert float(g.abs().max()) <= 2 * layer.sign_scale
    assert not torch.allclose(grads[0], grads[1])


def test_kp_hand_case_b_gets_the_step_of_w_transposed():
    model = _two_layers(Rule.KP)
    l2 = model[2]
    assert l2.feedback is not None and all(p is not l2.feedback for p in model.parameters())
    stepper = RuleStepper(model, RuleOptions(kp_decay=0.5))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(X).backward(E)
    # ∂W2 = e a1ᵀ with a1 = [0, 2.5]
    assert torch.allclose(l2.weight.grad, torch.tensor([[0.0, 2.5], [0.0, -2.5]]))
    opt.step()
    stepper()
    # W2 ← (W2 − 0.1 ∂W2)·0.5 = [[0.5, 0.875], [1.5, -1.875]]
    # B2 ← (B2 − 0.1 ∂W2ᵀ)·0.5 = ([[0.5, -1], [2, 1]] − [[0, 0], [0.25, -0.25]])·0.5 = [[0.25, -0.5], [0.875, 0.625]]
    assert torch.allclose(l2.weight, torch.tensor([[0.5, 0.875], [1.5, -1.875]]))
    assert torch.allclose(l2.feedback, torch.tensor([[0.25, -0.5], [0.875, 0.625]]))


@pytest.mark.parametrize(("kind", "wd"), [(OptimizerKind.SGD, 0.0), (OptimizerKind.SGD, 0.01),
                                          (OptimizerKind.ADAM, 0.0), (OptimizerKind.ADAM, 0.01),
                                          (OptimizerKind.ADAMW, 0.01)])
def test_kp_difference_shrinks_geometrically(kind, wd, seed):
    """B gets W's step, then (1 − λ) on both: W − Bᵀ = (1 − λ)^t (W0 − B0ᵀ), whatever the optimiser."""
    model = build_model(Arch(in_shape=(8,), hidden=(6,), n_classes=3, rule=Rule.KP), seed=0)
    layer = model[-1]
    d0 = (layer.weight - layer.feedback.t()).detach().clone()
    opt = make_optimizer(model, kind, 1e-2, momentum=0.9, weight_decay=wd)
    lam, steps = 0.05, 30
    stepper = RuleStepper(model, RuleOptions(kp_decay=lam))
    for _ in range(steps):
        loss = F.cross_entropy(model(torch.randn(16, 8)), torch.randint(0, 3, (16,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        stepper()
    d = (layer.weight - layer.feedback.t()).detach()
    assert torch.allclose(d, d0 * (1 - lam) ** steps, atol=1e-5)


def test_kp_training_aligns_b_with_w(seed):
    model = build_model(Arch(in_shape=(8,), hidden=(16,), n_classes=4, rule=Rule.KP), seed=0)
    layer = model[-1]
    assert angle_deg(layer.weight.t(), layer.feedback) > 70
    opt = make_optimizer(model, OptimizerKind.ADAM, 1e-2)
    stepper = RuleStepper(model, RuleOptions(kp_decay=0.02))
    x, y = torch.randn(64, 8), torch.randint(0, 4, (64,))
    for _ in range(200):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        stepper()
    assert angle_deg(layer.weight.t(), layer.feedback) < 20


def test_weight_mirror_hand_case():
    # x = I (N = 2), W = [[1, 2], [3, 4]]: xᵀ (x Wᵀ) / N = Wᵀ / 2; λ = 0.5, η = 1, B0 = 2 I
    b1 = mirror_update_linear(2 * torch.eye(2), torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.eye(2),
                              lr=1.0, decay=0.5)
    assert torch.allclose(b1, torch.tensor([[1.5, 1.5], [1.0, 3.0]]))


def test_weight_mirror_phases_align_b_with_w():
    model = build_model(Arch(in_shape=(20,), hidden=(30,), n_classes=10, rule=Rule.WM), seed=0)
    layer = model[-1]
    assert angle_deg(layer.weight.t(), layer.feedback) > 70
    stepper = RuleStepper(model, RuleOptions(), seed=0)
    for _ in range(200):
        stepper()
    assert angle_deg(layer.weight.t(), layer.feedback) < 10


def test_weight_mirror_conv_aligns_b_with_w():
    layer = RuleConv2d(3, 4, 3, padding=1, rule=Rule.WM, generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(layer)
    stepper = RuleStepper(model, RuleOptions(), seed=0)
    for _ in range(200):
        stepper()
    assert angle_deg(layer.weight, layer.feedback) < 10


def test_dfa_conv_input_gradient_is_projected_output_error():
    hub = ErrorHub()
    e = torch.randn(2, 5)
    hub.publish(e)
    d = torch.randn(3 * 4 * 4, 5)
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    w = torch.randn(6, 3, 3, 3, requires_grad=True)
    y = direct_feedback_conv2d(x, w, None, d, hub, ConvGeometry(padding=(1, 1)))
    g = torch.randn_like(y)
    y.backward(g)
    assert torch.allclose(x.grad, (e @ d.t()).reshape(x.shape))
    assert torch.allclose(w.grad, torch.nn.grad.conv2d_weight(x.detach(), w.shape, g, (1, 1), (1, 1)), atol=1e-5)


def test_kp_conv_feedback_gets_the_step_of_w():
    layer = RuleConv2d(2, 3, 3, padding=1, rule=Rule.KP, generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(layer)
    stepper = RuleStepper(model, RuleOptions(kp_decay=0.0))
    w0, b0 = layer.weight.detach().clone(), layer.feedback.clone()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    layer(torch.randn(2, 2, 5, 5)).sum().backward()
    opt.step()
    stepper()
    assert torch.allclose(layer.feedback - b0, layer.weight.detach() - w0)
    assert not torch.allclose(layer.feedback, b0)


def test_transport_backward_gives_bp_signals(seed):
    model = build_model(Arch(in_shape=(10,), hidden=(8, 8), n_classes=4, rule=Rule.FA), seed=0)
    bp = build_model(Arch(in_shape=(10,), hidden=(8, 8), n_classes=4, rule=Rule.BP), seed=0)
    bp.load_state_dict({k: v for k, v in model.state_dict().items() if "feedback" not in k})
    x, y = torch.randn(16, 10), torch.randint(0, 4, (16,))
    exact = teaching_signals(model, x, y, exact=True)
    for a, b in zip(exact, teaching_signals(bp, x, y), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())  # measuring touched no gradient
    assert all(not m.exact_backward for m in model if isinstance(m, RuleLinear))
    angles = signal_angles(model, x, y)
    assert len(angles) == 2 and all(a > 30 for a in angles)  # random B: far from BP's δ


def test_participation_ratio_known_values():
    assert participation_ratio(torch.eye(5)) == pytest.approx(5.0)
    assert participation_ratio(torch.ones(4, 3)) == pytest.approx(1.0)
    assert participation_ratio(torch.diag(torch.tensor([1.0, 1.0, 0.0]))) == pytest.approx(2.0)


@pytest.mark.parametrize("rule", list(Rule))
@pytest.mark.parametrize("kind", [ModelKind.MLP, ModelKind.CNN])
def test_every_rule_round_trips_through_a_checkpoint(rule, kind, tmp_path, seed):
    arch = Arch(kind=kind, in_shape=(1, 8, 8), hidden=(12,), n_classes=5, rule=rule,
                conv_channels=(3,) if kind is ModelKind.CNN else ())
    model = build_model(arch, seed=3)
    x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 5, (4,))
    make_gradient_step(model)(x, y)  # loss.backward(), or the relaxation of the predictive-coding rules
    make_optimizer(model, OptimizerKind.ADAM, 1e-2).step()
    save_checkpoint(tmp_path / "m.pt", model, arch)
    loaded, arch2, _ = load_checkpoint(tmp_path / "m.pt")
    assert arch2 == arch
    model.eval()
    assert torch.allclose(loaded(x), model(x))
    sig_a = teaching_signals(model, x, y)
    sig_b = teaching_signals(loaded, x, y)
    for a, b in zip(sig_a, sig_b, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
