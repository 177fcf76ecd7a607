"""Fuzzing the boundaries (issue 15): seeded generators of bad inputs for each file family a user hands the
toolkit — experiment configs (``nfa train``), on-chip learning configs (``nfa learn``), hardware configs
(``load_hw``), malformed YAML — each run through the CLI's entry function in-process (hardware configs through
their loader). Every case must give exit code 2 with one line naming the file, no traceback, and never reach the
work itself: a stand-in for training and learning fails the test if a bad value got that far (a silent accept).

The bad values are derived from the schemas (``toolkit.schema``): for every field, values of the wrong type,
non-finite numbers and values just outside its declared range, plus an unknown key in every section. Every
integer option of every command is fuzzed from the parser itself, and broken ``.npz`` and IDX datasets from
generators below. Damaged network files and checkpoints are fuzzed in ``test_artefacts.py``.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from toolkit.config import ExperimentConfig, LearnConfig
from toolkit.hw import HardwareConfig, hw_config_dir, load_hw

ROOT = Path(__file__).resolve().parents[1]


class _ReachedWorkError(Exception):
    """Raised by the stand-ins for training and learning: a config got past validation."""


def _plain(tp: Any) -> Any:
    """``X`` of ``X | None``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _bad_values(tp: Any, f: dataclasses.Field[Any]) -> list[Any]:
    """Values ``f`` (of type ``tp``) must refuse."""
    tp = _plain(tp)
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if dataclasses.is_dataclass(tp):
        return ["a string", [1, 2], 3]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return ["no-such-choice", 7, [tp(next(iter(tp)).value).value]]
    if typing.get_origin(tp) is tuple:
        return ["not a list", {"a": 1}, [{"a": 1}]]
    if tp is bool:
        return ["maybe", 2, [True]]
    if tp is str:
        return [5, [1], {"a": 1}]
    bad: list[Any] = ["twelve", [1], {"a": 1}, float("nan"), float("inf"), -float("inf")]
    if tp is int:
        bad += [1.5, True]
    if lo is not None:
        bad.append(lo - 1 if tp is int else lo - max(1.0, abs(lo)))
    if hi is not None:
        bad.append(hi + 1 if tp is int else hi + max(1.0, abs(hi)))
    return bad


def _mutations(cls: type, base: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, dict[str, Any]]]:
    """(description, config) pairs: ``base`` with one field of ``cls`` (at ``path``) made bad, or one unknown key."""
    hints = typing.get_type_hints(cls)
    out = []

    def at(value: Any, key: str) -> dict[str, Any]:
        doc = copy.deepcopy(base)
        node = doc
        for p in path:
            node = node.setdefault(p, {})
        node[key] = value
        return doc

    out.append((".".join((*path, "no_such_key")), at(1, "no_such_key")))
    for f in dataclasses.fields(cls):
        tp = _plain(hints[f.name])
        for v in _bad_values(hints[f.name], f):
            out.append((f"{'.'.join((*path, f.name))} = {v!r}", at(v, f.name)))
        if dataclasses.is_dataclass(tp):
            out += _mutations(tp, base, (*path, f.name))
    return out


def _structural() -> list[tuple[str, str]]:
    """Texts that are not a config at all: broken YAML, wrong top level, an alias bomb."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)) + "data: {dataset: *i}\n"
    return [("empty", ""), ("a list", "- 1\n- 2\n"), ("a scalar", "42\n"), ("unclosed", "data: {dataset: [\n"),
            ("tab indent", "data:\n\tdataset: digits\n"), ("alias bomb", bomb), ("binary", "\x00\x01\x02"),
            ("duplicate-ish", "data: 1\ndata: {dataset: digits}\nrule: [fa\n")]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from toolkit.cli import main

    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr().err


def _assert_refused(what: str, code: int, err: str) -> None:
    assert code == 2, f"{what}: exit code {code}, stderr {err!r}"
    assert err.count("\n") == 1 and "Traceback" not in err, f"{what}: not one line: {err!r}"


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    import toolkit.learn
    import toolkit.training.experiment

    def reached(*a: Any, **k: Any) -> Any:
        raise _ReachedWorkError

    monkeypatch.setattr(toolkit.training.experiment, "run_experiment", reached)
    monkeypatch.setattr(toolkit.learn, "learn", reached)


FAMILIES = {
    "train": (ExperimentConfig, ROOT / "examples" / "fa-noise-digits.yaml"),
    "learn": (LearnConfig, ROOT / "examples" / "onchip" / "onchip-digits-noise.yaml"),
}


@pytest.mark.parametrize("command", sorted(FAMILIES))
def test_every_bad_config_is_refused_in_one_line_before_any_work(command, tmp_path, capsys, stand_ins):
    cls, example = FAMILIES[command]
    base = yaml.safe_load(example.read_text())
    cases = [(d, yaml.safe_dump(c)) for d, c in _mutations(cls, base)] + _structural()
    path = tmp_path / "bad.yaml"
    for what, text in cases:
        path.write_text(text)
        try:
            code, err = _run([command, str(path), "-o", str(tmp_path / "out"), "--no-progress"], capsys)
        except _ReachedWorkError:
            pytest.fail(f"nfa {command}: the bad config {what} was accepted")
        _assert_refused(f"nfa {command}: {what}", code, err)
        assert str(path) in err, f"{what}: the error does not name the file: {err!r}"
    assert len(cases) >= 200


def test_every_bad_hardware_config_is_refused_in_one_line(tmp_path):
    from toolkit.errors import ConfigError

    base = yaml.safe_load((hw_config_dir() / "loihi2.yaml").read_text())
    cases = [(d, yaml.safe_dump(c)) for d, c in _mutations(HardwareConfig, base)] + _structural()
    path = tmp_path / "hw.yaml"
    for what, text in cases:
        path.write_text(text)
        with pytest.raises(ConfigError) as exc:
            load_hw(path)
        assert "\n" not in str(exc.value) and str(path) in str(exc.value), f"{what}: {exc.value}"
    assert len(cases) >= 100


def test_the_fuzz_cases_are_many_and_the_base_configs_valid(tmp_path):
    """The generator's own check: the unmutated configs load (so each refusal is the mutation's doing)."""
    from toolkit.config import load_experiment, load_learn_config

    load_experiment(FAMILIES["train"][1])
    load_learn_config(FAMILIES["learn"][1])
    load_hw(hw_config_dir() / "loihi2.yaml")
    total = sum(len(_mutations(cls, yaml.safe_load(p.read_text()))) for cls, p in FAMILIES.values())
    total += len(_mutations(HardwareConfig, yaml.safe_load((hw_config_dir() / "loihi2.yaml").read_text())))
    total += 3 * len(_structural())
    assert total >= 500, total


def _numeric_options() -> list[tuple[list[str], str, int]]:
    """(subcommand words, option, its lower bound) for every ``at_least`` option of every command and benchmark,
    read off the parser itself, so an option added later is fuzzed without being listed here."""
    import argparse

    from toolkit.cli import build_parser

    found: list[tuple[list[str], str, int]] = []

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*words, name])
            elif action.option_strings and getattr(action.type, "__name__", "").startswith("integer >= "):
                found.append((words, action.option_strings[0], int(action.type.__name__.split()[-1])))

    walk(build_parser(), [])
    return found


def test_every_bad_numeric_argument_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    """Issue 15, arguments: `--limit -1` once evaluated all but the last image (Python slicing), `-T 0` the
    compiled steps, `-T -3` ran with -3 steps and `--calibration-samples 0` crashed. Every integer option is now
    checked as it is parsed: exit 2, one line naming the option, before the command runs."""
    import toolkit.cli

    def reached(*a: Any, **k: Any) -> Any:
        raise _ReachedWorkError

    options = _numeric_options()
    assert len(options) >= 15, options
    cases = 0
    for words, option, lo in options:
        positional = {"run": ["net"], "verify": ["net"], "inspect": ["net"], "compile": ["ckpt", "-o", "out"],
                      "learn": ["cfg.yaml"], "import": ["f.nir", "-o", "out"], "sim": ["net"]}.get(words[-1], [])
        for bad in (str(lo - 1), str(lo - 100), "x", "1.5", "", "1e3"):
            monkeypatch.setattr(toolkit.cli, "_module", lambda name: types.SimpleNamespace(
                run=reached, HELP="", add_arguments=_real_module(name).add_arguments))
            argv = [*words, *positional, option, bad]
            capsys.readouterr()
            with pytest.raises(SystemExit) as exc:
                toolkit.cli.main(argv)
            err = capsys.readouterr().err
            assert exc.value.code == 2, f"{argv}: exit {exc.value.code}"
            assert err.count("\n") == 1 and option in err and "Traceback" not in err, f"{argv}: {err!r}"
            cases += 1
    assert cases >= 90


def _real_module(name: str) -> Any:
    import importlib

    from toolkit.cli import COMMANDS

    return importlib.import_module(COMMANDS[name])


def _bad_npz_cases(rng: Any) -> list[tuple[str, dict[str, Any] | bytes]]:
    """Broken .npz datasets: every way the arrays can disagree with the format in ``toolkit.data.npz``."""
    import numpy as np

    x, y = rng.random((12, 4)).astype(np.float32), np.arange(12) % 3
    cases: list[tuple[str, dict[str, Any] | bytes]] = [
        ("not a zip", b"PK\x03\x04garbage"), ("empty file", b""), ("text", b"x,y\n1,2\n"),
        ("no y", {"x": x}), ("no x", {"y": y}), ("no samples", {"x": x[:0], "y": y[:0]}),
        ("1-D x", {"x": x[:, 0], "y": y}), ("no features", {"x": x[:, :0], "y": y}),
        ("more labels", {"x": x, "y": np.arange(13) % 3}), ("fewer labels", {"x": x, "y": y[:5]}),
        ("float labels", {"x": x, "y": y.astype(float)}), ("2-D labels", {"x": x, "y": y[:, None]}),
        ("negative label", {"x": x, "y": y - 1}), ("one class", {"x": x, "y": y * 0}),
        ("label 10^9", {"x": x, "y": np.full(12, 10**9)}), ("int16 pixels", {"x": (x * 100).astype(np.int16), "y": y}),
        ("pixels above 1", {"x": x + 1, "y": y}), ("negative pixels", {"x": x - 1, "y": y}),
        ("NaN pixels", {"x": np.where(x > 0.5, np.nan, x), "y": y}),
        ("inf pixels", {"x": np.where(x > 0.5, np.inf, x), "y": y}),
        ("bool pixels", {"x": x > 0.5, "y": y}), ("complex pixels", {"x": x + 0j, "y": y}),
        ("x_test only", {"x": x, "y": y, "x_test": x}), ("y_test only", {"x": x, "y": y, "y_test": y}),
        ("x_test other shape", {"x": x, "y": y, "x_test": x[:, :3], "y_test": y}),
        ("empty test", {"x": x, "y": y, "x_test": x[:0], "y_test": y[:0]}),
        ("test labels short", {"x": x, "y": y, "x_test": x, "y_test": y[:4]}),
        ("n_classes below labels", {"x": x, "y": y, "n_classes": np.array(2)}),
        ("n_classes 10^9", {"x": x, "y": y, "n_classes": np.array(10**9)}),
        ("n_classes vector", {"x": x, "y": y, "n_classes": np.array([3, 4])}),
        ("n_classes float", {"x": x, "y": y, "n_classes": np.array(3.0)}),
        ("n_classes 1", {"x": x, "y": y * 0, "n_classes": np.array(1)}),
        ("one sample", {"x": x[:1], "y": y[:1]}),
    ]
    for k in range(12):   # random label and pixel corruptions
        bad = x.copy()
        bad[rng.integers(0, 12), rng.integers(0, 4)] = rng.choice([np.nan, np.inf, -np.inf, -0.5, 1.5, 1e30])
        cases.append((f"random pixel {k}", {"x": bad, "y": y}))
    return cases


def test_every_bad_npz_dataset_is_refused_in_one_line(tmp_path):
    """Issue 15, datasets: an empty .npz crashed (ZeroDivisionError), x and y of different lengths crashed
    (IndexError), n_classes 10^9 or a label of 10^9 exhausted memory, x_test without y_test was ignored and a
    one-sample file trained without a test set. Every case: DataError, one line naming the file."""
    import numpy as np

    from toolkit.data import load_dataset
    from toolkit.errors import DataError

    cases = _bad_npz_cases(np.random.default_rng(0))
    for what, content in cases:
        path = tmp_path / "bad.npz"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            with path.open("wb") as f:
                np.savez(f, **content)
        with pytest.raises(DataError) as exc:
            load_dataset(str(path))
        msg = str(exc.value)
        assert "\n" not in msg and str(path) in msg, f"{what}: {msg!r}"
    assert len(cases) >= 45


def test_every_bad_idx_file_is_refused_in_one_line(tmp_path):
    """Truncated, mislabelled and mismatched IDX files (the MNIST family's format): one line naming the file."""
    import gzip
    import struct

    import numpy as np

    from toolkit.data import load_dataset
    from toolkit.errors import DataError, DatasetNotFoundError

    def idx(arr: np.ndarray, code: int = 0x08) -> bytes:
        return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()

    rng = np.random.default_rng(1)
    good = {"train-images-idx3-ubyte": idx(rng.integers(0, 255, (6, 4, 4), dtype=np.uint8)),
            "train-labels-idx1-ubyte": idx(np.arange(6, dtype=np.uint8) % 3),
            "t10k-images-idx3-ubyte": idx(rng.integers(0, 255, (3, 4, 4), dtype=np.uint8)),
            "t10k-labels-idx1-ubyte": idx(np.arange(3, dtype=np.uint8) % 3)}
    breaks = [lambda b: b[:len(b) // 2], lambda b: b[:3], lambda b: b"\x01" + b[1:], lambda b: b[:2] + b"\x07" + b[3:],
              lambda b: b + b"\x00", lambda b: gzip.compress(b)[:-8], lambda b: b[:4] + b"\xff\xff\xff\xff" + b[8:],
              lambda b: b""]
    cases = 0
    for name in good:
        for brk in breaks:
            folder = tmp_path / f"case{cases}"
            folder.mkdir()
            for n, data in good.items():
                (folder / n).write_bytes(brk(data) if n == name else data)
            with pytest.raises((DataError, DatasetNotFoundError)) as exc:
                load_dataset("mnist", data_dir=folder)
            assert "\n" not in str(exc.value) and str(folder) in str(exc.value), str(exc.value)
            cases += 1
    mismatch = tmp_path / "mismatch"   # 6 images, 5 labels
    mismatch.mkdir()
    for n, data in {**good, "train-labels-idx1-ubyte": idx(np.arange(5, dtype=np.uint8))}.items():
        (mismatch / n).write_bytes(data)
    with pytest.raises(DataError, match="has 6 images but train-labels-idx1-ubyte has 5 labels"):
        load_dataset("mnist", data_dir=mismatch)
    assert cases == 32
