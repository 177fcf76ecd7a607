"""The compiler's passes on graphs that are not chains: fan-in, skips, recurrent synapses, several inputs.

The end-to-end case is the issue's own: a network with a recurrent hidden layer and a residual
connection, built with the IR API from a trained MLP's weights, compiled by the rate pipeline and run
in the reference (every engine that takes it) and in Lava fixed_pt, spike for spike and voltage for voltage.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from compilers.floateval import float_forward
from compilers.passes import (
    CompileOptions,
    ConversionMode,
    balance_thresholds,
    check_order,
    convert_rate,
    fold_biases,
    map_cores,
    measure_ranges,
    pipeline_for,
    pool_to_conv,
    quantize,
    run_pipeline,
)
from toolkit import ir
from toolkit.backends.reference import simulate
from toolkit.errors import GraphError, LoweringError, QuantizationError
from toolkit.hw import load_hw


def recurrent_residual(model, rng: np.random.Generator) -> ir.Graph:
    """64 → W1 → h1 (+ a recurrent R: h1 → h1, delay 1) → W2 → logits, and a skip S: input → logits, from the
    trained 64-100-10 MLP's W1 and W2 (R and S small and random)."""
    from compilers.frontend import from_torch

    (w1, b1), (w2, b2) = [(n.weight, n.bias) for n in from_torch(model, (64,)).of_type(ir.Dense)]
    r = rng.normal(0, 0.02, (w1.shape[0], w1.shape[0]))
    s = rng.normal(0, 0.05, (w2.shape[0], w1.shape[1]))
    nodes = [ir.Input(name="input", shape=(64,)),
             ir.Dense(name="W1", weight=w1, bias=b1), ir.ReLU(name="h1", shape=(w1.shape[0],)),
             ir.Dense(name="R", weight=r, delay=1),
             ir.Dense(name="W2", weight=w2, bias=b2), ir.Dense(name="S", weight=s),
             ir.Identity(name="logits", shape=(w2.shape[0],)), ir.Output(name="output", shape=(w2.shape[0],))]
    edges = [("input", "W1"), ("W1", "h1"), ("h1", "R"), ("R", "h1"), ("h1", "W2"), ("W2", "logits"),
             ("input", "S"), ("S", "logits"), ("logits", "output")]
    return ir.check_graph(ir.Graph(nodes=tuple(nodes), edges=tuple(edges)))


@pytest.fixture(scope="module")
def float_graph(trained_fa_noise):
    return recurrent_residual(trained_fa_noise[0], np.random.default_rng(5))


@pytest.fixture(scope="module")
def compiled_graph(float_graph, digits):
    opts = CompileOptions(hw=load_hw("loihi2"), calibration=digits[0].x[:500], timesteps=24)
    return run_pipeline(float_graph, pipeline_for(opts))


def test_float_evaluation_steps_a_recurrent_graph(float_graph, digits):
    x = digits[1].x[:50]
    out = float_forward(float_graph, x, record=True)
    # the last step satisfies the recurrence: h1 = relu(W1 x + b1 + R h1(previous step)), checked by hand
    prev = float_forward(float_graph, x, record=True, steps=31)["h1"]
    w1, r = float_graph.node("W1"), float_graph.node("R")
    want = np.maximum(x @ w1.weight.T + w1.bias + prev @ r.weight.T, 0)
    np.testing.assert_allclose(out["h1"], want, rtol=0, atol=1e-12)
    logits = out["h1"] @ float_graph.node("W2").weight.T + float_graph.node("W2").bias + x @ float_graph.node(
        "S").weight.T
    np.testing.assert_allclose(out["output"], logits, rtol=0, atol=1e-12)
    assert (out["output"].argmax(1) == digits[1].y[:50]).mean() > 0.8


def test_balance_keeps_every_output_of_a_graph_with_fan_in_and_recurrence(float_graph, digits):
    x = digits[1].x[:100]
    folded = fold_biases(float_graph)
    bal = balance_thresholds(folded, calibration=digits[0].x[:300])
    before, after = float_forward(folded, x, record=True), float_forward(bal, x, record=True)
    scales = bal.record(ir.Balance).scales
    for g in ("h1", "logits"):   # a'_g = a_g / λ_g exactly, whatever feeds g
        np.testing.assert_allclose(after[g] * scales[g], before[g], rtol=1e-9, atol=1e-9)
    assert bal.node("R").weight[0, 0] == pytest.approx(folded.node("R").weight[0, 0])   # λ_h1 / λ_h1
    assert bal.node("S").weight[0, 0] == pytest.approx(folded.node("S").weight[0, 0] / scales["logits"])


def test_fold_biases_sums_the_biases_of_every_synapse_into_a_group():
    w = np.ones((2, 3))
    g = ir.Graph(nodes=(ir.Input(name="a", shape=(3,)), ir.Input(name="b", shape=(3,)),
                        ir.Dense(name="A", weight=w, bias=np.array([1.0, 2.0])),
                        ir.Dense(name="B", weight=w, bias=np.array([10.0, 20.0])),
                        ir.ReLU(name="g", shape=(2,), bias=np.array([100.0, 200.0])), ir.Output(name="o", shape=(2,))),
                 edges=(("a", "A"), ("b", "B"), ("A", "g"), ("B", "g"), ("g", "o")))
    out = fold_biases(g)
    np.testing.assert_array_equal(out.node("g").bias, [111.0, 222.0])
    assert out.node("A").bias is None and out.node("B").bias is None
    x = {"a": np.ones((2, 3)), "b": np.zeros((2, 3))}
    np.testing.assert_array_equal(float_forward(out, x)["output"], float_forward(g, x)["output"])


def test_the_recurrent_residual_network_compiles(compiled_graph, digits):
    q = compiled_graph.record(ir.Quantization)
    by_group = {rep["group"]: rep for rep in q.layers}
    assert set(by_group["h1"]["synapses"]) == {"W1", "R"}           # fan-in: one voltage scale, two synapses
    assert set(by_group["logits"]["synapses"]) == {"W2", "S"}
    assert compiled_graph.node("R").delay == 1 and compiled_graph.node("R").quantized
    placement = compiled_graph.record(ir.CoreMapping).to_json()["placement"]
    h1 = next(g for g in placement["groups"] if g["group"] == "h1")
    assert h1["synapse_list"] == ["W1", "R"] and h1["sources"] == ["input", "h1"]
    acc = simulate(compiled_graph, digits[1].x).accuracy(digits[1].y)
    assert acc > 0.85, acc


def test_fan_in_synapses_share_the_groups_voltage_scale(compiled_graph, float_graph, digits):
    """Each synapse's registers, shifted by its exponent and divided by what its input payload is worth, give
    the same float weight per voltage unit: the currents add up in one unit."""
    bal = run_pipeline(float_graph, pipeline_for(CompileOptions(hw=load_hw("loihi2"),
                                                                calibration=digits[0].x[:500],
                                                                timesteps=24))[:5])
    for group, syns in (("h1", ("W1", "R")), ("logits", ("W2", "S"))):
        voltage_per_float = []
        for name in syns:
            fl, qz = bal.node(name), compiled_graph.node(name)
            big = np.abs(fl.weight) > 0.5 * np.abs(fl.weight).max()
            src = bal.signal_source(name)
            in_scale = 1.0 / src.threshold if isinstance(src, ir.LIF) else 1.0
            ratio = qz.weight[big] * 2.0 ** qz.weight_exp / (fl.weight[big] * in_scale)
            voltage_per_float.append(np.median(ratio))
        assert voltage_per_float[0] == pytest.approx(voltage_per_float[1], rel=0.02), (group, voltage_per_float)


@pytest.mark.lava
def test_the_recurrent_residual_network_runs_identically_in_lava(compiled_graph, digits):
    from toolkit.backends.lava_sim import run_lava

    x = digits[1].x[:4]
    groups = ["h1", "logits"]
    ref = simulate(compiled_graph, x, record=True, engine="step")
    lava = run_lava(compiled_graph, x, record=groups, progress=False)
    np.testing.assert_array_equal(lava.scores, ref.scores)
    assert ref.scores.sum() > 0
    for g in groups:
        for var in ("s", "u", "v"):
            np.testing.assert_array_equal(lava.traces[g][var], ref.traces[g][var], err_msg=f"{g}.{var}")
    with pytest.raises(LoweringError, match="without cycles"):
        simulate(compiled_graph, x, engine="nodes")


def test_a_pipeline_in_the_wrong_order_is_refused_before_anything_runs(float_graph, digits):
    hw = load_hw("loihi2")
    wrong = [("fold_biases", fold_biases), ("convert_rate", convert_rate),
             ("balance_thresholds", partial(balance_thresholds, calibration=digits[0].x[:10])),
             ("quantize", partial(quantize, hw=hw))]
    with pytest.raises(GraphError, match=r"pass 'convert_rate' needs Balance, which no earlier pass provides "
                                         r"\(provided by: balance_thresholds\)"):
        check_order(float_graph, wrong)
    with pytest.raises(GraphError, match="no Balance record; run balance_thresholds first"):
        convert_rate(fold_biases(float_graph))
    with pytest.raises(GraphError, match="no BiasesFolded record; run fold_biases first"):
        balance_thresholds(float_graph, calibration=digits[0].x[:10])


def test_passes_never_change_their_input(float_graph, digits):
    opts = CompileOptions(hw=load_hw("loihi2"), calibration=digits[0].x[:200], timesteps=8)
    graph = float_graph
    for name, fn in pipeline_for(opts):
        before = {n.name: {k: a.copy() for k, a in n.arrays().items()} for n in graph.nodes}
        out = fn(graph)
        for n in graph.nodes:
            for k, a in n.arrays().items():
                assert not a.flags.writeable, f"{name}: {n.name}.{k} is writable"
                np.testing.assert_array_equal(a, before[n.name][k], err_msg=f"{name} changed {n.name}.{k}")
        assert out.record(ir.PassLog).passes[-1] == name
        graph = out


def test_sdn_refuses_fan_in_naming_the_group(float_graph, digits):
    opts = CompileOptions(hw=load_hw("loihi2"), calibration=digits[0].x[:100], mode=ConversionMode.SDN)
    with pytest.raises((QuantizationError, LoweringError), match=r"group 'h1' has 2 synapses into it.*--mode rate"):
        run_pipeline(float_graph, pipeline_for(opts))


def test_pool_to_conv_keeps_the_edges_of_a_branching_pool():
    x_shape = (1, 4, 4)
    nodes = (ir.Input(name="in", shape=x_shape), ir.AvgPool2d(name="pool", kernel=(2, 2), stride=(2, 2)),
             ir.Flatten(name="flat"), ir.Dense(name="A", weight=np.ones((3, 4))),
             ir.Dense(name="B", weight=np.ones((3, 4))),
             ir.Identity(name="g", shape=(3,)), ir.Output(name="o", shape=(3,)))
    g = ir.Graph(nodes=nodes, edges=(("in", "pool"), ("pool", "flat"), ("flat", "A"), ("flat", "B"), ("A", "g"),
                                     ("B", "g"), ("g", "o")))
    out = ir.check_graph(pool_to_conv(g))
    assert isinstance(out.node("pool"), ir.Conv2d) and isinstance(out.node("pool_act"), ir.ReLU)
    assert [e.src for e in out.in_edges("flat")] == ["pool_act"]
    x = np.random.default_rng(0).random((5, *x_shape))
    np.testing.assert_allclose(float_forward(out, x)["output"], float_forward(g, x)["output"], atol=1e-12)


def test_map_cores_settles_on_a_cycle_and_counts_fan_out_of_every_target(tiny_hw):
    """A recurrent group's fan-out includes the cores of its own group: with 2 neurons per core, h (6 neurons,
    3 cores) sends each spike to the 3 cores of h (R) and the 1 core of o (W2)."""
    hw = tiny_hw(core={"max_neurons": 2})
    lif = partial(ir.LoihiLIF, vth=10, du=4095, dv=0)
    nodes = (ir.Input(name="in", shape=(4,), encoding=ir.Encoding.RATE),
             ir.Dense(name="W1", weight=np.full((6, 4), 2, np.int32)),
             lif(name="h", shape=(6,), bias_mant=np.zeros(6, np.int32), bias_exp=np.zeros(6, np.int32)),
             ir.Dense(name="R", weight=np.full((6, 6), 2, np.int32), delay=1),
             ir.Dense(name="W2", weight=np.full((2, 6), 2, np.int32)),
             lif(name="o", shape=(2,), bias_mant=np.zeros(2, np.int32), bias_exp=np.zeros(2, np.int32)),
             ir.Output(name="out", shape=(2,), readout=ir.ReadoutMode.SPIKE_COUNT))
    g = ir.Graph(nodes=nodes, edges=(("in", "W1"), ("W1", "h"), ("h", "R"), ("R", "h"), ("h", "W2"), ("W2", "o"),
                                     ("o", "out")))
    m = map_cores(g, hw=hw).record(ir.CoreMapping).to_json()["placement"]
    h = next(x for x in m["groups"] if x["group"] == "h")
    assert h["cores"] == 3 and h["max_per_core"]["max_fan_out_axons"] == 2 * (3 + 1)
    assert h["max_per_core"]["max_fan_in_axons"] == 4 + 6


def test_measure_ranges_takes_the_sum_of_every_synapse_into_a_group(float_graph, digits):
    x = digits[0].x[:50]
    g = fold_biases(float_graph)
    rec = measure_ranges(g, calibration=x).record(ir.Ranges)
    acts = float_forward(g, x, record=True)
    assert rec.pre_max["h1"] == pytest.approx(float(np.abs(acts["W1"] + acts["R"]).max()))
    assert rec.act_max["logits"] == pytest.approx(float(np.abs(acts["logits"]).max()))


def test_netx_export_refuses_a_graph_that_is_not_a_chain_naming_the_node(compiled_graph):
    from compilers.netx import netx_layers

    with pytest.raises(LoweringError, match=r"Input 'input' feeds 2 nodes \(W1, S\)"):
        netx_layers(compiled_graph)


def test_float_evaluation_of_an_acyclic_graph_with_a_delay_reads_the_delayed_synapses_source():
    """Without a cycle a delay changes no settled value: the graph evaluates as if it had none (regression: the
    delayed synapse was evaluated before its source and read zeros)."""
    rng = np.random.default_rng(1)
    nodes = [ir.Input(name="in", shape=(5,)), ir.Dense(name="A", weight=rng.normal(size=(4, 5))),
             ir.ReLU(name="h", shape=(4,)), ir.Dense(name="B", weight=rng.normal(size=(3, 4)), delay=2),
             ir.Identity(name="o", shape=(3,)), ir.Output(name="out", shape=(3,))]
    g = ir.Graph.chain(nodes)
    undelayed = g.replace_nodes({"B": g.node("B").replace(delay=0)})
    x = rng.random((6, 5))
    assert [n.name for n in g.dataflow_order()] == ["in", "A", "h", "B", "o", "out"]
    np.testing.assert_allclose(float_forward(g, x)["output"], float_forward(undelayed, x)["output"])
    assert np.abs(float_forward(g, x)["output"]).max() > 0
