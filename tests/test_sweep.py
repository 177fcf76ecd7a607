"""``nfa sweep`` and the job machinery under it: expansion, one-line errors, Ray vs sequential, resume, retries.

The trials are tiny (200 digits, one epoch of a 64-16-10 MLP, 8 timesteps on 50 test images) so that the
whole file runs in well under a minute on two cores; one Ray session serves every Ray test.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
import torch

from toolkit.cli import main
from toolkit.errors import BackendUnavailableError, ConfigError
from toolkit.sweep import (
    SequentialExecutor,
    load_sweep,
    make_executor,
    run_sweep,
    train_compile_evaluate,
    trial_id,
    write_results,
)

BASE = """\
seed: 0
data: {dataset: digits, train_limit: 200}
model: {kind: mlp, hidden: [16]}
rule: fa
noise: {steps: 0, pool_size: 100, batch_size: 16}
train: {epochs: 1, batch_size: 16, lr: 0.01}
metrics: {probe_size: 32, noise_log_every: 10}
"""

SWEEP = """\
base: base.yaml
grid: {rule: [fa, bp]}
seeds: [0, 1]
compile: {mode: rate, timesteps: 8, calibration_samples: 100}
evaluate: {backend: reference, limit: 50}
"""

TIMING = ("wall_s", "host", "pid", "reused")   # where and how long, not what


def _write(folder: Path, sweep: str = SWEEP, base: str | None = BASE) -> Path:
    """``sweep.yaml`` and, unless ``base`` is empty, ``base.yaml`` in ``folder``; without one, the folder above's."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder if base else folder.parent).joinpath("base.yaml").write_text(base or BASE)
    (folder / "sweep.yaml").write_text(sweep)
    return folder / "sweep.yaml"


def _results(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


@pytest.fixture(autouse=True)
def _restore_threads():
    """Sequential trials set torch's thread count in this process (the sweep's ``threads``); put it back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray with two worker slots for every Ray test here (the executors use it and leave it running)."""
    try:
        import ray
    except ImportError:
        pytest.skip("Ray is not installed: pip install 'ray>=2.40,<3'")
    import logging

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The tiny sweep run sequentially in this process: (plan, output folder, results)."""
    before = torch.get_num_threads()
    folder = tmp_path_factory.mktemp("seq")
    plan = load_sweep(_write(folder))
    r = run_sweep(plan, folder / "out", SequentialExecutor(), progress=False)
    torch.set_num_threads(before)
    return plan, folder / "out", r


# ----------------------------------------------------------------------------- the sweep file


def test_grid_and_random_expand_in_order_with_stable_ids(tmp_path):
    sweep = _write(tmp_path, """\
base: base.yaml
grid: {rule: [fa, bp], compile.timesteps: [8, 16]}
random: {trials: 3, seed: 7, space: {train.lr: {log_uniform: [1.0e-4, 1.0e-2]}, model.hidden: {choice: [[8], [16, 16]]},
                                     train.epochs: {int_uniform: [1, 3]}}}
seeds: [0, 5]
compile: {mode: rate}
""")
    plan = load_sweep(sweep)
    assert plan.keys == ("rule", "compile.timesteps", "train.lr", "model.hidden", "train.epochs")
    assert plan.points == 2 * 2 * 3 and len(plan.trials) == 2 * plan.points
    first, second = plan.trials[0], plan.trials[1]
    assert (first.point, first.seed, second.seed) == (second.point, 0, 5)     # every point once per seed
    assert first.experiment["rule"] == "fa" and first.experiment["seed"] == 0 and second.experiment["seed"] == 5
    assert first.compile is not None and first.compile["timesteps"] == 8 and first.compile["mode"] == "rate"
    for t in plan.trials:
        assert 1e-4 <= t.point["train.lr"] <= 1e-2 and t.experiment["train"]["lr"] == t.point["train.lr"]
        assert t.point["model.hidden"] in ([8], [16, 16]) and t.point["train.epochs"] in (1, 2, 3)
    assert len({t.id for t in plan.trials}) == len(plan.trials)
    again = load_sweep(sweep)                        # the same file gives the same draws and ids
    assert [(t.id, t.point) for t in again.trials] == [(t.id, t.point) for t in plan.trials]
    assert trial_id({"rule": "fa"}, 0) == "261059686a"   # ids are content hashes, stable across versions


def test_every_example_sweep_is_valid():
    paths = sorted((Path(__file__).parent.parent / "examples" / "sweeps").glob("*.yaml"))
    assert paths
    for p in paths:
        assert load_sweep(p).trials


def test_searched_data_paths_resolve_from_the_sweep_files_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)      # not where the sweep file is
    plan = load_sweep(_write(tmp_path / "sweeps", "base: ../base.yaml\ngrid: {data.data_dir: [idx, /abs/idx]}\n",
                             base=""))
    assert [t.experiment["data"]["data_dir"] for t in plan.trials] == [str(tmp_path / "sweeps" / "idx"), "/abs/idx"]


def test_no_search_is_one_point_per_seed_and_repeated_draws_are_dropped(tmp_path):
    plan = load_sweep(_write(tmp_path, "base: base.yaml\nseeds: [3]\n"))
    assert [(t.point, t.seed) for t in plan.trials] == [({}, 3)] and plan.trials[0].compile is None
    plan = load_sweep(_write(tmp_path, "base: base.yaml\nrandom: {trials: 20, space: {rule: {choice: [fa, bp]}}}\n"))
    assert sorted(t.point["rule"] for t in plan.trials) == ["bp", "fa"] and plan.repeated_draws == 18


@pytest.mark.parametrize(("sweep", "message"), [
    ("base: base.yaml\ngrids: {rule: [fa]}\n", "sweep.yaml: grids: unknown key (valid keys here: base, compile"),
    ("base: base.yaml\ngrid: {train.lrr: [0.1]}\n", "sweep.yaml: grid: train.lrr: unknown key (valid keys here: "
                                                   "batch_size, epochs, lr"),
    ("base: base.yaml\ngrid: {train.lr: [0.1, 20]}\n", "sweep.yaml: grid: train.lr: must be <= 10.0 (got 20.0)"),
    ("base: base.yaml\ngrid: {rule: [fa, xx]}\n", "sweep.yaml: grid: rule: must be one of 'bp', 'fa'"),
    ("base: base.yaml\ngrid: {rule: fa}\n", "sweep.yaml: grid.rule: must be a non-empty list of values"),
    ("base: nope.yaml\n", "sweep.yaml: base: nope.yaml: file not found"),
    ("grid: {rule: [fa]}\n", "sweep.yaml: base: required key is missing"),
    ("base: base.yaml\nrandom: {trials: 2, space: {train.lr: {log_uniform: [0, 1]}}}\n",
     "sweep.yaml: random.space.train.lr.log_uniform: must be [lo, hi] with 0 < lo < hi (got [0.0, 1.0])"),
    ("base: base.yaml\nrandom: {trials: 2, space: {train.lr: {normal: [0, 1]}}}\n",
     "sweep.yaml: random.space.train.lr.normal: unknown key (valid keys here: choice, int_uniform, log_uniform"),
    ("base: base.yaml\nrandom: {trials: 2, space: {train.lr: {uniform: [0.1, 11]}}}\n",
     "sweep.yaml: random.space: train.lr: must be <= 10.0 (got 11.0)"),
    ("base: base.yaml\ngrid: {compile.timesteps: [8]}\n",
     "sweep.yaml: grid.compile.timesteps: a compile key is searched but the sweep has no compile section"),
    ("base: base.yaml\ncompile: {}\ngrid: {compile.timestep: [8]}\n",
     "sweep.yaml: grid: compile.timestep: unknown key (valid keys here: calibration_samples, encoding, hw, mode"),
    ("base: base.yaml\ngrid: {seed: [1, 2]}\n", "sweep.yaml: grid.seed: the seed is not searched; list seeds"),
    ("base: base.yaml\nseeds: [0, 0]\n", "sweep.yaml: seeds: every seed must be listed once"),
    ("base: base.yaml\ngrid: {rule.x: [1]}\n", "sweep.yaml: grid: rule.x: rule holds a value, not a section"),
])
def test_bad_sweep_files_are_one_line(tmp_path, capsys, sweep, message):
    code = main(["sweep", str(_write(tmp_path, sweep)), "-o", str(tmp_path / "out"), "--workers", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_an_error_in_the_base_names_the_base_file(tmp_path, capsys):
    sweep = _write(tmp_path, "base: base.yaml\n", base="data: {dataset: digits}\ntrain: {lr: -1}\n")
    assert main(["sweep", str(sweep), "--workers", "0"]) == 2
    assert "base.yaml: train.lr: must be >= 0.0 (got -1.0)" in capsys.readouterr().err


def test_without_ray_the_error_says_how_to_install_it_and_sequential_still_works(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)    # `import ray` now raises ImportError
    with pytest.raises(BackendUnavailableError, match=r"^Ray is not installed: pip install 'ray>=2.40,<3'"):
        make_executor(2)
    assert isinstance(make_executor(0), SequentialExecutor)
    with pytest.raises(ConfigError, match="--address: needs Ray workers"):
        make_executor(0, address="auto")


# ----------------------------------------------------------------------------- running


def test_sequential_sweep_writes_every_trial_and_the_tables(sequential):
    plan, out, r = sequential
    assert r["n_trials"] == 4 and r["n_failed"] == 0 and r["metric"] == "compiled_acc"
    for row, trial in zip(r["trials"], plan.trials, strict=True):
        assert row["status"] == "ok" and row["attempts"] == 1 and 0.0 <= row["compiled_acc"] <= 1.0
        folder = out / "trials" / row["id"]
        assert (folder / "train" / "model.pt").is_file() and (folder / "net").is_dir()
        assert json.loads((folder / "result.json").read_text())["spec"] == trial.spec()
    assert [p["label"] for p in r["points"]] == ["rule=fa", "rule=bp"] and r["points"][0]["seeds_ok"] == 2
    written = write_results(r, out)
    assert [p.name for p in written] == ["results.json", "results.csv", "results.png"]
    assert (out / "results.csv").read_text().splitlines()[0].startswith("id,rule,seed,status,test_acc")
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_two_ray_workers_give_the_same_trials_as_sequential(sequential, ray_session, tmp_path):
    plan, _, seq = sequential
    r = run_sweep(plan, tmp_path / "out", make_executor(2), progress=False)
    assert _results(r["trials"]) == _results(seq["trials"])
    assert {row["pid"] for row in r["trials"]}.isdisjoint({os.getpid()})     # they did run in the workers


def test_a_rerun_runs_only_unfinished_trials(sequential, tmp_path):
    import shutil

    plan, out, seq = sequential
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    lost = seq["trials"][2]["id"]
    (copy / "trials" / lost / "result.json").unlink()          # as if the sweep died during this trial
    r = run_sweep(plan, copy, SequentialExecutor(), progress=False)
    assert [row["id"] for row in r["trials"] if not row["reused"]] == [lost]
    assert _results(r["trials"]) == _results(seq["trials"])
    again = run_sweep(plan, copy, SequentialExecutor(), progress=False)
    assert again["n_reused"] == 4


def _die_once(trial, folder: Path) -> dict:
    """The first trial to start kills its own worker (SIGKILL: no cleanup, like the OOM killer), once."""
    marker = folder.parent.parent / "killed"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return train_compile_evaluate(trial, folder)
    os.write(fd, trial.id.encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def test_a_killed_worker_is_retried_and_every_trial_runs_once(sequential, ray_session, tmp_path):
    import ray.cloudpickle

    plan, _, seq = sequential
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # workers need not import this test module
    try:
        r = run_sweep(plan, tmp_path / "out", make_executor(2), progress=False, trial_fn=_die_once)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    killed = (tmp_path / "out" / "killed").read_text()
    assert [row["attempts"] for row in r["trials"]] == [2 if row["id"] == killed else 1 for row in r["trials"]]
    assert _results(r["trials"]) == [{**row, "attempts": 2 if row["id"] == killed else 1}
                                     for row in _results(seq["trials"])]
    assert sorted(p.name for p in (tmp_path / "out" / "trials").iterdir()) == sorted(t.id for t in plan.trials)


def _fail_bp(trial, folder: Path) -> dict:
    if trial.point.get("rule") == "bp":
        raise ConfigError(f"trial {trial.id}: bp is not wanted here")
    return {"test_acc": 0.5}


def test_a_failed_trial_is_recorded_and_the_rest_run(tmp_path, capsys):
    plan = load_sweep(_write(tmp_path))
    r = run_sweep(plan, tmp_path / "out", SequentialExecutor(), progress=False, trial_fn=_fail_bp)
    assert [row["status"] for row in r["trials"]] == ["ok", "ok", "failed", "failed"] and r["n_failed"] == 2
    assert r["trials"][2]["error"].startswith("ConfigError: trial ") and r["trials"][2]["attempts"] == 1
    stored = json.loads((tmp_path / "out" / "trials" / r["trials"][2]["id"] / "result.json").read_text())
    assert stored["status"] == "failed" and "Traceback" in stored["traceback"]


def test_cli_exit_code_says_a_trial_failed(tmp_path, capsys):
    base = BASE.replace("dataset: digits", f"dataset: {tmp_path / 'missing.npz'}")
    sweep = _write(tmp_path, "base: base.yaml\n", base=base)
    assert main(["sweep", str(sweep), "-o", str(tmp_path / "out"), "--workers", "0", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "1 trials, 1 failed" in out and "failed: trial" in out and "missing.npz" in out
    assert (tmp_path / "out" / "results.csv").is_file()


# ----------------------------------------------------------------------------- nfa bench cheon --workers


def test_cheon_on_ray_workers_equals_sequential_and_resumes(ray_session, tmp_path, one_thread):
    from toolkit.bench.cheon import run_benchmark, settings_for
    from toolkit.training.experiment import json_safe

    s = settings_for("digits", quick=True, seeds=2, epochs=1, noise_steps=20, train_limit=200, hidden=(16,),
                     probe_size=32, ood_limit=100, adapt_tasks=1, adapt_steps=5, adapt_eval_limit=100)

    def per_seed(r: dict) -> dict:
        r = json_safe(r)     # as results.json holds it: a NaN (the noise phase's first loss) is null
        return {m: [{k: v for k, v in rec.items() if k not in ("noise_s", "train_s")} for rec in v["seeds"]]
                for m, v in r["methods"].items()}

    seq = run_benchmark(s, progress=False)
    trials = tmp_path / "trials"
    par = run_benchmark(s, progress=False, executor=make_executor(2), trials_dir=trials)
    assert per_seed(par) == per_seed(seq) and set(par["methods"]) == {"bp", "fa", "fa+noise"}
    assert sorted(p.name for p in trials.iterdir()) == sorted(f"{m}-seed{i}" for m in ("bp", "fa", "fa+noise")
                                                              for i in range(2))
    (trials / "fa-seed1" / "result.json").unlink()
    again = run_benchmark(s, progress=False, executor=SequentialExecutor(), trials_dir=trials)
    assert per_seed(again) == per_seed(seq)
    assert json.loads((trials / "fa-seed1" / "result.json").read_text())["pid"] == os.getpid()
    assert json.loads((trials / "bp-seed0" / "result.json").read_text())["pid"] != os.getpid()
