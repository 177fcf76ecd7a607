"""Verified artefacts (issue 15): a network file or a checkpoint damaged by one flipped bit is refused with one
line (its SHA-256 digests, and the zip's CRC-32), never loaded with wrong weights."""

from __future__ import annotations

import dataclasses
import zipfile

import numpy as np
import pytest

from toolkit import ir
from toolkit.errors import CheckpointError, IRFormatError


def _rewrite(path, out, member_filter, change, compression=zipfile.ZIP_DEFLATED):
    """Copy the zip ``path`` to ``out`` with ``change(bytes)`` applied to the members ``member_filter`` picks, the
    zip's CRC-32 recomputed (a corruption the zip itself cannot see: only the digest can)."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", compression) as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, change(data) if member_filter(info.filename) else data)
    return out


def _flip_last_bit(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _graph():
    from compilers.onchip import OnChipFA, build_onchip_fa

    return build_onchip_fa(OnChipFA(n_in=16, n_hidden=6, n_classes=3, timesteps=4))


def _same(a: ir.Graph, b: ir.Graph) -> bool:
    if a.edges != b.edges or a.records != b.records or [n.name for n in a.nodes] != [n.name for n in b.nodes]:
        return False
    for x, y in zip(a.nodes, b.nodes, strict=True):
        for f in dataclasses.fields(x):
            v, w = getattr(x, f.name), getattr(y, f.name)
            if isinstance(v, np.ndarray) and not np.array_equal(v, w):
                return False
            if not isinstance(v, np.ndarray) and v != w and not (v != v and w != w):
                return False
    return True


def test_a_network_whose_array_changed_under_a_valid_zip_checksum_is_refused(tmp_path):
    path = ir.save_graph(_graph(), tmp_path / "net.nfa")
    bad = _rewrite(path, tmp_path / "bad.nfa", lambda n: n == "arrays/W1/weight.npy", _flip_last_bit)
    with pytest.raises(IRFormatError, match=r"node 'W1' \(Dense\): weight: array arrays/W1/weight.npy is corrupted: "
                                            r"its bytes do not match the SHA-256 digest") as exc:
        ir.load_graph(bad)
    assert "\n" not in str(exc.value)


def test_every_single_bit_flip_of_a_network_file_is_refused_in_one_line_or_changes_nothing(tmp_path):
    g = _graph()
    raw = bytearray(ir.save_graph(g, tmp_path / "net.nfa").read_bytes())
    outcomes = {"refused": 0, "unchanged": 0}
    for pos in range(0, len(raw), 3):
        flipped = bytearray(raw)
        flipped[pos] ^= 1 << (pos % 8)
        (tmp_path / "b.nfa").write_bytes(flipped)
        try:
            loaded = ir.load_graph(tmp_path / "b.nfa")
        except IRFormatError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
            continue
        assert _same(g, loaded), f"a flip at byte {pos} loaded a different network"
        outcomes["unchanged"] += 1     # a flip in zip metadata nobody reads (time stamps, version fields)
    assert outcomes["refused"] > outcomes["unchanged"] > 0


def test_a_checkpoint_whose_weights_changed_is_refused(tmp_path):
    from toolkit.training import Arch, Rule, build_model
    from toolkit.training.checkpoint import load_checkpoint, save_checkpoint

    arch = Arch(in_shape=(16,), hidden=(8,), n_classes=3, rule=Rule.FA)
    path = save_checkpoint(tmp_path / "m.pt", build_model(arch, seed=0), arch)
    load_checkpoint(path)
    with zipfile.ZipFile(path) as zf:
        tensors = [n for n in zf.namelist() if "/data/" in n and not n.endswith(".pkl")]
    assert tensors
    bad = _rewrite(path, tmp_path / "bad.pt", lambda n: n == tensors[0], _flip_last_bit, zipfile.ZIP_STORED)
    with pytest.raises(CheckpointError, match=r"the checkpoint is corrupted \(its architecture and weights do not"):
        load_checkpoint(bad)
    raw = bytearray(path.read_bytes())
    refused = 0
    for pos in range(0, len(raw), 7):
        flipped = bytearray(raw)
        flipped[pos] ^= 1 << (pos % 8)
        (tmp_path / "b.pt").write_bytes(flipped)
        try:
            model, _, _ = load_checkpoint(tmp_path / "b.pt")
        except CheckpointError as exc:
            assert "\n" not in str(exc)
            refused += 1
            continue
        original, _, _ = load_checkpoint(path)
        for (k, a), b in zip(original.state_dict().items(), model.state_dict().values(), strict=True):
            assert a.equal(b), f"a flip at byte {pos} loaded different weights ({k})"
    assert refused > 0


def _with_field(path, out, node: str, field: str, value):
    """Copy the network file ``path`` to ``out`` with one field of one node set to ``value`` in graph.json."""
    import json

    def change(data: bytes) -> bytes:
        header = json.loads(data)
        entry = next(n for n in header["nodes"] if n["name"] == node)
        entry["fields"][field] = value
        return json.dumps(header).encode()

    return _rewrite(path, out, lambda n: n == "graph.json", change)


@pytest.mark.parametrize(("node", "field", "value"), [
    ("h", "vth", 1 << 17), ("h", "vth", -1), ("h", "du", 4096), ("h", "dv", -3), ("h", "vth", "150"),
    ("h", "vth", 1.5), ("h", "y1_impulse", 128), ("h", "y1_decay", 5000), ("err_pos", "dv", 70000),
    ("o", "du", True), ("W1", "weight_exp", -100), ("W1", "weight_exp", 1.5), ("W2", "weight_exp", "0"),
    ("B_pos", "weight_exp", 17), ("W1", "delay", -1), ("W2", "delay", 0.5),
])
def test_a_network_file_with_a_neuron_field_out_of_its_register_is_refused_on_load(tmp_path, capsys, node, field,
                                                                                    value):
    """Issue 15: every fixed-point field range-checked on load, not only at compile time: `nfa inspect` (any
    command that loads a network) refuses the file in one line naming the node and the field."""
    from toolkit.cli import main

    path = ir.save_graph(_graph(), tmp_path / "net.nfa")
    bad = _with_field(path, tmp_path / "bad.nfa", node, field, value)
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and field in err and "Traceback" not in err, err


def test_bias_registers_out_of_range_are_refused_on_load(tmp_path):
    from compilers.netdir import load_network

    g = _graph()
    h = g.node("h")
    bad = g.replace_nodes({"h": h.replace(bias_mant=np.full(h.shape, 5000, np.int32))})
    path = ir.save_graph(bad, tmp_path / "bad.nfa")
    with pytest.raises(IRFormatError, match=r"LoihiLearningLIF 'h': bias_mant must be in -4096..4095, got values from"):
        load_network(path)
    load_network(ir.save_graph(g, tmp_path / "good.nfa"))


@pytest.mark.parametrize(("node", "weight", "message"), [
    ("W1", np.full((6, 16), 10**12, np.int64), r"weight registers must be in -256..255 \(8 bits \+ sign\), got values "
                                                r"from 1000000000000"),
    ("W2", np.full((3, 6), -257, np.int32), r"weight registers must be in -256..255"),
    ("B_neg", np.full((6, 3), np.nan), r"weight contains NaN or infinite values"),
    ("W1", np.full((6, 16), 1 + 1j), r"weight must hold integers \(quantised\) or floats, got dtype complex128"),
])
def test_synapse_weights_outside_the_registers_are_refused_on_load(tmp_path, node, weight, message):
    """Issue 15: a network file's weights are range-checked on load: int64 weights of 10^12 (seen running
    without complaint before) or NaN weights are refused in one line naming the node."""
    from compilers.netdir import load_network

    g = _graph()
    syn = g.node(node)
    bad = g.replace_nodes({node: syn.replace(weight=weight[: syn.weight.shape[0], : syn.weight.shape[1]])})
    path = ir.save_graph(bad, tmp_path / "bad.nfa")
    with pytest.raises(IRFormatError, match=rf"'{node}': {message}") as exc:
        load_network(path)
    assert "\n" not in str(exc.value)
