"""The IR: frozen nodes and arrays, ports, delays and cycles, records, check_graph, registries, and the
versioned file format's round trip (and files of format version 1, from the previous release)."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from toolkit import ir
from toolkit.errors import GraphError, IRFormatError, RegistryError
from toolkit.registry import TypeRegistry

DATA = Path(__file__).parent / "data"


def _graph() -> ir.Graph:
    w = np.arange(12, dtype=np.float64).reshape(3, 4) / 10
    return ir.Graph.chain([
        ir.Input(name="in", shape=(4,), encoding=ir.Encoding.RATE, bits=8, seed=3),
        ir.Dense(name="fc", weight=w, bias=np.array([0.1, -0.2, 0.3])),
        ir.LoihiLIF(name="lif", shape=(3,), vth=77, bias_mant=np.array([1, -2, 3], np.int32),
                    bias_exp=np.array([0, 1, 2], np.int32), reset=ir.ResetMode.SUBTRACT),
        ir.Output(name="out", shape=(3,), readout=ir.ReadoutMode.SPIKE_COUNT),
    ], records=(ir.Timesteps(steps=16), ir.PassLog(passes=("a", "b")),
                ir.Ranges(pre_max={"lif": 1.5}, act_max={"lif": 0.5})))


def test_nodes_are_frozen():
    n = ir.Input(name="in", shape=(4,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        n.name = "other"  # type: ignore[misc]


def test_round_trip_preserves_everything(tmp_path):
    g = _graph()
    path = ir.save_graph(g, tmp_path / "net.nfa")
    h = ir.load_graph(path)
    assert h == g
    assert h.node("lif").reset is ir.ResetMode.SUBTRACT
    assert h.node("in").shape == (4,) and isinstance(h.node("in").shape, tuple)
    assert h.node("lif").bias_mant.dtype == np.int32
    assert h.timesteps == 16 and h.record(ir.PassLog).passes == ("a", "b")
    assert h.record(ir.Ranges).pre_max["lif"] == 1.5


def test_file_has_readable_versioned_header(tmp_path):
    ir.save_graph(_graph(), tmp_path / "net.nfa")
    with zipfile.ZipFile(tmp_path / "net.nfa") as zf:
        header = json.loads(zf.read("graph.json"))
    assert header["format"] == "nfa-ir" and header["format_version"] == ir.FORMAT_VERSION
    assert [n["type"] for n in header["nodes"]] == ["Input", "Dense", "LoihiLIF", "Output"]


def test_unsupported_version_is_refused(tmp_path):
    p = tmp_path / "net.nfa"
    ir.save_graph(_graph(), p)
    with zipfile.ZipFile(p) as zf:
        header = json.loads(zf.read("graph.json"))
        arrays = {n: zf.read(n) for n in zf.namelist() if n != "graph.json"}
    header["format_version"] = 99
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("graph.json", json.dumps(header))
        for n, data in arrays.items():
            zf.writestr(n, data)
    with pytest.raises(IRFormatError, match="format_version 99"):
        ir.load_graph(p)


def test_not_an_ir_file(tmp_path):
    p = tmp_path / "junk.nfa"
    p.write_text("hello")
    with pytest.raises(IRFormatError, match="not an nfa IR file"):
        ir.load_graph(p)
    with pytest.raises(IRFormatError, match="no such IR file"):
        ir.load_graph(tmp_path / "missing.nfa")


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "net.nfa"
    ir.save_graph(_graph(), p)
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", boom)
    with pytest.raises(OSError):
        ir.save_graph(_graph(), p)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["net.nfa"]  # no temporary left behind


def test_check_graph_accepts_valid_graph():
    assert ir.graph_problems(_graph()) == []


@pytest.mark.parametrize("mutate, message", [
    (lambda nodes: [*nodes[:2], nodes[2].replace(name="fc"), nodes[3]], "used more than once"),
    (lambda nodes: [nodes[0], nodes[1].replace(weight=np.ones((3, 5))), *nodes[2:]], "expects 5 inputs"),
    (lambda nodes: [nodes[0], nodes[1].replace(weight=np.full((3, 4), np.nan)), *nodes[2:]], "NaN"),
    (lambda nodes: [*nodes[:2], nodes[2].replace(shape=(2,)), nodes[3]], "does not match"),
    (lambda nodes: [nodes[0], nodes[1].replace(bias=np.zeros(7)), *nodes[2:]], "bias must have shape"),
])
def test_check_graph_names_the_problem(mutate, message):
    g = _graph()
    bad = ir.Graph.chain(mutate(list(g.nodes)))
    with pytest.raises(GraphError, match=message):
        ir.check_graph(bad)


def test_check_graph_structure_errors():
    g = _graph()
    no_out = ir.Graph.chain(list(g.nodes)[:3])
    assert any("Output" in p for p in ir.graph_problems(no_out))
    cyc = g.with_nodes(g.nodes, [*g.edges, ("lif", "fc")])
    assert any("incoming edges" in p for p in ir.graph_problems(cyc))
    dangling = g.with_nodes(g.nodes, [*g.edges, ("fc", "nowhere")])
    assert any("unknown node 'nowhere'" in p for p in ir.graph_problems(dangling))


def test_unknown_node_type_is_reported():
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True, eq=False)
    class Mystery(ir.Node):
        PORTS: ClassVar[tuple[ir.Port, ...]] = (ir.Port("in", ir.Flow.SIGNAL),)

    g = _graph()
    nodes = list(g.nodes)
    bad = ir.Graph.chain([*nodes[:3], Mystery(name="m"), nodes[3]])
    with pytest.raises(GraphError, match="no structural check for node type Mystery"):
        ir.check_graph(bad)


def test_shapes_inferred():
    assert _graph().shapes() == {"in": (4,), "fc": (3,), "lif": (3,), "out": (3,)}


# ---------------------------------------------------------------- graphs that are not chains


def _lif(name: str, n: int, vth: int = 100) -> ir.LoihiLIF:
    return ir.LoihiLIF(name=name, shape=(n,), vth=vth, bias_mant=np.zeros(n, np.int32), bias_exp=np.zeros(n, np.int32))


def _dense(name: str, n_out: int, n_in: int, delay: int = 0) -> ir.Dense:
    return ir.Dense(name=name, weight=np.full((n_out, n_in), 2, np.int32), delay=delay)


def onchip_fa_graph(b_delay: int = 1) -> ir.Graph:
    """The on-chip feedback-alignment graph of the graph-redesign issue: a data and a label input, W1, a hidden
    group, W2, an output group, an error group (output minus label) and a fixed synapse B from the error group
    back into the hidden group: fan-in, two inputs and a cycle."""
    nodes = [ir.Input(name="x", shape=(4,), encoding=ir.Encoding.RATE),
             ir.Input(name="label", shape=(3,), encoding=ir.Encoding.RATE),
             _dense("W1", 5, 4), _lif("hidden", 5), _dense("W2", 3, 5), _lif("out", 3),
             _dense("to_err", 3, 3), _dense("minus_label", 3, 3), _lif("error", 3),
             _dense("B", 5, 3, delay=b_delay), ir.Output(name="y", shape=(3,), readout=ir.ReadoutMode.SPIKE_COUNT)]
    edges = [("x", "W1"), ("W1", "hidden"), ("hidden", "W2"), ("W2", "out"), ("out", "to_err"),
             ("to_err", "error"), ("label", "minus_label"), ("minus_label", "error"), ("error", "B"),
             ("B", "hidden"), ("out", "y")]
    return ir.Graph(nodes=tuple(nodes), edges=tuple(edges), records=(ir.Timesteps(steps=8),))


def test_the_onchip_fa_graph_is_valid():
    g = onchip_fa_graph()
    assert ir.graph_problems(g) == []
    assert not g.is_acyclic()
    assert [n.name for n in g.predecessors("hidden")] == ["W1", "B"]        # fan-in, summed
    assert [n.name for n in g.topological()].index("B") < [n.name for n in g.topological()].index("hidden")


def test_a_cycle_without_a_delay_is_refused_naming_it():
    with pytest.raises(GraphError, match=r"the cycle .*B.* has no synapse with a delay of at least one step"):
        ir.check_graph(onchip_fa_graph(b_delay=0))


def test_edges_name_ports_and_flows_are_checked():
    g = _graph()
    wrong_port = g.with_nodes(g.nodes, [e if e.dst != "lif" else ir.Edge("fc", "lif", "third") for e in g.edges])
    assert any("has no port 'third' (its ports: in)" in p for p in ir.graph_problems(wrong_port))
    signal_into_group = g.with_nodes(g.nodes, [*g.edges, ("in", "lif")])
    assert any("takes synaptic current" in p for p in ir.graph_problems(signal_into_group))
    two_targets = g.with_nodes([*g.nodes, _lif("lif2", 3)], [*g.edges, ("fc", "lif2")])
    assert any("feeds 2 neuron group ports" in p for p in ir.graph_problems(two_targets))
    negative = g.replace_nodes({"fc": g.node("fc").replace(delay=-1)})
    assert any("delay must be an integer >= 0" in p for p in ir.graph_problems(negative))


def test_several_inputs_and_outputs_are_valid():
    g = onchip_fa_graph()
    two_out = g.with_nodes([*g.nodes, ir.Output(name="err_out", shape=(3,), readout=ir.ReadoutMode.SPIKE_COUNT)],
                           [*g.edges, ("error", "err_out")])
    assert ir.graph_problems(two_out) == []
    assert {n.name for n in two_out.of_type(ir.Input)} == {"x", "label"}


def test_node_arrays_are_read_only_and_owned():
    w = np.ones((3, 4))
    n = ir.Dense(name="fc", weight=w)
    w[0, 0] = 7.0                                   # the caller's array is not the node's
    assert n.weight[0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        n.weight[0, 0] = 2.0
    assert n.replace(name="fc2").weight is n.weight   # read-only arrays are shared, not copied, by replace


def test_records_are_frozen_and_one_per_type():
    r = ir.Ranges(pre_max={"a": 1.0}, act_max={"a": 2.0})
    with pytest.raises(TypeError):
        r.pre_max["a"] = 3.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.pre_max = {}  # type: ignore[misc]
    g = _graph()
    assert g.with_record(ir.Timesteps(steps=4)).timesteps == 4      # replaces the one there
    with pytest.raises(GraphError, match="at most one record of each type"):
        ir.Graph(nodes=g.nodes, edges=g.edges, records=(ir.Timesteps(steps=1), ir.Timesteps(steps=2)))


def test_registries_refuse_a_second_registration_and_fall_back_to_parents():
    reg: TypeRegistry[str] = TypeRegistry("test table")
    reg.add(ir.NeuronGroup, "group")
    with pytest.raises(RegistryError, match="test table: NeuronGroup is already registered"):
        reg.add(ir.NeuronGroup, "again")
    assert reg.lookup(ir.LoihiLIF) == "group" and reg.lookup(ir.Dense) is None
    with pytest.raises(RegistryError, match="already registered"):
        ir.register_node(ir.Dense)
    with pytest.raises(RegistryError, match="already registered"):
        ir.CHECKS.add(ir.Dense, lambda n, s: None)


def test_format_version_1_files_load_and_run_as_before():
    """A network written by the previous release (format version 1, ``meta`` dict) loads with its meta as
    records, and the reference simulator gives the output counts that release computed (saved beside it)."""
    from toolkit.backends.reference import simulate

    with zipfile.ZipFile(DATA / "v1_demo.nfa") as zf:
        assert json.loads(zf.read("graph.json"))["format_version"] == 1
    g = ir.load_graph(DATA / "v1_demo.nfa")
    assert g.timesteps == 32 and g.record(ir.Converted).mode == "rate"
    assert g.record(ir.PassLog).passes[-1] == "map_cores" and g.record(ir.Quantization).hw == "loihi2"
    assert g.record(ir.CoreMapping).placement["cores"] == 3
    want = np.load(DATA / "v1_demo_expected.npz")
    for engine in ("events", "nodes", "step"):
        got = simulate(g, want["x"], engine=engine)
        np.testing.assert_array_equal(got.scores, want["scores"], err_msg=engine)
