"""``nfa train``: artefacts, JSON-lines metrics, safe checkpoints, and a resume that continues exactly."""

from __future__ import annotations

import json

import pytest
import torch

from toolkit.cli import main
from toolkit.training import load_checkpoint

CONFIG = """
seed: 0
data: {{dataset: digits, train_limit: 300}}
model: {{hidden: [16, 12]}}
rule: {rule}
noise: {{steps: 40, batch_size: 16, pool_size: 200}}
train: {{epochs: {epochs}, batch_size: 32}}
metrics: {{probe_size: 64, noise_log_every: 20}}
"""


pytestmark = pytest.mark.usefixtures("one_thread")


def _config(tmp_path, name="exp.yaml", rule="fa", epochs=3):
    p = tmp_path / name
    p.write_text(CONFIG.format(rule=rule, epochs=epochs))
    return p


def test_train_writes_checkpoint_metrics_and_plots(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(_config(tmp_path)), "-o", str(out), "--no-progress"]) == 0
    for f in ("model.pt", "last.pt", "metrics.jsonl", "config.json", "accuracy.png", "alignment.png",
              "noise_alignment.png"):
        assert (out / f).is_file(), f
    assert (out / "alignment.png").read_bytes()[:4] == b"\x89PNG"
    def strict(token):
        raise ValueError(f"not strict JSON: {token}")

    recs = [json.loads(line, parse_constant=strict) for line in (out / "metrics.jsonl").read_text().splitlines()]
    phases = [r["phase"] for r in recs]
    assert phases[:2] == ["device", "init"] and "noise" in phases and "after_noise" in phases
    assert recs[0]["device"].startswith("cpu (") and recs[0]["resumed"] is False   # --device cpu, the default
    data = [r for r in recs if r["phase"] == "data"]
    assert [r["epoch"] for r in data] == [0, 1, 2, 3]
    layers = data[-1]["layers"]
    assert [row["layer"] for row in layers] == ["linear1", "linear2", "linear3"]
    assert layers[0]["angle_wb"] is None and layers[1]["angle_wb"] is not None
    assert layers[-1]["angle_delta"] is None and 0 <= layers[0]["angle_delta"] <= 180
    assert all(row["eff_dim"] >= 1.0 for row in layers)
    ckpt = torch.load(out / "model.pt", weights_only=True)  # no pickled code
    assert ckpt["config"]["rule"] == "fa" and len(ckpt["history"]) == 4
    model, arch, _ = load_checkpoint(out / "model.pt")
    assert arch.hidden == (16, 12)
    text = capsys.readouterr().out
    assert "test accuracy" in text and "linear2" in text and "trained on cpu (" in text


def test_existing_run_is_not_overwritten_without_resume(tmp_path, capsys):
    cfg, out = _config(tmp_path, epochs=1), tmp_path / "run"
    assert main(["train", str(cfg), "-o", str(out), "--no-progress"]) == 0
    assert main(["train", str(cfg), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--resume" in err


@pytest.mark.parametrize("rule", ["fa", "kp", "wm"])
def test_resume_continues_exactly_where_it_stopped(tmp_path, monkeypatch, rule):
    """An interrupted run resumed with --resume ends with the same weights as an uninterrupted one."""
    from toolkit.training import experiment

    cfg = _config(tmp_path, rule=rule)
    assert main(["train", str(cfg), "-o", str(tmp_path / "whole"), "--no-progress"]) == 0

    real_save = experiment.save_checkpoint

    def save_then_stop(path, model, arch, **extra):
        real_save(path, model, arch, **extra)
        if extra.get("epoch") == 1 and extra.get("optimizer"):
            raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "save_checkpoint", save_then_stop)
    assert main(["train", str(cfg), "-o", str(tmp_path / "cut"), "--no-progress"]) == 130
    assert not (tmp_path / "cut" / "model.pt").exists()
    monkeypatch.setattr(experiment, "save_checkpoint", real_save)
    assert main(["train", str(cfg), "-o", str(tmp_path / "cut"), "--resume", "--no-progress"]) == 0

    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    assert [r["test_acc"] for r in a["history"]] == [r["test_acc"] for r in b["history"]]


def test_resume_with_another_config_names_the_difference(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(_config(tmp_path, epochs=1)), "-o", str(out), "--no-progress"]) == 0
    other = _config(tmp_path, name="other.yaml", rule="dfa", epochs=1)
    assert main(["train", str(other), "-o", str(out), "--resume", "--no-progress"]) == 2
    assert "rule differs" in capsys.readouterr().err
    assert main(["train", str(other), "-o", str(tmp_path / "empty"), "--resume", "--no-progress"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["missing.yaml", "bad.yaml"])
def test_config_errors_are_one_line(tmp_path, capsys, bad):
    (tmp_path / "bad.yaml").write_text("data: {dataset: digits}\ntrain: {epoch: 3}\n")
    assert main(["train", str(tmp_path / bad), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and bad in err
