"""Sigma-delta conversion: the pipeline, its quantisation bounds, the reference rule, Lava, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compilers.driver import compile_model
from compilers.passes import CompileOptions, ConversionMode
from toolkit import ir
from toolkit.backends.reference import simulate
from toolkit.errors import LoweringError, QuantizationError
from toolkit.hw import load_hw

#: Stated margin: a sigma-delta network is within 1 point of float accuracy (the issue's goal is 0.5
#: points on 1000 Fashion-MNIST images; on 360 digits one image is 0.28 points).
MARGIN_POINTS = 1.0


def _sdn(model, in_shape, calibration, **kw):
    return compile_model(model, in_shape, CompileOptions(hw=load_hw("loihi2"), calibration=calibration,
                                                         mode=ConversionMode.SDN, **kw))


@pytest.fixture(scope="module")
def compiled_sdn(trained_fa_noise, digits):
    model, arch, _ = trained_fa_noise
    return _sdn(model, arch.in_shape, digits[0].x)


def test_sdn_pipeline_makes_sigma_delta_groups_with_delta_input(compiled_sdn):
    g = compiled_sdn
    assert g.of_type(ir.Input)[0].encoding is ir.Encoding.DELTA
    assert g.of_type(ir.Output)[0].readout is ir.ReadoutMode.SIGMA
    groups = g.of_type(ir.LoihiSigmaDelta)
    assert [n.activation for n in groups] == [ir.Activation.RELU, ir.Activation.IDENTITY]
    assert not g.of_type(ir.LIF) and not g.of_type(ir.LoihiLIF)
    assert list(g.record(ir.PassLog).passes[:6]) == ["from_torch", "pool_to_conv", "fold_biases", "balance_thresholds",
                                    "measure_ranges", "convert_sdn"]
    assert g.timesteps == 1


def test_sdn_quantisation_is_in_the_chip_formats(compiled_sdn):
    hw = load_hw("loihi2")
    for n in compiled_sdn.of_type(ir.Dense):
        assert n.quantized and np.abs(n.weight).max() <= 254 and not np.any(n.weight % 2)
        assert hw.synapse.weight_exp_min <= n.weight_exp <= hw.synapse.weight_exp_max
    for n in compiled_sdn.of_type(ir.LoihiSigmaDelta):
        scale = 1 << (n.state_exp + n.spike_exp)
        assert 0 <= n.state_exp <= 7 and n.vth >= 1 and n.vth * scale < 1 << 23
        assert np.abs(n.bias_mant.astype(np.int64) * scale).max() < 1 << 15
        assert n.message_bits == 16
    for rep in compiled_sdn.record(ir.Quantization).layers:
        assert rep["mode"] == "sdn" and rep["clipped"] == 0 and rep["weight_rel_error"] < 0.02
        assert rep["message_bits_used"] <= 16 and rep["accumulator_use"] <= 1.0


def test_calibrated_values_stay_inside_the_registers(compiled_sdn, digits):
    """On calibration data, every state, spike payload and dendritic sum is within its format with room."""
    g = compiled_sdn
    res = simulate(g, digits[0].x[:300], record=True)
    for n in g.of_type(ir.LoihiSigmaDelta):
        tr = res.traces[n.name]
        assert np.abs(tr["sigma"]).max() < 1 << 22 and np.abs(tr["act"]).max() < 1 << 22  # 24-bit state / 2
        assert np.abs(tr["s"]).max() < 1 << (n.message_bits - 2)                             # payload / 2
    dense = g.of_type(ir.Dense)[1]
    msgs = res.traces[g.of_type(ir.LoihiSigmaDelta)[0].name]["s"]
    sums = np.abs(msgs.reshape(-1, msgs.shape[-1]).astype(np.int64) @ dense.weight.T.astype(np.int64))
    assert sums.max() < 1 << 22  # 24-bit accumulator / 2


def test_sdn_accuracy_is_close_to_float_in_one_step(trained_fa_noise, compiled_sdn, digits):
    from toolkit.training import evaluate

    test = digits[1]
    float_acc = evaluate(trained_fa_noise[0], test)
    one = simulate(compiled_sdn, test.x)
    assert abs(one.accuracy(test.y) - float_acc) * 100 <= MARGIN_POINTS, (one.accuracy(test.y), float_acc)
    # the default delta threshold (one payload unit) settles in the first step: more steps change nothing
    np.testing.assert_array_equal(simulate(compiled_sdn, test.x, timesteps=5).scores, one.scores)


def test_larger_delta_threshold_sends_fewer_spikes_and_cum_error_recovers_over_time(trained_fa_noise, digits):
    model, arch, _ = trained_fa_noise
    x = digits[1].x[:100]
    fine = simulate(_sdn(model, arch.in_shape, digits[0].x), x, record=True)
    coarse_g = _sdn(model, arch.in_shape, digits[0].x, delta_threshold=0.2, cum_error=True, timesteps=8)
    coarse = simulate(coarse_g, x, record=True)
    first = coarse_g.of_type(ir.LoihiSigmaDelta)[0].name
    assert np.count_nonzero(coarse.traces[first]["s"][:, 0]) < np.count_nonzero(fine.traces[first]["s"][:, 0])
    # with cum_error the residues below the threshold are sent later: step 1 alone is worse than 8 steps
    one_step = simulate(coarse_g, x, timesteps=1)
    err8 = np.abs(coarse.scores - fine.scores).sum()
    err1 = np.abs(one_step.scores - fine.scores).sum()
    assert err8 < err1


def test_sdn_on_loihi1_is_a_clear_error(trained_fa_noise, digits):
    model, arch, _ = trained_fa_noise
    with pytest.raises(LoweringError, match="sdn needs graded spikes.*loihi1.*--mode rate"):
        compile_model(model, arch.in_shape, CompileOptions(hw=load_hw("loihi1"), calibration=digits[0].x,
                                                           mode=ConversionMode.SDN))


def test_sdn_needs_delta_encoding_and_message_bits_within_the_chip(trained_fa_noise, digits):
    model, arch, _ = trained_fa_noise
    with pytest.raises(LoweringError, match="delta-encoded"):
        _sdn(model, arch.in_shape, digits[0].x, encoding=ir.Encoding.RATE)
    with pytest.raises(QuantizationError, match="message_bits must be in 9..24"):
        _sdn(model, arch.in_shape, digits[0].x, message_bits=30)


def test_unrepresentable_sigma_delta_bias_raises_unless_clipping_allowed(trained_fa_noise, digits):
    from compilers.frontend import from_torch
    from compilers.passes import balance_thresholds, convert_sdn, fold_biases, measure_ranges, quantize

    model, arch, _ = trained_fa_noise
    g = balance_thresholds(fold_biases(from_torch(model, arch.in_shape)), calibration=digits[0].x)
    g = convert_sdn(measure_ranges(g, calibration=digits[0].x))
    relu = g.node("relu1")
    g2 = g.with_nodes([relu.replace(bias=np.full(relu.shape, 1e3)) if n.name == "relu1" else n for n in g.nodes])
    with pytest.raises(QuantizationError, match="layer 'dense1'.*bias.*allow_clipping"):
        quantize(g2, hw=load_hw("loihi2"))
    q = quantize(g2, hw=load_hw("loihi2"), allow_clipping=True)
    assert q.record(ir.Quantization).layers[0]["clipped"] == relu.shape[0]


def test_sigma_delta_step_matches_lavas_worked_example():
    """Numbers from Lava 0.10's PySigmaDeltaModelFixed (Dense [[2,-6],[6,2]], vth 3, bias [1,-2],
    state_exp 2, spike_exp 1): input [100, 40] gives σ = [-40, 680], y = [0, 664], message [0, 166];
    then input [-30, 5]·W gives σ = [-130, 510], y = [0, 494], message [0, -43]."""
    from toolkit.backends.reference.sigma_delta import SigmaDeltaState, _registers, sigma_delta_step

    n = ir.LoihiSigmaDelta(name="sd", shape=(2,), vth=3, bias_mant=np.array([1, -2], np.int32), state_exp=2,
                           spike_exp=1)
    vth, bias = _registers(n)
    assert vth.tolist() == [24] and bias.tolist() == [8, -16]
    w = np.array([[2, -6], [6, 2]], np.int32)
    st = SigmaDeltaState((1, 2))
    first = sigma_delta_step(st, (w @ np.array([100, 40], np.int32))[None], n, vth, bias)
    assert st.sigma.tolist() == [[-40, 680]] and st.act.tolist() == [[0, 664]] and first.tolist() == [[0, 166]]
    second = sigma_delta_step(st, (w @ np.array([-30, 5], np.int32))[None], n, vth, bias)
    assert st.sigma.tolist() == [[-130, 510]] and st.act.tolist() == [[0, 494]] and second.tolist() == [[0, -43]]


def test_sigma_delta_graph_round_trips_through_the_file_format(compiled_sdn, tmp_path):
    path = ir.save_graph(compiled_sdn, tmp_path / "sdn.nfa")
    assert ir.load_graph(path) == compiled_sdn


def test_compile_and_run_sdn_from_the_command_line(trained_fa_noise, tmp_path, capsys):
    from toolkit.cli import main
    from toolkit.training import save_checkpoint

    model, arch, _ = trained_fa_noise
    ckpt = save_checkpoint(tmp_path / "model.pt", model, arch)
    net = tmp_path / "net"
    assert main(["compile", str(ckpt), "--mode", "sdn", "-o", str(net)]) == 0
    assert "(sdn, T=1)" in capsys.readouterr().out
    report = json.loads((net / "compile.json").read_text())
    assert report["mode"] == "sdn" and report["encoding"] == "delta" and report["message_bits"] == 16
    js = tmp_path / "run.json"
    assert main(["run", str(net), "--backend", "reference", "--limit", "40", "--json", str(js)]) == 0
    figures = json.loads(js.read_text())
    assert figures["n"] == 40 and figures["timesteps"] == 1 and figures["accuracy"] > 0.8
    assert main(["compile", str(ckpt), "--mode", "sdn", "--hw", "loihi1", "-o", str(tmp_path / "l1")]) == 2
    assert "graded spikes" in capsys.readouterr().err


# ---------------------------------------------------------------- Lava (fixed_pt)


@pytest.mark.lava
def test_lava_sdn_equals_reference_in_every_state(trained_fa_noise, digits):
    from toolkit.backends.lava_sim import run_lava

    model, arch, _ = trained_fa_noise
    g = _sdn(model, arch.in_shape, digits[0].x, delta_threshold=0.05, cum_error=True, timesteps=3)
    names = [n.name for n in g.of_type(ir.LoihiSigmaDelta)]
    x = digits[1].x[:4]
    ref = simulate(g, x, record=True)
    lava = run_lava(g, x, record=names, progress=False)
    np.testing.assert_array_equal(lava.scores, ref.scores)
    for name in names:
        assert set(ref.traces[name]) == {"s", "sigma", "act", "residue", "error"}  # cum_error: error too
        for var in ("s", "sigma", "act", "residue", "error"):
            np.testing.assert_array_equal(lava.traces[name][var], ref.traces[name][var], err_msg=f"{name}.{var}")
    assert any(np.count_nonzero(ref.traces[n]["s"][:, 1:]) for n in names)  # messages after the first step


@pytest.mark.lava
def test_lava_sdn_sample_alone_equals_sample_after_another(compiled_sdn, digits):
    from toolkit.backends.lava_sim import run_lava

    x = digits[1].x
    a_then_b = run_lava(compiled_sdn, x[[0, 1]], timesteps=2, progress=False)
    b_alone = run_lava(compiled_sdn, x[[1]], timesteps=2, progress=False)
    np.testing.assert_array_equal(a_then_b.scores[1], b_alone.scores[0])
    assert np.any(a_then_b.scores[0] != a_then_b.scores[1])


@pytest.mark.lava
def test_lava_sdn_agrees_with_the_float_model(trained_fa_noise, compiled_sdn, digits):
    import torch

    from toolkit.backends.lava_sim import run_lava

    test = digits[1].take(60)
    lava = run_lava(compiled_sdn, test.x, progress=False)
    with torch.no_grad():
        float_pred = trained_fa_noise[0](torch.tensor(test.x, dtype=torch.float32)).argmax(1).numpy()
    assert np.mean(lava.predictions == float_pred) >= 0.97
    np.testing.assert_array_equal(lava.scores, simulate(compiled_sdn, test.x).scores)
