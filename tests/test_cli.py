"""The command line: help, one-line errors, and the demo's artefacts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from toolkit.cli import COMMANDS, main


def test_help_lists_subcommands():
    import argparse

    from toolkit.cli import build_parser

    expected = ["demo", "train", "learn", "sweep", "bench", "compile", "run", "inspect", "import", "export", "verify",
                "info"]
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == expected == list(COMMANDS)  # every command is a parser choice, in order
    import os
    import re

    out = subprocess.run([sys.executable, "-m", "toolkit.cli", "--help"], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "200"})
    listed = [m.group(1) for line in out.stdout.splitlines() if (m := re.match(r"^    (\w+) ", line))]
    assert listed == expected, out.stdout      # and --help lists each one on its own line


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    code = main(["compile", str(tmp_path / "nope.pt"), "-o", str(tmp_path / "net")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no such checkpoint" in err
    assert not (tmp_path / "net").exists()


def test_run_on_missing_network_is_one_line(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nonet"), "--backend", "reference"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no such compiled network" in err


def test_demo_writes_its_artefacts_then_compile_and_run(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--epochs", "3", "--noise-steps", "300", "--backend", "reference",
                 "--no-progress"])
    assert code == 0
    for f in ("model.pt", "net/network.nfa", "net/compile.json", "report.json", "accuracy.png"):
        assert (out / f).is_file(), f
    report = json.loads((out / "report.json").read_text())
    assert 0.0 <= report["float_acc"] <= 1.0 and report["timesteps"] == 32
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "float accuracy" in text and "cores used" in text

    net2 = tmp_path / "net2"
    assert main(["compile", str(out / "model.pt"), "-o", str(net2), "--hw", "loihi1", "-T", "16"]) == 0
    js = tmp_path / "run.json"
    assert main(["run", str(net2), "--backend", "reference", "--limit", "50", "--json", str(js)]) == 0
    figures = json.loads(js.read_text())
    assert figures["n"] == 50 and figures["timesteps"] == 16 and 0 <= figures["accuracy"] <= 1


@pytest.mark.lava
def test_verify_agrees_and_reports_differences(tmp_path, compiled_rate, capsys, monkeypatch):
    from compilers.netdir import save_network

    net = save_network(tmp_path / "net", compiled_rate, {})
    assert main(["verify", str(net), "--limit", "3"]) == 0
    assert "agree on 3 images" in capsys.readouterr().out

    import toolkit.backends.lava_sim as lava_sim

    real = lava_sim.run_lava

    def tampered(*args, **kwargs):
        result = real(*args, **kwargs)
        result.traces["relu1"]["v"][0, 0, 0] += 1
        return result

    monkeypatch.setattr(lava_sim, "run_lava", tampered)
    assert main(["verify", str(net), "--limit", "2"]) == 3
    assert "relu1.v: 1 of" in capsys.readouterr().out


def test_compile_run_and_verify_default_to_the_dataset_the_network_came_from(tmp_path, capsys, monkeypatch):
    """Issue 15's frictions: compile calibrates on the checkpoint's training data, run (and verify) evaluate on
    the data the network was compiled on, unless --data says otherwise; run --json holds every sample's label,
    prediction and scores."""
    import numpy as np
    import yaml

    rng = np.random.default_rng(0)
    x = rng.random((120, 6)).astype(np.float32)
    np.savez(tmp_path / "feat.npz", x=x, y=(x[:, 0] > 0.5).astype(np.int64))
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"dataset": str(tmp_path / "feat.npz")}, "model": {"hidden": [8]},
                                   "rule": "fa", "train": {"epochs": 2}}))
    assert main(["train", str(cfg), "-o", str(tmp_path / "run"), "--no-progress"]) == 0
    net = tmp_path / "net"
    assert main(["compile", str(tmp_path / "run" / "model.pt"), "-o", str(net), "-T", "8"]) == 0
    assert "calibrated on feat" in capsys.readouterr().out
    js = tmp_path / "run.json"
    assert main(["run", str(net), "--json", str(js), "--no-progress"]) == 0
    figures = json.loads(js.read_text())
    assert figures["dataset"] == str(tmp_path / "feat.npz") and figures["n"] == 24   # the npz's test split
    assert len(figures["labels"]) == len(figures["predictions"]) == len(figures["scores"]) == 24
    assert figures["accuracy"] == sum(p == y for p, y in zip(figures["predictions"], figures["labels"],
                                                              strict=True)) / 24
    assert main(["run", str(net), "--data", "digits", "--limit", "5"]) == 2   # another dataset: 64 inputs, not 6
    capsys.readouterr()
    assert main(["inspect", str(net), "--limit", "10"]) == 0                  # activity on its own data
    assert "10 " + str(tmp_path / "feat.npz") + " test images" in capsys.readouterr().out


def test_an_unexpected_exception_is_one_line_unless_debug(monkeypatch, capsys):
    """Issue 15: no traceback reaches a user unless --debug asks for it; a bug of ours says it is one (exit 70)."""
    import toolkit.cli.info

    def boom(a):
        raise KeyError("a\nmultiline message")

    monkeypatch.setattr(toolkit.cli.info, "run", boom)
    assert main(["info"]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "KeyError" in err and "--debug" in err, err
    with pytest.raises(KeyError):
        main(["--debug", "info"])
