"""Recurrent spiking networks: e-prop against BPTT, the spec contract, noise pretraining, checkpoints, temporal
datasets and ``nfa bench eprop``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from toolkit.cli import main
from toolkit.data import load_dataset
from toolkit.errors import CheckpointError, ConfigError
from toolkit.rsnn import NeuronKind
from toolkit.training.eprop import (
    EpropConfig,
    RecurrentRule,
    bptt_gradients,
    build_rsnn,
    eprop_gradients,
    feedback_angle,
    load_rsnn_checkpoint,
    pretrain_rsnn_on_noise,
    save_rsnn_checkpoint,
    train_rsnn,
)

pytestmark = pytest.mark.usefixtures("one_thread")

PARAMS = ("w_in", "w_rec", "b", "w_out", "b_out")


def _net(neuron: NeuronKind, w_rec_scale: float, seed: int = 0):
    """A small float64 network that spikes a fair amount, with non-zero biases, and a batch of sequences."""
    cfg = EpropConfig(neuron=neuron, hidden=12, w_rec_scale=w_rec_scale, w_in_scale=3.0, tau_m=5.0, tau_out=4.0,
                      beta=0.3, tau_a=10.0, seed=seed)
    model = build_rsnn(cfg, features=5, classes=3, steps=9, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        model.b.copy_(torch.rand(12, generator=gen, dtype=torch.float64) * 0.4 - 0.2)
        model.b_out.copy_(torch.rand(3, generator=gen, dtype=torch.float64) * 0.2 - 0.1)
    x = torch.rand(16, 9, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (16,), generator=gen)
    return model, x, y


def _rel(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], keys=PARAMS) -> dict[str, float]:
    return {k: float((a[k] - b[k]).norm() / b[k].norm()) for k in keys}


@pytest.mark.parametrize("neuron", list(NeuronKind))
@pytest.mark.parametrize("reg", [0.0, 0.5])
def test_eprop_sym_equals_bptt_without_recurrence(neuron, reg):
    model, x, y = _net(neuron, w_rec_scale=0.0)
    loss_b, out_b, g_bptt = bptt_gradients(model, x, y, reg=reg)
    loss_e, out_e, g_eprop = eprop_gradients(model, x, y, model.w_out.detach().T, reg=reg)
    _, z = model(x)
    assert 0.05 < float(z.mean()) < 0.5          # the neurons spike: the test is not vacuous
    assert all(float(g.norm()) > 0 for g in g_bptt.values())
    assert float(abs(loss_b - loss_e)) < 1e-12 and torch.allclose(out_b, out_e, rtol=0, atol=1e-12)
    assert max(_rel(g_eprop, g_bptt).values()) < 1e-10


@pytest.mark.parametrize("neuron", list(NeuronKind))
def test_eprop_differs_from_bptt_with_recurrence_or_random_feedback(neuron):
    model, x, y = _net(neuron, w_rec_scale=1.0)
    g_bptt = bptt_gradients(model, x, y)[2]
    g_sym = eprop_gradients(model, x, y, model.w_out.detach().T)[2]
    assert min(_rel(g_sym, g_bptt, ("w_in", "w_rec", "b")).values()) > 1e-2     # recurrence: e-prop approximates
    assert max(_rel(g_sym, g_bptt, ("w_out", "b_out")).values()) < 1e-10      # the read-out stays exact
    model0, x0, y0 = _net(neuron, w_rec_scale=0.0)
    g_rand = eprop_gradients(model0, x0, y0, model0.feedback)[2]
    assert min(_rel(g_rand, bptt_gradients(model0, x0, y0)[2], ("w_in", "w_rec", "b")).values()) > 0.3


@pytest.mark.parametrize("neuron", list(NeuronKind))
def test_spec_simulates_the_torch_forward_pass(neuron):
    model, x, _ = _net(neuron, w_rec_scale=1.0)
    spec = model.to_spec()
    assert spec.neuron is neuron and spec.steps == 9
    y_torch = model(x)[0].detach().numpy()
    np.testing.assert_allclose(spec.simulate(x.numpy()), y_torch, rtol=1e-12, atol=1e-12)


def test_noise_pretraining_aligns_readout_with_random_feedback():
    cfg = EpropConfig(rule=RecurrentRule.EPROP_RANDOM, hidden=32, noise_steps=300, noise_pool=64, noise_lr=5e-3,
                      batch_size=32)
    model = build_rsnn(cfg, features=8, classes=10, steps=8)
    before = feedback_angle(model)
    log = pretrain_rsnn_on_noise(model, cfg, progress=False, log_every=100)
    assert [r["step"] for r in log] == [0, 100, 200, 300] and log[0]["angle"] == before
    assert log[-1]["angle"] < before - 10


def test_train_rsnn_learns_digits_rows_and_records_angles():
    train, test = load_dataset("digits-rows")
    cfg = EpropConfig(rule=RecurrentRule.EPROP_RANDOM, hidden=48, epochs=2, noise_steps=20, probe_size=64)
    r = train_rsnn(cfg, train, test, progress=False)
    assert [h["epoch"] for h in r.history] == [0, 1, 2] and r.test_acc[-1] > 0.3
    assert set(r.angles) == {"init", "after_noise", "final"} and "hidden_grad" in r.angles["final"]
    assert r.history[-1]["step_s"] > 0 and len(r.noise_log) == 2
    assert r.spec.hidden == 48 and r.spec.steps == 8 and r.spec.features == 8


def test_checkpoint_round_trip_and_corruption(tmp_path):
    model, x, _ = _net(NeuronKind.ALIF, w_rec_scale=1.0)
    path = save_rsnn_checkpoint(tmp_path / "net.pt", model.to_spec(), dataset="digits-rows", test_acc=0.9)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "nfa-rsnn" and raw["dataset"] == "digits-rows"
    spec, ckpt = load_rsnn_checkpoint(path)
    assert spec.neuron is NeuronKind.ALIF and ckpt["test_acc"] == 0.9
    np.testing.assert_allclose(spec.w_rec, model.w_rec.detach().numpy(), rtol=1e-6, atol=1e-7)   # stored float32
    raw["weights"]["w_out"][0, 0] += 1.0
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="corrupted"):
        load_rsnn_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="no such"):
        load_rsnn_checkpoint(tmp_path / "missing.pt")


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="hidden must be > 0"):
        EpropConfig(hidden=0)


def test_temporal_datasets_are_sequences_in_unit_range():
    train, test = load_dataset("digits-rows")
    assert train.shape == (8, 8) and test.shape == (8, 8) and train.x.min() >= 0 and train.x.max() <= 1
    sr_train, sr_test = load_dataset("store-recall", seed=3)
    again, _ = load_dataset("store-recall", seed=3)
    assert np.array_equal(sr_train.x, again.x) and sr_train.x.ndim == 3


def test_store_recall_needs_memory():
    """A read-out of the last row alone is at chance; of the first row, perfect."""
    from sklearn.linear_model import LogisticRegression

    train, test = load_dataset("store-recall")
    chance = 1.0 / train.n_classes

    def acc(row: int) -> float:
        clf = LogisticRegression(max_iter=500).fit(train.x[:, row], train.y)
        return float(clf.score(test.x[:, row], test.y))

    assert abs(acc(-1) - chance) < 0.07
    assert acc(0) == 1.0


@pytest.fixture
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("_restore_threads")
def test_bench_eprop_quick_on_digits_rows(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["bench", "eprop", "--quick", "--out", str(out), "--no-progress", "--deploy", "0"]) == 0
    r = json.loads((out / "eprop.json").read_text())
    # --deploy: every checkpoint compiled and run in the reference on the whole test set (0: no Lava)
    assert len(r["deploy"]) == 4 * r["settings"]["seeds"] and all("lava_acc" not in d for d in r["deploy"])
    for d in r["deploy"]:
        assert d["n_test"] == r["n_test"] and abs(d["float_acc"] - d["trained_test_acc"]) < 0.01
        assert d["reference_float_agreement"] > 0.8
    assert list(r["arms"]) == ["bptt", "eprop-sym", "eprop-random", "eprop-random+noise"]
    for arm, m in r["arms"].items():
        assert 0 <= m["final_acc"] <= 1 and len(m["test_acc_per_epoch"]) == r["settings"]["epochs"] + 1
        assert m["time_vs_bptt"] > 0
        for seed in range(r["settings"]["seeds"]):
            spec, _ = load_rsnn_checkpoint(out / f"{arm}-seed{seed}.pt")
            assert spec.steps == 8
    assert r["arms"]["bptt"]["final_acc"] > 0.75
    noise = r["arms"]["eprop-random+noise"]["feedback_angle"]
    assert noise["after_noise"] < noise["init"]
    assert (out / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert "eprop-random+noise" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--arms", "bptt,foo"], "--arms: unknown arm 'foo'"),
    (["--dataset", "digits", "--seeds", "1", "--epochs", "1"], "use a temporal dataset such as digits-rows"),
])
@pytest.mark.usefixtures("_restore_threads")
def test_bench_eprop_bad_arguments_are_one_line(tmp_path, capsys, args, message):
    assert main(["bench", "eprop", *args, "--out", str(tmp_path / "b"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_each_checkpoint_loader_refuses_the_other_format_by_name(tmp_path):
    from toolkit.training.checkpoint import load_checkpoint

    model, _, _ = _net(NeuronKind.LIF, w_rec_scale=1.0)
    path = save_rsnn_checkpoint(tmp_path / "rsnn.pt", model.to_spec())
    with pytest.raises(CheckpointError, match="not an nfa checkpoint \\(expected format 'nfa-checkpoint', found "
                                              "'nfa-rsnn'\\)"):
        load_checkpoint(path)
    raw = torch.load(path, weights_only=True)
    torch.save({**raw, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="recurrent-network checkpoint version 99 is not supported"):
        load_rsnn_checkpoint(tmp_path / "future.pt")


def test_bench_noise_distribution_reaches_the_noise_arm_only():
    from toolkit.bench.eprop import NOISE_DISTRIBUTIONS, settings_for
    from toolkit.errors import ConfigError
    from toolkit.training.eprop import SequenceNoise

    s = settings_for("digits-rows", noise_distribution="bernoulli")
    noise, plain = s.config("eprop-random+noise", 0), s.config("eprop-random", 0)
    assert noise.noise_distribution is SequenceNoise.BERNOULLI and noise.noise_steps == 2000
    assert plain.noise_steps == 0
    assert settings_for("digits-rows").config("eprop-random+noise", 0).noise_distribution is SequenceNoise.UNIFORM
    assert tuple(m.value for m in SequenceNoise) == NOISE_DISTRIBUTIONS   # the parser's choices, without torch
    with pytest.raises(ConfigError, match="noise_distribution 'gauss' is not one of uniform, bernoulli"):
        settings_for("digits-rows", noise_distribution="gauss")
