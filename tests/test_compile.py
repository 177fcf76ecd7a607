"""Front end and passes: folding, balancing, conversion, quantisation ranges (core mapping: test_mapping.py)."""

from __future__ import annotations

import numpy as np
import pytest
from lava.utils.weightutils import SignMode, clip_weights, determine_sign_mode, truncate_weights

from compilers.floateval import float_forward
from compilers.frontend import from_torch
from compilers.passes import balance_thresholds, fold_biases
from compilers.passes.quantize import quantize_weights
from toolkit import ir
from toolkit.errors import GraphError, QuantizationError
from toolkit.hw import load_hw
from toolkit.training import evaluate


def test_frontend_graph_computes_the_model(trained_fa_noise, digits):
    model, arch, _ = trained_fa_noise
    g = from_torch(model, arch.in_shape)
    assert [type(n).__name__ for n in g.nodes] == ["Input", "Dense", "ReLU", "Dense", "Identity", "Output"]
    acc = float(np.mean(float_forward(g, digits[1].x)["output"].argmax(1) == digits[1].y))
    assert acc == pytest.approx(evaluate(model, digits[1]))


def test_fold_and_balance_keep_predictions(trained_fa_noise, digits):
    model, arch, _ = trained_fa_noise
    g = from_torch(model, arch.in_shape)
    folded = fold_biases(g)
    assert all(n.bias is None for n in folded.of_type(ir.Dense))
    bal = balance_thresholds(folded, calibration=digits[0].x, percentile=99.9)
    x = digits[1].x
    np.testing.assert_array_equal(float_forward(g, x)["output"].argmax(1), float_forward(bal, x)["output"].argmax(1))
    acts = float_forward(bal, digits[0].x, record=True)
    assert np.percentile(acts["relu1"][acts["relu1"] > 0], 99.9) == pytest.approx(1.0)
    assert g.node("dense1").bias is not None  # passes never mutate their input


def test_balance_requires_folded_biases(trained_fa_noise, digits):
    model, arch, _ = trained_fa_noise
    with pytest.raises(GraphError, match="run fold_biases first"):
        balance_thresholds(from_torch(model, arch.in_shape), calibration=digits[0].x)


def test_weight_registers_fit_the_mantissa_and_survive_lavas_truncation(rng):
    w = rng.normal(size=(50, 30))
    r, unit = quantize_weights(w, weight_bits=8)
    assert r.dtype == np.int32
    assert np.all(np.abs(r) <= 254) and np.all(r % 2 == 0)  # 8-bit signed mantissa, register LSB 0
    mode = determine_sign_mode(r)
    same = truncate_weights(clip_weights(r, mode, num_bits=8), mode, 8)
    np.testing.assert_array_equal(same, r)  # what Lava's Dense will really use
    assert np.max(np.abs(r * unit - w)) <= unit + 1e-12  # half a mantissa step


@pytest.mark.parametrize("sign", [1, -1])
def test_single_signed_weights_also_survive(rng, sign):
    r, _ = quantize_weights(sign * np.abs(rng.normal(size=(5, 5))), 8)
    mode = determine_sign_mode(r)
    assert mode is (SignMode.EXCITATORY if sign > 0 else SignMode.INHIBITORY)
    np.testing.assert_array_equal(truncate_weights(clip_weights(r, mode, num_bits=8), mode, 8), r)


def test_compiled_graph_is_in_chip_ranges(compiled_rate):
    hw = load_hw("loihi2")
    for n in compiled_rate.of_type(ir.Dense):
        assert n.quantized and np.abs(n.weight).max() <= 254
        assert hw.synapse.weight_exp_min <= n.weight_exp <= hw.synapse.weight_exp_max
    for n in compiled_rate.of_type(ir.LoihiLIF):
        assert 1 <= n.vth <= hw.neuron.vth_max
        assert np.abs(n.bias_mant).max() <= hw.neuron.bias_mant_max
        assert n.bias_exp.min() >= 0 and n.bias_exp.max() <= hw.neuron.bias_exp_max
    reports = compiled_rate.record(ir.Quantization).layers
    assert len(reports) == 2 and all(r["weight_rel_error"] < 0.02 for r in reports)


def test_unrepresentable_bias_raises_unless_clipping_allowed(trained_fa_noise, digits):
    from compilers.passes import convert_rate, quantize

    model, arch, _ = trained_fa_noise
    g = balance_thresholds(fold_biases(from_torch(model, arch.in_shape)), calibration=digits[0].x)
    g = convert_rate(g)
    huge = g.node("relu1").replace(bias=np.full(g.node("relu1").shape, 1e6))
    g2 = g.with_nodes([huge if n.name == "relu1" else n for n in g.nodes])
    with pytest.raises(QuantizationError, match="layer 'dense1'.*bias.*allow_clipping"):
        quantize(g2, hw=load_hw("loihi2"))
    q = quantize(g2, hw=load_hw("loihi2"), allow_clipping=True)
    assert q.record(ir.Quantization).layers[0]["clipped"] == g.node("relu1").shape[0]


def test_current_encoding_needs_graded_spikes(trained_fa_noise, digits):
    from compilers.passes import convert_rate, quantize

    model, arch, _ = trained_fa_noise
    g = convert_rate(balance_thresholds(fold_biases(from_torch(model, arch.in_shape)), calibration=digits[0].x),
                     encoding=ir.Encoding.CURRENT)
    with pytest.raises(QuantizationError, match="loihi1 has no graded spikes"):
        quantize(g, hw=load_hw("loihi1"))


def test_the_frontend_keeps_each_layers_rule_and_feedback_matrix(trained_fa_noise, tmp_path):
    """A network trained with FA keeps its B through the IR, the passes and the file, so it can keep learning
    on the chip with the same B."""
    from compilers.frontend import from_torch
    from toolkit.rules import Rule
    from toolkit.training.modules import RuleLinear

    model = trained_fa_noise[0]
    layers = [m for m in model if isinstance(m, RuleLinear)]
    g = from_torch(model, (64,))
    dense = g.of_type(ir.Dense)
    assert [d.rule for d in dense] == [Rule.FA] * len(layers)
    for d, m in zip(dense, layers, strict=True):
        np.testing.assert_array_equal(d.feedback, m.feedback.detach().numpy().astype(np.float64))
        assert d.feedback.shape == d.weight.T.shape
    h = ir.load_graph(ir.save_graph(g, tmp_path / "net.nfa"))
    for d in h.of_type(ir.Dense):
        assert d.rule is Rule.FA
        np.testing.assert_array_equal(d.feedback, g.node(d.name).feedback)
