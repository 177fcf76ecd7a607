"""NIR import and export (``compilers.nir_io``): an snnTorch network trained here, exported with snnTorch's
``export_to_nir``, runs after import in the reference and in Lava with the same spikes; IR → NIR → IR keeps every
register; unsupported nodes are refused in one line; NIR and netx files are told apart by content."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from compilers.importers import ImportOptions, read_network
from compilers.nir_io import export_nir, is_nir_file, write_nir
from toolkit import ir
from toolkit.backends.reference import simulate
from toolkit.errors import LoweringError

snn = pytest.importorskip("snntorch")   # a dev dependency (it exports through nirtorch)
#: snnTorch 1.0 exports through nirtorch's old entry point, which nirtorch 2 marks as deprecated
pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")


def _load_example():
    """examples/interop/snntorch_digits.py, whose training, encoding and export the tests share."""
    path = Path(__file__).resolve().parents[1] / "examples" / "interop" / "snntorch_digits.py"
    spec = importlib.util.spec_from_file_location("snntorch_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _load_example()

STEPS = 16
#: snnTorch's float network and the imported fixed-point one may differ by this much accuracy (points): the
#: dynamics are the same (reset to zero, forward Euler at snnTorch's own dt), only quantisation differs
ACCURACY_TOLERANCE_POINTS = 3.0


@pytest.fixture(scope="module")
def snn_digits(digits, tmp_path_factory):
    """A 64-32-10 Leaky network trained a few epochs on rate-coded digits, its NIR file and the imported graph."""
    train, test = digits
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        net = example.make_net()
        example.train(net, example.rate_spikes(train.x, STEPS), train.y, epochs=6)
        with torch.no_grad():
            counts = example.run_snntorch(net, example.rate_spikes(test.x, STEPS)).numpy()
    finally:
        torch.set_num_threads(before)
    path = example.export(net, tmp_path_factory.mktemp("nir") / "digits.nir")
    imported = read_network(path, ImportOptions(dt=example.DT, timesteps=STEPS))
    return net, counts, path, imported


def test_snntorch_network_keeps_its_accuracy_after_import(snn_digits, digits):
    _, counts, _, imported = snn_digits
    _, test = digits
    snn_acc = float(np.mean(counts.argmax(1) == test.y))
    ref = simulate(imported.graph, test.x)
    assert snn_acc > 0.85, snn_acc
    assert abs(ref.accuracy(test.y) - snn_acc) * 100 <= ACCURACY_TOLERANCE_POINTS, (snn_acc, ref.accuracy(test.y))
    assert np.mean(ref.predictions == counts.argmax(1)) > 0.9


def test_import_states_discretisation_and_quantisation(snn_digits):
    _, _, _, imported = snn_digits
    notes = " ".join(imported.report["notes"])
    assert imported.report["format"] == "nir" and imported.report["dt"] == example.DT
    assert "forward Euler" in notes and "round(4096·dt/tau) = 410" in notes and "8-bit weight" in notes
    lifs = imported.graph.of_type(ir.LoihiLIF)
    # beta = 0.9 at snnTorch's dt: dt/tau = 0.1, dv = round(409.6); no current memory; reset to zero
    assert [(g.du, g.dv, g.reset) for g in lifs] == [(4095, 410, ir.ResetMode.ZERO)] * 2
    assert all(np.abs(s.weight).max() <= 255 for s in imported.graph.of_type(ir.Dense))
    assert imported.graph.record(ir.CoreMapping) is not None


@pytest.mark.lava
def test_imported_network_spikes_identically_in_lava_and_reference(snn_digits, digits):
    from toolkit.backends.lava_sim import run_lava

    _, _, _, imported = snn_digits
    x = digits[1].x[:12]
    groups = [g.name for g in imported.graph.of_type(ir.LoihiLIF)]
    ref = simulate(imported.graph, x, record=groups)
    lava = run_lava(imported.graph, x, record=groups, progress=False)
    np.testing.assert_array_equal(lava.scores, ref.scores)
    for g in groups:
        np.testing.assert_array_equal(lava.traces[g]["s"], ref.traces[g]["s"])


def _recurrent_cuba_net() -> torch.nn.Sequential:
    """8 → RLeaky(6) → Synaptic(3), reset to zero, weights large enough for a few hundred spikes."""
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 6),
        snn.RLeaky(beta=torch.full((6,), 0.9), threshold=torch.ones(6), linear_features=6, init_hidden=True,
                   reset_mechanism="zero"),
        torch.nn.Linear(6, 3, bias=False),
        snn.Synaptic(alpha=torch.full((3,), 0.8), beta=torch.full((3,), 0.9), threshold=torch.ones(3),
                     init_hidden=True, reset_mechanism="zero"))
    with torch.no_grad():
        for lin in (net[0], net[2]):
            lin.weight.mul_(3.0)
    return net


def _export(net: torch.nn.Sequential, path: Path) -> Path:
    from snntorch.export_nir import export_to_nir

    nir.write(str(path), export_to_nir(net, torch.zeros(8)))
    return path


def _nir_euler(net: torch.nn.Sequential, spikes: np.ndarray) -> np.ndarray:
    """Output spike counts of ``_recurrent_cuba_net`` by NIR's equations at snnTorch's dt in float64 (forward
    Euler, reset to zero, the recurrent input one step late). Not snnTorch itself: snnTorch's RLeaky and
    Synaptic with reset to zero also drop the input of the step after a spike, which NIR does not say."""
    p = {k: v.detach().double().numpy() for k, v in net.state_dict().items()}
    w0, b0, wr, br, w2 = p["0.weight"], p["0.bias"], p["1.recurrent.weight"], p["1.recurrent.bias"], p["2.weight"]
    n = len(spikes)
    v1, s1, cur, v3 = np.zeros((n, 6)), np.zeros((n, 6)), np.zeros((n, 3)), np.zeros((n, 3))
    counts = np.zeros((n, 3))
    for t in range(spikes.shape[1]):
        v1 = 0.9 * v1 + spikes[:, t] @ w0.T + b0 + s1 @ wr.T + br
        s1 = (v1 > 1.0).astype(float)
        v1[s1 > 0] = 0.0
        cur = 0.8 * cur + s1 @ w2.T
        v3 = 0.9 * v3 + cur
        counts += v3 > 1.0
        v3[v3 > 1.0] = 0.0
    return counts


def test_recurrent_and_cuba_snntorch_network_follows_nir_semantics(tmp_path, rng):
    """RLeaky's recurrent synapse gets one step of delay, Synaptic becomes a LoihiLIF with current decay; the
    spike counts follow NIR's equations up to quantisation."""
    net = _recurrent_cuba_net()
    graph = read_network(_export(net, tmp_path / "rec.nir"), ImportOptions(dt=example.DT, timesteps=40)).graph
    assert graph.node("1.w_rec").delay == 1 and graph.node("0").delay == 0
    cuba = graph.node("3")
    assert (cuba.du, cuba.dv) == (818, 410)   # alpha 0.8: 4096 · 0.2 = 819.2 -> keep 3277/4096; beta 0.9
    x = rng.random((40, 8))
    expected = _nir_euler(net, example.rate_spikes(x, 40))
    ref = simulate(graph, x).scores
    assert expected.sum() > 100
    assert np.abs(ref - expected).sum() <= 0.05 * expected.sum(), (ref.sum(), expected.sum())


@pytest.mark.lava
def test_recurrent_cuba_import_spikes_identically_in_lava_and_reference(tmp_path, rng):
    from toolkit.backends.lava_sim import run_lava

    path = _export(_recurrent_cuba_net(), tmp_path / "rec.nir")
    graph = read_network(path, ImportOptions(dt=example.DT, timesteps=40)).graph
    x = rng.random((5, 8))
    ref = simulate(graph, x, record=["1.lif", "3"])
    lava = run_lava(graph, x, record=["1.lif", "3"], progress=False)
    assert ref.scores.sum() > 50
    for g in ("1.lif", "3"):
        np.testing.assert_array_equal(lava.traces[g]["s"], ref.traces[g]["s"])


def test_if_network_integrates_dt_times_r_per_step(tmp_path, rng):
    """IF: v += dt·R·I each step, reset to zero after v > θ (θ = 0.5 here, divided out by the reader)."""
    w = rng.normal(0, 0.4, (5, 6))
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([6])}), "fc": nir.Linear(weight=w),
                                "if": nir.IF(r=np.full(5, 500.0), v_threshold=np.full(5, 0.5)),
                                "output": nir.Output(output_type={"output": np.array([5])})},
                         edges=[("input", "fc"), ("fc", "if"), ("if", "output")])
    nir.write(str(tmp_path / "if.nir"), graph)
    imported = read_network(tmp_path / "if.nir", ImportOptions(dt=2e-3, timesteps=64))
    assert "dt·R = 1..1" in " ".join(imported.report["notes"])
    x = rng.random((30, 6))
    spikes = example.rate_spikes(x, 64).astype(float)
    v, counts = np.zeros((30, 5)), np.zeros((30, 5))
    for t in range(64):
        v += spikes[:, t] @ w.T
        counts += v > 0.5
        v[v > 0.5] = 0.0
    got = simulate(imported.graph, x).scores
    assert counts.sum() > 200 and np.abs(got - counts).sum() <= 0.02 * counts.sum()


def _conv_nir(rng) -> tuple[object, dict[str, np.ndarray]]:
    """Input 1x6x6 → Conv2d(2, 3x3, padding 1) → IF → SumPool2d(2) → IF → Flatten → Linear(18 → 4) → IF, the IF
    gain dt·R = 1 (dt = 1e-3, r = 1000), thresholds 1 (conv), 2 (pool), 1 (out)."""
    w_conv, b_conv, w_fc = rng.normal(0, 0.5, (2, 1, 3, 3)), rng.normal(0, 0.05, 2), rng.normal(0, 0.6, (4, 18))

    def if_(shape: tuple[int, ...], vth: float) -> object:
        return nir.IF(r=np.full(shape, 1000.0), v_threshold=np.full(shape, vth), v_reset=np.zeros(shape))

    nodes = {"input": nir.Input(input_type={"input": np.array([1, 6, 6])}),
             "conv": nir.Conv2d(input_shape=(6, 6), weight=w_conv, stride=1, padding=1, dilation=1, groups=1,
                                bias=b_conv),
             "if1": if_((2, 6, 6), 1.0),
             "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "if2": if_((2, 3, 3), 2.0),
             "flat": nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0, end_dim=-1),
             "fc": nir.Linear(weight=w_fc), "if3": if_((4,), 1.0),
             "output": nir.Output(output_type={"output": np.array([4])})}
    order = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(order)), type_check=False)
    return graph, {"w_conv": w_conv, "b_conv": b_conv, "w_fc": w_fc}


def _conv_counts(p: dict[str, np.ndarray], spikes: np.ndarray) -> np.ndarray:
    """Output spike counts of ``_conv_nir`` by its equations in float64 (IF: v += I; v > θ: spike, v ← 0)."""
    import torch.nn.functional as F

    def step(v: torch.Tensor, i: torch.Tensor, vth: float) -> tuple[torch.Tensor, torch.Tensor]:
        v = v + i
        s = (v > vth).double()
        return v * (1 - s), s

    x = torch.as_tensor(spikes, dtype=torch.float64).reshape(len(spikes), spikes.shape[1], 1, 6, 6)
    v1, v2, v3 = torch.zeros(len(x), 2, 6, 6), torch.zeros(len(x), 2, 3, 3), torch.zeros(len(x), 4)
    counts = torch.zeros(len(x), 4, dtype=torch.float64)
    for t in range(x.shape[1]):
        v1, s1 = step(v1, F.conv2d(x[:, t], torch.as_tensor(p["w_conv"]), torch.as_tensor(p["b_conv"]), padding=1), 1.0)
        v2, s2 = step(v2, F.avg_pool2d(s1, 2) * 4, 2.0)
        v3, s3 = step(v3, s2.reshape(len(x), -1) @ torch.as_tensor(p["w_fc"]).T, 1.0)
        counts += s3
    return counts.numpy()


def test_convolution_pooling_and_flatten_follow_nir_semantics(tmp_path, rng):
    graph, params = _conv_nir(rng)
    nir.write(str(tmp_path / "conv.nir"), graph)
    imported = read_network(tmp_path / "conv.nir", ImportOptions(dt=1e-3, timesteps=48)).graph
    assert [type(imported.node(n)).__name__ for n in ("conv", "pool", "flat")] == ["Conv2d", "Conv2d", "Flatten"]
    assert imported.node("pool").groups == 2 and imported.node("conv").weight_exp == 0
    x = rng.random((30, 36))
    expected = _conv_counts(params, example.rate_spikes(x, 48))
    got = simulate(imported, x.reshape(30, 1, 6, 6)).scores
    # three layers of threshold crossings amplify the 0.5 % weight error of the convolution (no exponent register:
    # its threshold has only ~8 bits): per count within 10 %, in total within 3 %
    assert expected.sum() > 200 and abs(got.sum() - expected.sum()) <= 0.03 * expected.sum()
    assert np.abs(got - expected).sum() <= 0.1 * expected.sum(), (got.sum(), expected.sum())


@pytest.mark.lava
def test_imported_convolution_spikes_identically_in_lava_and_reference(tmp_path, rng):
    from toolkit.backends.lava_sim import run_lava

    nir.write(str(tmp_path / "conv.nir"), _conv_nir(rng)[0])
    graph = read_network(tmp_path / "conv.nir", ImportOptions(dt=1e-3, timesteps=24)).graph
    x = rng.random((3, 1, 6, 6))
    groups = ["if1", "if2", "if3"]
    ref = simulate(graph, x, record=groups)
    lava = run_lava(graph, x, record=groups, progress=False)
    assert ref.scores.sum() > 20
    for g in groups:
        np.testing.assert_array_equal(lava.traces[g]["s"], ref.traces[g]["s"])

def test_round_trip_keeps_every_array_and_parameter(compiled_rate, tmp_path):
    path = write_nir(compiled_rate, tmp_path / "ours.nir")
    back = read_network(path).graph
    assert back.nodes == compiled_rate.nodes
    assert set(back.edges) == set(compiled_rate.edges)
    assert back.timesteps == compiled_rate.timesteps


def test_round_trip_of_a_convolutional_network(trained_cnn, digits, tmp_path):
    """A compiled CNN (conv, pooling as depthwise conv, flatten, dense) survives IR → NIR → IR register for
    register; read from its floats alone it is re-quantised and still classifies as the original."""
    from compilers.driver import compile_model
    from compilers.passes import CompileOptions
    from toolkit.hw import load_hw

    model, in_shape = trained_cnn
    graph = compile_model(model, in_shape, CompileOptions(hw=load_hw("loihi2"), timesteps=32,
                                                          calibration=digits[0].x.reshape(-1, *in_shape)))
    path = write_nir(graph, tmp_path / "cnn.nir")
    back = read_network(path).graph
    assert back.nodes == graph.nodes and set(back.edges) == set(graph.edges)
    exported = export_nir(graph)
    for node in exported.nodes.values():
        node.metadata = {}
    nir.write(str(tmp_path / "floats.nir"), exported)
    again = read_network(tmp_path / "floats.nir", ImportOptions(dt=1e-3, timesteps=32)).graph
    x = digits[1].x[:60].reshape(-1, *in_shape)
    ours, theirs = simulate(graph, x), simulate(again, x)
    assert np.mean(ours.predictions == theirs.predictions) >= 0.9


def test_round_trip_of_leaky_recurrent_network_with_biases(lif_chain, tmp_path, rng):
    """LIF leak, current decay, biases and a delayed recurrent synapse all survive IR → NIR → IR; a file whose
    floats were edited elsewhere is re-quantised from its floats instead."""
    w1 = rng.integers(-100, 100, (5, 4)).astype(np.int32) * 2
    chain = lif_chain([w1], vth=300, dv=300, bias_mant=[rng.integers(-50, 50, 5)], bias_exp=3)
    rec = ir.Dense(name="rec", weight=rng.integers(-60, 60, (5, 5)).astype(np.int32), delay=1, weight_exp=-1)
    graph = ir.check_graph(chain.with_nodes([*chain.nodes, rec], [*chain.edges, ("lif1", "rec"), ("rec", "lif1")]))
    path = write_nir(graph, tmp_path / "rec.nir")
    back = read_network(path).graph
    assert back.nodes == graph.nodes and set(back.edges) == set(graph.edges)
    x = rng.random((6, 4))
    np.testing.assert_array_equal(simulate(back, x).scores, simulate(graph, x).scores)


def test_exported_floats_mean_the_same_dynamics(lif_chain, tmp_path, rng):
    """Read from its float parameters alone (an edited file, or another tool's copy without our metadata), an
    exported network is re-discretised and re-quantised and spikes almost as the original."""
    w1 = rng.integers(-100, 100, (5, 4)).astype(np.int32) * 2
    chain = lif_chain([w1], vth=300, dv=300, bias_mant=[rng.integers(-50, 50, 5)], bias_exp=3, timesteps=64)
    rec = ir.Dense(name="rec", weight=rng.integers(-60, 60, (5, 5)).astype(np.int32), delay=2, weight_exp=-1)
    graph = ir.check_graph(chain.with_nodes([*chain.nodes, rec], [*chain.edges, ("lif1", "rec"), ("rec", "lif1")]))
    exported = export_nir(graph, dt=1e-3)
    exported.nodes["fc1"].weight = exported.nodes["fc1"].weight * (1 + 1e-6)   # edited: registers no longer agree
    nir.write(str(tmp_path / "edited.nir"), exported)
    imported = read_network(tmp_path / "edited.nir", ImportOptions(dt=1e-3, timesteps=64))
    assert any("quantised by compilers.passes.quantize" in n for n in imported.report["notes"])
    assert imported.graph.node("rec").delay == 2 and imported.graph.node("lif1").dv == 300
    x = rng.random((20, 4))
    ours, again = simulate(graph, x).scores, simulate(imported.graph, x).scores
    assert ours.sum() > 500 and np.abs(ours - again).sum() <= 0.02 * ours.sum()


def test_nfa_export_nir_says_plasticity_is_not_written(lif_chain, capsys, tmp_path):
    import toolkit.cli as cli
    from compilers.netdir import save_network
    from toolkit.learning.builtin import BUILTIN

    chain = lif_chain([np.full((2, 3), 4, np.int32)])
    syn = chain.node("fc1").replace(plastic=BUILTIN["stdp"]())
    net = save_network(tmp_path / "net", chain.replace_nodes({"fc1": syn}), {})
    code = cli.main(["export", str(net), "--format", "nir", "-o", str(tmp_path / "p.nir")])
    out = capsys.readouterr().out
    assert code == 0 and "fc1" in out and "NIR has no plasticity" in out
    assert read_network(tmp_path / "p.nir").graph.node("fc1").plastic is None


def _graph_with(node: object) -> object:
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}), "odd": node,
                               "output": nir.Output(output_type={"output": np.array([4])})},
                        edges=[("input", "odd"), ("odd", "output")])


@pytest.mark.parametrize("node", [
    nir.Threshold(threshold=np.ones(4)),
    nir.I(r=np.ones(4)),
], ids=["Threshold", "I"])
def test_unsupported_node_is_refused_in_one_line(node, tmp_path):
    path = tmp_path / "odd.nir"
    nir.write(str(path), _graph_with(node))
    with pytest.raises(LoweringError) as e:
        read_network(path)
    msg = str(e.value)
    assert "\n" not in msg and "'odd'" in msg and type(node).__name__ in msg and "supported: " in msg


def test_linear_read_out_is_refused(tmp_path):
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}),
                                "fc": nir.Affine(weight=np.eye(4), bias=np.zeros(4)),
                                "output": nir.Output(output_type={"output": np.array([4])})},
                         edges=[("input", "fc"), ("fc", "output")])
    nir.write(str(tmp_path / "ro.nir"), graph)
    with pytest.raises(LoweringError, match="'fc'.*linear read-outs are not supported"):
        read_network(tmp_path / "ro.nir")


def test_non_zero_reset_potential_is_refused(tmp_path):
    lif = nir.LIF(tau=np.ones(4), r=np.ones(4), v_leak=np.zeros(4), v_threshold=np.ones(4), v_reset=np.ones(4))
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}),
                                "fc": nir.Linear(weight=np.eye(4)), "lif": lif,
                                "output": nir.Output(output_type={"output": np.array([4])})},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    nir.write(str(tmp_path / "r.nir"), graph)
    with pytest.raises(LoweringError, match="v_reset must be 0"):
        read_network(tmp_path / "r.nir")


def test_subtract_reset_is_an_import_option(snn_digits):
    _, _, path, _ = snn_digits
    graph = read_network(path, ImportOptions(dt=example.DT, timesteps=STEPS, extra={"reset": "subtract"})).graph
    assert {g.reset for g in graph.of_type(ir.LoihiLIF)} == {ir.ResetMode.SUBTRACT}


def test_sigma_delta_subtract_and_graded_networks_are_not_exported(lif_chain):
    w = np.ones((2, 3), np.int32)
    sub = lif_chain([w])
    lif = sub.node("lif1")
    with pytest.raises(LoweringError, match="NIR cannot express"):
        export_nir(sub.replace_nodes({"lif1": lif.replace(reset=ir.ResetMode.SUBTRACT)}))
    sd = ir.LoihiSigmaDelta(name="lif1", shape=(2,), vth=1, bias_mant=np.zeros(2, np.int32))
    with pytest.raises(LoweringError, match="no sigma-delta"):
        export_nir(sub.replace_nodes({"lif1": sd}))
    graded = sub.replace_nodes({"in": sub.node("in").replace(encoding=ir.Encoding.CURRENT)})
    with pytest.raises(LoweringError, match="graded spikes"):
        export_nir(graded)


def test_nir_and_netx_files_are_told_apart_by_content(snn_digits, lif_chain, tmp_path):
    from compilers.importers import READERS, _load_builtin_readers
    from compilers.netx import write_netx

    _, _, nir_path, _ = snn_digits
    netx_path = write_netx(lif_chain([np.full((3, 4), 6, np.int32)]), tmp_path / "model.nir")  # a misleading name
    assert is_nir_file(nir_path) and not is_nir_file(Path(netx_path))
    _load_builtin_readers()
    for reader in READERS:
        if reader.name != "nir":
            assert not reader.sniff(nir_path), reader.name
    assert read_network(netx_path).report.get("format") != "nir"


# ------------------------------------------------------------------ LI / CubaLI read-outs, Scale, Threshold

#: the imported membrane read-out and NIR's float equations may disagree on this share of predictions: the
#: hidden layer's spikes are the same dynamics up to quantisation (8-bit weights, a 17-bit threshold), and a flipped
#: hidden spike moves the read-out's voltage
READOUT_AGREEMENT = 0.9
#: the read-out's voltage, scaled back to float units, is within this fraction of the largest |v| of NIR's
#: float equations for 90 % of the values (weights and the voltage scale quantised, Loihi's decays truncating; the
#: rest: a hidden spike that quantisation moved by a step)
READOUT_VOLTAGE_TOLERANCE = 0.02


def _with_li_readout(path: Path, tmp_path: Path) -> tuple[Path, object]:
    """snnTorch's exported digits network with its last Leaky ('3') replaced by NIR's LI of the same tau, r and
    v_leak: a membrane read-out (snnTorch 1.0 exports every Leaky as LIF, never LI)."""
    graph = nir.read(str(path))
    lif = graph.nodes["3"]
    graph.nodes["3"] = nir.LI(tau=lif.tau, r=lif.r, v_leak=lif.v_leak)
    out = tmp_path / "li.nir"
    nir.write(str(out), nir.NIRGraph(nodes=graph.nodes, edges=graph.edges))
    return out, graph


def _li_euler(graph, spikes: np.ndarray, dt: float) -> np.ndarray:
    """The read-out's voltage after the last step by NIR's equations in float64 (forward Euler at dt):
    LIF '1' (reset to zero after v > v_threshold) → Affine '2' → LI '3'."""
    fc1, lif, fc2, li = (graph.nodes[k] for k in ("0", "1", "2", "3"))
    a1, a3 = dt / np.asarray(lif.tau), dt / np.asarray(li.tau)
    v1, v3 = np.zeros((len(spikes), fc1.weight.shape[0])), np.zeros((len(spikes), fc2.weight.shape[0]))
    for t in range(spikes.shape[1]):
        v1 = (1 - a1) * v1 + a1 * lif.r * (spikes[:, t] @ fc1.weight.T + fc1.bias) + a1 * lif.v_leak
        s1 = (v1 > lif.v_threshold).astype(float)
        v1[s1 > 0] = 0.0
        v3 = (1 - a3) * v3 + a3 * li.r * (s1 @ fc2.weight.T + fc2.bias) + a3 * li.v_leak
    return v3


def test_li_readout_of_an_snntorch_network_follows_nir_semantics(snn_digits, digits, tmp_path):
    """An LI read-out becomes a LoihiLIF that provably never fires and an Output reading its voltage after the
    last step; its decisions follow NIR's float equations (``READOUT_AGREEMENT``)."""
    _, _, path, _ = snn_digits
    _, test = digits
    li_path, graph = _with_li_readout(path, tmp_path)
    imported = read_network(li_path, ImportOptions(dt=example.DT, timesteps=STEPS))
    out = imported.graph.of_type(ir.Output)[0]
    readout = imported.graph.node("3")
    assert out.readout is ir.ReadoutMode.VOLTAGE and (readout.du, readout.dv) == (4095, 410)
    assert any("never fires" in n for n in imported.report["notes"])
    ref = simulate(imported.graph, test.x, record=["3"])
    assert ref.traces["3"]["s"].sum() == 0
    np.testing.assert_array_equal(ref.scores, ref.traces["3"]["v"][:, -1])
    expected = _li_euler(graph, example.rate_spikes(test.x, STEPS), example.DT).argmax(1)
    float_acc = float(np.mean(expected == test.y))
    assert float_acc > 0.8, float_acc
    assert np.mean(ref.predictions == expected) >= READOUT_AGREEMENT
    assert abs(ref.accuracy(test.y) - float_acc) * 100 <= ACCURACY_TOLERANCE_POINTS, (ref.accuracy(test.y), float_acc)


@pytest.mark.lava
def test_li_readout_scores_identically_in_lava_and_reference(snn_digits, digits, tmp_path):
    from toolkit.backends.lava_sim import run_lava

    li_path, _ = _with_li_readout(snn_digits[2], tmp_path)
    graph = read_network(li_path, ImportOptions(dt=example.DT, timesteps=STEPS)).graph
    x = digits[1].x[:8]
    ref = simulate(graph, x, record=["1", "3"])
    lava = run_lava(graph, x, record=["1", "3"], progress=False)
    np.testing.assert_array_equal(lava.scores, ref.scores)
    for g in ("1", "3"):
        for var in ("s", "v"):
            np.testing.assert_array_equal(lava.traces[g][var], ref.traces[g][var])


def test_runner_and_nfa_run_report_the_voltage_readout_accuracy(snn_digits, digits, tmp_path, capsys):
    """``toolkit.runner.run`` and ``nfa import`` + ``nfa run`` score a voltage read-out by its argmax; the compiled
    network's file keeps the read-out mode."""
    import json

    import toolkit.cli as cli
    from compilers.netdir import load_network
    from toolkit.runner import run

    li_path, _ = _with_li_readout(snn_digits[2], tmp_path)
    net = tmp_path / "net"
    assert cli.main(["import", str(li_path), "-o", str(net), "--dt", str(example.DT), "-T", str(STEPS)]) == 0
    graph = load_network(net)
    assert graph.of_type(ir.Output)[0].readout is ir.ReadoutMode.VOLTAGE
    test = digits[1].take(60)
    ev = run(graph, test, backend="reference")
    assert ev.accuracy == float(np.mean(simulate(graph, test.x).predictions == test.y)) and ev.accuracy > 0.7
    js = tmp_path / "run.json"
    assert cli.main(["run", str(net), "--data", "digits", "--limit", "60", "--json", str(js), "--no-progress"]) == 0
    capsys.readouterr()
    assert json.loads(js.read_text())["accuracy"] > 0.7


def test_voltage_readout_round_trips_through_the_file_format(tmp_path):
    from toolkit.ir.fileformat import load_graph, save_graph

    nodes = [ir.Input(name="in", shape=(3,), encoding=ir.Encoding.RATE),
             ir.Dense(name="d", weight=np.eye(3, dtype=np.int32)),
             ir.LoihiLIF(name="li", shape=(3,), vth=131071, bias_mant=np.zeros(3, np.int32),
                         bias_exp=np.zeros(3, np.int32), dv=100),
             ir.Output(name="out", shape=(3,), readout=ir.ReadoutMode.VOLTAGE)]
    graph = ir.Graph.chain(nodes)
    back = load_graph(save_graph(graph, tmp_path / "g.nfa"))
    assert back.node("out").readout is ir.ReadoutMode.VOLTAGE and back.nodes == graph.nodes


def _cuba_li_nir(rng, *, folded: bool = False) -> tuple[object, dict[str, np.ndarray]]:
    """Input(5) → Affine → LIF(6) → Linear → Scale → CubaLI(3) → Output, with a Scale before the Affine too
    (``folded``: the same network with both scales multiplied into the weights instead)."""
    p = {"w1": rng.normal(0, 0.6, (6, 5)), "b1": rng.normal(0, 0.05, 6), "w2": rng.normal(0, 0.6, (3, 6)),
         "pre": rng.uniform(0.5, 2, 5), "post": np.array([1.0, 2.0, 0.5])}
    lif = nir.LIF(tau=np.full(6, 0.01), r=np.full(6, 10.0), v_leak=np.zeros(6), v_threshold=np.ones(6),
                  v_reset=np.zeros(6))
    li = nir.CubaLI(tau_syn=np.full(3, 0.005), tau_mem=np.full(3, 0.02), r=np.ones(3), v_leak=np.full(3, 0.1),
                    w_in=np.full(3, 2.0))
    nodes = {"input": nir.Input(input_type={"input": np.array([5])}), "lif": lif, "li": li,
             "output": nir.Output(output_type={"output": np.array([3])})}
    if folded:
        nodes.update(fc1=nir.Affine(weight=p["w1"] * p["pre"][None, :], bias=p["b1"]),
                     fc2=nir.Linear(weight=p["w2"] * p["post"][:, None]))
        order = ["input", "fc1", "lif", "fc2", "li", "output"]
    else:
        nodes.update(pre=nir.Scale(scale=p["pre"]), fc1=nir.Affine(weight=p["w1"], bias=p["b1"]),
                     fc2=nir.Linear(weight=p["w2"]), post=nir.Scale(scale=p["post"]))
        order = ["input", "pre", "fc1", "lif", "fc2", "post", "li", "output"]
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(order))), p


def _cuba_li_euler(p: dict[str, np.ndarray], spikes: np.ndarray, dt: float) -> np.ndarray:
    """``_cuba_li_nir``'s read-out voltage after the last step by NIR's equations (forward Euler at dt, float64)."""
    a1, b, a = dt / 0.01, dt / 0.005, dt / 0.02
    v1, cur, v = np.zeros((len(spikes), 6)), np.zeros((len(spikes), 3)), np.zeros((len(spikes), 3))
    for t in range(spikes.shape[1]):
        v1 = (1 - a1) * v1 + a1 * 10.0 * ((spikes[:, t] * p["pre"]) @ p["w1"].T + p["b1"])
        s1 = (v1 > 1.0).astype(float)
        v1[s1 > 0] = 0.0
        cur = (1 - b) * cur + b * 2.0 * (p["post"] * (s1 @ p["w2"].T))
        v = (1 - a) * v + a * cur + a * 0.1
    return v


def test_cuba_li_readout_and_scale_follow_nir_semantics(tmp_path, rng):
    """CubaLI: CubaLIF's discretisation (du, dv) and a voltage read-out whose value, scaled back to float units,
    follows NIR's equations (``READOUT_VOLTAGE_TOLERANCE``), with a Scale before and after a synapse."""
    from compilers.nir_io import nir_to_graph

    graph, p = _cuba_li_nir(rng)
    nir.write(str(tmp_path / "s.nir"), graph)
    opts = ImportOptions(dt=1e-3, timesteps=40)
    g = read_network(tmp_path / "s.nir", opts).graph
    assert {n.name for n in g.nodes} == {"input", "fc1", "lif", "fc2", "li", "output"}
    assert (g.node("li").du, g.node("li").dv) == (818, 205) and g.node("output").readout is ir.ReadoutMode.VOLTAGE
    x = rng.random((40, 5))
    ref = simulate(g, x)
    theta = nir_to_graph(nir.read(str(tmp_path / "s.nir")), opts)[0].node("li").threshold
    v = ref.scores / 64.0 / (g.node("li").vth / theta)   # registers back to NIR's float voltage
    expected = _cuba_li_euler(p, example.rate_spikes(x, 40), 1e-3)
    err = np.abs(v - expected) / np.abs(expected).max()
    assert np.abs(expected).max() > 0.5
    assert np.quantile(err, 0.9) <= READOUT_VOLTAGE_TOLERANCE, err
    assert np.mean(ref.predictions == expected.argmax(1)) >= READOUT_AGREEMENT


def test_scale_is_folded_into_the_synapse_exactly(tmp_path):
    """A Scale after a synapse multiplies its rows, before one its columns: the same registers, hence the same
    spikes, as the network with the scales multiplied into the weights."""
    graph, _ = _cuba_li_nir(np.random.default_rng(3))
    flat, _ = _cuba_li_nir(np.random.default_rng(3), folded=True)
    nir.write(str(tmp_path / "s.nir"), graph)
    nir.write(str(tmp_path / "f.nir"), flat)
    a = read_network(tmp_path / "s.nir", ImportOptions(dt=1e-3, timesteps=30)).graph
    b = read_network(tmp_path / "f.nir", ImportOptions(dt=1e-3, timesteps=30)).graph
    for name in ("fc1", "fc2"):
        np.testing.assert_array_equal(a.node(name).weight, b.node(name).weight)
        assert a.node(name).weight_exp == b.node(name).weight_exp
    x = np.random.default_rng(4).random((10, 5))
    np.testing.assert_array_equal(simulate(a, x).scores, simulate(b, x).scores)


@pytest.mark.lava
def test_cuba_li_readout_scores_identically_in_lava_and_reference(tmp_path, rng):
    from toolkit.backends.lava_sim import run_lava

    nir.write(str(tmp_path / "s.nir"), _cuba_li_nir(rng)[0])
    graph = read_network(tmp_path / "s.nir", ImportOptions(dt=1e-3, timesteps=20)).graph
    x = rng.random((4, 5))
    ref = simulate(graph, x, record=["lif", "li"])
    lava = run_lava(graph, x, record=["lif", "li"], progress=False)
    np.testing.assert_array_equal(lava.scores, ref.scores)
    for g in ("lif", "li"):
        for var in ("u", "v", "s"):
            np.testing.assert_array_equal(lava.traces[g][var], ref.traces[g][var])


def _chain(*named: tuple[str, object]) -> object:
    names = ["input", *(n for n, _ in named), "output"]
    nodes = {"input": nir.Input(input_type={"input": np.array([4])}), **dict(named),
             "output": nir.Output(output_type={"output": np.array([4])})}
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)), type_check=False)


def _lif4() -> object:
    return nir.LIF(tau=np.full(4, 0.01), r=np.ones(4), v_leak=np.zeros(4), v_threshold=np.ones(4), v_reset=np.zeros(4))


@pytest.mark.parametrize(("graph", "match"), [
    (lambda: _chain(("fc", nir.Linear(weight=np.eye(4))), ("lif", _lif4()), ("sc", nir.Scale(scale=np.ones(4)))),
     "'sc'.*Scale.*reads LIF and feeds Output"),
    (lambda: _chain(("fc", nir.Linear(weight=np.eye(4))), ("li", nir.LI(tau=np.full(4, 0.01), r=np.ones(4),
                                                                          v_leak=np.zeros(4))),
                    ("fc2", nir.Linear(weight=np.eye(4))), ("lif", _lif4())),
     "'li'.*read only by an Output"),
    (lambda: _chain(("fc", nir.Linear(weight=np.eye(4))),
                    ("th", nir.Threshold(threshold=np.ones(4)))),
     "'th'.*Threshold.*1/4096.*not keep"),
], ids=["scale-after-neuron", "li-hidden", "threshold"])
def test_unmappable_scale_li_and_threshold_are_refused_with_the_reason(graph, match, tmp_path):
    nir.write(str(tmp_path / "x.nir"), graph())
    with pytest.raises(LoweringError, match=match):
        read_network(tmp_path / "x.nir", ImportOptions(dt=1e-3))


def test_voltage_readout_exports_as_cuba_li_and_round_trips(tmp_path, rng):
    """An imported CubaLI read-out is written back as NIR's CubaLI: IR → NIR → IR keeps every register, and read
    from its floats alone the file is again a voltage read-out."""
    nir.write(str(tmp_path / "s.nir"), _cuba_li_nir(rng)[0])
    graph = read_network(tmp_path / "s.nir", ImportOptions(dt=1e-3, timesteps=20)).graph
    exported = export_nir(graph, dt=1e-3)
    assert type(exported.nodes["li"]).__name__ == "CubaLI"
    back = read_network(write_nir(graph, tmp_path / "back.nir", dt=1e-3)).graph
    assert back.nodes == graph.nodes and set(back.edges) == set(graph.edges)
    for node in exported.nodes.values():
        node.metadata = {}
    nir.write(str(tmp_path / "floats.nir"), exported)
    again = read_network(tmp_path / "floats.nir", ImportOptions(dt=1e-3, timesteps=20)).graph
    assert again.node("output").readout is ir.ReadoutMode.VOLTAGE
    assert (again.node("li").du, again.node("li").dv) == (graph.node("li").du, graph.node("li").dv)
    x = rng.random((20, 5))
    assert np.mean(simulate(again, x).predictions == simulate(graph, x).predictions) >= READOUT_AGREEMENT
