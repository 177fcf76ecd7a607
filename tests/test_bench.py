"""``nfa bench``: the Cheon et al. comparison (quick, on digits) and the speed benchmark's report."""

from __future__ import annotations

import json

import pytest
import torch

from toolkit.cli import main
from toolkit.cli.bench import BENCHMARKS

KEYS = ("final_acc", "epoch1_acc", "epochs_to_target", "angle_before", "angle_after", "eff_dim", "ood_acc")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _restore_threads():
    """``nfa bench`` sets torch's thread count (--threads); put it back afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_cheon_quick_on_digits_writes_every_figure(tmp_path, capsys):
    js = tmp_path / "out.json"
    code = main(["bench", "cheon", "--dataset", "digits", "--quick", "--json", str(js), "--out", str(tmp_path / "b"),
                 "--no-progress"])
    assert code == 0
    r = json.loads(js.read_text())
    assert set(r["methods"]) == {"bp", "fa", "fa+noise"}
    for name, m in r["methods"].items():
        for k in KEYS:
            assert k in m, (name, k)
        assert 0.0 <= m["final_acc"] <= 1.0 and set(m["ood_acc"]) == {"translated", "scaled", "rotated"}
        assert len(m["eff_dim"]) == 3 and m["meta_loss"] > 0
    fa, fn = r["methods"]["fa"], r["methods"]["fa+noise"]
    assert fn["angle_after"][-1] < fn["angle_before"][-1] - 10  # the noise phase aligned the top layer
    assert fa["angle_after"] == fa["angle_before"]               # no noise phase, no change
    assert r["methods"]["bp"]["angle_before"] == [None, None, None]
    md = (tmp_path / "b" / "results.md").read_text()
    assert "`nfa bench cheon --dataset digits" in md and "--quick" in md and "| fa+noise |" in md
    for png in ("accuracy.png", "noise-angles.png", "delta-angles.png"):
        assert (tmp_path / "b" / png).read_bytes()[:4] == b"\x89PNG"
    assert "FA + noise beats FA" in capsys.readouterr().out


def test_cheon_report_goes_beside_its_plots(tmp_path):
    report = tmp_path / "docs" / "cheon-digits.md"
    code = main(["bench", "cheon", "--dataset", "digits", "--quick", "--seeds", "1", "--epochs", "1",
                 "--noise-steps", "50", "--rules", "bp,kp", "--out", str(tmp_path / "b"), "--report", str(report),
                 "--no-progress"])
    assert code == 0
    text = report.read_text()
    assert "](cheon-digits-accuracy.png)" in text and "| kp |" in text
    assert (tmp_path / "docs" / "cheon-digits-accuracy.png").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--rules", "fa,xx"], "--rules: unknown method 'xx'"),
    (["--seeds", "0"], "argument --seeds: must be >= 1, got 0"),
    (["--workers", "-1"], "argument --workers: must be >= 0, got -1"),
    (["--hidden", "a,b"], "--hidden: expected"),
    (["--dataset", "mnist"], "mnist: no folder given"),
])
def test_cheon_bad_arguments_are_one_line(tmp_path, capsys, args, message):
    try:
        code = main(["bench", "cheon", "--out", str(tmp_path / "b"), "--no-progress", *args])
    except SystemExit as exc:   # refused by the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_speed_prints_every_rule_ratio_to_bp(tmp_path, capsys):
    js = tmp_path / "speed.json"
    code = main(["bench", "speed", "--network", "both", "--hidden", "8", "--batch", "4", "--steps", "2",
                 "--rounds", "2", "--json", str(js)])
    assert code == 0
    out = capsys.readouterr().out
    for rule in ("bp", "fa", "dfa", "kp", "sign", "brsf", "frsf", "wm", "pc", "zil", "pc-fa"):
        assert f"\n  {rule} " in out
    res = json.loads(js.read_text())["results"]
    assert [r["network"] for r in res] == ["mlp", "cnn"]
    assert res[0]["rules"]["bp"]["ratio_to_bp"] == pytest.approx(1.0)
    assert all(v["steps_per_s"] > 0 for v in res[1]["rules"].values())
    assert res[0]["device"].startswith("cpu (") and "on cpu (1 threads)" in out   # which device ran, said


def test_speed_on_cuda_without_a_gpu_is_one_line_not_a_fallback(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["bench", "speed", "--network", "mlp", "--steps", "1", "--rounds", "1", "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device cuda: CUDA is not available" in err


def test_bench_registry_lists_every_benchmark_module():
    import importlib

    assert set(BENCHMARKS) == {"cheon", "speed", "sim", "learn", "eprop", "deploy-rsnn"}
    for path in BENCHMARKS.values():
        mod = importlib.import_module(path)
        assert callable(mod.add_arguments) and callable(mod.run) and mod.__doc__


@pytest.mark.lava
def test_bench_sim_runs_both_simulators_on_the_same_images(tmp_path, compiled_rate, capsys):
    from compilers.netdir import save_network

    net = tmp_path / "net"
    save_network(net, compiled_rate, {})
    js = tmp_path / "sim.json"
    assert main(["bench", "sim", str(net), "--lava-samples", "12", "--limit", "300", "--json", str(js),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Lava fixed_pt" in out and "ratio reference / Lava" in out
    r = json.loads(js.read_text())
    assert r["mismatches"] == 0 and r["engines_agree"] is True
    assert r["lava_samples"] == 12 and r["reference_samples"] == 300
    assert r["lava_steps_per_s"] > 0 and r["reference_steps_per_s"] > 0
    assert r["ratio"] == pytest.approx(r["reference_steps_per_s"] / r["lava_steps_per_s"])
    assert 0 < r["synaptic_events_per_sample_step"] < r["dense_macs_per_sample_step"]
    assert r["lava_accuracy"] == r["reference_accuracy_same_images"]


def test_cheon_on_npz_features_without_ood_views(tmp_path, rng):
    import numpy as np

    x = rng.random((120, 5)).astype(np.float32)
    np.savez(tmp_path / "feat.npz", x=x, y=(x[:, 0] > 0.5).astype(np.int64))
    js = tmp_path / "r.json"
    code = main(["bench", "cheon", "--dataset", str(tmp_path / "feat.npz"), "--quick", "--seeds", "1", "--epochs", "1",
                 "--noise-steps", "20", "--hidden", "8", "--out", str(tmp_path / "b"), "--json", str(js),
                 "--no-progress"])
    assert code == 0
    r = json.loads(js.read_text())
    assert r["methods"]["fa"]["ood_acc"] == {} and r["methods"]["fa"]["ood_acc_mean"] is None
    assert "Not measured" in (tmp_path / "b" / "results.md").read_text()


@pytest.mark.lava
def test_bench_learn_compares_the_learned_weights_and_reports_speeds(tmp_path, capsys):
    js = tmp_path / "learn.json"
    assert main(["bench", "learn", "--samples", "30", "--lava-samples", "4", "--hidden", "12", "-T", "8",
                 "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "reference / Lava" in out and "mismatches (output counts and" in out
    r = json.loads(js.read_text())
    assert r["mismatches"] == 0 and r["numpy_vs_compiled_mismatches"] == 0
    assert r["weights_compared"] == 12 * 64 + 10 * 12
    assert r["ratio"] == pytest.approx(r["reference_sample_steps_per_s"] / r["lava_sample_steps_per_s"])
    assert r["dense_bound_sample_steps_per_s"] > r["reference_sample_steps_per_s"] > 0


def test_bench_learn_bad_arguments_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:   # refused by the parser, before anything runs
        main(["bench", "learn", "--samples", "0", "--no-lava"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --samples: must be >= 1, got 0" in err
