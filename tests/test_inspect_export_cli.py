"""``nfa compile`` chip counts and board limits, ``nfa inspect`` and ``nfa export`` through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import toolkit.cli as cli

MINE = ("compile", "inspect", "export")


@pytest.fixture
def nfa(monkeypatch, capsys):
    """Run ``nfa ARGS`` (only the subcommands tested here); return (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "COMMANDS", {k: v for k, v in cli.COMMANDS.items() if k in MINE})

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def board(tiny_hw, tmp_path):
    """A small board: 2 chips of 4 cores, 64 neurons per core (path to its YAML)."""
    tiny_hw(name="board", chip={"neuro_cores": 4}, board={"name": "Test board", "chips": 2},
            core={"max_neurons": 64})
    return tmp_path / "board.yaml"


def _checkpoint(tmp_path, hidden: int):
    from toolkit.training import Arch, build_model, save_checkpoint

    arch = Arch(in_shape=(64,), hidden=(hidden,), n_classes=10)
    return save_checkpoint(tmp_path / f"mlp{hidden}.pt", build_model(arch, seed=0), arch)


def _compile(nfa, ckpt, out, hw):
    return nfa("compile", ckpt, "-o", out, "--hw", hw, "-T", "8", "--calibration-samples", "200")


def test_compile_spreads_over_chips_and_says_how_many(nfa, board, tmp_path):
    code, out, _ = _compile(nfa, _checkpoint(tmp_path, 200), tmp_path / "net", board)
    assert code == 0
    # 200 neurons at 64 per core: 4 cores fill chip 0; the 10 logits take chip 1
    assert "5 cores on 2 chip(s) of Test board (2 chips of 4 cores)" in out
    assert "10 neurons on 1 core(s), chip 1" in out


def test_compile_too_large_for_the_board_fails_in_one_line(nfa, board, tmp_path):
    code, out, err = _compile(nfa, _checkpoint(tmp_path, 600), tmp_path / "net", board)
    assert code == 2 and len(err.strip().splitlines()) == 1
    # ceil(600 / 64) = 10 cores > 2 chips x 4 cores
    assert "layer 'dense1' does not fit on the board" in err and "board.chips = 2 (Test board" in err
    assert not (tmp_path / "net").exists()


def test_inspect_prints_the_table_and_labelled_model(nfa, board, tmp_path):
    _compile(nfa, _checkpoint(tmp_path, 200), tmp_path / "net", board)
    js = tmp_path / "inspect.json"
    code, out, _ = nfa("inspect", tmp_path / "net", "--limit", "10", "--json", js)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["layer", "type", "neurons", "synapses"]
    assert "core.max_neurons" not in lines[1] and "max_neurons" in lines[1]  # dense1 is split by neurons
    assert "total: 210 neurons" in out and "5 cores on 2 chip(s)" in out
    assert out.count("[MODELLED, not measured]") == 2 and "STAND-IN" in out
    data = json.loads(js.read_text())
    assert data["mapping"]["cores"] == 5 and data["modelled"]["label"] == "modelled, not measured"
    assert data["activity"]["samples"] == 10 and data["activity"]["synops"] > 0


def test_inspect_markdown_without_data_and_on_another_chip(nfa, board, tmp_path):
    _compile(nfa, _checkpoint(tmp_path, 200), tmp_path / "net", board)
    code, out, _ = nfa("inspect", tmp_path / "net", "--data", "none", "--format", "markdown", "--hw", "loihi1")
    assert code == 0 and out.startswith("| layer | type |") and "MODELLED" not in out
    assert "2 cores on 1 chip(s)" in out and "Nahuku (loihi1)" in out


def test_export_refuses_in_one_line_or_writes_the_file(nfa, board, lif_chain, tmp_path):
    from compilers.netdir import save_network

    _compile(nfa, _checkpoint(tmp_path, 200), tmp_path / "net", board)
    code, _, err = nfa("export", tmp_path / "net", "-o", tmp_path / "a.net")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "netx" in err
    assert not (tmp_path / "a.net").exists()

    save_network(tmp_path / "ok", lif_chain([np.full((3, 2), 6, np.int32)], timesteps=12), {})
    code, out, _ = nfa("export", tmp_path / "ok", "--format", "netx", "-o", tmp_path / "ok.net")
    assert code == 0 and (tmp_path / "ok.net").is_file() and "reset_interval=12, reset_offset=1" in out
