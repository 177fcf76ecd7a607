"""The ON/OFF encoding of signed inputs (issue 15): standardised signals in a .npz train, compile and run with each
value as an ON and an OFF channel, and every command after training feeds them the same way by itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit.data import Dataset, load_dataset, onoff, onoff_split
from toolkit.errors import DataError


def test_onoff_splits_sign_into_two_channels_on_axis_one():
    x = np.array([[0.5, -1.0, 0.0], [2.0, -3.0, 1.0]], np.float32)
    y = onoff(x, 2.0)
    assert y.shape == (2, 6) and y.dtype == np.float32
    np.testing.assert_array_equal(y[0], [0.25, 0.0, 0.0, 0.0, 0.5, 0.0])
    np.testing.assert_array_equal(y[1], [1.0, 0.0, 0.5, 0.0, 1.0, 0.0])   # -3 / 2 clips to 1 in the OFF channel
    img = onoff(np.ones((4, 1, 3, 3), np.float32), 1.0)
    assert img.shape == (4, 2, 3, 3) and img[:, 0].min() == 1 and img[:, 1].max() == 0   # channels for a CNN
    with pytest.raises(DataError, match="positive scale"):
        onoff(x, 0.0)


def test_the_scale_is_the_training_sets_and_test_values_beyond_it_are_counted():
    tr = Dataset(name="s", x=np.array([[1.0, -4.0]], np.float32), y=np.array([0]), n_classes=1)
    te = Dataset(name="s", x=np.array([[5.0, -2.0]], np.float32), y=np.array([0]), n_classes=1)
    a, b, clipped = onoff_split(tr, te)
    np.testing.assert_array_equal(a.x, [[0.25, 0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(b.x, [[1.0, 0.0, 0.0, 0.5]])
    assert clipped == 1
    zero = Dataset(name="z", x=np.zeros((2, 2), np.float32), y=np.array([0, 0]), n_classes=1)
    with pytest.raises(DataError, match="every training value is 0"):
        onoff_split(zero, zero)


def _signals(path, n=600, seed=0):
    """Standardised 8-channel signals whose class is the signs of channels 0 and 1 (what a min-max rescale blurs)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = (2 * (x[:, 0] > 0) + (x[:, 1] > 0)).astype(np.int64)
    np.savez(path, x=x, y=y)
    return path


def test_signed_npz_is_refused_without_onoff_and_the_error_says_how(tmp_path):
    path = _signals(tmp_path / "signals.npz")
    with pytest.raises(DataError, match=r"signals\.npz: x has values in .*set data\.onoff: true") as exc:
        load_dataset(str(path))
    assert "\n" not in str(exc.value)
    train, test = load_dataset(str(path), onoff=True)
    assert train.shape == (16,) and train.x.min() >= 0 and train.x.max() == 1.0
    nan = tmp_path / "nan.npz"
    np.savez(nan, x=np.full((4, 2), np.nan, np.float32), y=np.zeros(4, np.int64))
    with pytest.raises(DataError, match="NaN or infinite"):
        load_dataset(str(nan), onoff=True)


def test_train_compile_run_on_signed_signals_with_onoff_end_to_end(tmp_path, capsys, monkeypatch):
    """nfa train with data.onoff (a .npz path relative to the config), then compile, run, inspect with no --data:
    each finds the dataset and feeds ON/OFF channels by itself; the spiking network classifies the signs."""
    from toolkit.cli import main

    (tmp_path / "data").mkdir()
    _signals(tmp_path / "data" / "signals.npz")
    cfg = tmp_path / "cfg" / "signals.yaml"
    cfg.parent.mkdir()
    cfg.write_text("data: {dataset: ../data/signals.npz, onoff: true}\nmodel: {hidden: [32]}\nrule: fa\n"
                   "train: {epochs: 15, batch_size: 16, lr: 0.01}\n")
    monkeypatch.chdir(tmp_path)   # the run folders go here; the data path is the config's
    run, net = tmp_path / "run", tmp_path / "net"
    assert main(["train", str(cfg), "-o", str(run), "--no-progress"]) == 0
    assert main(["compile", str(run / "model.pt"), "-o", str(net), "--timesteps", "32", "--encoding", "current"]) == 0
    report = json.loads((net / "compile.json").read_text())
    assert report["onoff"] is True and report["dataset"].endswith("signals.npz")
    capsys.readouterr()
    assert main(["run", str(net), "--json", str(tmp_path / "r.json"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    r = json.loads((tmp_path / "r.json").read_text())
    assert "(ON/OFF)" in out and r["onoff"] is True and r["n"] == 120
    assert r["accuracy"] >= 0.85, r["accuracy"]   # chance is 0.25
    assert main(["inspect", str(net)]) == 0
