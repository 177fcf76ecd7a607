"""lava-dl netx export: the exported file runs in Lava exactly as our own lowering does, or is refused.

The round trip feeds one binary spike raster to (a) the netx network loaded from our HDF5 file
by ``lava.lib.dl.netx.hdf5.Network`` and (b) our Lava lowering (``run_lava``), both in Lava's CPU
simulator (fixed_pt), and compares every layer's spikes and voltages at every step.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from compilers.netx import netx_weights_exact, write_netx
from toolkit import ir
from toolkit.encoding import encode, quantize_input
from toolkit.errors import LoweringError


def _run_netx(path, raster: np.ndarray, timesteps: int) -> list[dict[str, np.ndarray]]:
    """Spikes and voltages (samples*T, n) of every netx layer, aligned to each sample's local steps."""
    from toolkit.lavacompat import require_lava

    require_lava()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.monitor.process import Monitor

    net = netx.hdf5.Network(net_config=str(path), reset_interval=timesteps, reset_offset=1)
    depth, steps = len(net.layers), raster.shape[0]
    data = np.zeros((raster.shape[1], steps + depth), np.int32)
    data[:, :steps] = raster.T  # zeros after the input so the ring buffer does not wrap
    src, sink = Source(data=data), Sink(shape=net.out.shape, buffer=steps + depth)
    src.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    monitors = []
    for layer in net.layers:
        ms, mv = Monitor(), Monitor()
        ms.probe(layer.neuron.s_out, steps + depth)
        mv.probe(layer.neuron.v, steps + depth)
        monitors.append((layer.neuron.name, ms, mv))
    try:
        net.run(condition=RunSteps(num_steps=steps + depth), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = [{"s": ms.get_data()[name]["s_out"][k:k + steps], "v": mv.get_data()[name]["v"][k:k + steps]}
               for k, (name, ms, mv) in enumerate(monitors, start=1)]
        out[-1]["port"] = sink.data.get().T[depth:depth + steps]  # what net.out delivers
    finally:
        net.stop()
    return out


def _assert_round_trip(graph: ir.Graph, x: np.ndarray, path) -> int:
    from toolkit.backends.lava_sim import run_lava

    write_netx(graph, path)
    t = graph.timesteps
    inp = graph.of_type(ir.Input)[0]
    raster = encode(quantize_input(x, inp.bits), t, inp.encoding, bits=inp.bits, seed=inp.seed)
    names = [n.name for n in graph.of_type(ir.LoihiLIF)]
    ours = run_lava(graph, x, record=names, progress=False)
    theirs = _run_netx(path, raster.reshape(len(x) * t, -1), t)
    for name, got in zip(names, theirs, strict=True):
        want = ours.traces[name]
        np.testing.assert_array_equal(got["s"], want["s"].reshape(len(x) * t, -1), err_msg=f"{name} spikes")
        np.testing.assert_array_equal(got["v"], want["v"].reshape(len(x) * t, -1), err_msg=f"{name} voltages")
    np.testing.assert_array_equal(theirs[-1]["port"], ours.traces[names[-1]]["s"].reshape(len(x) * t, -1))
    return int(sum(ours.traces[n]["s"].sum() for n in names))


@pytest.mark.lava
def test_round_trip_synthetic_leaky_network_is_spike_exact(lif_chain, rng, tmp_path):
    """Leaky neurons, biases, a negative weight exponent, two samples back to back."""
    w1 = (rng.integers(-60, 128, (30, 20)) * 2).astype(np.int32)
    w2 = (rng.integers(-127, 128, (10, 30)) * 2).astype(np.int32)
    g = lif_chain([w1, w2], vth=250, timesteps=20, du=3000, dv=400, weight_exp=-1,
                  bias_mant=[rng.integers(-20, 40, 30), rng.integers(-10, 10, 10)])
    assert _assert_round_trip(g, rng.random((2, 20)), tmp_path / "leaky.net") > 50


@pytest.mark.lava
def test_round_trip_of_the_trained_digits_network_compiled_netx_compatible(trained_fa_noise, digits, tmp_path):
    """The trained network compiled with netx_compatible exports, and runs in netx as in our lowering."""
    from compilers.driver import compile_model
    from compilers.passes import CompileOptions
    from toolkit.hw import load_hw

    model, arch, _ = trained_fa_noise
    train, test = digits
    plain = compile_model(model, arch.in_shape, CompileOptions(hw=load_hw("loihi2"), calibration=train.x))
    with pytest.raises(LoweringError):  # the default quantisation uses what netx cannot express
        write_netx(plain, tmp_path / "plain.net")
    assert not (tmp_path / "plain.net").exists()
    g = compile_model(model, arch.in_shape, CompileOptions(hw=load_hw("loihi2"), calibration=train.x,
                                                           netx_compatible=True))
    assert all(n.weight_exp == 0 for n in g.of_type(ir.Dense))
    assert all(((n.bias_mant.astype(np.int64) << n.bias_exp) % 64 == 0).all() for n in g.of_type(ir.LoihiLIF))
    assert _assert_round_trip(g, test.x[:2], tmp_path / "digits.net") > 20
    from toolkit.backends.reference import simulate
    acc_plain, acc_netx = simulate(plain, test.x).accuracy(test.y), simulate(g, test.x).accuracy(test.y)
    assert acc_netx > acc_plain - 0.03, (acc_plain, acc_netx)


def test_netx_compatible_refuses_what_netx_cannot_express(trained_fa_noise, digits):
    from compilers.driver import compile_model
    from compilers.passes import CompileOptions, ConversionMode

    model, arch, _ = trained_fa_noise
    from toolkit.hw import load_hw

    base = dict(hw=load_hw("loihi2"), calibration=digits[0].x,
                netx_compatible=True)
    with pytest.raises(LoweringError, match="reset to zero"):
        compile_model(model, arch.in_shape, CompileOptions(**base, reset=ir.ResetMode.SUBTRACT))
    with pytest.raises(LoweringError, match="binary input spikes"):
        compile_model(model, arch.in_shape, CompileOptions(**base, encoding=ir.Encoding.CURRENT))
    with pytest.raises(LoweringError, match="rate-coded networks only"):
        compile_model(model, arch.in_shape, CompileOptions(**base, mode=ConversionMode.SDN))


@pytest.mark.lava
def test_round_trip_with_an_image_input_flattened_first(lif_chain, rng, tmp_path):
    """Input (1, 4, 5) -> Flatten -> Dense ...: netx gets a flat input layer; a later Flatten is refused."""
    w1 = (rng.integers(-40, 128, (12, 20)) * 2).astype(np.int32)
    w2 = (rng.integers(-127, 128, (6, 12)) * 2).astype(np.int32)
    g = lif_chain([w1, w2], vth=200, timesteps=12)
    image = ir.Input(name="in", shape=(1, 4, 5), encoding=ir.Encoding.RATE)
    nodes = [image, ir.Flatten(name="flat"), *g.nodes[1:]]
    flat = ir.check_graph(ir.Graph.chain(nodes, records=g.records))
    assert _assert_round_trip(flat, rng.random((2, 1, 4, 5)), tmp_path / "flat.net") > 10
    late = ir.Graph.chain([*nodes[:4], ir.Flatten(name="late"), *nodes[4:]], records=g.records)
    with pytest.raises(LoweringError, match="Flatten 'late' between layers"):
        write_netx(late, tmp_path / "late.net")


def test_file_layout_is_what_netx_reads(lif_chain, tmp_path):
    g = lif_chain([np.full((3, 2), 6, np.int32)], vth=7, bias_mant=[np.array([1, 0, -2])], du=100, dv=9)
    write_netx(g, tmp_path / "n.net")
    with h5py.File(tmp_path / "n.net") as f:
        assert f["layer/0/type"][0] == b"input" and list(f["layer/0/shape"][()]) == [2]
        assert f["layer/1/type"][0] == b"dense" and f["layer/1/neuron/type"][0] == b"CUBA"
        np.testing.assert_array_equal(f["layer/1/weight"][()], np.full((3, 2), 6))
        np.testing.assert_array_equal(f["layer/1/bias"][()], [1, 0, -2])  # bias_exp 6: mantissa as is
        assert (f["layer/1/neuron/iDecay"][()], f["layer/1/neuron/vDecay"][()], f["layer/1/neuron/vThMant"][()]) \
            == (101, 9, 7)
        assert f["simulation/tSample"][()] == 16


@pytest.mark.parametrize("change, match", [
    (lambda g: _swap(g, "lif1", reset=ir.ResetMode.SUBTRACT), "reset by subtraction has no netx equivalent"),
    (lambda g: _swap(g, "in", encoding=ir.Encoding.CURRENT), "only binary spike input"),
    (lambda g: _swap(g, "lif1", bias_exp=np.zeros(3, np.int32), bias_mant=np.array([64, 65, 0], np.int32)),
     "1 bias value.* not multiples of 64"),
    (lambda g: _swap(g, "fc1", weight=np.full((3, 2), 200, np.int32), weight_exp=1), "has no per-layer weight exp"),
    (lambda g: _swap(g, "fc1", weight=np.full((3, 2), 3, np.int32), weight_exp=-1), "floors each dendritic sum"),
])
def test_inexpressible_features_are_refused_without_a_file(lif_chain, tmp_path, change, match):
    g = change(lif_chain([np.full((3, 2), 6, np.int32)]))
    with pytest.raises(LoweringError, match=match):
        write_netx(g, tmp_path / "x.net")
    assert not list(tmp_path.iterdir())


def test_compiled_digits_network_is_refused_with_the_reason(compiled_rate, tmp_path):
    # the quantiser picks fractional biases (bias_exp < 6) and, often, weight exponents > 0
    with pytest.raises(LoweringError, match="not multiples of 64|no per-layer weight exponent"):
        write_netx(compiled_rate, tmp_path / "x.net")


def test_weight_check_uses_netx_own_rescaling():
    assert netx_weights_exact(np.array([[254, -256], [2, 0]]))
    assert not netx_weights_exact(np.array([[300, -4]]))      # netx clips to 254
    assert not netx_weights_exact(np.zeros((2, 2), np.int64))  # netx divides by the largest weight


def _swap(g: ir.Graph, name: str, **changes) -> ir.Graph:
    return g.with_nodes([n.replace(**changes) if n.name == name else n for n in g.nodes])
