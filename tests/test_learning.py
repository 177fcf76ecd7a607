"""Learning rules written once in Python: the expression language, the checks against the learning engine's
formats, the rendered Lava rules, and the NumPy definition against Lava's floating_pt learning engine."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compilers.lava.learning import check_plasticity, lava_rule_string, product_shift
from tests.conformance.cases import plastic_rules, two_factor_rules
from toolkit import ir
from toolkit.errors import LoweringError
from toolkit.hw import load_hw
from toolkit.learning import (
    Plasticity,
    RuleSyntaxError,
    Trace,
    parse_rule,
    sgn,
    t,
    u,
    w,
    x0,
    x1,
    x2,
    y0,
    y1,
    y2,
    y3,
)
from toolkit.learning.builtin import BUILTIN
from toolkit.learning.engine import SynapseState, run_plastic_synapse

# ---------------------------------------------------------------- the expression language


def test_products_take_their_dependency_and_distribute_over_sums():
    r = 2 ** -4 * x0 * y1 - 2 ** -3 * y0 * x1
    assert {(p.scale, p.dependency, tuple(f.var for f in p.factors)) for p in r.products} == {
        (0.0625, "x0", ("y1",)), (-0.125, "y0", ("x1",))}
    fa = x1 * (y2 - y3)                       # no dependency written: every epoch (u0)
    assert {(p.scale, p.dep_symbol) for p in fa.products} == {(1.0, "u0"), (-1.0, "u0")}
    assert x0 * y1 + x0 * y1 == 2 * x0 * y1   # like terms merge
    assert not (x0 * y1 - x0 * y1)


def test_constants_become_factors_only_where_the_engine_has_them():
    (p,) = (y0 * x1 * (y2 - 10)).products
    assert [(f.var, f.const) for f in p.factors] == [("x1", 0), ("y2", -10)]
    (q,) = (u(1) * sgn(w - 64)).products
    assert q.decimate == 1 and q.factors[0].sgn and q.factors[0].const == -64
    with pytest.raises(RuleSyntaxError, match="a constant is added only to a single trace or synaptic variable"):
        x0 * y1 + 3
    with pytest.raises(RuleSyntaxError, match="must be an integer"):
        y2 + 0.5
    with pytest.raises(RuleSyntaxError, match="sgn takes w, t or d"):
        sgn(x1)


def test_parse_reads_what_str_writes_and_refuses_anything_else():
    for r in (2 ** -4 * x0 * y1 - 3 * y0 * x1 * (y2 - 10), u(2) * sgn(t + 5) * x2, x0 * y0 * y1):
        assert parse_rule(str(r)) == r
    assert parse_rule("2^-4 * x0 * y1") == 2 ** -4 * x0 * y1       # Lava's ^ reads as a power
    with pytest.raises(RuleSyntaxError, match="unknown symbol 'reward'"):
        parse_rule("reward * x0")
    with pytest.raises(RuleSyntaxError, match=r"only u\(K\) and sgn\(...\) can be called"):
        parse_rule("open('x') * x0")
    with pytest.raises(RuleSyntaxError, match="Attribute is not allowed"):
        parse_rule("x0.__class__")
    with pytest.raises(RuleSyntaxError, match="is not an expression"):
        parse_rule("x0 *")
    with pytest.raises(RuleSyntaxError, match="far outside"):          # would take forever to evaluate
        parse_rule("2 ** 100000000 * x0")
    with pytest.raises(RuleSyntaxError, match=r"only u\(K\) and sgn\(...\) can be called"):
        parse_rule("x0(1) * y1")


def test_a_rule_with_two_decimations_or_an_undecayed_trace_is_refused():
    with pytest.raises(RuleSyntaxError, match="several decimations"):
        assert Plasticity(dw=u(0) * x1 + u(1) * x2, traces={"x1": Trace(1, 4), "x2": Trace(1, 4)}).decimate
    with pytest.raises(RuleSyntaxError, match="reads trace x1 but gives it no decay"):
        Plasticity(dw=y0 * x1)
    with pytest.raises(RuleSyntaxError, match="sets no impulse or decay for y2"):
        Plasticity(dw=y0 * x1 * y2, traces={"x1": Trace(1, 4), "y2": Trace(1, 4)}, third_factor=True)


# ---------------------------------------------------------------- the engine's formats


@pytest.mark.parametrize("rule, message", [
    (Plasticity(dw=2 ** -9 * x0 * y1, traces={"y1": Trace(16, 4)}),
     r"dw term '0.001953125 \* x0 \* y1': scale 0.00195312 is not m \* 2\^e with m in -8..7 and e in -7..8"),
    (Plasticity(dw=9 * x0 * y1, traces={"y1": Trace(16, 4)}), r"scale 9 is not m \* 2\^e .*nearest: 8"),
    (Plasticity(dw=x0 * y1, traces={"y1": Trace(200, 4)}), r"trace y1: impulse 200 is outside 0..127.996"),
    (Plasticity(dw=x0 * y1, traces={"y1": Trace(16, 300)}), r"trace y1: decay time tau 300 is outside 1..255"),
    (Plasticity(dw=x0 * y1, traces={"y1": Trace(16, 4)}, t_epoch=64), r"t_epoch 64 is outside 1..63"),
    (Plasticity(dw=x0 * (w - 300)), r"constant -300 exceeds the learning engine's 8-bit constants"),
])
def test_a_term_out_of_range_fails_with_one_line_naming_it(rule, message):
    with pytest.raises(LoweringError, match=message) as exc:
        check_plasticity(rule)
    assert "\n" not in str(exc.value)


def test_product_shift_is_lavas():
    assert product_shift((y0 * x1 * y2).products[0]) == 3        # 7 + 7 + 4 - 15 (Lava: ÷8)
    assert product_shift((u(0) * t * y2).products[0]) == 5       # 9 + 7 + 4 - 15 (Lava: ÷32)
    assert product_shift((x0 * y1).products[0]) == 0
    assert product_shift((x0 * (w - 64) * y1).products[0]) == 5  # a factor's constant adds no width


def test_rendered_strings_parse_in_lava_to_the_same_products():
    from toolkit.lavacompat import require_lava

    require_lava()
    from lava.magma.core.learning.product_series import ProductSeries
    from lava.magma.core.learning.symbolic_equation import SymbolicEquation

    for name, make in BUILTIN.items():
        rule = make()
        for target, r in rule.rules().items():
            text = lava_rule_string(r, target)
            ps = ProductSeries(SymbolicEquation(target, text))
            got = sorted((p.s_mantissa * 2.0 ** (p.s_exp - 7), p.dependency,  # Lava stores e + 7
                          sorted(str(f.factor_type) for f in p.factors))
                         for p in ps.products)
            want = sorted((p.scale, p.dep_symbol[0] if p.dependency == "u" else p.dependency, len(p.factors))
                          for p in r.products)
            assert [(g[0], g[1]) for g in got] == [(s, d) for s, d, _ in want], (name, target, text)
            assert [len(g[2]) for g in got] == [n for _, _, n in want], (name, target, text)


# ---------------------------------------------------------------- the NumPy definition against Lava


def _lava_weights(rule: Plasticity, w0: np.ndarray, pre: np.ndarray, post: np.ndarray, y_in: np.ndarray | None,
                  tag: str) -> np.ndarray:
    """Weights after every step of Lava's LearningDense driven directly by spike sources (no neurons)."""
    return _lava_run(rule, w0, pre, post, y_in, tag)["weights"]


def _lava_run(rule: Plasticity, w0: np.ndarray, pre: np.ndarray, post: np.ndarray, y_in: np.ndarray | None,
              tag: str, rng_seed: int = 0) -> dict[str, np.ndarray]:
    """Weights, tags and delays after every step of Lava's LearningDense driven directly by spike sources."""
    from toolkit.lavacompat import require_lava

    require_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import LearningDense
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    from compilers.lava.learning import lava_learning_rule

    steps = pre.shape[0]
    w_init = w0.astype(float) if tag == "floating_pt" else w0.astype(int)
    syn = LearningDense(weights=w_init, learning_rule=lava_learning_rule(rule, rng_seed=rng_seed), name="syn")
    RingBuffer(data=pre.T.astype(int)).s_out.connect(syn.s_in)
    RingBuffer(data=post.T.astype(int)).s_out.connect(syn.s_in_bap)
    if rule.third_factor:
        assert y_in is not None
        kind = float if tag == "floating_pt" else int
        for k, port in enumerate((syn.s_in_y1, syn.s_in_y2, syn.s_in_y3)):
            RingBuffer(data=y_in[:, k, :].T.astype(kind)).s_out.connect(port)
    mons = {}
    for var in ("weights", "tag_1", "tag_2", *(("x1", "x2", "y1", "y2", "y3") if tag == "fixed_pt" else ())):
        mons[var] = Monitor()
        mons[var].probe(getattr(syn, var), steps)
    try:
        syn.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag=tag))
        return {var: np.asarray(m.get_data()["syn"][var]) for var, m in mons.items()}
    finally:
        syn.stop()


def _trains(seed: int, steps: int, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pre, post = rng.random((steps, n_pre)) < 0.3, rng.random((steps, n_post)) < 0.3
    y1_in = np.minimum(127, np.cumsum(post, 0) * 5)[:, None, :]        # a postsynaptic spike trace
    err = rng.integers(0, 40, (steps, 2, n_post))                        # y2, y3: error or reward parts
    w0 = rng.integers(-60, 60, (n_post, n_pre)).astype(float)
    return pre, post, np.concatenate([y1_in, err], axis=1).astype(float), w0


@pytest.mark.lava
@pytest.mark.parametrize("t_epoch", [1, 3])
@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_rule_equals_lava_floating_pt(name, t_epoch):
    rule = BUILTIN[name](t_epoch=t_epoch)
    pre, post, y_in, w0 = _trains(7 + t_epoch, 24, 3, 2)
    mine = np.array(run_plastic_synapse(rule, SynapseState.start(w0), pre, post, y_in, record=True))
    lava = _lava_weights(rule, w0, pre, post, y_in, "floating_pt")
    assert np.abs(mine[-1] - w0).max() > 1.0, "the rule did not learn anything on these trains"
    np.testing.assert_allclose(mine, lava, rtol=1e-9, atol=1e-9)


@pytest.mark.lava
@settings(max_examples=12, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(rule=two_factor_rules(), seed=st.integers(0, 1000))
def test_random_two_factor_rules_equal_lava_floating_pt(rule, seed):
    pre, post, _, w0 = _trains(seed, 16, 3, 2)
    mine = np.array(run_plastic_synapse(rule, SynapseState.start(w0), pre, post, record=True))
    lava = _lava_weights(rule, w0, pre, post, None, "floating_pt")
    np.testing.assert_allclose(mine, lava, rtol=1e-9, atol=1e-6)


# ---------------------------------------------------------------- the fixed-point engine against Lava fixed_pt


def _fixed_run(rule: Plasticity, w0: np.ndarray, pre: np.ndarray, post: np.ndarray, y_in: np.ndarray | None,
               seed: int) -> dict[str, np.ndarray]:
    from toolkit.learning.fixed import FixedSynapse, run_plastic_synapse_fixed

    steps = run_plastic_synapse_fixed(rule, FixedSynapse.start(w0), pre, post, y_in, rng_seed=seed, record=True)
    out = {"weights": np.array([s["w"] for s in steps]), "tag_1": np.array([s["t"] for s in steps]),
           "tag_2": np.array([s["d"] for s in steps])}
    out.update({name: np.array([s["x"][k] for s in steps]) for k, name in enumerate(("x1", "x2"))})
    out.update({name: np.array([s["y"][k] for s in steps]) for k, name in enumerate(("y1", "y2", "y3"))})
    return out


def _assert_same_integers(mine: dict[str, np.ndarray], lava: dict[str, np.ndarray]) -> None:
    """Every weight, tag, delay and trace after every step."""
    for var in ("weights", "tag_1", "tag_2", "x1", "x2", "y1", "y2", "y3"):
        np.testing.assert_array_equal(mine[var], lava[var], err_msg=f"{var} differs")


@pytest.mark.lava
@pytest.mark.parametrize("t_epoch", [1, 3])
@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_rule_equals_lava_fixed_pt_bit_for_bit(name, t_epoch):
    """Lava's fixed-point engine rounds stochastically, from seeded generators: the same seed gives the same
    integers in ``toolkit.learning.fixed``, every weight, tag and delay after every step."""
    rule = BUILTIN[name](t_epoch=t_epoch)
    pre, post, y_in, w0 = _trains(17 + t_epoch, 30, 3, 2)
    w0 = w0.astype(int)
    mine = _fixed_run(rule, w0, pre, post, y_in.astype(int), seed=11)
    assert np.abs(mine["weights"][-1] - mine["weights"][0]).max() > 1, "the rule did not learn anything here"
    _assert_same_integers(mine, _lava_run(rule, w0, pre, post, y_in, "fixed_pt", rng_seed=11))


@pytest.mark.lava
@settings(max_examples=140, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(rule=plastic_rules(), seed=st.integers(0, 1000), rng_seed=st.integers(0, 10_000))
def test_random_rules_equal_lava_fixed_pt_bit_for_bit(rule, seed, rng_seed):
    """140 random rules (two- and three-factor, with tag and delay rules, epochs of 1, 2 and 4 steps, fractional
    impulses), each with its own spike trains and seed: with the 10 built-in cases above, 150 cases."""
    pre, post, y_in, w0 = _trains(seed, 20, 3, 2)
    w0 = w0.astype(int)
    y = y_in.astype(int) if rule.third_factor else None
    _assert_same_integers(_fixed_run(rule, w0, pre, post, y, rng_seed),
                          _lava_run(rule, w0, pre, post, y, "fixed_pt", rng_seed=rng_seed))


def test_the_fixed_point_random_streams_matter():
    """Different seeds round differently (so the bit-exact tests above do test the random streams)."""
    rule = BUILTIN["stdp"]()
    pre, post, _, w0 = _trains(3, 60, 4, 3)
    runs = [_fixed_run(rule, w0.astype(int), pre, post, None, seed)["weights"][-1] for seed in range(6)]
    assert any(not np.array_equal(runs[0], r) for r in runs[1:])


# ---------------------------------------------------------------- plasticity in the IR


def test_a_plastic_synapse_round_trips_and_is_refused_where_no_engine_runs_it(tmp_path):
    from toolkit.backends.reference import simulate

    lif = ir.LoihiLIF(name="g", shape=(2,), vth=10, bias_mant=np.zeros(2, np.int32), bias_exp=np.zeros(2, np.int32))
    syn = ir.Dense(name="syn", weight=np.full((2, 3), 4, np.int32), plastic=BUILTIN["stdp"]())
    g = ir.Graph.chain([ir.Input(name="in", shape=(3,), encoding=ir.Encoding.RATE), syn, lif,
                        ir.Output(name="out", shape=(2,), readout=ir.ReadoutMode.SPIKE_COUNT)],
                       records=(ir.Timesteps(steps=4),))
    h = ir.load_graph(ir.save_graph(g, tmp_path / "net.nfa"))
    assert h == g and h.node("syn").plastic == syn.plastic and str(h.node("syn").plastic.dw) == str(syn.plastic.dw)
    assert h.node("syn").lifetimes()["weight"] is ir.Lifetime.RUN
    assert h.node("syn").lifetimes()["x1"] is ir.Lifetime.RUN
    for engine in ("step", "nodes", "events"):
        with pytest.raises(LoweringError, match="'syn' is plastic .*this engine refuses it rather than run it as a "
                                                "fixed synapse"):
            simulate(g, np.zeros((1, 3)), engine=engine)
    with pytest.raises(LoweringError, match="plastic synapse 'syn' feeds LoihiLIF 'g'; a plastic synapse learns from "
                                            "a LoihiLearningLIF group"):
        simulate(g, np.zeros((1, 3)))   # auto: the stream engine, which needs a learning neuron


# ---------------------------------------------------------------- learning inside a Lava network


def _learning_graph(rule: Plasticity, steps: int) -> ir.Graph:
    """Data x → plastic W → learning group h, and an error input e → fixed B → h's third-factor port."""
    rng = np.random.default_rng(0)
    n_in, n_h = 6, 3
    zeros = np.zeros(n_h, np.int32)
    nodes = (ir.Input(name="x", shape=(n_in,), encoding=ir.Encoding.RATE),
             ir.Input(name="e", shape=(n_h,), encoding=ir.Encoding.RATE),
             ir.Dense(name="W", weight=(rng.integers(-20, 40, (n_h, n_in)) * 2).astype(np.int32), plastic=rule),
             ir.Dense(name="B", weight=np.array([[60, 0, 0], [0, -60, 0], [0, 0, 30]], np.int32)),
             ir.LoihiLearningLIF(name="h", shape=(n_h,), vth=40, bias_mant=zeros, bias_exp=zeros, y1_impulse=16,
                                 y1_decay=512),
             ir.Output(name="out", shape=(n_h,), readout=ir.ReadoutMode.SPIKE_COUNT))
    edges = (("x", "W"), ("W", "h"), ("e", "B"), ("B", "h", "third"), ("h", "out"))
    return ir.check_graph(ir.Graph(nodes=nodes, edges=edges, records=(ir.Timesteps(steps=steps),)))


@pytest.mark.lava
@pytest.mark.parametrize("name", ["fa", "delta", "rstdp", "stdp"])
def test_a_plastic_synapse_learns_inside_a_lava_network_exactly_as_defined(name):
    """The lowering builds LearningDense + our learning neuron (LearningLIFReset) + the third-factor path; the
    pre spikes, post spikes and y1..y3 it produced, replayed through ``toolkit.learning.fixed`` with the
    synapse's seed, give Lava's weights at every step. ``run_lava`` returns the learned weights."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.monitor.process import Monitor

    from compilers.lava.lower import lower_to_lava
    from toolkit.backends.base import input_batches
    from toolkit.backends.lava_sim import run_lava
    from toolkit.lavacompat import require_lava
    from toolkit.learning.fixed import FixedSynapse, run_plastic_synapse_fixed, synapse_seed

    require_lava()
    rule = BUILTIN[name]()
    g = _learning_graph(rule, steps=10)
    rng = np.random.default_rng(1)
    x = {"x": rng.random((4, 6)), "e": rng.random((4, 3))}
    build = lower_to_lava(g, input_batches(g, x), timesteps=10)
    steps, h = build.total_steps, build.processes["h"]
    probes = {"pre": build.sources["x"].s_out, "post": h.s_out, "y1": h.y1, "y2": h.y2, "y3": h.y3,
              "w": build.plastic["W"].weights}
    mons = {}
    for key, var in probes.items():
        mons[key] = Monitor()
        mons[key].probe(var, steps)
    try:
        build.runner.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        data = {k: np.asarray(m.get_data()[probes[k].process.name][probes[k].name]) for k, m in mons.items()}
    finally:
        build.runner.stop()
    y_in = np.stack([data["y1"], data["y2"], data["y3"]], 1) if rule.third_factor else None
    w0 = g.node("W").weight
    replay = run_plastic_synapse_fixed(rule, FixedSynapse.start(w0), data["pre"], data["post"], y_in,
                                       rng_seed=synapse_seed(0, "W"), record=True)
    mine = np.array([r["w"] for r in replay])
    assert np.abs(mine[-1] - w0).max() > 0, "nothing was learned"
    np.testing.assert_array_equal(mine, data["w"])
    learned = run_lava(g, x, progress=False).learned["W"]["weight"]
    np.testing.assert_array_equal(learned, mine[-1])


def test_learning_lowerings_refuse_what_they_cannot_run():
    from compilers.lava.lower import lower_to_lava
    from toolkit.backends.reference import simulate
    from toolkit.lavacompat import require_lava

    g = _learning_graph(BUILTIN["fa"](), steps=4)
    x = {"x": np.zeros((1, 6)), "e": np.zeros((1, 3))}
    with pytest.raises(LoweringError, match="'W' is plastic .*this engine refuses it"):
        simulate(g, x, engine="step")
    require_lava()
    lif = ir.LoihiLIF(name="h", shape=(3,), vth=40, bias_mant=np.zeros(3, np.int32), bias_exp=np.zeros(3, np.int32))
    plain = ir.Graph(nodes=tuple(lif if n.name == "h" else n for n in g.nodes if n.name not in ("e", "B")),
                     edges=tuple(e for e in g.edges if e.src not in ("e", "B")), records=g.records)
    with pytest.raises(LoweringError, match="plastic synapse 'W' feeds LoihiLIF 'h'; a plastic synapse learns "
                                            "from a LoihiLearningLIF group"):
        lower_to_lava(plain, {"x": np.zeros((1, 6), np.int32)}, timesteps=4)


def test_a_plastic_rule_that_does_not_fit_the_chip_fails_when_the_graph_is_quantised(tiny_hw):
    """At compile time, against the hardware config's learning section, in one line naming synapse and term."""
    from compilers.passes import quantize

    rule = Plasticity(name="too-fine", dw=2 ** -9 * x0 * y1, traces={"y1": Trace(16, 4)})
    g = ir.Graph.chain([ir.Input(name="in", shape=(3,), encoding=ir.Encoding.RATE),
                        ir.Dense(name="W", weight=np.ones((2, 3)), plastic=rule),
                        ir.LIF(name="g", shape=(2,), threshold=1.0),
                        ir.Output(name="out", shape=(2,), readout=ir.ReadoutMode.SPIKE_COUNT)],
                       records=(ir.Converted(mode="rate"),))
    with pytest.raises(LoweringError, match=r"^synapse 'W' \(too-fine\): dw term .*scale 0.00195312 is not m") as exc:
        quantize(g, hw=load_hw("loihi2"))
    assert "\n" not in str(exc.value)
    with pytest.raises(LoweringError, match="has no learning engine in its config"):
        quantize(g, hw=tiny_hw(learning=None))
    fits = g.replace_nodes({"W": g.node("W").replace(plastic=BUILTIN["stdp"]())})
    assert quantize(fits, hw=load_hw("loihi2")).node("W").plastic == BUILTIN["stdp"]()
