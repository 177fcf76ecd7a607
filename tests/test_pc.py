"""Predictive coding: zil's updates are backprop's exactly, pc approaches them, pc-fa transports no weights.

Every reference gradient is autograd's, on a BP model holding the same weights, in float64.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from toolkit.rules import InferenceConfig
from toolkit.training import (
    Arch,
    ModelKind,
    NoiseConfig,
    OptimizerKind,
    Rule,
    RuleLinear,
    build_model,
    pretrain_on_noise,
    teaching_signals,
)
from toolkit.training.metrics import angle_deg
from toolkit.training.pc import InferenceLearner, relax, zil_sweep
from toolkit.training.trainer import make_gradient_step, make_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")

#: (kind, input shape, hidden, conv channels, pool, batch, seed): depths 2 to 5 rule layers
NETWORKS = [
    (ModelKind.MLP, (6,), (), (), 2, 5, 0),
    (ModelKind.MLP, (10,), (8,), (), 2, 7, 1),
    (ModelKind.MLP, (12,), (16, 9), (), 2, 4, 2),
    (ModelKind.MLP, (5,), (3, 20, 7), (), 2, 9, 3),
    (ModelKind.MLP, (1, 4, 4), (11, 11, 11, 11), (), 2, 3, 4),
    (ModelKind.CNN, (1, 6, 6), (), (3,), 2, 4, 5),
    (ModelKind.CNN, (2, 8, 8), (10,), (4,), 2, 5, 6),
    (ModelKind.CNN, (1, 9, 9), (7, 5), (3, 2), 2, 6, 7),     # 9 → 4 → 2: pooling drops a row and column
    (ModelKind.CNN, (3, 5, 5), (6,), (4, 4), 1, 3, 8),       # no pooling
    (ModelKind.CNN, (1, 12, 12), (), (3, 4, 3), 2, 6, 9),
    (ModelKind.CNN, (1, 8, 8), (9, 9), (5,), 4, 8, 10),
]


def _pair(net: tuple, rule: Rule) -> tuple[nn.Sequential, nn.Sequential, torch.Tensor, torch.Tensor]:
    """A ``rule`` model and a BP model with the same weights (float64), and a batch."""
    kind, shape, hidden, conv, pool, batch, seed = net
    arch = Arch(kind=kind, in_shape=shape, hidden=hidden, n_classes=4, rule=rule, conv_channels=conv, pool=pool)
    model = build_model(arch, seed=seed).double()
    bp = build_model(arch.with_rule(Rule.BP), seed=seed).double()
    bp.load_state_dict({k: v for k, v in model.state_dict().items() if "feedback" not in k})
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, *shape), generator=gen, dtype=torch.float64)
    return model, bp, x, torch.randint(0, 4, (batch,), generator=gen)


def _bp_grads(bp: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    bp.zero_grad()
    F.cross_entropy(bp(x), y).backward()
    return [p.grad.clone() for p in bp.parameters()]


def _grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: InferenceConfig | None = None) -> list:
    model.zero_grad()
    InferenceLearner(model, config)(x, y)
    return [p.grad.clone() for p in model.parameters()]


def _depth(model: nn.Module) -> int:
    return sum(1 for m in model if hasattr(m, "rule"))


@pytest.mark.parametrize("net", NETWORKS, ids=lambda n: f"{n[0].value}-{n[-1]}")
def test_zil_updates_are_backprop_exactly(net):
    model, bp, x, y = _pair(net, Rule.ZIL)
    for ours, ref in zip(_grads(model, x, y), _bp_grads(bp, x, y), strict=True):
        assert ref.abs().max() > 0
        torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("net", NETWORKS, ids=lambda n: f"{n[0].value}-{n[-1]}")
def test_zil_sweep_is_the_full_dynamics_on_its_schedule(net):
    # the wavefront reads what the simulation of every node at every step reads, at any rate
    model, _, x, y = _pair(net, Rule.ZIL)
    n = _depth(model)
    for rate in (1.0, 0.7):
        full = relax(model, x, y, steps=n - 1, rate=rate, update_at=[n - 1 - i for i in range(n)])
        sweep = zil_sweep(model, x, y, rate=rate)
        for a, b in zip(full.errors + full.inputs, sweep.errors + sweep.inputs, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("net", NETWORKS[2:4] + NETWORKS[7:8], ids=lambda n: f"{n[0].value}-{n[-1]}")
def test_zil_stops_being_backprop_when_a_condition_is_broken(net):
    model, bp, x, y = _pair(net, Rule.ZIL)
    n = _depth(model)
    schedule = [n - 1 - i for i in range(n)]
    exact = zil_sweep(model, x, y)  # backprop's errors (test above)
    # inference rate below 1: layer l's error is γ^(L−l) times backprop's
    slow = relax(model, x, y, steps=n - 1, rate=0.5, update_at=schedule)
    for i, (s, e) in enumerate(zip(slow.errors, exact.errors, strict=True)):
        torch.testing.assert_close(s, e * 0.5 ** (n - 1 - i), rtol=1e-9, atol=1e-15)
    assert not torch.allclose(slow.errors[0], exact.errors[0])
    # the schedule not followed: pc with T = L − 1, γ = 1 reads every layer at the last step; only the
    # bottom layer, whose step that is, keeps backprop's update
    pc, _, _, _ = _pair(net, Rule.PC)
    late = _grads(pc, x, y, InferenceConfig(steps=n - 1, rate=1.0))
    ref = _bp_grads(bp, x, y)
    torch.testing.assert_close(late[0], ref[0], rtol=1e-9, atol=1e-15)
    weights = [(a, b) for a, b in zip(late, ref, strict=True) if a.dim() > 1]
    assert all(not torch.allclose(a, b, rtol=1e-3) for a, b in weights[1:])


def test_pc_approaches_backprop_as_the_top_down_gain_falls():
    # at equilibrium ε_l = J_gᵀ W_{l+1}ᵀ ε_{l+1} exactly; what separates it from backprop is how far the
    # relaxation has moved the values (masks, presynaptic activity, the output), which shrinks with the
    # output layer's gain (until ReLU masks no longer flip)
    worst = []
    for gain in (1.0, 0.1, 0.001):
        model, bp, x, y = _pair((ModelKind.MLP, (10,), (16, 12), (), 2, 32, 1), Rule.PC)
        with torch.no_grad():
            model[-1].weight.mul_(gain)
            bp[-1].weight.mul_(gain)
        ours = _grads(model, x, y, InferenceConfig(steps=1000, rate=0.1))
        pairs = zip(ours, _bp_grads(bp, x, y), strict=True)
        worst.append(max(angle_deg(a, b) for a, b in pairs if a.dim() > 1))
    assert worst[0] > 20 and worst[1] < worst[0] / 2 and worst[2] < 0.5


@pytest.mark.parametrize("rule", [Rule.PC, Rule.PC_FA, Rule.ZIL])
@pytest.mark.parametrize("kind", [ModelKind.MLP, ModelKind.CNN])
def test_training_on_a_small_batch_reduces_the_loss(rule, kind):
    arch = Arch(kind=kind, in_shape=(1, 6, 6), hidden=(16,), n_classes=3, rule=rule,
                conv_channels=(4,) if kind is ModelKind.CNN else ())
    model = build_model(arch, seed=0)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 1, 6, 6, generator=gen), torch.randint(0, 3, (16,), generator=gen)
    opt = make_optimizer(model, OptimizerKind.ADAM, 1e-2)
    step = make_gradient_step(model)
    losses = []
    for _ in range(60):
        opt.zero_grad(set_to_none=True)
        losses.append(float(step(x, y)[1]))
        opt.step()
    assert losses[-1] < 0.5 * losses[0]


def _orthogonal_to_inputs(a: torch.Tensor, n_out: int, gen: torch.Generator) -> torch.Tensor:
    """A change of W (n_out, in) that leaves W a unchanged for every row a of the batch."""
    _, _, vh = torch.linalg.svd(a, full_matrices=True)
    null = vh[a.shape[0]:]                          # rows orthogonal to every sample
    return torch.randn(n_out, null.shape[0], generator=gen, dtype=a.dtype) @ null


@pytest.mark.parametrize("rule", [Rule.PC_FA, Rule.ZIL])
def test_pc_fa_error_path_never_reads_the_forward_weights(rule):
    # change the output layer's W only where the batch does not look (every prediction stays the same):
    # a rule that sends errors down through Wᵀ sees it, pc-fa (through B) does not
    model, _, x, y = _pair((ModelKind.MLP, (10,), (12,), (), 2, 4, 3), rule)
    upd = [1, 0]  # the hidden layer read after one step, the output layer at the start (Z-IL's schedule)
    before = relax(model, x, y, steps=1, rate=1.0, update_at=upd)
    with torch.no_grad():
        a = torch.relu(model[0](x))
        model[2].weight.add_(_orthogonal_to_inputs(a, 4, torch.Generator().manual_seed(1)))
    torch.testing.assert_close(model[2](a), F.linear(a, model[2].weight, model[2].bias))
    after = relax(model, x, y, steps=1, rate=1.0, update_at=upd)
    torch.testing.assert_close(after.errors[1], before.errors[1])   # the same output error
    if rule is Rule.PC_FA:
        torch.testing.assert_close(after.errors[0], before.errors[0], rtol=1e-12, atol=1e-15)
    else:
        assert not torch.allclose(after.errors[0], before.errors[0])


def test_pc_fa_on_the_zero_divergence_schedule_is_feedback_alignment():
    model, _, x, y = _pair(NETWORKS[3], Rule.PC_FA)
    fa = build_model(Arch(in_shape=(5,), hidden=(3, 20, 7), n_classes=4, rule=Rule.FA), seed=3).double()
    fa.load_state_dict(model.state_dict())
    F.cross_entropy(fa(x), y).backward()
    n = _depth(model)
    r = relax(model, x, y, steps=n - 1, rate=1.0, update_at=[n - 1 - i for i in range(n)])
    layers = [m for m in fa if isinstance(m, RuleLinear)]
    for layer, e, a in zip(layers, r.errors, r.inputs, strict=True):
        torch.testing.assert_close(-e.t() @ a / x.shape[0], layer.weight.grad, rtol=1e-9, atol=1e-15)


def test_backward_through_a_pc_layer_is_refused():
    model = build_model(Arch(in_shape=(4,), hidden=(5,), n_classes=3, rule=Rule.PC), seed=0)
    loss = F.cross_entropy(model(torch.randn(2, 4)), torch.tensor([0, 2]))
    with pytest.raises(RuntimeError, match="rule pc learns by inference"):
        loss.backward()


def test_teaching_signals_of_zil_are_backprops():
    model, bp, x, y = _pair(NETWORKS[7], Rule.ZIL)
    for ours, ref in zip(teaching_signals(model, x, y), teaching_signals(bp, x, y), strict=True):
        torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-15)


def test_pc_fa_pretrains_on_noise():
    arch = Arch(in_shape=(8,), hidden=(16, 16), n_classes=4, rule=Rule.PC_FA)
    model = build_model(arch, seed=0)
    cfg = NoiseConfig(steps=150, batch_size=32, lr=1e-2, pool_size=64)
    log = pretrain_on_noise(model, arch.in_shape, arch.n_classes, cfg, seed=0, progress=False, log_every=50)
    assert len(log[0]["angles"]) == 2                  # ∠(Wᵀ, B) is measured for pc-fa, as for fa
    assert log[-1]["loss"] < log[1]["loss"]


def test_unsupported_module_is_named():
    model = nn.Sequential(RuleLinear(3, 4, rule=Rule.ZIL), nn.Tanh(), RuleLinear(4, 2, rule=Rule.ZIL))
    with pytest.raises(ValueError, match="cannot relax through Tanh: between rule layers it supports"):
        InferenceLearner(model)
