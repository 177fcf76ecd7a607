"""Feedback alignment: the backward pass uses B and never Wᵀ; noise pretraining aligns W with B."""

from __future__ import annotations

import pytest
import torch

from toolkit.training import (
    Arch,
    NoiseConfig,
    Rule,
    build_model,
    pretrain_on_noise,
    weight_feedback_angles,
)
from toolkit.training.functional import feedback_linear
from toolkit.training.metrics import angle_deg
from toolkit.training.modules import RuleLinear

pytestmark = pytest.mark.usefixtures("one_thread")


def _grads(weight: torch.Tensor, feedback: torch.Tensor, x: torch.Tensor, g: torch.Tensor):
    w = weight.clone().requires_grad_(True)
    xi = x.clone().requires_grad_(True)
    y = feedback_linear(xi, w, None, feedback)
    y.backward(g)
    return xi.grad, w.grad


def test_fa_input_gradient_is_g_times_b_transpose(seed):
    x, g = torch.randn(5, 4), torch.randn(5, 3)
    w, b = torch.randn(3, 4), torch.randn(4, 3)
    gx, gw = _grads(w, b, x, g)
    assert torch.allclose(gx, g @ b.t())
    assert torch.allclose(gw, g.t() @ x)  # the weight update is the local outer product


def test_fa_backward_never_reads_forward_weights(seed):
    """Two different W with the same B give the same downstream signal: W is not read."""
    x, g, b = torch.randn(5, 4), torch.randn(5, 3), torch.randn(4, 3)
    gx1, _ = _grads(torch.randn(3, 4), b, x, g)
    gx2, _ = _grads(torch.randn(3, 4) * 10, b, x, g)
    assert torch.equal(gx1, gx2)
    # and the signal is not what backprop would send (g W)
    w = torch.randn(3, 4)
    gx, _ = _grads(w, b, x, g)
    assert not torch.allclose(gx, g @ w)


def test_bp_layer_sends_g_times_w(seed):
    layer = RuleLinear(4, 3, rule=Rule.BP)
    x = torch.randn(5, 4, requires_grad=True)
    g = torch.randn(5, 3)
    layer(x).backward(g)
    assert layer.feedback is None
    assert torch.allclose(x.grad, g @ layer.weight.detach())


def test_fa_feedback_is_fixed_buffer_not_parameter(seed):
    layer = RuleLinear(4, 3, rule=Rule.FA, generator=torch.Generator().manual_seed(0))
    assert layer.feedback is not None and layer.feedback.shape == (4, 3)
    assert all(p is not layer.feedback for p in layer.parameters())
    assert "feedback" in layer.state_dict()


def test_feedback_shape_is_checked():
    with pytest.raises(ValueError, match="shape of Wᵀ"):
        feedback_linear(torch.randn(2, 4), torch.randn(3, 4), None, torch.randn(3, 4))


def test_angle_deg_known_values():
    a = torch.tensor([1.0, 0.0])
    assert angle_deg(a, a) == pytest.approx(0.0, abs=1e-6)
    assert angle_deg(a, torch.tensor([0.0, 2.0])) == pytest.approx(90.0)
    assert angle_deg(a, -a) == pytest.approx(180.0)


def _fa_net():
    return build_model(Arch(in_shape=(64,), hidden=(100, 100), n_classes=10, rule=Rule.FA), seed=0)


def test_noise_pretraining_lowers_weight_feedback_angle(seed):
    model = _fa_net()
    before = weight_feedback_angles(model)
    log = pretrain_on_noise(model, (64,), 10, NoiseConfig(steps=1500, pool_size=2000), seed=0, progress=False)
    after = weight_feedback_angles(model)
    assert all(80.0 < a < 100.0 for a in before)  # random init: near orthogonal
    assert after[-1] < before[-1] - 25.0          # the top layer aligns strongly
    assert all(a < b for a, b in zip(after, before, strict=False))
    assert log[-1]["angles"] == after


def test_fresh_noise_each_step_does_not_align(seed):
    """Our measured finding (docs): without a fixed noise pool, labels carry no signal that
    persists across steps and the angle stays near 90 degrees."""
    model = _fa_net()
    pretrain_on_noise(model, (64,), 10, NoiseConfig(steps=1500, pool_size=0), seed=0, progress=False)
    assert weight_feedback_angles(model)[-1] > 80.0


def test_fa_conv_input_gradient_uses_feedback_not_weight(seed):
    from toolkit.training.functional import ConvGeometry, feedback_conv2d

    geo = ConvGeometry(padding=(1, 1))
    x, g = torch.randn(2, 3, 6, 6), torch.randn(2, 4, 6, 6)
    b = torch.randn(4, 3, 3, 3)
    grads = []
    for w in (torch.randn(4, 3, 3, 3), torch.randn(4, 3, 3, 3)):
        xi = x.clone().requires_grad_(True)
        feedback_conv2d(xi, w.requires_grad_(True), None, b, geo).backward(g)
        grads.append(xi.grad)
    assert torch.equal(grads[0], grads[1])
    expected = torch.nn.grad.conv2d_input(x.shape, b, g, (1, 1), (1, 1))
    assert torch.allclose(grads[0], expected, atol=1e-5)


def test_cnn_arch_builds_and_round_trips(seed):
    from toolkit.training import Arch, ModelKind, RuleConv2d

    arch = Arch(kind=ModelKind.CNN, in_shape=(1, 8, 8), conv_channels=(4, 8), hidden=(16,), n_classes=10)
    model = build_model(arch, seed=0)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert sum(isinstance(m, RuleConv2d) for m in model) == 2
    assert Arch.from_dict(arch.to_dict()) == arch
    assert len(weight_feedback_angles(model)) == 3  # conv2, hidden, logits


def test_noise_pretraining_lowers_teaching_signal_angle(seed, digits):
    """Claim 1, on the teaching signals: ∠(δ_FA, δ_BP) on real data falls during the noise phase."""
    from toolkit.training import signal_angles
    from toolkit.training.trainer import _tensors

    model = _fa_net()
    x, y = _tensors(digits[0].take(256))
    before = signal_angles(model, x, y)
    pretrain_on_noise(model, (64,), 10, NoiseConfig(steps=1500, pool_size=2000), seed=0, progress=False)
    after = signal_angles(model, x, y)
    assert all(80.0 < a < 100.0 for a in before)
    assert all(a < b - 15.0 for a, b in zip(after, before, strict=True))


def test_device_option_resolves_honestly():
    """--device: cpu always; auto picks CUDA only when torch sees a GPU; cuda without one is a one-line error
    (never a silent fall-back); nonsense is named."""
    import torch

    from toolkit.errors import BackendUnavailableError, ConfigError
    from toolkit.training.device import describe_device, resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert describe_device(torch.device("cpu")).startswith("cpu (")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match=r"--device cuda: CUDA is not available \(.*use --device cpu"):
            resolve_device("cuda")
    for bad in ("gpu", "cuda:x", "CPU"):
        with pytest.raises(ConfigError, match="--device"):
            resolve_device(bad)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
@pytest.mark.parametrize("rule", ["bp", "fa", "brsf", "wm", "pc-fa"])
def test_training_on_cuda_matches_the_cpu_to_float_tolerance(rule):
    """On a GPU machine: the same seed gives the same draws (generators stay on the CPU) and weights equal to the
    CPU's within float tolerance after a noise phase and an epoch."""
    import torch

    from toolkit.config import NoiseConfig, TrainConfig
    from toolkit.data import load_dataset
    from toolkit.training import Arch, Rule, build_model, fit, pretrain_on_noise

    train, test = load_dataset("digits")
    train, test = train.take(256), test.take(64)
    arch = Arch(in_shape=train.shape, hidden=(32,), n_classes=10, rule=Rule(rule))
    out = []
    for device in ("cpu", "cuda"):
        model = build_model(arch, seed=0).to(device)
        pretrain_on_noise(model, arch.in_shape, 10, NoiseConfig(steps=20, pool_size=100), seed=0, progress=False)
        fit(model, train, test, TrainConfig(epochs=1), seed=0, progress=False)
        out.append({k: v.detach().cpu() for k, v in model.state_dict().items()})
    for k, v in out[0].items():
        torch.testing.assert_close(out[1][k], v, rtol=1e-3, atol=1e-4, msg=k)
