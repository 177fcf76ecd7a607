"""On-chip learning end to end: the on-chip FA network (``compilers.onchip``), the stream engine that runs it in
the reference, ``toolkit.learn`` and ``nfa learn``, and the same learned integers in Lava."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compilers.onchip import (
    OnChipFA,
    build_onchip_fa,
    feedback_angle,
    feedback_matrix,
    forward_graph,
    from_offline,
    noise_inputs,
    train_inputs,
    w_b_angle,
    with_weights,
)
from toolkit import ir
from toolkit.backends.reference import simulate
from toolkit.errors import ConfigError, LoweringError

_SMALL = dict(n_in=64, n_hidden=12, n_classes=10, timesteps=8)


def _digits(n: int):
    from toolkit.data import load_dataset

    train, _ = load_dataset("digits")
    return train.x[:n].reshape(n, -1), train.y[:n]


def test_the_onchip_network_is_a_valid_graph_with_feedback_loops():
    g = build_onchip_fa(OnChipFA(**_SMALL))
    assert not g.is_acyclic()                      # h → o → e± → B → h and o → e± → o
    third = {e.src for e in g.edges if e.port == "third"}
    assert third == {"B_pos", "B_neg", "E_pos", "E_neg"}
    assert {n.name for n in g.nodes if isinstance(n, ir.Dense) and n.plastic} == {"W1", "W2"}
    np.testing.assert_array_equal(g.node("B_pos").weight, feedback_matrix(OnChipFA(**_SMALL)))
    fwd = forward_graph(g)
    assert fwd.is_acyclic() and not any(isinstance(n, ir.Dense) and n.plastic for n in fwd.nodes)
    with pytest.raises(ConfigError, match="label_rate must be in"):
        build_onchip_fa(OnChipFA(**_SMALL, label_rate=0))


def test_the_network_learns_in_the_stream_engine_and_the_other_engines_refuse_it():
    spec = OnChipFA(**_SMALL)
    g = build_onchip_fa(spec)
    x, y = _digits(30)
    res = simulate(g, train_inputs(spec, x, y))
    assert res.engine == "stream"
    assert set(res.learned) == {"W1", "W2"}
    assert np.abs(res.learned["W2"]["weight"]).sum() > 0, "the output layer learned nothing"
    assert not np.array_equal(res.learned["W1"]["weight"], (g.node("W1").weight >> 1) << 1)
    again = simulate(g, train_inputs(spec, x, y))
    np.testing.assert_array_equal(again.learned["W1"]["weight"], res.learned["W1"]["weight"])  # deterministic
    other = simulate(g, train_inputs(spec, x, y), seed=5)   # another rounding stream learns other integers
    assert not np.array_equal(other.learned["W1"]["weight"], res.learned["W1"]["weight"])
    with pytest.raises(LoweringError, match="only the stream engine learns"):
        simulate(g, train_inputs(spec, x, y), engine="step")
    learned = with_weights(g, res.learned)
    assert w_b_angle(learned, spec) == w_b_angle(learned, spec) and 0 <= w_b_angle(learned, spec) <= 180
    assert np.isnan(w_b_angle(g, spec))   # W2 starts at zero


def test_the_compiled_engine_skips_silent_synapses_exactly():
    """The compiled stream engine skips synapses whose presynaptic or postsynaptic side is zero (never-lit pixels,
    hidden neurons no error reaches); it must learn the same integers as the NumPy engine, which visits all."""
    from toolkit.backends.reference.stream import run_stream

    spec = OnChipFA(**_SMALL, third_hidden=2)
    x, y = _digits(24)
    x[:, :16] = 0                                  # two rows of pixels never spike: their traces stay zero
    g = build_onchip_fa(spec)
    b = feedback_matrix(spec).copy()
    b[:4] = 0                                      # four hidden neurons receive no error at all
    g = g.replace_nodes({"B_pos": g.node("B_pos").replace(weight=b), "B_neg": g.node("B_neg").replace(weight=-b)})
    fast = run_stream(g, train_inputs(spec, x, y), compiled=True)
    plain = run_stream(g, train_inputs(spec, x, y), compiled=False)
    for name in ("W1", "W2"):
        np.testing.assert_array_equal(fast.learned[name]["weight"], plain.learned[name]["weight"])
    np.testing.assert_array_equal(fast.scores, plain.scores)
    w1 = fast.learned["W1"]["weight"]
    start = g.node("W1").weight
    np.testing.assert_array_equal(w1[:, :16], start[:, :16])     # silent pixels: never changed
    np.testing.assert_array_equal(w1[:4], start[:4])             # no error through B: never changed
    assert not np.array_equal(w1[4:, 16:], start[4:, 16:])       # the rest learned


def test_the_compiled_engine_skips_with_tags_exactly_and_stops_at_a_tag_on_its_floor():
    """A rule with a tag: the compiled engine skips silent synapses as without one, except that a tag at −257 (the
    bottom of its range, where ``old << 7`` saturates) moves by saturation alone, so from the first such tag it
    visits every synapse until its next call checks again. Weights and tags equal the NumPy engine's, which visits
    the rectangle of live synapses plus every tag at −257. The rule drives tags to the floor, where the saturated
    accumulator rounds to −257 with probability 1/128 (else −256): 120 samples, one call, reach it (with fewer, or
    with the check removed from the kernel, a tag's move by saturation alone went unseen: measured)."""
    from toolkit.backends.reference.stream import run_stream
    from toolkit.learning.expr import Rule
    from toolkit.learning.rule import Plasticity, Trace

    y0, x1, y2, y3 = (Rule.symbol(v) for v in ("y0", "x1", "y2", "y3"))
    rule = Plasticity(name="tagged", dt=-2.0 ** 3 * y0 * x1 + 2.0 ** -1 * y0 * x1 * (y2 - y3),
                      dw=2.0 ** -7 * y0 * x1 * (y2 - y3), traces={"x1": Trace(16, 8)}, t_epoch=1, third_factor=True)
    spec = OnChipFA(**_SMALL, third_hidden=2)
    x, y = _digits(120)
    x[:, :16] = 0                                  # two rows of pixels never spike: their traces stay zero
    g = build_onchip_fa(spec)
    g = g.replace_nodes({"W1": g.node("W1").replace(plastic=rule)})
    fast = run_stream(g, train_inputs(spec, x, y), compiled=True)
    plain = run_stream(g, train_inputs(spec, x, y), compiled=False)
    for name in ("W1", "W2"):
        for var in ("weight", "tag"):
            np.testing.assert_array_equal(fast.learned[name][var], plain.learned[name][var], err_msg=f"{name}.{var}")
    np.testing.assert_array_equal(fast.scores, plain.scores)
    tag = plain.learned["W1"]["tag"]
    assert (tag[:, :16] == 0).all()                # silent pixels: never a product, never a tag
    assert (tag[:, 16:] <= -256).any()             # the floor (−257, or −256 after a silent epoch) was reached
    assert (tag[:, 16:] > -256).any()


def test_idling_changes_no_weight_but_moves_the_rounding_stream():
    """Why a run compared with a noise run idles first (toolkit.learn): idle samples change nothing, yet the data
    after them meets other rounding numbers of the learning engine (one per epoch from a fixed seed) and learns
    other integers than the same data at the start of a run."""
    from compilers.onchip import idle_inputs

    spec = OnChipFA(**_SMALL)
    g = build_onchip_fa(spec)
    idle = simulate(g, idle_inputs(spec, 30), seed=7)
    for name in ("W1", "W2"):
        np.testing.assert_array_equal(idle.learned[name]["weight"], g.node(name).weight)
    assert not idle.scores.any()
    x, y = _digits(6)
    data = train_inputs(spec, x, y)
    first = simulate(g, data, seed=7)
    both = {k: np.concatenate([idle_inputs(spec, 30)[k], data[k]]) for k in ("x", "label")}
    later = simulate(g, both, seed=7)
    assert not np.array_equal(first.learned["W1"]["weight"], later.learned["W1"]["weight"])


def test_noise_inputs_are_seeded_and_drawn_from_a_pool():
    spec = OnChipFA(**_SMALL)
    a, b = noise_inputs(spec, 40, seed=3, pool=10), noise_inputs(spec, 40, seed=3, pool=10)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert len(np.unique(a["x"], axis=0)) == 10 and a["label"].shape == (40, 10)
    assert ((a["label"] > 0).sum(axis=1) == 1).all() and a["x"].min() >= 0 and a["x"].max() <= 1
    assert len(np.unique(noise_inputs(spec, 40, seed=3)["x"], axis=0)) == 40


@pytest.mark.lava
def test_lava_learns_the_same_integers_as_the_stream_engine():
    """The on-chip FA network in Lava's fixed-point simulator and in the reference's stream engine, same inputs and
    seed: the same learned weights and output counts (issue: nfa learn --backend reference equals Lava)."""
    from toolkit.backends.lava_sim import run_lava

    spec = OnChipFA(**_SMALL)
    g = build_onchip_fa(spec)
    x, y = _digits(6)
    inputs = train_inputs(spec, x, y)
    ref = simulate(g, inputs, seed=7, snapshot_at=[2, 4])
    lava = run_lava(g, inputs, seed=7, progress=False, snapshot_at=[2, 4])
    np.testing.assert_array_equal(lava.scores, ref.scores)
    for name in ("W1", "W2"):
        np.testing.assert_array_equal(lava.learned[name]["weight"], ref.learned[name]["weight"])
    assert [s["step"] for s in ref.snapshots] == [s["step"] for s in lava.snapshots] == [16, 32]
    for a, b in zip(ref.snapshots, lava.snapshots, strict=True):   # read mid-run, the runtime paused
        for name in ("W1", "W2"):
            np.testing.assert_array_equal(a["weights"][name], b["weights"][name])
    assert np.abs(ref.learned["W2"]["weight"]).sum() > 0
    # the learned classifier (odd mixed-sign weights: Lava keeps them at 9 bits) classifies alike in both
    fwd = forward_graph(with_weights(g, ref.learned))
    assert any((fwd.node(n).weight % 2).any() for n in ("W1", "W2"))
    xt = _digits(12)[0]
    np.testing.assert_array_equal(run_lava(fwd, xt, progress=False).scores, simulate(fwd, xt).scores)


def _config(tmp_path, **extra):
    import yaml

    cfg = {"data": {"dataset": "digits", "train_limit": 40}, "seeds": [0], "passes": 1, "eval_every": 20,
           "test_limit": 30, "network": {"hidden": 12, "timesteps": 8},
           "noise": {"samples": 20, "pool": 5, "compare": True}, **extra}
    path = tmp_path / "learn.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_nfa_learn_writes_networks_report_and_plot(tmp_path, capsys):
    from toolkit.cli import main

    out = tmp_path / "out"
    assert main(["learn", str(_config(tmp_path)), "-o", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    runs = {(r["seed"], r["noise"]): r for r in report["runs"]}
    assert set(runs) == {(0, True), (0, False)}
    noisy = runs[(0, True)]
    assert [c["phase"] for c in noisy["curve"]][:2] == ["start", "noise"] and "after_noise" in noisy["angles"]
    assert [c["samples"] for c in noisy["curve"]] == [-20, 0, 20, 40]
    assert len(noisy["pass_accuracy"]) == 1 and 0 <= noisy["final"]["reference_accuracy"] <= 1
    assert report["summary"]["with_noise"]["seeds"] == [0]
    plain = runs[(0, False)]   # the matched control: it idled through the noise phase, so its data starts at 0 too
    assert [c["samples"] for c in plain["curve"]] == [-20, 20, 40] and plain["curve"][0]["phase"] == "start"
    assert len(plain["pass_accuracy"]) == 1 and "after_noise" not in plain["angles"]
    g = ir.load_graph(out / "seed0-noise" / "network.nfa")
    assert g.node("W1").plastic is not None
    assert (out / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert "seed 0, with noise: test accuracy after each pass" in capsys.readouterr().out


def test_nfa_learn_bad_config_is_one_line(tmp_path, capsys):
    from toolkit.cli import main

    assert main(["learn", str(_config(tmp_path, passes=0)), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "passes" in err and err.count("\n") == 1
    assert main(["learn", str(_config(tmp_path, network={"third_hidden": 300})), "-o", str(tmp_path / "o")]) == 2
    assert "network.third_hidden" in capsys.readouterr().err


def test_a_learning_rate_or_rule_the_chip_cannot_hold_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"lr_hidden 0.01 is not a learning-engine scale .*nearest: 0.0078125"):
        build_onchip_fa(OnChipFA(**_SMALL, lr_hidden=0.01))
    from toolkit.learning import Plasticity, Trace, x0, y1

    g = build_onchip_fa(OnChipFA(**_SMALL))
    fine = Plasticity(name="too-fine", dw=2 ** -9 * x0 * y1, traces={"y1": Trace(16, 4)})
    bad = g.replace_nodes({"W2": g.node("W2").replace(plastic=fine)})
    x, y = _digits(2)
    with pytest.raises(LoweringError, match=r"^synapse 'W2' \(too-fine\): dw term .*scale .* is not m") as exc:
        simulate(bad, train_inputs(OnChipFA(**_SMALL), x, y))   # the reference refuses what the chip cannot run
    assert "\n" not in str(exc.value)


def _offline_start(trained_fa_noise, digits):
    from compilers.frontend import from_torch

    model, _, history = trained_fa_noise
    train, _ = digits
    float_graph = from_torch(model, (64,))
    spec = from_offline(float_graph, OnChipFA(timesteps=16), train.x.reshape(len(train), -1))
    return float_graph, spec, history


def test_an_offline_fa_network_continues_on_chip_with_its_b(trained_fa_noise, digits):
    """Issue: a network trained offline with FA (whose B the front end keeps) continues learning on chip with the
    same B: its weights, biases and B become registers, the chip classifies about as well as the float network
    before learning, and learning moves both layers."""
    float_graph, spec, history = _offline_start(trained_fa_noise, digits)
    w2f, bf = float_graph.node("dense2").weight, float_graph.node("dense2").feedback
    g = build_onchip_fa(spec)
    np.testing.assert_array_equal(g.node("B_pos").weight, spec.weights["B"])
    assert feedback_angle(float_graph, spec) < 25          # B kept up to the registers' rounding
    float_angle = np.degrees(np.arccos(w2f.T.ravel() @ bf.ravel() / np.linalg.norm(w2f) / np.linalg.norm(bf)))
    assert abs(w_b_angle(g, spec) - float_angle) < 3        # the alignment noise pretraining gave W2 is kept
    assert g.node("h").bias_mant.any() and g.node("o").bias_mant.any()
    train, test = digits
    xt = test.x.reshape(len(test), -1)
    acc = simulate(forward_graph(g), xt).accuracy(test.y)
    assert acc >= history[-1]["test_acc"] - 0.08, (acc, history[-1]["test_acc"])
    x, y = train.x[:40].reshape(40, -1), train.y[:40]
    res = simulate(g, train_inputs(spec, x, y))
    for name in ("W1", "W2"):
        assert (res.learned[name]["weight"] != g.node(name).weight).sum() > 10, f"{name} did not learn"


def test_an_offline_start_needs_one_hidden_layer_and_a_b(digits):
    from compilers.frontend import from_torch
    from toolkit.training import Arch, Rule, build_model

    train, _ = digits
    x = train.x.reshape(len(train), -1)[:50]
    bp = from_torch(build_model(Arch(in_shape=(64,), hidden=(20,), n_classes=10, rule=Rule.BP), seed=0), (64,))
    with pytest.raises(ConfigError, match=r"no feedback matrix B \(trained with rule bp\)"):
        from_offline(bp, OnChipFA(), x)
    deep = from_torch(build_model(Arch(in_shape=(64,), hidden=(20, 20), n_classes=10, rule=Rule.FA), seed=0), (64,))
    with pytest.raises(ConfigError, match="exactly one hidden ReLU layer"):
        from_offline(deep, OnChipFA(), x)
    with pytest.raises(ConfigError, match="start weights 'W1' of shape"):
        build_onchip_fa(OnChipFA(**_SMALL, weights={"W1": np.zeros((3, 3), np.int32)}))


def test_nfa_learn_continues_a_checkpoint(trained_fa_noise, tmp_path, capsys):
    from toolkit.cli import main
    from toolkit.training.checkpoint import save_checkpoint

    model, arch, _ = trained_fa_noise
    ckpt = save_checkpoint(tmp_path / "fa.pt", model, arch)
    cfg = _config(tmp_path, start={"checkpoint": str(ckpt)}, noise={"samples": 0}, test_limit=100)
    out = tmp_path / "out"
    assert main(["learn", str(cfg), "-o", str(out), "--no-progress"]) == 0
    run = json.loads((out / "report.json").read_text())["runs"][0]
    assert run["start"]["checkpoint"] == str(ckpt) and run["start"]["hidden"] == 100
    assert run["curve"][0]["accuracy"] > 0.7              # the trained classifier, before any on-chip learning
    assert f"continued from {ckpt} with its B" in capsys.readouterr().out
    missing = _config(tmp_path, start={"checkpoint": str(tmp_path / "none.pt")})
    assert main(["learn", str(missing), "-o", str(out), "--no-progress"]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    from toolkit.training import Arch, ModelKind, Rule, build_model

    cnn_arch = Arch(kind=ModelKind.CNN, in_shape=(1, 8, 8), hidden=(12,), n_classes=10, rule=Rule.FA,
                    conv_channels=(2,))
    cnn = save_checkpoint(tmp_path / "cnn.pt", build_model(cnn_arch, seed=0), cnn_arch)
    assert main(["learn", str(_config(tmp_path, start={"checkpoint": str(cnn)})), "-o", str(out),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "is a cnn with hidden layers [12]" in err and err.count("\n") == 1


@pytest.mark.lava
def test_lava_continues_an_offline_network_with_the_same_integers(trained_fa_noise, digits):
    """The offline start (biases, a B from the checkpoint, thresholds from normalisation) learns the same integers
    in Lava fixed_pt as in the reference."""
    from toolkit.backends.lava_sim import run_lava

    _, spec, _ = _offline_start(trained_fa_noise, digits)
    g = build_onchip_fa(spec)
    x, y = _digits(3)
    inputs = train_inputs(spec, x, y)
    ref = simulate(g, inputs, seed=3)
    lava = run_lava(g, inputs, seed=3, progress=False)
    np.testing.assert_array_equal(lava.scores, ref.scores)
    for name in ("W1", "W2"):
        np.testing.assert_array_equal(lava.learned[name]["weight"], ref.learned[name]["weight"])
    assert (ref.learned["W1"]["weight"] != g.node("W1").weight).any()
