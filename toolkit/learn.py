"""``toolkit.learn``: on-chip learning runs behind ``nfa learn``: the on-chip FA network
(``compilers.onchip``) learns a dataset by itself, in the reference simulator's stream engine or in Lava's
fixed-point simulator, optionally after on-chip noise pretraining, and is evaluated as it goes.

A run starts from random weights or, with ``start: {checkpoint: ...}``, from a network trained offline with
feedback alignment, continuing with the B it trained with (``compilers.onchip.from_offline``).

A run is *one continuous run of the chip*: the noise samples (if any), then every pass over the training
set, streamed through the learning network without a restart, as the chip would run them. The learned
weights are read back at chosen sample counts (every ``eval_every`` samples and at the end of each phase;
the runtime pauses there, nothing is reset) and the classifier inside the network (``forward_graph``) is
evaluated on the test set in the reference at each. Both backends read at the same global steps, so they
report the same integers (``tests/conformance``: the stream engine equals Lava's fixed-point models). At the
end the learned classifier is also evaluated in the backend that learned, and the predictions compared.

Why not restart the run between evaluations: Lava's learning engine rounds every update with one random
number per epoch from ``default_rng(2)``, whatever the rule's seed, so each new runtime replays the same
rounding sequence and its noise adds up coherently: measured on digits, separate runs of 250 samples
ended a pass at chance (0.10–0.27) where one continuous run reached 0.73–0.84, and a restart with only that
stream continued learned as well as the continuous run (docs/results/onchip.md). Reading the weights does
not disturb a running chip, so the curve is taken that way.

For the same reason a run *without* noise compared with one with it (``noise.compare``) first idles for as
many samples as the noise phase lasts (no input, no label: no spike, no weight changes, while the engine's
rounding stream advances one number per epoch as it does in the other run). Both data phases then meet the
same rounding numbers, and the comparison measures the noise, not where in that stream each data phase
started: unmatched, the first-pass accuracy of the same networks and data fell from 0.698 to 0.326 (mean of
seeds 0–9, digits) when only 2,000 idle samples came first (docs/results/onchip.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from toolkit import ir
from toolkit.config import LearnBackend, LearnConfig, ModelKind
from toolkit.data import Dataset, load_dataset
from toolkit.errors import DataError

__all__ = ["LearnRun", "learn", "learn_run", "start_spec", "write_learn_outputs"]


@dataclass
class LearnRun:
    """One seed, with or without the noise phase: its curve and final figures."""

    seed: int
    noise: bool
    curve: list[dict[str, Any]] = field(default_factory=list)     # samples, phase, accuracy, angle
    angles: dict[str, float] = field(default_factory=dict)        # W2ᵀ–B angle at start / after noise / each pass
    pass_accuracy: list[float] = field(default_factory=list)      # test accuracy after each pass (reference)
    final: dict[str, Any] = field(default_factory=dict)
    start: dict[str, Any] = field(default_factory=dict)           # the offline checkpoint it continued, if any
    wall_s: float = 0.0
    graph: ir.Graph | None = None

    @property
    def label(self) -> str:
        return f"seed {self.seed}, {'with' if self.noise else 'without'} noise"

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "noise": self.noise, "curve": [_finite(c) for c in self.curve],
                "angles": _finite(self.angles),
                "pass_accuracy": self.pass_accuracy, "final": self.final,
                **({"start": _finite(self.start)} if self.start else {}), "wall_s": round(self.wall_s, 2)}


def _flat(ds: Dataset) -> np.ndarray:
    return ds.x.reshape(len(ds), -1).astype(np.float64)


def _learner(backend: LearnBackend, progress: bool) -> Callable[..., Any]:
    """run(graph, inputs, seed, snapshot_at) in the backend that learns (with a progress bar over samples)."""
    if backend is LearnBackend.LAVA_SIM:
        from toolkit.backends.lava_sim import run_lava

        return lambda g, x, seed, at: run_lava(g, x, seed=seed, progress=progress, snapshot_at=at)
    from toolkit.backends.reference import simulate

    return lambda g, x, seed, at: simulate(g, x, seed=seed, engine="stream", snapshot_at=at, progress=progress)


def learn_run(cfg: LearnConfig, train: Dataset, test: Dataset, seed: int, noise: bool, *,
              start: tuple[Any, dict[str, Any]] | None = None, progress: bool = False) -> LearnRun:
    """One on-chip learning run (see the module doc), from random weights or from ``start``, the spec converted
    from ``cfg.start``'s checkpoint and what to report of it (``start_spec``)."""
    from compilers.onchip import (
        OnChipFA,
        build_onchip_fa,
        forward_graph,
        w_b_angle,
        with_weights,
    )
    from toolkit.backends.reference import simulate

    t0 = time.perf_counter()
    run = LearnRun(seed=seed, noise=noise)
    if start is None:
        spec = OnChipFA(n_in=int(np.prod(train.shape)), n_classes=train.n_classes, seed=seed, **_spec_kwargs(cfg))
    else:
        spec = replace(start[0], seed=seed)
        run.start = dict(start[1])
    graph = build_onchip_fa(spec)
    x_test, y_test = _flat(test), test.y
    phases = _phases(cfg, spec, train, seed, noise)
    marks, ends = _marks(phases, cfg.eval_every)
    stream = {k: np.concatenate([inp[k] for _, inp in phases]) for k in ("x", "label")}
    res = _learner(cfg.backend, progress)(graph, stream, seed, [m for m, _ in marks[:-1]])
    weights = [snap["weights"] for snap in res.snapshots] + [{k: v["weight"] for k, v in res.learned.items()}]
    noise_n = len(phases[0][1]["x"]) if phases[0][0] in ("noise", "idle") else 0

    def at(w: dict[str, np.ndarray]) -> ir.Graph:
        return with_weights(graph, {k: {"weight": v} for k, v in w.items()})

    def evaluate(g: ir.Graph) -> Any:
        return simulate(forward_graph(g), x_test)

    run.angles["start"] = w_b_angle(graph, spec)
    run.curve.append({"samples": -noise_n, "phase": "start", "accuracy": evaluate(graph).accuracy(y_test),
                      "angle": run.angles["start"]})
    for (mark, phase), w in zip(marks, weights, strict=True):
        g = at(w)
        last = evaluate(g)
        acc = last.accuracy(y_test)
        run.curve.append({"samples": mark - noise_n, "phase": "noise" if phase == "noise" else "data",
                          "accuracy": acc, "angle": w_b_angle(g, spec)})
        if (mark, phase) in ends:
            key = "after_noise" if phase == "noise" else f"after_{phase.replace(' ', '_')}"
            run.angles[key] = w_b_angle(g, spec)
            if phase.startswith("pass"):
                run.pass_accuracy.append(acc)
    graph = at(weights[-1])
    run.final = _final(cfg, forward_graph(graph), last, x_test, y_test, progress)
    run.wall_s = time.perf_counter() - t0
    run.graph = graph
    return run


Phase = tuple[str, dict[str, np.ndarray]]


def _phases(cfg: LearnConfig, spec: Any, train: Dataset, seed: int, noise: bool) -> list[Phase]:
    """The run's input phases in order: noise (or, for the compared run without it, idling as long), then the
    passes over the training set, each in its own seeded order."""
    from compilers.onchip import idle_inputs, noise_inputs, train_inputs

    phases: list[Phase] = []
    if noise:
        phases.append(("noise", noise_inputs(spec, cfg.noise.samples, seed, pool=cfg.noise.pool)))
    elif cfg.noise.samples and cfg.noise.compare:   # the matched control: idle while the other run sees noise
        phases.append(("idle", idle_inputs(spec, cfg.noise.samples)))
    x_train = _flat(train)
    for p in range(cfg.passes):
        order = np.random.default_rng([seed, p]).permutation(len(train))
        phases.append((f"pass {p + 1}", train_inputs(spec, x_train[order], train.y[order])))
    return phases


def _marks(phases: list[Phase], every: int) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(sample count, phase) of every weight read (each ``every`` samples and each phase's end) and of the phase
    ends; nothing is read while idling (nothing changes)."""
    marks, ends, total = [], [], 0
    for name, inputs in phases:
        n = len(inputs["x"])
        if name != "idle":
            marks += [(total + k, name) for k in range(every, n, every)] if every else []
            marks.append((total + n, name))
            ends.append((total + n, name))
        total += n
    return marks, ends


def _spec_kwargs(cfg: LearnConfig) -> dict[str, Any]:
    kw = asdict(cfg.network)
    kw["n_hidden"] = kw.pop("hidden")
    return kw


def _final(cfg: LearnConfig, fwd: ir.Graph, ref: Any, x: np.ndarray, y: np.ndarray, progress: bool) -> dict[str, Any]:
    """Test accuracy of the learned classifier ``fwd`` in the reference (its result ``ref``, from the curve's last
    point) and, if it learned in Lava, in Lava."""
    out: dict[str, Any] = {"reference_accuracy": ref.accuracy(y), "test_samples": len(y)}
    if cfg.backend is LearnBackend.LAVA_SIM:
        from toolkit.backends.lava_sim import run_lava

        lava = run_lava(fwd, x, progress=progress)
        out["lava_accuracy"] = lava.accuracy(y)
        out["same_predictions"] = bool(np.array_equal(lava.predictions, ref.predictions))
        out["same_counts"] = bool(np.array_equal(lava.scores, ref.scores))
    return out


def learn(cfg: LearnConfig, *, progress: bool = True) -> list[LearnRun]:
    """Every run of ``cfg``: each seed with the noise phase if it has one, and without it if ``noise.compare``."""
    train, test = load_dataset(cfg.data.dataset, data_dir=cfg.data.data_dir, onoff=cfg.data.onoff)
    if cfg.data.train_limit:
        train = train.take(cfg.data.train_limit)
    test = test.take(cfg.test_limit)
    if not len(train) or not len(test):
        raise DataError(f"{cfg.data.dataset}: on-chip learning needs training and test samples "
                        f"(got {len(train)} and {len(test)})")
    variants = [cfg.noise.samples > 0] + ([False] if cfg.noise.samples > 0 and cfg.noise.compare else [])
    start = start_spec(cfg, train)
    return [learn_run(cfg, train, test, seed, noise, start=start, progress=progress)
            for seed in cfg.seeds for noise in variants]


def start_spec(cfg: LearnConfig, train: Dataset) -> tuple[Any, dict[str, Any]] | None:
    """The on-chip spec converted once from ``cfg.start``'s checkpoint (front end ``from_torch``, which keeps each
    layer's B, then ``from_offline`` on the training set) and what the report says of it; None to start from random
    weights. Each run then only sets its seed."""
    if cfg.start.checkpoint is None:
        return None
    from compilers.frontend import from_torch
    from compilers.onchip import OnChipFA, feedback_angle, from_offline
    from toolkit.errors import ConfigError
    from toolkit.training.checkpoint import load_checkpoint

    model, arch, _ = load_checkpoint(cfg.start.checkpoint)
    if arch.kind is not ModelKind.MLP or len(arch.hidden) != 1:
        raise ConfigError(f"start.checkpoint: {cfg.start.checkpoint} is a {arch.kind.value} with hidden layers "
                          f"{list(arch.hidden)}; the on-chip network continues an MLP with exactly one hidden layer "
                          "(train one with model: {kind: mlp, hidden: [100]})")
    offline = from_torch(model, arch.in_shape)
    base = OnChipFA(n_in=int(np.prod(train.shape)), n_classes=train.n_classes, **_spec_kwargs(cfg))
    spec = from_offline(offline, base, _flat(train), percentile=cfg.start.percentile)
    return spec, {"checkpoint": cfg.start.checkpoint, "hidden": spec.n_hidden, "vth_hidden": spec.vth_hidden,
                  "vth_output": spec.vth_output, "feedback_register_angle": feedback_angle(offline, spec)}


def _curve_points(run: LearnRun) -> tuple[list[float], list[float]]:
    """(training samples, test accuracy) over the data phase; the noise phase is before sample 0."""
    pts = [c for c in run.curve if c["samples"] >= 0]
    return [c["samples"] for c in pts], [c["accuracy"] for c in pts]


def write_learn_outputs(cfg: LearnConfig, runs: list[LearnRun], out: str | Path) -> list[Path]:
    """``out/report.json`` (config, every run's curve, angles and final figures), ``out/accuracy.png`` (test accuracy
    over training samples, each run with and without noise), and each run's learned network
    ``out/seed<S>-<noise|no-noise>/network.nfa`` (the whole learning graph, weights as learned). Each file is
    written atomically."""
    from toolkit.fsutil import write_json
    from toolkit.plots import plot_curves

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in runs:
        assert r.graph is not None
        folder = out / f"seed{r.seed}-{'noise' if r.noise else 'no-noise'}"
        folder.mkdir(exist_ok=True)
        paths.append(ir.save_graph(r.graph, folder / "network.nfa"))
    report = {"config": cfg.to_dict(), "runs": [r.to_json() for r in runs], "summary": _summary(runs)}
    write_json(out / "report.json", report)
    paths.append(out / "report.json")
    curves = {r.label: _curve_points(r) for r in runs}
    paths.append(plot_curves(out / "accuracy.png", curves, title=f"on-chip FA learning, {cfg.data.dataset} "
                             f"({cfg.backend.value})", xlabel="training samples", ylabel="test accuracy",
                             ylim=(0.0, 1.0)))
    return paths


def _summary(runs: list[LearnRun]) -> dict[str, Any]:
    """Mean and spread over seeds of the accuracy after each pass, and of the angles, per variant."""
    out: dict[str, Any] = {}
    for noise in (True, False):
        sel = [r for r in runs if r.noise is noise]
        if not sel:
            continue
        acc = np.array([r.pass_accuracy for r in sel])
        out["with_noise" if noise else "without_noise"] = {
            "seeds": [r.seed for r in sel],
            "pass_accuracy_mean": acc.mean(axis=0).tolist(), "pass_accuracy_std": acc.std(axis=0).tolist(),
            "angles_mean": _finite({k: _mean([r.angles.get(k, np.nan) for r in sel]) for k in sel[0].angles}),
        }
    return out


def _mean(values: list[float]) -> float:
    """Mean of the finite values (an angle is NaN while W2 is zero); NaN if none."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    """NaN (an angle while W2 is zero) as None, which JSON can hold."""
    return {k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in d.items()}
