"""Recurrent spiking networks whose input is a sequence: the ``SEQUENCE`` encoding and the ``sequence`` field of an
``Input`` through every consumer, ``compilers.rsnn``'s float graph against ``RSNNSpec.simulate``, the compiled
network against the spec (reference simulator) and the reference against Lava (``lava``)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from compilers.cost import input_events
from compilers.floateval import float_forward
from compilers.readouts import check_readouts
from compilers.rsnn import compile_rsnn, dequantized_spec, rsnn_graph
from toolkit import ir
from toolkit.backends.reference import simulate
from toolkit.backends.reference.encode import encode_batch
from toolkit.backends.reference.stream import run_stream
from toolkit.encoding import encode, encode_sample, input_levels
from toolkit.errors import DataError, GraphError, LoweringError, QuantizationError
from toolkit.rsnn import NeuronKind, RSNNSpec

SEQ = ir.Encoding.SEQUENCE


def _random_spec(rng: np.random.Generator, kind: NeuronKind = NeuronKind.LIF, *, hidden: int = 16, features: int = 6,
                 classes: int = 4, steps: int = 7) -> RSNNSpec:
    alif = kind is NeuronKind.ALIF
    return RSNNSpec(w_in=rng.normal(0, 0.8, (hidden, features)), w_rec=rng.normal(0, 0.3, (hidden, hidden)),
                    w_out=rng.normal(0, 1, (classes, hidden)), b=rng.normal(0, 0.1, hidden),
                    b_out=rng.normal(0, 0.1, classes), alpha=0.9, kappa=0.8, theta=1.0, steps=steps, neuron=kind,
                    beta=0.3 if alif else 0.0, rho=0.7 if alif else 0.0)


# ------------------------------------------------------------------ the encoding and the Input's sequence field


def test_sequence_encoding_sends_row_tau_at_step_tau_and_nothing_after(rng):
    inp = ir.Input(name="x", shape=(3,), encoding=SEQ, bits=4, sequence=2)
    x = rng.random((5, 2, 3))
    q = input_levels(x, inp)
    assert q.shape == (5, 2, 3)
    np.testing.assert_array_equal(input_levels(x.reshape(5, 6), inp), q)   # flat samples of the same size
    enc = encode(q, 4, SEQ, bits=4)
    assert enc.shape == (5, 4, 3) and enc.dtype == np.int32
    np.testing.assert_array_equal(enc[:, :2], q)
    assert not enc[:, 2:].any()
    for i in range(5):
        np.testing.assert_array_equal(encode_sample(q[i], 4, SEQ, bits=4, seed=0, index=i), enc[i])
    np.testing.assert_array_equal(encode_batch(q, 4, inp, 0), enc)
    np.testing.assert_array_equal(encode(q, 2, SEQ, bits=4), q)            # S = T


def test_a_sequence_longer_than_the_timesteps_is_refused(rng):
    q = rng.integers(0, 16, (2, 3, 4))
    with pytest.raises(DataError, match="3 rows need at least 3 timesteps"):
        encode(q, 2, SEQ, bits=4)
    with pytest.raises(DataError, match="at least 3 timesteps"):
        encode_sample(q[0], 2, SEQ, bits=4, seed=0, index=0)


def test_samples_that_do_not_fit_a_sequence_input_are_refused(rng):
    inp = ir.Input(name="x", shape=(3,), encoding=SEQ, sequence=2)
    with pytest.raises(DataError, match="sequences of 2 rows of shape"):
        input_levels(rng.random((4, 3, 3)), inp)


@pytest.mark.parametrize(("inp", "match"), [
    (ir.Input(name="x", shape=(3,), encoding=SEQ), "set sequence to the rows per sample"),
    (ir.Input(name="x", shape=(3,), encoding=ir.Encoding.RATE, sequence=4), "encoded as 'sequence'"),
    (ir.Input(name="x", shape=(3,), encoding=SEQ, sequence=-1), "sequence must be an integer >= 0"),
])
def test_the_graph_check_ties_sequence_and_encoding(inp, match):
    graph = ir.Graph.chain([inp, ir.Dense(name="d", weight=np.ones((2, 3))), ir.Identity(name="h", shape=(2,)),
                            ir.Output(name="out", shape=(2,))])
    with pytest.raises(GraphError, match=match):
        ir.check_graph(graph)


def test_the_ir_file_round_trips_the_sequence_field_and_old_files_load_as_static(tmp_path, rng):
    graph = compile_rsnn(_random_spec(rng))
    path = ir.save_graph(graph, tmp_path / "net.nfa")
    assert ir.load_graph(path).node("x").sequence == 7
    old = tmp_path / "old.nfa"   # the same file as written before the field existed
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "graph.json":
                header = json.loads(data)
                for node in header["nodes"]:
                    node["fields"].pop("sequence", None)
                    if node["type"] == "Input":
                        node["fields"]["encoding"]["value"] = "current"
                data = json.dumps(header).encode()
            dst.writestr(item, data)
    inp = ir.load_graph(old).node("x")
    assert inp.sequence == 0 and inp.encoding is ir.Encoding.CURRENT


# ------------------------------------------------------------------ the float graph is the spec


@pytest.mark.parametrize("kind", list(NeuronKind))
def test_the_float_graph_computes_the_specs_read_out(kind, rng):
    spec = _random_spec(rng, kind)
    x = rng.random((40, spec.steps, spec.features))
    graph = rsnn_graph(spec)
    want = spec.simulate(x)
    np.testing.assert_allclose(float_forward(graph, x)["output"], want, rtol=0, atol=1e-9)  # steps: the record's
    np.testing.assert_allclose(float_forward(graph, x.reshape(40, -1), steps=spec.steps)["output"], want, rtol=0,
                               atol=1e-9)
    hidden = float_forward(graph, x, record=True)["hidden"]
    assert 0 < np.count_nonzero(hidden) < hidden.size            # the hidden group fires, but not always


def test_float_evaluation_of_a_sequence_needs_a_step_per_row(rng):
    graph = rsnn_graph(_random_spec(rng))
    with pytest.raises(DataError, match="evaluate at least 7 steps"):
        float_forward(graph, rng.random((2, 7, 6)), steps=5)


# ------------------------------------------------------------------ compiled: the reference against the spec


@pytest.fixture(scope="module")
def digit_rows(digits):
    """(train x, train y, test x, test y): the 8x8 digits read one row per step."""
    train, test = digits
    return train.x.reshape(-1, 8, 8), train.y, test.x.reshape(-1, 8, 8), test.y


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v):  # type: ignore[no-untyped-def, override]
        ctx.save_for_backward(v)
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def, override]
        (v,) = ctx.saved_tensors
        return grad * 0.3 * torch.clamp(1 - v.abs(), min=0)


@pytest.fixture(scope="module")
def fitted(digit_rows) -> RSNNSpec:
    """A 32-neuron LIF RSNN fitted to the digit rows by 300 steps of BPTT (about a second): RSNNSpec's dynamics in
    torch with a triangular surrogate gradient."""
    x_all, y_all = torch.tensor(digit_rows[0], dtype=torch.float32), torch.tensor(digit_rows[1])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    h, alpha, kappa = 32, 0.9, 0.8
    params = [torch.randn(h, 8) * 0.6, torch.randn(h, h) * 0.1, torch.randn(10, h) * 0.3, torch.zeros(h),
              torch.zeros(10)]
    for p in params:
        p.requires_grad_()
    w_in, w_rec, w_out, b, b_out = params
    opt = torch.optim.Adam(params, lr=0.01)
    try:
        for _ in range(300):
            idx = torch.randint(0, len(x_all), (128,))
            v, z, y = torch.zeros(128, h), torch.zeros(128, h), torch.zeros(128, 10)
            for t in range(8):
                v = alpha * v * (1 - z.detach()) + x_all[idx, t] @ w_in.T + z @ w_rec.T + b
                z = _Spike.apply(v - 1.0)
                y = kappa * y + z @ w_out.T + b_out
            loss = torch.nn.functional.cross_entropy(y, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    arrays = [p.detach().double().numpy() for p in params]
    return RSNNSpec(w_in=arrays[0], w_rec=arrays[1], w_out=arrays[2], b=arrays[3], b_out=arrays[4], alpha=alpha,
                    kappa=kappa, theta=1.0, steps=8)


def test_a_network_on_the_chips_weight_grid_compiles_to_the_specs_decisions(fitted, digit_rows):
    """With weights the chip holds exactly (``dequantized_spec``), what remains is the input levels, vth, biases and
    Loihi's truncating decays: the compiled network agrees with ``spec.simulate`` on >= 95 % of the test digits."""
    on_grid = dequantized_spec(fitted, compile_rsnn(fitted))
    net = compile_rsnn(on_grid)
    for name in ("w_in", "w_rec", "w_out"):   # the same registers: dequantising is exact
        np.testing.assert_array_equal(net.node(name).weight, compile_rsnn(fitted).node(name).weight)
    x, y = digit_rows[2], digit_rows[3]
    want = on_grid.simulate(x).argmax(1)
    res = simulate(net, x)
    assert res.engine == "step"
    agree = float(np.mean(res.predictions == want))
    assert agree >= 0.95, f"compiled network agrees with the spec on {agree:.3f} of the test digits"
    assert float(np.mean(want == y)) > 0.7    # and it is a classifier


def test_the_compiled_network_keeps_the_trained_accuracy(fitted, digit_rows):
    """The fitted weights themselves (8-bit mantissas, ~1 % weight error): hidden spikes near θ flip, so fewer
    decisions agree, but the accuracy stays."""
    x, y = digit_rows[2], digit_rows[3]
    want = fitted.simulate(x).argmax(1)
    res = simulate(compile_rsnn(fitted), x)
    assert float(np.mean(res.predictions == want)) >= 0.85
    assert res.accuracy(y) >= float(np.mean(want == y)) - 0.04


def test_compile_rsnn_maps_the_spec_as_documented(rng):
    spec = _random_spec(rng)
    net = compile_rsnn(spec, "loihi2")
    hidden, readout, rec = net.node("hidden"), net.node("readout"), net.node("w_rec")
    assert isinstance(hidden, ir.LoihiLIF) and isinstance(readout, ir.LoihiLIF)
    assert (hidden.du, hidden.dv, hidden.reset) == (4095, round(4096 * (1 - spec.alpha)), ir.ResetMode.ZERO)
    assert (readout.du, readout.dv) == (4095, round(4096 * (1 - spec.kappa)))
    assert rec.delay == 1 and net.node("w_in").delay == 0 and net.node("w_out").delay == 0
    assert net.node("output").readout is ir.ReadoutMode.VOLTAGE
    inp = net.node("x")
    assert (inp.encoding, inp.sequence, inp.shape) == (SEQ, spec.steps, (spec.features,))
    assert net.timesteps == spec.steps and net.record(ir.CoreMapping) is not None
    assert "never fires" in check_readouts(net)[0]
    res = simulate(net, rng.random((20, spec.steps, spec.features)), record=["readout"])
    assert not res.traces["readout"]["s"].any()


def test_an_alif_spec_compiles_to_adaptive_groups(rng):
    spec = _random_spec(rng, NeuronKind.ALIF)
    net = compile_rsnn(spec)
    hidden = net.node("hidden")
    assert isinstance(hidden, ir.LoihiALIF)
    assert hidden.dr == round(4096 * (1 - spec.rho)) and abs(hidden.beta - spec.beta / spec.theta * hidden.vth) <= 1
    on_grid = dequantized_spec(spec, net)
    x = rng.random((100, spec.steps, spec.features))
    assert np.mean(simulate(compile_rsnn(on_grid), x).predictions == on_grid.simulate(x).argmax(1)) >= 0.9


def test_a_read_out_that_cannot_leak_is_refused(rng):
    spec = _random_spec(rng)
    leakless = RSNNSpec(**{**spec.to_dict(), "kappa": 1.0, "neuron": NeuronKind.LIF})
    with pytest.raises(LoweringError, match="kappa = 1 leaves dv"):
        rsnn_graph(leakless)


def test_a_chip_without_graded_spikes_refuses_the_sequence_input(rng):
    with pytest.raises(QuantizationError, match="no graded spikes.*sequence"):
        compile_rsnn(_random_spec(rng), "loihi1")


def test_engines_that_cannot_run_a_sequence_read_out_refuse_it(rng):
    net = compile_rsnn(_random_spec(rng))
    x = rng.random((3, 7, 6))
    with pytest.raises(LoweringError, match="rate, poisson or current input"):
        simulate(net, x, engine="events")
    with pytest.raises(LoweringError, match="voltage"):
        run_stream(net, x)
    with pytest.raises(LoweringError, match="engine='step'"):
        simulate(net, x, engine="nodes")
    with pytest.raises(DataError, match="at least 7 timesteps"):
        simulate(net, x, timesteps=5)
    events = input_events(net, x, 9)   # what compilers.cost counts: the rows, then two silent steps
    assert events.shape == (3, 9, 6) and not events[:, 7:].any()


# ------------------------------------------------------------------ Lava


@pytest.mark.lava
@pytest.mark.parametrize("kind", list(NeuronKind))
def test_lava_computes_the_reference_spikes_of_a_compiled_rsnn(kind, fitted, digit_rows, rng):
    """A handful of samples, T = S + 2 (two steps after the last row): every spike, u, v (ALIF: r) and score."""
    from toolkit.backends.lava_sim import run_lava

    spec = fitted if kind is NeuronKind.LIF else _random_spec(rng, kind, steps=8, features=8)
    net = compile_rsnn(spec)
    x = digit_rows[2][:4]
    ref = simulate(net, x, timesteps=10, record=True)
    got = run_lava(net, x, timesteps=10, record=["hidden", "readout"], progress=False)
    np.testing.assert_array_equal(got.scores, ref.scores)
    for group in ("hidden", "readout"):
        for var, want in ref.traces[group].items():
            np.testing.assert_array_equal(got.traces[group][var], want, err_msg=f"{group}.{var}")
    assert ref.traces["hidden"]["s"].any()


# ------------------------------------------------------------------ the command line: compile, run, deploy-rsnn


@pytest.fixture(scope="module")
def fitted_checkpoint(fitted, tmp_path_factory):
    """``fitted`` as `nfa bench eprop` writes a checkpoint (trained on digits-rows)."""
    from toolkit.training.eprop import save_rsnn_checkpoint

    x, y = load_digit_rows_test()
    acc = float(np.mean(fitted.simulate(x).argmax(1) == y))
    return save_rsnn_checkpoint(tmp_path_factory.mktemp("ckpt") / "eprop-sym-seed0.pt", fitted,
                                dataset="digits-rows", arm="eprop-sym", test_acc=acc)


def load_digit_rows_test() -> tuple[np.ndarray, np.ndarray]:
    from toolkit.data import load_dataset

    test = load_dataset("digits-rows")[1]
    return test.x, np.asarray(test.y)


def test_nfa_compile_and_run_a_recurrent_checkpoint(fitted, fitted_checkpoint, tmp_path, capsys):
    """`nfa compile` tells the checkpoint's format by content, writes a network folder whose report names the
    dataset it was trained on, and `nfa run` scores exactly what the reference gives ``compile_rsnn``'s graph."""
    from compilers.netdir import load_compile_report, load_network
    from toolkit.cli import main

    net_dir = tmp_path / "net"
    assert main(["compile", str(fitted_checkpoint), "-o", str(net_dir)]) == 0
    out = capsys.readouterr().out
    assert "compiled recurrent network" in out and "8 inputs x 8 steps -> 32 hidden -> 10 classes" in out
    report = load_compile_report(net_dir)
    assert (report["mode"], report["encoding"], report["timesteps"], report["dataset"]) == \
        ("rsnn", "sequence", 8, "digits-rows")
    graph = load_network(net_dir)
    for name in ("w_in", "w_rec", "w_out"):
        np.testing.assert_array_equal(graph.node(name).weight, compile_rsnn(fitted).node(name).weight)
    x, y = load_digit_rows_test()
    want = simulate(compile_rsnn(fitted), x).accuracy(y)
    js = tmp_path / "run.json"
    assert main(["run", str(net_dir), "--backend", "reference", "--json", str(js)]) == 0
    assert f"accuracy {want:.4f} on {len(y)} digits-rows" in capsys.readouterr().out
    assert json.loads(js.read_text())["accuracy"] == pytest.approx(want)


@pytest.mark.parametrize("flag", [["--mode", "sdn"], ["--timesteps", "16"], ["--encoding", "poisson"], ["--onoff"]])
def test_options_a_recurrent_network_does_not_take_are_refused(fitted_checkpoint, tmp_path, capsys, flag):
    from toolkit.cli import main

    assert main(["compile", str(fitted_checkpoint), "-o", str(tmp_path / "net"), *flag]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{flag[0]} does not apply" in err and "recurrent network" in err
    assert not (tmp_path / "net").exists()


def test_a_file_that_is_not_a_checkpoint_is_refused_by_content(tmp_path, capsys):
    from toolkit.cli import main

    bad = tmp_path / "list.pt"
    torch.save([1, 2, 3], bad)
    assert main(["compile", str(bad), "-o", str(tmp_path / "net")]) == 2
    assert "not an nfa checkpoint (it holds a list" in capsys.readouterr().err


def test_deploy_rsnn_reports_float_and_reference_on_the_same_samples(fitted, fitted_checkpoint):
    from toolkit.bench.rsnn_deploy import deploy_checkpoint

    r = deploy_checkpoint(fitted_checkpoint, lava_samples=0)
    x, y = load_digit_rows_test()
    float_pred = fitted.simulate(x).argmax(1)
    ref = simulate(compile_rsnn(fitted), x)
    assert r["n_test"] == len(y) and r["dataset"] == "digits-rows" and "lava_acc" not in r
    assert r["float_acc"] == pytest.approx(float(np.mean(float_pred == y)))
    assert r["reference_acc"] == pytest.approx(ref.accuracy(y))
    assert r["reference_float_agreement"] == pytest.approx(float(np.mean(ref.predictions == float_pred)))
    assert r["reference_loss_points"] == pytest.approx(100 * (r["float_acc"] - r["reference_acc"]))


@pytest.mark.lava
def test_nfa_bench_deploy_rsnn_runs_lava_with_the_references_scores(fitted_checkpoint, tmp_path, capsys):
    from toolkit.cli import main

    js = tmp_path / "deploy.json"
    assert main(["bench", "deploy-rsnn", str(fitted_checkpoint), "--lava-samples", "12", "--limit", "40",
                 "--json", str(js), "--no-progress"]) == 0
    (r,) = json.loads(js.read_text())["checkpoints"]
    assert r["lava_samples"] == 12 and r["n_test"] == 40 and r["lava_scores_equal"] is True
    assert r["lava_acc"] == r["reference_acc_on_lava_samples"]
    assert "eprop-sym-seed0.pt" in capsys.readouterr().out


def test_nir_export_refuses_a_sequence_input_by_name(rng, tmp_path):
    from compilers.nir_io import write_nir

    with pytest.raises(LoweringError, match="Input 'x' is a sequence input"):
        write_nir(compile_rsnn(_random_spec(rng)), tmp_path / "net.nir")
    assert not (tmp_path / "net.nir").exists()
