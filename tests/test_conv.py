"""Convolution and average pooling: front end, float evaluation, pool_to_conv, quantisation, the exact
reference rule, and Lava's Conv (layout, flatten order) against the float model, in both modes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from compilers.driver import compile_model
from compilers.floateval import float_forward
from compilers.frontend import from_torch
from compilers.passes import CompileOptions, ConversionMode, pool_to_conv
from toolkit import ir
from toolkit.backends.reference import simulate
from toolkit.backends.reference.conv import conv2d_exact, wrap24
from toolkit.errors import LoweringError
from toolkit.hw import load_hw


def _images(digits, n=None):
    test = digits[1] if n is None else digits[1].take(n)
    return test.x.reshape(-1, 1, 8, 8), test.y


def _compile(trained_cnn, digits, mode, **kw):
    model, in_shape = trained_cnn
    return compile_model(model, in_shape, CompileOptions(hw=load_hw("loihi2"), mode=mode,
                                                         calibration=digits[0].x.reshape(-1, *in_shape), **kw))


def _float_predictions(model, x):
    with torch.no_grad():
        return model(torch.tensor(x, dtype=torch.float32)).argmax(1).numpy()


def test_front_end_and_float_evaluation_match_torch(trained_cnn, digits):
    model, in_shape = trained_cnn
    g = from_torch(model, in_shape)
    assert [type(n).__name__ for n in g.nodes] == ["Input", "Conv2d", "ReLU", "AvgPool2d", "Conv2d", "ReLU",
                                                   "AvgPool2d", "Flatten", "Dense", "Identity", "Output"]
    x, _ = _images(digits, 50)
    with torch.no_grad():
        want = copy.deepcopy(model).double()(torch.tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(float_forward(g, x)["output"], want, rtol=0, atol=1e-9)


def test_pool_to_conv_is_exact_and_gives_pools_their_own_group(trained_cnn, digits):
    model, in_shape = trained_cnn
    g = from_torch(model, in_shape)
    p = pool_to_conv(g)
    assert not p.of_type(ir.AvgPool2d)
    pool = p.node("avgpool2d1")
    assert isinstance(pool, ir.Conv2d) and pool.groups == 8 and pool.stride == (2, 2)
    np.testing.assert_array_equal(pool.weight, np.full((8, 1, 2, 2), 0.25))
    assert isinstance(p.successors("avgpool2d1")[0], ir.ReLU)  # pooled ReLU outputs are non-negative
    x, _ = _images(digits, 50)
    np.testing.assert_allclose(float_forward(p, x)["output"], float_forward(g, x)["output"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("layer, match", [
    (nn.AvgPool2d(2, padding=1), "padding=0"),
    (nn.AvgPool2d(2, ceil_mode=True), "ceil_mode"),
    (nn.Conv2d(1, 2, 3, padding_mode="reflect"), "padding_mode"),
    (nn.MaxPool2d(2), "supported layers are .*AvgPool2d.*Conv2d.*Flatten.*Linear.*ReLU"),
])
def test_unsupported_layers_raise_lowering_errors_that_list_what_works(layer, match):
    with pytest.raises(LoweringError, match=match):
        from_torch(nn.Sequential(layer, nn.Flatten(), nn.Linear(4, 2)), (1, 4, 4))


def test_exact_integer_convolution_matches_torch_in_every_geometry(rng):
    for stride, padding, dilation, groups in [((1, 1), (0, 0), (1, 1), 1), ((2, 1), (1, 2), (1, 2), 1),
                                              ((2, 2), (0, 0), (1, 1), 4), ((1, 3), (2, 0), (2, 1), 2)]:
        x = rng.integers(-300, 300, size=(3, 4, 9, 11)).astype(np.int32)
        w = rng.integers(-255, 256, size=(6 if groups != 4 else 4, 4 // groups, 3, 2)).astype(np.int32)
        n = ir.Conv2d(name="c", weight=w, stride=stride, padding=padding, dilation=dilation, groups=groups)
        want = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                                          stride=stride, padding=padding, dilation=dilation, groups=groups)
        np.testing.assert_array_equal(conv2d_exact(x, n), want.numpy().astype(np.int64))


def test_convolution_stays_exact_at_the_float32_and_float64_limits():
    """Sums just below 2^24 use float32, above use float64; both equal the int64 sum exactly."""
    for level in ((1 << 24) // (9 * 255) - 1, (1 << 24) // (9 * 255) + 1, (1 << 40)):
        x = np.full((1, 1, 3, 3), level, np.int64)
        x[0, 0, 0, 0] -= 1  # an odd total: float rounding would show
        w = np.full((1, 1, 3, 3), 255, np.int32)
        got = conv2d_exact(x, ir.Conv2d(name="c", weight=w))
        assert got[0, 0, 0, 0] == 255 * (9 * level - 1)


def test_wrap24_is_lavas_signed_clamp():
    from lava.proc.conv.utils import signed_clamp

    a = np.array([0, 1, -1, (1 << 23) - 1, 1 << 23, -(1 << 23), -(1 << 23) - 1, 3 << 24, 123456789, -987654321])
    np.testing.assert_array_equal(wrap24(a), signed_clamp(a, bits=24))


def test_quantised_convolutions_have_no_exponent_and_pools_stay_exact(trained_cnn, digits):
    for mode in ConversionMode:
        g = _compile(trained_cnn, digits, mode)
        assert all(n.weight_exp == 0 and n.quantized for n in g.of_type(ir.Conv2d))
        reports = {r["layer"]: r for r in g.record(ir.Quantization).layers}
        assert reports["avgpool2d1"]["weight_rel_error"] == 0 and reports["avgpool2d2"]["weight_rel_error"] == 0
        assert reports["conv2d1"]["weight_rel_error"] < 0.05


def test_convolution_with_an_exponent_is_refused(trained_cnn, digits):
    """Lava's Conv model has no weight exponent: a quantised Conv2d with one is not a valid graph (so a network file
    holding one is refused on load, issue 15), and the simulator's graph check refuses it before running."""
    from toolkit.errors import GraphError

    g = _compile(trained_cnn, digits, ConversionMode.RATE, timesteps=4)
    bad = g.with_nodes([n.replace(weight_exp=1) if n.name == "conv2d1" else n for n in g.nodes])
    with pytest.raises(GraphError, match="a quantised convolution has no exponent register"):
        simulate(bad, digits[1].x[:2].reshape(-1, 1, 8, 8))


def test_cnn_sdn_reference_is_close_to_float(trained_cnn, digits):
    x, y = _images(digits)
    float_pred = _float_predictions(trained_cnn[0], x)
    res = simulate(_compile(trained_cnn, digits, ConversionMode.SDN), x)
    assert np.mean(res.predictions == float_pred) >= 0.97
    assert abs(res.accuracy(y) - np.mean(float_pred == y)) * 100 <= 1.0


# ---------------------------------------------------------------- Lava (fixed_pt)


@pytest.mark.lava
@pytest.mark.parametrize("mode, steps, agree", [(ConversionMode.SDN, 1, 0.95), (ConversionMode.RATE, 48, 0.8)])
def test_lava_cnn_equals_reference_and_agrees_with_float(trained_cnn, digits, mode, steps, agree):
    """Lava's Conv (its (x, y, c) layout, flipped kernels, the flatten into the Dense) and the pooling layers,
    in both conversion modes: identical to the reference, and close to the float model."""
    from toolkit.backends.lava_sim import run_lava

    g = _compile(trained_cnn, digits, mode, timesteps=steps)
    x, _ = _images(digits, 30)
    lava = run_lava(g, x, progress=False)
    np.testing.assert_array_equal(lava.scores, simulate(g, x).scores)
    assert np.mean(lava.predictions == _float_predictions(trained_cnn[0], x)) >= agree


@pytest.mark.lava
@pytest.mark.parametrize("mode", list(ConversionMode))
def test_lava_cnn_states_equal_reference_in_the_ir_layout(trained_cnn, digits, mode):
    from toolkit.backends.lava_sim import run_lava

    g = _compile(trained_cnn, digits, mode, timesteps=2)
    names = [n.name for n in g.nodes if isinstance(n, ir.NeuronGroup)]
    x, _ = _images(digits, 2)
    ref = simulate(g, x, record=True)
    lava = run_lava(g, x, record=names, progress=False)
    for name in names:
        for var, want in ref.traces[name].items():
            np.testing.assert_array_equal(lava.traces[name][var], want, err_msg=f"{name}.{var}")
    assert ref.traces["relu1"]["s"].shape == (2, 2, 8, 8, 8)  # (samples, steps, C, H, W)


@pytest.mark.lava
def test_lava_cnn_sample_alone_equals_sample_after_another(trained_cnn, digits):
    from toolkit.backends.lava_sim import run_lava

    g = _compile(trained_cnn, digits, ConversionMode.RATE, timesteps=6)
    x, _ = _images(digits, 2)
    a_then_b = run_lava(g, x, progress=False)
    b_alone = run_lava(g, x[1:], progress=False)
    np.testing.assert_array_equal(a_then_b.scores[1], b_alone.scores[0])
