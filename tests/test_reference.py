"""The reference simulator: hand-checked fixed-point LIF steps, exact sums, batch independence."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit import ir
from toolkit.backends.reference import dendritic_sum, exact_float_dtype, lif_update, simulate
from toolkit.backends.reference.lif import LIFModel, lif_constants
from toolkit.encoding import encode, quantize_input


def _lif(**kw) -> ir.LoihiLIF:
    base = dict(name="l", shape=(1,), vth=10, bias_mant=np.zeros(1, np.int32), bias_exp=np.zeros(1, np.int32),
                du=0, dv=0)
    base.update(kw)
    return ir.LoihiLIF(**base)


def _run_lif(n: ir.LoihiLIF, a: list[int], bias: int) -> tuple[list[int], list[int]]:
    u = np.zeros(1, np.int64)
    v = np.zeros(1, np.int64)
    _, keep_u, keep_v, vth, zero = lif_constants(n)
    vs, ss = [], []
    for ai in a:
        u, v, s = lif_update(u, v, np.array([ai], np.int64), np.array([bias], np.int64), keep_u, keep_v, vth, zero)
        vs.append(int(v[0]))
        ss.append(int(s[0]))
    return vs, ss


def test_lif_bias_integration_matches_lava_measurement():
    # ../shared/research/lava.md: bias_mant=100, vth=10, du=dv=0 -> v = 100, 200, ..., 600, 0, 100
    vs, ss = _run_lif(_lif(), [0] * 8, bias=100)
    assert vs == [100, 200, 300, 400, 500, 600, 0, 100]
    assert ss == [0, 0, 0, 0, 0, 0, 1, 0]


def test_lif_voltage_decay_halves():
    vs, _ = _run_lif(_lif(dv=2048, vth=100000), [0] * 5, bias=100)
    assert vs == [100, 150, 175, 187, 193]


def test_lif_current_is_input_shifted_by_six_and_subtract_reset():
    n = _lif(du=4095, vth=1, reset=ir.ResetMode.SUBTRACT)
    vs, ss = _run_lif(n, [1, 1, 1], bias=0)
    assert ss == [0, 1, 1]          # 64 > 64 is false; 128 > 64 spikes and keeps 64
    assert vs == [64, 64, 64]


def test_exact_dtype_bounds():
    assert exact_float_dtype((1 << 24) - 1) is np.float32
    assert exact_float_dtype(1 << 24) is np.float64
    assert exact_float_dtype(1 << 53) is None


def test_dendritic_sum_is_exact_beyond_float32(rng):
    w = rng.integers(-254, 255, size=(7, 300)).astype(np.int32)
    s = rng.integers(0, 255, size=(11, 300))          # graded payloads: bound ~ 300*254*254 > 2^24
    np.testing.assert_array_equal(dendritic_sum(s, w), s.astype(np.int64) @ w.T.astype(np.int64))


def test_rate_encoding_counts():
    q = quantize_input(np.array([[0.0, 0.5, 1.0]]), bits=8)
    s = encode(q, 32, ir.Encoding.RATE, bits=8)
    assert s.shape == (1, 32, 3)
    assert s.sum(axis=1).tolist() == [[0, (32 * 128) // 255, 32]]


def test_poisson_encoding_depends_only_on_sample_index():
    q = quantize_input(np.full((4, 5), 0.3), bits=8)
    full = encode(q, 10, ir.Encoding.POISSON, bits=8, seed=7)
    tail = encode(q[2:], 10, ir.Encoding.POISSON, bits=8, seed=7, first_index=2)
    np.testing.assert_array_equal(full[2:], tail)


@pytest.mark.parametrize("encoding", [ir.Encoding.RATE, ir.Encoding.POISSON])
@pytest.mark.parametrize("engine", ["events", "nodes", "step"])
def test_results_do_not_depend_on_batching(compiled_rate, digits, engine, encoding):
    """Each engine gives every sample the same output whatever the batch it runs in (Poisson input depends on
    the sample's index in the dataset, which batches must carry over)."""
    graph = compiled_rate.replace_nodes({"input": compiled_rate.node("input").replace(encoding=encoding)})
    x = digits[1].x[:40]
    a = simulate(graph, x, batch_size=40, engine=engine)
    b = simulate(graph, x, batch_size=7, engine=engine)
    assert a.engine == b.engine == engine
    np.testing.assert_array_equal(a.scores, b.scores)
    single = np.concatenate([simulate(graph, x[i:i + 1], engine=engine).scores for i in range(3)])
    if encoding is ir.Encoding.RATE:  # a sample's rate-coded spikes do not depend on its index
        np.testing.assert_array_equal(single, a.scores[:3])
    assert a.scores.sum() > 0


def test_float_graph_is_refused(trained_fa_noise):
    from compilers.frontend import from_torch
    from toolkit.errors import LoweringError

    model, arch, _ = trained_fa_noise
    with pytest.raises(LoweringError, match="not converted to spiking"):
        simulate(from_torch(model, arch.in_shape), np.zeros((1, 64)))


def test_inputs_outside_unit_interval_are_refused(compiled_rate):
    from toolkit.errors import DataError

    with pytest.raises(DataError, match=r"inputs must lie in \[0, 1\]"):
        simulate(compiled_rate, np.full((1, 64), 16.0))
    x = np.full((1, 64), 0.5)
    x[0, 3] = np.nan
    with pytest.raises(DataError, match=r"\[0.5, 0.5\] and NaN"):
        simulate(compiled_rate, x)
    with pytest.raises(DataError, match=r"samples of shape \(1, 28, 28\) do not fit the network's input 'input' "
                                        r"of shape \(64,\)"):
        simulate(compiled_rate, np.zeros((2, 1, 28, 28)))


@pytest.mark.parametrize("reset", list(ir.ResetMode))
def test_integrate_and_fire_int32_path_equals_general_path(rng, reset):
    """The int32 integrate-and-fire path of a whole sample (taken when nothing is recorded) matches the int64 step."""
    from toolkit.backends.reference.core import Recorder

    n = ir.LoihiLIF(name="l", shape=(7,), vth=int(rng.integers(0, 3000)), du=4095, dv=0, reset=reset,
                    bias_mant=rng.integers(-4096, 4096, 7).astype(np.int32),
                    bias_exp=rng.integers(0, 8, 7).astype(np.int32))
    a = rng.integers(-(1 << 16), 1 << 16, size=(5, 20, 7))
    fast = LIFModel().run(n, a, Recorder(names=set()))
    rec = Recorder(names=None)
    general = LIFModel().run(n, a, rec)
    np.testing.assert_array_equal(fast, general)
    assert rec.traces["l"]["s"][0].sum() > 0


@pytest.mark.parametrize("encoding", [ir.Encoding.RATE, ir.Encoding.CURRENT, ir.Encoding.POISSON])
def test_fast_batch_encoder_equals_the_shared_encoder(rng, encoding):
    from toolkit.backends.reference.encode import encode_batch

    q = quantize_input(rng.random((6, 3, 5)), bits=5)
    inp = ir.Input(name="in", shape=(3, 5), encoding=encoding, bits=5, seed=11)
    fast = encode_batch(q, 9, inp, first_index=4)
    np.testing.assert_array_equal(fast, encode(q, 9, encoding, bits=5, seed=11, first_index=4))


def test_the_int32_integrate_and_fire_step_equals_lif_update_below_its_bound():
    """``if_update_int32`` (the event kernel's narrow path) is ``lif_update`` with keep_u = 0, keep_v = 4096 for
    |a| < 2^17, on random states, biases and thresholds across their ranges and at the bound's edges."""
    from toolkit.backends.reference.fixed import IF_INT32_BOUND, MAX_UV, if_update_int32, lif_update

    rng = np.random.default_rng(11)
    n = 20000
    v = rng.integers(-MAX_UV + 1, MAX_UV, n)
    a = np.concatenate([rng.integers(-IF_INT32_BOUND + 1, IF_INT32_BOUND, n - 4),
                        [IF_INT32_BOUND - 1, -IF_INT32_BOUND + 1, 0, 1]])
    bias = rng.integers(-(4095 << 7), 4096 << 7, n)
    for reset_zero in (True, False):
        vth = int(rng.integers(0, (1 << 17))) << 6
        want_u, want_v, want_s = lif_update(np.zeros(n, np.int64), v, a, bias, 0, 4096, vth, reset_zero)
        got = [if_update_int32(np.int32(vi), np.int32(ai), np.int32(bi), np.int32(vth), reset_zero)
               for vi, ai, bi in zip(v[:2000], a[:2000], bias[:2000], strict=True)]
        np.testing.assert_array_equal([g[0] for g in got], want_v[:2000])
        np.testing.assert_array_equal([g[1] for g in got], want_s[:2000].astype(int))
