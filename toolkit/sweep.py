"""Sweeps: many train → compile → evaluate trials from one YAML file, in this process or on Ray (``nfa sweep``).

This module owns three things, in this order:

* **The sweep file** (``SweepConfig``, read by :func:`load_sweep`): a base ``nfa train`` experiment config and
  the keys to vary. ``grid`` keys take every listed value (cartesian product); ``random`` keys are drawn
  ``trials`` times from a seeded distribution; every point of the search runs once per entry of ``seeds``::

      base: fa-noise-digits.yaml                     # relative paths resolve from the sweep file's folder
      grid: {rule: [fa, bp], noise.steps: [0, 1000]}
      random: {trials: 4, seed: 0, space: {train.lr: {log_uniform: [1.0e-4, 1.0e-2]}}}
      seeds: [0, 1, 2]
      compile: {mode: rate, timesteps: 32}           # absent: train only
      evaluate: {backend: reference, limit: null}
      threads: 1

  A searched key is a dotted path into the experiment config (``train.lr``, ``model.hidden``) or into the
  ``compile`` section (``compile.timesteps``). Every value is checked by building the experiment config at
  the start, so a bad key or value is one line naming the sweep file and the key, before anything runs.
* **Jobs and executors** (:class:`Job`, :func:`run_jobs`, :func:`make_executor`), shared with
  ``nfa bench cheon --workers``: each job has its own folder and ends by writing ``result.json`` atomically.
  A job whose ``result.json`` is complete and was written for the same spec is not run again, so rerunning a
  sweep after a crash runs only what did not finish. A job that raises is recorded as failed (and not
  retried: the same inputs fail the same way); a job whose worker process dies is retried by Ray.
* **The sweep's trial** (:func:`train_compile_evaluate`) and its outputs: ``results.json``, ``results.csv``,
  ``results.png`` (docs/sweep.md).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import socket
import statistics
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from compilers.passes.convert import ConversionMode
from toolkit.backends import Backend
from toolkit.config import ExperimentConfig, load_experiment
from toolkit.errors import BackendUnavailableError, ConfigError
from toolkit.fsutil import atomic_path, atomic_write, write_json
from toolkit.ir import Encoding, ResetMode
from toolkit.schema import bounded, build, load_yaml_mapping, plain

__all__ = ["CompileSection", "Distribution", "EvaluateSection", "Executor", "Job", "RandomSearch",
           "RayExecutor", "SequentialExecutor", "SweepConfig", "SweepPlan", "Trial", "load_sweep", "make_executor",
           "run_job", "run_jobs", "run_sweep", "summary_lines", "train_compile_evaluate", "write_results"]

RAY_REQUIREMENT = "ray>=2.40,<3"
RESULT, ATTEMPTS = "result.json", "attempts"
COMPILE_PREFIX = "compile."


# ----------------------------------------------------------------------------- the sweep file


@dataclass(frozen=True, slots=True, kw_only=True)
class Distribution:
    """How one ``random.space`` key is drawn: exactly one of the four, e.g. ``{log_uniform: [1.0e-4, 1.0e-2]}``.

    ``choice`` picks one listed value; ``uniform`` and ``log_uniform`` draw a float in [lo, hi); ``int_uniform``
    an integer in [lo, hi], both ends included.
    """

    choice: tuple[Any, ...] | None = None
    uniform: tuple[float, ...] | None = None
    log_uniform: tuple[float, ...] | None = None
    int_uniform: tuple[int, ...] | None = None

    def kind(self) -> str:
        return next(k for k in ("choice", "uniform", "log_uniform", "int_uniform") if getattr(self, k) is not None)

    def candidates(self) -> tuple[Any, ...]:
        """The values that bound what a draw can give (every choice, or both ends), checked at the start."""
        value = getattr(self, self.kind())
        return tuple(value)

    def draw(self, rng: Any) -> Any:
        kind = self.kind()
        value = getattr(self, kind)
        if kind == "choice":
            return copy.deepcopy(value[int(rng.integers(len(value)))])
        lo, hi = value
        if kind == "int_uniform":
            return int(rng.integers(lo, hi + 1))
        if kind == "log_uniform":
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return float(rng.uniform(lo, hi))


@dataclass(frozen=True, slots=True, kw_only=True)
class RandomSearch:
    """``trials`` points drawn from ``space`` with a generator seeded by ``seed`` (the same file, the same points)."""

    trials: int = bounded(lo=1, hi=100_000)
    seed: int = bounded(0, lo=0, hi=2**31 - 1)
    space: Mapping[str, Distribution] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompileSection:
    """How each trained model is compiled (the options of ``nfa compile``); absent from the file: no compile."""

    mode: ConversionMode = ConversionMode.RATE
    timesteps: int | None = bounded(None, lo=1, hi=100_000)   #: default: the mode's (rate 32, sdn 1)
    percentile: float = bounded(99.9, lo=0.0, hi=100.0)
    reset: ResetMode = ResetMode.ZERO
    encoding: Encoding | None = None     #: rate, poisson, current or delta; default: the mode's
    hw: str = "loihi2"                   #: hardware config: loihi2, loihi1 or a YAML path
    calibration_samples: int = bounded(2000, lo=1, hi=10_000_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluateSection:
    """How each compiled network is evaluated: on the trial's test split, the first ``limit`` samples."""

    backend: Backend = Backend.REFERENCE
    limit: int | None = bounded(None, lo=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepConfig:
    """A sweep file as read (see the module docstring)."""

    base: str
    grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    random: RandomSearch | None = None
    seeds: tuple[int, ...] = (0,)
    compile: CompileSection | None = None
    evaluate: EvaluateSection = field(default_factory=EvaluateSection)
    threads: int = bounded(1, lo=1, hi=1024)   #: torch threads per trial: fixed, so results do not depend on where
    #: where each trial trains (``toolkit.training.device``): cpu, cuda[:N] or auto, resolved on the worker, so a
    #: cluster's GPU nodes can train while the driver has none; a worker without the asked-for GPU fails its trial
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))


@dataclass(frozen=True, slots=True)
class Trial:
    """One point of the search with one seed: the complete, validated experiment and compile settings."""

    id: str
    point: Mapping[str, Any]             #: searched key -> value
    seed: int
    experiment: Mapping[str, Any]        #: ``ExperimentConfig.to_dict()`` with the point and seed applied
    compile: Mapping[str, Any] | None
    evaluate: Mapping[str, Any]
    threads: int
    device: str = "cpu"

    def spec(self) -> dict[str, Any]:
        """Everything the result depends on: a stored result is reused only if its spec is equal."""
        return _normalised({"id": self.id, "point": dict(self.point), "seed": self.seed,
                            "experiment": dict(self.experiment), "compile": self.compile,
                            "evaluate": dict(self.evaluate), "threads": self.threads,
                            **({} if self.device == "cpu" else {"device": self.device})})


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """A read sweep file: its settings, the base experiment it varies, and every trial in order."""

    source: Path
    config: SweepConfig
    base: Path
    keys: tuple[str, ...]                #: the searched keys, grid's first
    trials: tuple[Trial, ...]
    repeated_draws: int = 0              #: random draws equal to an earlier point, not run twice

    @property
    def points(self) -> int:
        return len(self.trials) // len(self.config.seeds)


def load_sweep(path: str | Path) -> SweepPlan:
    """Read and validate a sweep file and expand it into trials (errors name the file and key path)."""
    path = Path(path)
    raw = load_yaml_mapping(path)
    grid_raw = raw.pop("grid", None)
    space_raw = raw["random"].pop("space", None) if isinstance(raw.get("random"), dict) else None
    cfg = build(SweepConfig, raw, source=str(path))
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", cfg.device):
        raise ConfigError(f"{path}: device: {cfg.device!r} is not a device; choose auto, cpu, cuda or cuda:N")
    cfg = replace(cfg, grid=_read_grid(grid_raw, str(path)))
    if cfg.random is not None:
        cfg = replace(cfg, random=replace(cfg.random, space=_read_space(space_raw, str(path))))
    _check_seeds(cfg.seeds, str(path))
    base_path = _base_path(path, cfg.base)
    base = load_experiment(base_path)
    keys = _check_keys(cfg, str(path))
    start = _Start(experiment=base.to_dict(), compile=_compile_dict(cfg.compile), folder=path.parent)
    _check_values(cfg, start, str(path))
    points, repeated = _points(cfg)
    trials = tuple(_trial(cfg, start, point, seed, str(path)) for point in points for seed in cfg.seeds)
    return SweepPlan(source=path, config=cfg, base=base_path, keys=keys, trials=trials, repeated_draws=repeated)


def _read_grid(raw: Any, source: str) -> dict[str, tuple[Any, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: grid: must be a mapping of dotted keys to lists of values, "
                          f"e.g. {{rule: [fa, bp]}} (got {raw!r})")
    grid: dict[str, tuple[Any, ...]] = {}
    for key, values in raw.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: grid.{key}: must be a non-empty list of values (got {values!r})")
        canon = [_canonical(v) for v in values]
        repeated = next((v for i, v in enumerate(values) if canon[i] in canon[:i]), None)
        if repeated is not None:
            raise ConfigError(f"{source}: grid.{key}: the value {repeated!r} is listed twice")
        grid[str(key)] = tuple(values)
    return grid


def _read_space(raw: Any, source: str) -> dict[str, Distribution]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{source}: random.space: must be a non-empty mapping of dotted keys to distributions, "
                          f"e.g. {{train.lr: {{log_uniform: [1.0e-4, 1.0e-2]}}}} (got {raw!r})")
    return {str(key): _read_distribution(spec, source, f"random.space.{key}") for key, spec in raw.items()}


def _read_distribution(spec: Any, source: str, where: str) -> Distribution:
    d = build(Distribution, spec, source=source, path=where)
    given = [k for k in ("choice", "uniform", "log_uniform", "int_uniform") if getattr(d, k) is not None]
    if len(given) != 1:
        raise ConfigError(f"{source}: {where}: give exactly one of choice, uniform, log_uniform, int_uniform "
                          f"(got {', '.join(given) or 'none'})")
    kind = given[0]
    value = getattr(d, kind)
    if kind == "choice":
        if not value:
            raise ConfigError(f"{source}: {where}.choice: must list at least one value")
        return d
    lo_ok = len(value) == 2 and (value[0] > 0 if kind == "log_uniform" else True)
    if not lo_ok or value[0] > value[1] or (kind != "int_uniform" and value[0] == value[1]):
        need = "0 < lo < hi" if kind == "log_uniform" else "lo <= hi" if kind == "int_uniform" else "lo < hi"
        raise ConfigError(f"{source}: {where}.{kind}: must be [lo, hi] with {need} (got {list(value)})")
    return d


def _check_seeds(seeds: tuple[int, ...], source: str) -> None:
    if not seeds or any(not 0 <= s < 2**31 for s in seeds):
        raise ConfigError(f"{source}: seeds: give a non-empty list of seeds in 0..2^31-1 (got {list(seeds)})")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{source}: seeds: every seed must be listed once (got {list(seeds)})")


def _base_path(sweep: Path, base: str) -> Path:
    p = Path(base)
    resolved = p if p.is_absolute() else sweep.parent / p
    if not resolved.is_file():
        raise ConfigError(f"{sweep}: base: {base}: file not found (looked for {resolved}; a relative path "
                          "resolves from the sweep file's folder)")
    return resolved


def _check_keys(cfg: SweepConfig, source: str) -> tuple[str, ...]:
    space = cfg.random.space if cfg.random is not None else {}
    both = sorted(set(cfg.grid) & set(space))
    if both:
        raise ConfigError(f"{source}: {both[0]}: searched in both grid and random.space; search it in one")
    for section, keys in (("grid", list(cfg.grid)), ("random.space", list(space))):
        for key in keys:
            if key == "seed":
                raise ConfigError(f"{source}: {section}.seed: the seed is not searched; list seeds under `seeds:`")
            if key.startswith(COMPILE_PREFIX) and cfg.compile is None:
                raise ConfigError(f"{source}: {section}.{key}: a compile key is searched but the sweep has no "
                                  "compile section; add one (e.g. `compile: {mode: rate}`)")
    return (*cfg.grid, *space)


@dataclass(frozen=True, slots=True)
class _Start:
    """What every trial starts from: the base experiment and compile settings, and where searched paths resolve."""

    experiment: dict[str, Any]
    compile: dict[str, Any] | None
    folder: Path


def _check_values(cfg: SweepConfig, start: _Start, source: str) -> None:
    """Each searched value on its own, so an error names the section it came from."""
    space = cfg.random.space if cfg.random is not None else {}
    checks = [("grid", k, v) for k, vs in cfg.grid.items() for v in vs]
    checks += [("random.space", k, v) for k, d in space.items() for v in d.candidates()]
    for section, key, value in checks:
        _resolve(start, {key: value}, cfg.seeds[0], f"{source}: {section}")


def _points(cfg: SweepConfig) -> tuple[list[dict[str, Any]], int]:
    """Grid product × random draws, in a fixed order; a draw equal to an earlier point is dropped (and counted)."""
    import numpy as np

    grid_points = [dict(zip(cfg.grid, values, strict=True)) for values in itertools.product(*cfg.grid.values())]
    draws: list[dict[str, Any]] = [{}]
    if cfg.random is not None:
        rng = np.random.default_rng(cfg.random.seed)
        draws = [{k: d.draw(rng) for k, d in cfg.random.space.items()} for _ in range(cfg.random.trials)]
    points: list[dict[str, Any]] = []
    seen: set[str] = set()
    for g, r in itertools.product(grid_points, draws):
        point = {**g, **r}
        key = _canonical(point)
        if key not in seen:
            seen.add(key)
            points.append(point)
    return points, len(grid_points) * len(draws) - len(points)


def _trial(cfg: SweepConfig, start: _Start, point: dict[str, Any], seed: int, source: str) -> Trial:
    experiment, compile_ = _resolve(start, point, seed, f"{source}: point {point_label(point)}")
    return Trial(id=trial_id(point, seed), point=point, seed=seed, experiment=experiment, compile=compile_,
                 evaluate=plain(asdict(cfg.evaluate)), threads=cfg.threads, device=cfg.device)


def trial_id(point: Mapping[str, Any], seed: int) -> str:
    """A short stable name for (point, seed): the same on every machine and every run of the same file."""
    return hashlib.sha256(_canonical({"point": dict(point), "seed": seed}).encode()).hexdigest()[:10]


def point_label(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in point.items()) or "(base)"


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return v if isinstance(v, str) else json.dumps(v)


def _resolve(start: _Start, point: Mapping[str, Any], seed: int,
             source: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The experiment and compile settings of ``point`` with ``seed``, validated by building them."""
    exp = copy.deepcopy(start.experiment)
    comp = copy.deepcopy(start.compile)
    for key, value in point.items():
        if key.startswith(COMPILE_PREFIX):
            assert comp is not None  # _check_keys refused compile keys without a compile section
            _set_dotted(comp, key[len(COMPILE_PREFIX):], value, source, prefix=COMPILE_PREFIX)
        else:
            _set_dotted(exp, key, value, source)
    exp["seed"] = seed
    resolved = _absolute_data_paths(build(ExperimentConfig, exp, source=source).to_dict(), start.folder)
    if comp is None:
        return resolved, None
    section = build(CompileSection, comp, source=source, path="compile")
    _check_compile(section, source)
    return resolved, plain(asdict(section))


def _set_dotted(d: dict[str, Any], key: str, value: Any, source: str, *, prefix: str = "") -> None:
    parts = key.split(".")
    if not all(parts):
        raise ConfigError(f"{source}: {prefix}{key}: not a dotted key path like train.lr")
    node = d
    for i, part in enumerate(parts[:-1]):
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{source}: {prefix}{key}: {prefix}{'.'.join(parts[:i + 1])} holds a value, "
                              "not a section of keys")
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)


def _check_compile(c: CompileSection, source: str) -> None:
    from toolkit.hw import load_hw

    if c.encoding in (Encoding.ANALOG, Encoding.SEQUENCE):   # the float graphs' input; sequence samples' input
        valid = ", ".join(repr(e.value) for e in Encoding if e not in (Encoding.ANALOG, Encoding.SEQUENCE))
        raise ConfigError(f"{source}: compile.encoding: must be one of {valid} (got {c.encoding.value!r})")
    try:
        load_hw(c.hw)
    except ConfigError as exc:
        raise ConfigError(f"{source}: compile.hw: {exc}") from None


def _compile_dict(c: CompileSection | None) -> dict[str, Any] | None:
    return None if c is None else plain(asdict(c))


def _absolute_data_paths(exp: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A searched data path (``data.data_dir``, a ``.npz`` ``data.dataset``) resolves from the sweep file's folder,
    as the base config's own resolve from its folder (``load_experiment``): the same files from any working
    directory, and absolute paths for workers that run elsewhere."""
    from toolkit.config import resolve_path

    data = dict(exp["data"])
    if data.get("data_dir") is not None:
        data["data_dir"] = resolve_path(data["data_dir"], folder)
    if str(data["dataset"]).endswith(".npz"):
        data["dataset"] = resolve_path(data["dataset"], folder)
    return {**exp, "data": data}


def _canonical(obj: Any) -> str:
    return json.dumps(plain(obj), sort_keys=True, separators=(",", ":"))


def _normalised(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists), so a stored spec compares equal."""
    result: Any = json.loads(json.dumps(plain(obj)))
    return result


# ----------------------------------------------------------------------------- jobs and executors


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of work with its own folder: ``fn(arg, folder)`` returns a JSON-able record.

    ``fn`` must be a module-level function (Ray sends it to the workers by name). ``spec`` is everything the
    record depends on; a finished ``result.json`` with an equal spec is reused instead of running again.
    """

    name: str
    folder: str
    spec: Mapping[str, Any]
    fn: Callable[[Any, Path], dict[str, Any]]
    arg: Any
    threads: int = 1


def run_job(job: Job) -> dict[str, Any]:
    """Run one job in its folder, in whatever process this is; write and return its ``result.json`` record.

    Every attempt starts from an empty folder (a worker that died may have left half a run) and counts itself
    in ``attempts``. An exception is recorded, not raised: a sweep goes on past one failed trial, and its
    message and traceback stay in the record.
    """
    import torch

    folder = Path(job.folder)
    rec: dict[str, Any] = {"name": job.name, "spec": job.spec, "status": "ok", "attempts": 0,
                           "host": socket.gethostname(), "pid": os.getpid(), "threads": job.threads}
    if not folder.parent.is_dir():   # the driver made it: this worker runs on a machine that cannot see it
        return _normalised({**rec, "status": "failed", "result": None, "wall_s": None, "error": (
            f"{folder.parent}: not visible on {rec['host']}: on a cluster the output folder must be on a filesystem "
            "every node shares, at the same path")})
    rec["attempts"] = _next_attempt(folder)
    torch.set_num_threads(job.threads)
    t0 = time.perf_counter()
    try:
        rec["result"] = job.fn(job.arg, folder)
        rec["error"] = None
    except Exception as exc:  # any failure of one trial is that trial's result, see the docstring
        rec.update(status="failed", result=None, error=_one_line(exc), traceback=traceback.format_exc())
    rec["wall_s"] = time.perf_counter() - t0
    return _write_result(folder, rec)


def _next_attempt(folder: Path) -> int:
    folder.mkdir(exist_ok=True)
    counter = folder / ATTEMPTS
    try:
        n = int(counter.read_text().strip())
    except (OSError, ValueError):
        n = 0
    for p in folder.iterdir():
        if p.name == ATTEMPTS:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    with atomic_write(counter) as f:
        f.write(f"{n + 1}\n")
    return n + 1


def _write_result(folder: Path, rec: dict[str, Any]) -> dict[str, Any]:
    from toolkit.training.experiment import json_safe

    safe: dict[str, Any] = _normalised(json_safe(rec))
    write_json(folder / RESULT, safe)
    return safe


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def finished_record(job: Job) -> dict[str, Any] | None:
    """The job's stored record if it finished without error for the same spec, else None."""
    try:
        rec = json.loads((Path(job.folder) / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(rec, dict) and rec.get("status") == "ok" and rec.get("spec") == _normalised(job.spec)
    return rec if ok else None


class Executor(Protocol):
    """Runs ``fn`` on every job and yields ``(index, record, error)`` as each finishes, in any order.

    ``error`` is set (and ``record`` None) only when the executor itself could not get a record back: for Ray,
    a worker that died more often than it may be retried.
    """

    description: str

    def map(self, fn: Callable[[Job], dict[str, Any]],
            jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]: ...

    def close(self) -> None: ...


class SequentialExecutor:
    """Every job in this process, one after another (``--workers 0``): no Ray, and a crash stops everything."""

    description = "sequentially in this process"

    def map(self, fn: Callable[[Job], dict[str, Any]],
            jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
        for i, job in enumerate(jobs):
            yield i, fn(job), None

    def close(self) -> None:
        pass


class RayExecutor:
    """Jobs as Ray tasks: a local Ray with ``workers`` task slots, or an existing cluster at ``address``.

    A task whose worker process dies is retried up to ``max_retries`` times by Ray; an exception inside a task
    is not (``retry_exceptions=False``; ``run_job`` records it anyway). Each task reserves ``threads`` CPUs, as
    many as its torch threads. If Ray is already initialised in this process (tests, a notebook), that session
    is used and left running.
    """

    def __init__(self, workers: int | None, *, address: str | None = None, max_retries: int = 3,
                 threads: int = 1) -> None:
        _import_ray()   # fail now, in one line, rather than after the first trial's setup
        self.workers, self.address, self.max_retries, self.threads = workers, address, max_retries, threads
        self._owns = False
        slots = "as many workers as the cluster has CPUs" if workers is None else f"{workers} workers"
        self.description = f"on Ray ({address or 'local'}, {slots}, {max_retries} retries per crashed worker)"

    def _start(self) -> None:
        """Start (or connect to) Ray when there is work: a resumed sweep with nothing left needs none."""
        import logging

        import ray

        if ray.is_initialized():
            return
        quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        if self.address is not None:
            _check_reachable(self.address)
        try:
            if self.address is not None:
                ray.init(address=self.address, **quiet)
            else:
                ray.init(address="local", num_cpus=(self.workers or 1) * self.threads, include_dashboard=False,
                         **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
            hint = ("; if the cluster uses token authentication (Ray's default), set RAY_AUTH_MODE=token and give "
                    "its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
                    if self.address is not None and "RAY_AUTH_MODE" not in os.environ else "")
            raise BackendUnavailableError(f"cannot start or reach {where}: {_one_line(exc)}{hint}") from None
        self._owns = True

    def map(self, fn: Callable[[Job], dict[str, Any]],
            jobs: Sequence[Job]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
        import ray

        if not jobs:
            return
        self._start()
        remote = ray.remote(num_cpus=self.threads, max_retries=self.max_retries, retry_exceptions=False)(fn)
        limit = self.workers or len(jobs)
        queue = list(enumerate(jobs))
        running: dict[Any, int] = {}
        try:
            while queue or running:
                while queue and len(running) < limit:
                    i, job = queue.pop(0)
                    running[remote.remote(job)] = i
                done, _ = ray.wait(list(running), num_returns=1)
                i = running.pop(done[0])
                try:
                    yield i, ray.get(done[0]), None
                except ray.exceptions.RayError as exc:
                    yield i, None, _one_line(exc)
        finally:   # stopped early (Ctrl-C, an error here): no trial should go on running on a cluster
            for ref in running:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        import ray

        if self._owns and ray.is_initialized():
            ray.shutdown()


def _check_reachable(address: str) -> None:
    """Ray retries an address where nothing listens for many minutes; a plain TCP connection tells in seconds."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return   # auto, ray://... and the like: Ray resolves those itself
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        raise BackendUnavailableError(f"--address {address}: nothing answers there ({exc.strerror or exc}); give the "
                                      "head node's HOST:PORT (`ray start --head` prints it) or auto") from None


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BackendUnavailableError(f"Ray is not installed: pip install '{RAY_REQUIREMENT}' "
                                      "(or run with --workers 0, one trial after another in this process)") from None
    return ray


def make_executor(workers: int | None, *, address: str | None = None, max_retries: int = 3,
                  threads: int = 1) -> Executor:
    """``workers`` 0: sequential, in this process (no Ray needed); otherwise Ray (None: the cluster's CPUs)."""
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers: must be >= 0 (got {workers})")
    if max_retries < 0:
        raise ConfigError(f"--max-retries: must be >= 0 (got {max_retries})")
    if workers == 0:
        if address is not None:
            raise ConfigError("--address: needs Ray workers; leave out --workers 0")
        return SequentialExecutor()
    return RayExecutor(workers, address=address, max_retries=max_retries, threads=threads)


def run_jobs(jobs: Sequence[Job], executor: Executor, *, progress: bool = True,
             desc: str = "trials") -> list[dict[str, Any]]:
    """Every job's record, in the order of ``jobs``: stored ones reused, the rest run on ``executor``.

    A record gets ``reused`` (True: found finished in its folder). A job the executor lost (a worker that kept
    dying) gets a failed record, written to its folder like any other.
    """
    from tqdm import tqdm

    records: dict[int, dict[str, Any]] = {}
    todo: list[int] = []
    for i, job in enumerate(jobs):
        rec = finished_record(job)
        if rec is not None:
            records[i] = {**rec, "reused": True}
        else:
            shutil.rmtree(job.folder, ignore_errors=True)   # a partial or outdated trial starts from scratch
            Path(job.folder).parent.mkdir(parents=True, exist_ok=True)
            todo.append(i)
    failed = 0
    with tqdm(total=len(todo), desc=desc, unit="trial", disable=not progress, leave=False) as bar:
        for k, rec, error in executor.map(run_job, [jobs[i] for i in todo]):
            job = jobs[todo[k]]
            if rec is None:
                rec = _lost(job, error or "no result")
            elif not (Path(job.folder) / RESULT).is_file():   # a worker that could not write it (see run_job)
                rec = _write_result(Path(job.folder), rec)
            failed += rec["status"] != "ok"
            records[todo[k]] = {**rec, "reused": False}
            bar.update(1)
            bar.set_postfix(failed=failed)
    return [records[i] for i in range(len(jobs))]


def _lost(job: Job, error: str) -> dict[str, Any]:
    folder = Path(job.folder)
    try:
        attempts = int((folder / ATTEMPTS).read_text().strip())
    except (OSError, ValueError):
        attempts = 0
    folder.mkdir(parents=True, exist_ok=True)
    return _write_result(folder, {"name": job.name, "spec": job.spec, "status": "failed", "attempts": attempts,
                                  "host": None, "pid": None, "threads": job.threads, "result": None,
                                  "error": error, "wall_s": None})


# ----------------------------------------------------------------------------- the sweep's trial


def train_compile_evaluate(trial: Trial, folder: Path) -> dict[str, Any]:
    """Train the trial's experiment into ``folder/train``; with a compile section, compile the model into
    ``folder/net`` and evaluate it on the trial's test split. Returns the figures of the results table."""
    from toolkit.training.experiment import run_experiment

    cfg = build(ExperimentConfig, trial.experiment, source=f"trial {trial.id}")
    res = run_experiment(cfg, folder / "train", progress=False, device=trial.device)
    last = res.history[-1]
    out: dict[str, Any] = {"test_acc": last["test_acc"], "epochs": last["epoch"],
                           "epoch1_acc": res.history[1]["test_acc"] if len(res.history) > 1 else None}
    if trial.compile is not None:
        out.update(_compile_and_evaluate(trial, cfg, folder))
    return out


def _compile_and_evaluate(trial: Trial, cfg: ExperimentConfig, folder: Path) -> dict[str, Any]:
    from compilers.driver import compile_checkpoint
    from compilers.passes import CompileOptions
    from toolkit.data import DataSource
    from toolkit.hw import load_hw
    from toolkit.runner import run as evaluate_network
    from toolkit.training.experiment import load_experiment_data

    assert trial.compile is not None
    c = build(CompileSection, trial.compile, source=f"trial {trial.id}", path="compile")
    e = build(EvaluateSection, trial.evaluate, source=f"trial {trial.id}", path="evaluate")
    train, test = load_experiment_data(cfg)
    calib = train.take(c.calibration_samples)
    opts = CompileOptions(hw=load_hw(c.hw), calibration=calib.x, mode=c.mode, percentile=c.percentile,
                          reset=c.reset, encoding=c.encoding,
                          timesteps=c.timesteps)
    source = DataSource(cfg.data.dataset, cfg.data.data_dir, cfg.data.onoff)
    graph, report = compile_checkpoint(folder / "train" / "model.pt", calib, opts, out_dir=folder / "net",
                                       source=source)
    ev = evaluate_network(graph, test, backend=e.backend, limit=e.limit)
    return {"compiled_acc": ev.accuracy, "compiled_n": ev.n, "timesteps": ev.timesteps,
            "cores": report["mapping"]["cores"]}


TrialFn = Callable[[Trial, Path], dict[str, Any]]


def run_sweep(plan: SweepPlan, out: str | Path, executor: Executor, *, progress: bool = True,
              trial_fn: TrialFn = train_compile_evaluate, command: str = "") -> dict[str, Any]:
    """Run (or finish) every trial of ``plan`` into ``out/trials/<id>/`` and return the results.

    ``trial_fn`` is the work of one trial; tests swap in one that kills its own worker, to check retries.
    """
    out = Path(out).absolute()
    jobs = [Job(name=t.id, folder=str(out / "trials" / t.id), spec=t.spec(), fn=trial_fn, arg=t, threads=t.threads)
            for t in plan.trials]
    t0 = time.perf_counter()
    records = run_jobs(jobs, executor, progress=progress, desc=f"sweep {plan.source.stem}")
    rows = [_row(t, r) for t, r in zip(plan.trials, records, strict=True)]
    return {"sweep": str(plan.source), "base": str(plan.base), "command": command,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "executor": executor.description,
            "settings": plan.config.to_dict(), "keys": list(plan.keys), "metric": _metric(plan),
            "n_trials": len(rows), "n_failed": sum(r["status"] != "ok" for r in rows),
            "n_reused": sum(bool(r["reused"]) for r in rows), "repeated_draws": plan.repeated_draws,
            "wall_s": time.perf_counter() - t0, "trials": rows, "points": _points_summary(plan, rows)}


_ROW_FIGURES = ("test_acc", "epoch1_acc", "compiled_acc")


def _row(t: Trial, rec: dict[str, Any]) -> dict[str, Any]:
    res = rec.get("result") or {}
    return {"id": t.id, "point": dict(t.point), "seed": t.seed, "status": rec["status"],
            **{k: res.get(k) for k in _ROW_FIGURES}, "attempts": rec.get("attempts"), "wall_s": rec.get("wall_s"),
            "host": rec.get("host"), "pid": rec.get("pid"), "reused": rec.get("reused", False),
            "error": rec.get("error")}


def _metric(plan: SweepPlan) -> str:
    return "compiled_acc" if plan.config.compile is not None else "test_acc"


def _points_summary(plan: SweepPlan, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    n_seeds = len(plan.config.seeds)
    out = []
    for start in range(0, len(rows), n_seeds):
        group = rows[start:start + n_seeds]
        ok = [r for r in group if r["status"] == "ok"]
        summary: dict[str, Any] = {"point": group[0]["point"], "label": point_label(group[0]["point"]),
                                   "seeds_ok": len(ok), "seeds": len(group)}
        for k in _ROW_FIGURES:
            vals = [r[k] for r in ok if r[k] is not None]
            summary[k] = statistics.fmean(vals) if vals else None
            summary[f"{k}_std"] = statistics.stdev(vals) if len(vals) > 1 else (0.0 if vals else None)
            summary[f"{k}_per_seed"] = vals
        out.append(summary)
    return out


# ----------------------------------------------------------------------------- outputs


def write_results(r: dict[str, Any], out: str | Path) -> list[Path]:
    """``results.json``, ``results.csv`` and ``results.png`` in ``out``, each written atomically."""
    out = Path(out)
    write_json(out / "results.json", r)
    _write_csv(out / "results.csv", r)
    _plot(out / "results.png", r)
    return [out / "results.json", out / "results.csv", out / "results.png"]


def _write_csv(path: Path, r: dict[str, Any]) -> None:
    keys = r["keys"]
    cols = ["id", *keys, "seed", "status", *_ROW_FIGURES, "attempts", "wall_s", "host", "pid", "reused", "error"]
    with atomic_write(path) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for row in r["trials"]:
            values = {**row, **{k: _cell(row["point"].get(k)) for k in keys}}
            w.writerow(["" if values.get(c) is None else values[c] for c in cols])


def _cell(v: Any) -> Any:
    return v if isinstance(v, (str, int, float)) else json.dumps(v)


def _plot(path: Path, r: dict[str, Any]) -> None:
    """The metric per point: a bar at the mean over seeds, each seed a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric, points = r["metric"], r["points"]
    xs = list(range(len(points)))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(points) + 2.0), 4.5), dpi=120)
    means = [p[metric] if p[metric] is not None else 0.0 for p in points]
    ax.bar(xs, means, color="tab:blue", alpha=0.35, label="mean over seeds")
    for x, p in zip(xs, points, strict=True):
        ys = p[f"{metric}_per_seed"]
        ax.plot([x] * len(ys), ys, "o", color="tab:blue", markersize=4, label="one seed" if x == 0 else None)
    ax.set_xticks(xs, [p["label"] for p in points], rotation=30, ha="right", fontsize=8)
    name = {"compiled_acc": "compiled test accuracy", "test_acc": "test accuracy"}[metric]
    ax.set(title=f"{Path(r['sweep']).name}: {name}", ylabel=name, ylim=(0.0, 1.0))
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def summary_lines(r: dict[str, Any]) -> list[str]:
    """A short table for the terminal: one line per point (mean ± std over its seeds), then the failures."""
    has_compiled = r["metric"] == "compiled_acc"
    width = max(10, *(len(p["label"]) for p in r["points"]))
    head = f"{'point':{width}s}  {'test acc':>15s}  {'after epoch 1':>15s}"
    lines = [head + (f"  {'compiled acc':>15s}" if has_compiled else "") + "  seeds ok"]
    for p in r["points"]:
        cols = [_pm(p, k) for k in (_ROW_FIGURES if has_compiled else _ROW_FIGURES[:2])]
        lines.append(f"{p['label']:{width}s}  " + "  ".join(f"{c:>15s}" for c in cols) +
                     f"  {p['seeds_ok']}/{p['seeds']}")
    lines += [f"failed: trial {t['id']} ({point_label(t['point'])}, seed {t['seed']}): {t['error']}"
              for t in r["trials"] if t["status"] != "ok"]
    return lines


def _pm(p: dict[str, Any], key: str) -> str:
    return "–" if p[key] is None else f"{p[key]:.4f} ± {p[f'{key}_std']:.4f}"
