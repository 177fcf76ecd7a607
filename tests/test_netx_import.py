"""netx import: files written by lava-dl's own slayer blocks, imported and run in the reference simulator, give
every spike (every graded message) that lava-dl's ``netx.hdf5.Network`` gives for them in Lava's fixed_pt
simulator on the same input; our own exports come back with the same values; what netx cannot be matched on
is refused with one line saying why.

Each layer of netx adds a step of latency (Lava's Dense and Conv deliver one step later), which the IR does
not have: netx layer k's output at Lava step k + τ is the graph's at step τ (``_run_netx`` aligns them).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from compilers.importers import ImportOptions, read_network
from compilers.netx_import import read_netx, sniff_netx
from toolkit import ir
from toolkit.encoding import encode, quantize_input
from toolkit.errors import IRFormatError, LoweringError

T = 16


# ------------------------------------------------------------------------------------------- netx files

def _slayer():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lava.lib.dl import slayer
    return slayer


_CUBA = dict(threshold=1.0, current_decay=0.25, voltage_decay=0.03, requires_grad=False)
_SDNN = dict(threshold=0.1, activation=torch.nn.functional.relu)


def _blocks(kind: str) -> list[torch.nn.Module]:
    """A tiny network of lava-dl slayer blocks; random weights, scaled so that the layers spike."""
    block = _slayer().block
    nets = {
        "dense": lambda: [block.cuba.Dense(_CUBA, 20, 16, weight_scale=2),
                          block.cuba.Dense(_CUBA, 16, 8, weight_scale=2)],
        "conv": lambda: [block.cuba.Conv(_CUBA, 2, 4, 3, padding=1, weight_scale=2), block.cuba.Flatten(),
                         block.cuba.Dense(_CUBA, 4 * 6 * 6, 8, weight_scale=2)],
        "sdnn": lambda: [block.sigma_delta.Input(_SDNN), block.sigma_delta.Dense(_SDNN, 20, 16, weight_scale=2),
                         block.sigma_delta.Dense(_SDNN, 16, 8, weight_scale=2)],
        "cuba_input": lambda: [block.cuba.Input(_CUBA), block.cuba.Dense(_CUBA, 20, 16, weight_scale=2),
                               block.cuba.Dense(_CUBA, 16, 8, weight_scale=2)],
        "sdnn_sigma": lambda: [block.sigma_delta.Input(_SDNN), block.sigma_delta.Dense(_SDNN, 20, 16, weight_scale=2),
                               block.sigma_delta.Output(_SDNN, 16, 8, weight_scale=2)],
        "recurrent": lambda: [block.cuba.Recurrent(_CUBA, 20, 16, weight_scale=2),
                              block.cuba.Dense(_CUBA, 16, 8, weight_scale=2)],
        "delay": lambda: [block.cuba.Dense(_CUBA, 20, 16, weight_scale=2, delay=True),
                          block.cuba.Dense(_CUBA, 16, 8, weight_scale=2)],
    }
    return nets[kind]()


def write_slayer_net(kind: str, shape: tuple[int, ...], path: Path, seed: int = 0) -> Path:
    """Export a slayer block network as lava-dl's tutorials do: one forward pass (it fixes the blocks' shapes),
    then each block's ``export_hdf5`` into ``layer/<i>``, an input layer first unless the first block is one."""
    torch.manual_seed(seed)
    blocks = _blocks(kind)
    with torch.no_grad():
        x = torch.rand(1, *shape, 4)
        for b in blocks:
            x = b(x)
        if kind == "delay":  # slayer creates its delays in the first forward pass, all zero
            blocks[0].delay.delay.data = torch.randint(0, 4, blocks[0].delay.delay.shape).float()
    with h5py.File(path, "w") as f:
        f.create_dataset("simulation/Ts", data=1)
        f.create_dataset("simulation/tSample", data=T)
        layer = f.create_group("layer")
        first = 0
        if not isinstance(blocks[0], (_slayer().block.sigma_delta.Input, _slayer().block.cuba.Input)):
            g = layer.create_group("0")
            g.create_dataset("type", (1,), "S10", [b"input"])
            g.create_dataset("shape", data=np.array(shape))
            first = 1
        for i, b in enumerate(blocks):
            b.export_hdf5(layer.create_group(str(i + first)))
    return path


# ------------------------------------------------------------------------------------------- running netx

def run_netx(path: Path, raster: np.ndarray, report: dict, samples: int) -> list[np.ndarray]:
    """The output (spikes or messages) of every netx layer for ``raster`` (samples·T, *input), each (samples·T, n),
    aligned to the graph's steps. LIF layers reset every T steps; sigma-delta networks (netx cannot reset them)
    run one sample per Lava run."""
    from toolkit.lavacompat import require_lava

    require_lava()
    steps = raster.shape[0] // samples
    if report["netx_network"].get("reset_interval") or samples == 1:
        return _run_netx_once(path, raster, report, steps)
    parts = [_run_netx_once(path, raster[i * steps:(i + 1) * steps], report, steps) for i in range(samples)]
    return [np.concatenate(p) for p in zip(*parts, strict=True)]


def _run_netx_once(path: Path, raster: np.ndarray, report: dict, timesteps: int) -> list[np.ndarray]:
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.monitor.process import Monitor

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lava.lib.dl import netx
    args = dict(report["netx_network"])
    if "reset_interval" in args:
        args["reset_interval"] = timesteps
    net = netx.hdf5.Network(net_config=str(path), **args)
    depth, steps = len(net.layers), raster.shape[0]
    flat = raster.reshape(steps, -1)
    if len(net.inp.shape) == 3:   # netx's conv input is (W, H, C): ours is (C, H, W)
        flat = raster.transpose(0, 3, 2, 1).reshape(steps, -1)
    data = np.zeros((flat.shape[1], steps + depth), np.int32)
    data[:, :steps] = flat.T  # zeros after the input so the ring buffer does not wrap
    src = Source(data=data.reshape(*net.inp.shape, -1))
    src.s_out.connect(net.inp)
    monitors = []
    for layer in net.layers:
        m = Monitor()
        m.probe(layer.neuron.s_out, steps + depth)
        monitors.append((layer.neuron.name, m, layer.neuron.s_out.shape))
    try:
        net.run(condition=RunSteps(num_steps=steps + depth), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = []
        for k, (name, m, shape) in enumerate(monitors, start=1):
            s = m.get_data()[name]["s_out"][k:k + steps]
            if len(shape) == 3:  # (W, H, C) -> (C, H, W), flattened
                s = s.reshape(steps, *shape).transpose(0, 3, 2, 1)
            out.append(s.reshape(steps, -1).astype(np.int64))
    finally:
        net.stop()
    return out


def reference_outputs(graph: ir.Graph, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(the input raster (samples·T, *input), each neuron group's output (samples·T, n)) in the reference."""
    from toolkit.backends.reference import simulate

    t = graph.timesteps
    inp = graph.of_type(ir.Input)[0]
    raster = encode(quantize_input(x, inp.bits), t, inp.encoding, bits=inp.bits, seed=inp.seed)
    groups = [n for n in graph.topological() if isinstance(n, ir.NeuronGroup)]
    res = simulate(graph, x, record=[g.name for g in groups], engine="step")
    outs = []
    for g in groups:
        s = res.traces[g.name]["s"].reshape(len(x), t, -1).astype(np.int64)
        if isinstance(g, ir.LoihiSigmaDelta) and g.activation is ir.Activation.IDENTITY and g.vth == 0:
            s = np.cumsum(s, axis=1)  # the Sigma output: the running sum of the increments
        outs.append(s.reshape(len(x) * t, -1))
    return raster.reshape(len(x) * t, *inp.shape), outs


def assert_same_as_netx(path: Path, x: np.ndarray, opts: ImportOptions | None = None) -> int:
    imported = read_network(path, opts or ImportOptions())
    raster, ours = reference_outputs(imported.graph, x)
    theirs = run_netx(path, raster, imported.report, len(x))
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"layer {k + 1}")
    return int(sum(np.count_nonzero(a) for a in ours))


# ------------------------------------------------------------------------------------------- equality with netx

@pytest.mark.lava
@pytest.mark.parametrize("kind, shape", [("dense", (20,)), ("conv", (2, 6, 6)), ("recurrent", (20,)),
                                         ("delay", (20,)), ("cuba_input", (20,))])
def test_slayer_cuba_networks_spike_as_in_netx(kind, shape, rng, tmp_path):
    path = write_slayer_net(kind, shape, tmp_path / f"{kind}.net")
    events = assert_same_as_netx(path, rng.random((2, *shape)))
    assert events > 20, "the comparison needs spikes to mean something"


@pytest.mark.lava
@pytest.mark.parametrize("kind", ["sdnn", "sdnn_sigma"])
def test_slayer_sigma_delta_network_sends_the_messages_netx_sends(kind, rng, tmp_path):
    """Sigma-delta Dense blocks, and a sigma Output block last (its running sums compared step by step)."""
    path = write_slayer_net(kind, (20,), tmp_path / f"{kind}.net")
    opts = ImportOptions(extra={"bits": 12})  # input levels up to 4095: the layers' sums reach the thresholds
    imported = read_network(path, opts)
    assert imported.graph.of_type(ir.Input)[0].encoding is ir.Encoding.DELTA
    assert imported.report["netx_network"] == {"skip_layers": 1, "input_message_bits": 16}
    assert assert_same_as_netx(path, rng.random((2, 20)), opts) > 10


@pytest.mark.lava
def test_biases_per_neuron_and_per_channel_as_in_netx(rng, tmp_path):
    dense = _edit(write_slayer_net("dense", (20,), tmp_path / "d.net"), **{"layer/1/bias": rng.integers(-3, 9, 16)})
    assert assert_same_as_netx(dense, rng.random((2, 20))) > 20
    conv = _edit(write_slayer_net("conv", (2, 6, 6), tmp_path / "c.net"), **{"layer/1/bias": np.array([5, -4, 0, 2])})
    assert assert_same_as_netx(conv, rng.random((2, 2, 6, 6))) > 20


@pytest.mark.lava
def test_an_image_input_read_by_a_dense_layer_is_flattened_in_c_order(rng, tmp_path):
    """netx's input port is then the dense layer's flat one; the graph flattens (C, H, W) in C order."""
    path = _edit(write_slayer_net("dense", (20,), tmp_path / "d.net"), **{"layer/0/shape": np.array([2, 2, 5])})
    graph = read_network(path).graph
    assert [type(n).__name__ for n in graph.nodes][:3] == ["Input", "Flatten", "Dense"]
    assert assert_same_as_netx(path, rng.random((2, 2, 2, 5))) > 20


def test_encoding_option_must_fit_the_input(tmp_path):
    path = write_slayer_net("dense", (20,), tmp_path / "d.net")
    assert read_network(path, ImportOptions(extra={"encoding": "poisson"})).graph.node("in").encoding \
        is ir.Encoding.POISSON
    with pytest.raises(LoweringError, match="binary messages; encoding 'delta' is not one of rate, poisson"):
        read_network(path, ImportOptions(extra={"encoding": "delta"}))


# ------------------------------------------------------------------------------------------- the mapping

def test_cuba_mapping_and_report(tmp_path):
    path = write_slayer_net("dense", (20,), tmp_path / "d.net")
    imported = read_netx(path, ImportOptions())
    g = imported.graph
    assert [type(n).__name__ for n in g.nodes] == ["Input", "Dense", "LoihiLIF", "Dense", "LoihiLIF", "Output"]
    lif = g.of_type(ir.LoihiLIF)[0]
    with h5py.File(path) as f:
        assert lif.du == f["layer/1/neuron/iDecay"][()] - 1 and lif.dv == f["layer/1/neuron/vDecay"][()]
        assert lif.vth == f["layer/1/neuron/vThMant"][()]
    assert (lif.bias_exp == 6).all() and lif.reset is ir.ResetMode.ZERO
    assert g.timesteps == T and g.of_type(ir.Output)[0].readout is ir.ReadoutMode.SPIKE_COUNT
    assert any("iDecay - 1" in n for n in imported.report["notes"])
    assert imported.report["netx_network"]["reset_offset"] == 1


def test_conv_flatten_and_recurrent_structure(tmp_path):
    conv = read_netx(write_slayer_net("conv", (2, 6, 6), tmp_path / "c.net"), ImportOptions()).graph
    assert [type(n).__name__ for n in conv.nodes] == ["Input", "Conv2d", "LoihiLIF", "Flatten", "Dense", "LoihiLIF",
                                                       "Output"]
    assert conv.of_type(ir.Conv2d)[0].weight_exp == 0 and conv.of_type(ir.Conv2d)[0].padding == (1, 1)
    rec = read_netx(write_slayer_net("recurrent", (20,), tmp_path / "r.net"), ImportOptions()).graph
    loop = rec.node("rec1")
    assert isinstance(loop, ir.Dense) and loop.delay == 1 and rec.out_edges("rec1")[0].dst == "n1"
    assert loop.weight_exp == rec.node("fc1").weight_exp  # netx optimises both matrices together
    delayed = read_netx(write_slayer_net("delay", (20,), tmp_path / "dl.net"), ImportOptions()).graph
    into = [delayed.node(e.src) for e in delayed.in_edges("n1")]
    assert len(into) > 1 and len({d.delay for d in into}) == len(into)  # one synapse per distinct delay
    total = sum(d.weight.astype(np.int64) for d in into if isinstance(d, ir.Dense))
    assert np.count_nonzero(total) == sum(np.count_nonzero(d.weight) for d in into if isinstance(d, ir.Dense))


def test_our_export_comes_back_with_the_same_values(lif_chain, rng, tmp_path):
    """IR -> write_netx -> import: the same weights (as W·2^exp: netx renormalises the exponent), biases
    (as bias_mant·2^bias_exp), decays, thresholds, timesteps; the same spikes in the reference."""
    from compilers.netx import write_netx
    from toolkit.backends.reference import simulate

    w1 = (rng.integers(-60, 128, (30, 20)) * 2).astype(np.int32)
    w2 = (rng.integers(-127, 128, (10, 30)) * 2).astype(np.int32)
    g = lif_chain([w1, w2], vth=250, timesteps=20, du=3000, dv=400, weight_exp=-1,
                  bias_mant=[rng.integers(-20, 40, 30), rng.integers(-10, 10, 10)])
    back = read_network(write_netx(g, tmp_path / "g.net")).graph
    assert back.timesteps == g.timesteps
    for a, b in zip(g.of_type(ir.Dense), back.of_type(ir.Dense), strict=True):
        lo = min(a.weight_exp, b.weight_exp)
        np.testing.assert_array_equal(a.weight.astype(np.int64) << (a.weight_exp - lo),
                                      b.weight.astype(np.int64) << (b.weight_exp - lo))
    for a, b in zip(g.of_type(ir.LoihiLIF), back.of_type(ir.LoihiLIF), strict=True):
        assert (a.du, a.dv, a.vth, a.reset) == (b.du, b.dv, b.vth, b.reset)
        np.testing.assert_array_equal(a.bias_mant.astype(np.int64) << a.bias_exp,
                                      b.bias_mant.astype(np.int64) << b.bias_exp)
    x = rng.random((3, 20))
    np.testing.assert_array_equal(simulate(g, x).scores, simulate(back, x).scores)


# ------------------------------------------------------------------------------------------- refusals

def _edit(path: Path, **changes) -> Path:
    with h5py.File(path, "a") as f:
        for key, value in changes.items():
            if key in f:
                del f[key]
            if value is not None:
                f.create_dataset(key, data=value)
    return path


@pytest.mark.parametrize("changes, match", [
    ({"layer/1/neuron/iDecay": 0}, "du = iDecay - 1 = -1"),
    ({"layer/1/neuron/messageBits": 3}, "messageBits"),
    ({"layer/1/neuron/type": np.array([b"RF"])}, "neuron type 'RF' has no IR equivalent"),
    ({"layer/2/type": np.array([b"pool"])}, "NotImplementedError for 'pool'"),
    ({"layer/2/type": np.array([b"wibble"])}, "unknown layer type"),
    ({"layer/1/weight": np.zeros((16, 20))}, "every weight is zero"),
    ({"layer/1/neuron": None}, "no neuron group"),
])
def test_what_netx_cannot_be_matched_on_is_refused_in_one_line(tmp_path, changes, match):
    path = _edit(write_slayer_net("dense", (20,), tmp_path / "d.net"), **changes)
    with pytest.raises(LoweringError, match=match) as err:
        read_network(path)
    assert "\n" not in str(err.value) and "layer/" in str(err.value)


@pytest.mark.parametrize("kind, changes, match", [
    ("sdnn", {"layer/1/neuron/activation": np.array([b"tanh"])}, "netx ignores it and runs ReLU"),
    ("sdnn_sigma", {"layer/2/bias": np.arange(8)}, "Sigma, which takes none"),
    ("recurrent", {"layer/1/delay": np.ones(16)}, "recurrent delayed synapses"),
    ("conv", {"layer/1/shape": np.array([4, 5, 5])}, "but the layer's shape is"),
    ("conv", {"layer/2": None}, "no flatten layer precedes it"),
])
def test_other_layer_kinds_refuse_what_netx_would_not_match(tmp_path, kind, changes, match):
    shape = (2, 6, 6) if kind == "conv" else (20,)
    path = _edit(write_slayer_net(kind, shape, tmp_path / "n.net"), **changes)
    if kind == "conv" and "layer/2" in changes:  # renumber: netx reads layers 0..n-1
        with h5py.File(path, "a") as f:
            f.move("layer/3", "layer/2")
    with pytest.raises(LoweringError, match=match):
        read_network(path)


def test_corrupt_and_foreign_files_give_one_line_errors(tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    assert not sniff_netx(bad)
    with pytest.raises(IRFormatError, match="not a network file this toolkit reads"):
        read_network(bad)
    nir_like = tmp_path / "x.h5"
    with h5py.File(nir_like, "w") as f:
        f.create_dataset("version", data=b"1.0")
        f.create_group("node")
    assert not sniff_netx(nir_like)
    broken = tmp_path / "broken.net"
    with h5py.File(broken, "w") as f:
        f.create_dataset("layer/0/type", data=np.array([b"input"]))  # no shape
    assert sniff_netx(broken)
    with pytest.raises(IRFormatError, match="not a readable netx file") as err:
        read_network(broken)
    assert "\n" not in str(err.value)
