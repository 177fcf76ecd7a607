"""``nfa import`` end to end through the command line (issue 12): a file written elsewhere becomes a network
folder that ``nfa run`` and ``nfa inspect`` take like our own; our own network exported as NIR comes back through
``nfa import`` with the same predictions; a file that is neither format is refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit.cli import main


def test_nfa_import_netx_then_run_and_inspect(tmp_path, capsys):
    from tests.test_netx_import import write_slayer_net

    net_file = write_slayer_net("dense", (20,), tmp_path / "slayer.net")   # slayer blocks 20 -> 16 -> 8
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((100, 20), dtype=np.float32), y=rng.integers(0, 8, 100))
    out = tmp_path / "imported"
    assert main(["import", str(net_file), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "(netx)" in said and str(out) in said
    report = json.loads((out / "compile.json").read_text())
    assert report["format"] == "netx" and report["imported_from"] == str(net_file) and report["notes"]
    assert main(["run", str(out), "--data", str(tmp_path / "d.npz"), "--limit", "20",
                 "--json", str(tmp_path / "r.json"), "--no-progress"]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["n"] == 20 and len(r["predictions"]) == 20 and all(0 <= p < 8 for p in r["predictions"])
    assert main(["inspect", str(out), "--data", "none"]) == 0


def test_our_network_through_nir_and_back_predicts_the_same(compiled_rate, digits, tmp_path, capsys):
    """nfa export --format nir, then nfa import: every test image gets the same prediction and scores."""
    from compilers.netdir import save_network
    from toolkit.runner import run as evaluate

    graph = compiled_rate
    net = save_network(tmp_path / "net", graph, {"timesteps": graph.timesteps})
    nir_file = tmp_path / "model.nir"
    assert main(["export", str(net), "--format", "nir", "-o", str(nir_file)]) == 0
    assert main(["import", str(nir_file), "-o", str(tmp_path / "back"), "--dt", "1e-3"]) == 0
    _, test = digits
    a = evaluate(net, test.take(60))
    b = evaluate(tmp_path / "back", test.take(60))
    np.testing.assert_array_equal(a.result.scores, b.result.scores)
    assert "(nir)" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n" + bytes(100), b"not a network at all\n"])
def test_a_file_of_neither_format_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "mystery.h5"
    path.write_bytes(content)
    assert main(["import", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a network file this toolkit reads (formats: " in err, err
    assert not (tmp_path / "out").exists()
    assert main(["import", str(tmp_path / "missing.nir"), "-o", str(tmp_path / "out")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_an_option_the_format_does_not_read_is_refused_not_ignored(tmp_path, capsys):
    from tests.test_netx_import import write_slayer_net

    net_file = write_slayer_net("dense", (20,), tmp_path / "slayer.net")
    assert main(["import", str(net_file), "-o", str(tmp_path / "x"), "--reset", "subtract"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a netx file takes no reset option (it takes: encoding, bits)" in err, err
    assert main(["import", str(net_file), "-o", str(tmp_path / "p"), "--encoding", "poisson", "--input-bits", "4"]) == 0
    report = json.loads((tmp_path / "p" / "compile.json").read_text())
    assert report["format"] == "netx"
