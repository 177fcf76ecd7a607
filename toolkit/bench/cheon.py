"""BP, FA and FA after noise pretraining side by side on one dataset (Cheon, Lee & Paik, NeurIPS 2024).

For every method and seed: the same architecture, data, optimiser and number of data epochs;
the only differences are the rule and whether a noise phase comes first. Measured per method
(mean ± std over seeds): final test accuracy, accuracy after the first data epoch, data epochs
to reach 95% of BP's final accuracy, ∠(Wᵀ, B) and ∠(δ, δ_BP) per layer at initialisation, at the
start of data training (after the noise phase, if any) and at the end, effective dimensionality
per layer, accuracy on out-of-distribution views of the test set, and the meta-loss of
adaptation to new tasks (definitions in docs/training.md). ``--rules all`` adds every rule.

``--workers N`` runs each (method, seed) as a trial of ``toolkit.sweep`` on Ray, each in its folder under
``OUT/trials/`` (a rerun of the same command finishes only what did not), with the same per-trial results as
the default sequential run: every run seeds its own generators and uses ``--threads`` torch threads.
"""

from __future__ import annotations

import argparse
import functools
import math
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.argtypes import at_least

if TYPE_CHECKING:
    import torch

    from toolkit.data import Dataset
    from toolkit.sweep import Executor, Job
    from toolkit.training import Arch, NoiseConfig

__all__ = ["CheonSettings", "add_arguments", "run", "run_benchmark", "settings_for", "to_markdown"]

#: method name -> (rule value, noise phase first?)
METHODS: dict[str, tuple[str, bool]] = {
    "bp": ("bp", False), "fa": ("fa", False), "fa+noise": ("fa", True),
    "dfa": ("dfa", False), "sign": ("sign", False), "brsf": ("brsf", False), "frsf": ("frsf", False),
    "kp": ("kp", False), "wm": ("wm", False),
    "pc": ("pc", False), "zil": ("zil", False), "pc-fa": ("pc-fa", False), "pc-fa+noise": ("pc-fa", True),
}
CORE = ("bp", "fa", "fa+noise")
TARGET_FRACTION = 0.95
ADAPT_CURVE = (0, 10, 25, 50, 100, 200)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheonSettings:
    """Everything that defines a benchmark run (written into results.json)."""

    dataset: str
    data_dir: str | None = None
    seeds: int = 3
    methods: tuple[str, ...] = CORE
    hidden: tuple[int, ...] = (100, 100)
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    noise_steps: int = 3000
    noise_batch_size: int = 64
    noise_lr: float = 1e-3
    noise_pool: int = 10000
    train_limit: int | None = None
    probe_size: int = 256
    ood_limit: int | None = None
    adapt_tasks: int = 3
    adapt_steps: int = 100
    adapt_eval_limit: int = 2000
    quick: bool = False
    device: str = "cpu"   #: ``toolkit.training.device``: cpu, cuda[:N] or auto (a setting: results depend on it)

    def noise(self) -> NoiseConfig:
        from toolkit.training import NoiseConfig

        return NoiseConfig(steps=self.noise_steps, batch_size=self.noise_batch_size, lr=self.noise_lr,
                           pool_size=self.noise_pool)


def settings_for(dataset: str, *, quick: bool = False, **overrides: Any) -> CheonSettings:
    """Defaults per dataset (digits: the 64-100-100-10 MLP; 28x28 images: 784-256-256-10)."""
    base = CheonSettings(dataset=dataset, quick=quick)
    if dataset != "digits":
        # batch 128: with batch 32 the noise phase's head start on Fashion-MNIST was within seed noise after
        # one epoch (docs/training.md lists what was tried)
        base = replace(base, hidden=(256, 256), epochs=10, batch_size=128, probe_size=512)
    if quick:
        base = replace(base, epochs=5 if dataset == "digits" else 2, noise_steps=1000, adapt_tasks=2,
                       adapt_steps=50, train_limit=None if dataset == "digits" else 10000,
                       ood_limit=None if dataset == "digits" else 2000, adapt_eval_limit=1000)
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **given)


# ----------------------------------------------------------------------------- one run


@dataclass(slots=True)
class _Data:
    train: Dataset
    test: Dataset
    views: dict[str, Dataset]
    probe: tuple[torch.Tensor, torch.Tensor]


def _load(s: CheonSettings) -> _Data:
    from toolkit.data import load_dataset
    from toolkit.training.trainer import _tensors

    train, test = load_dataset(s.dataset, data_dir=s.data_dir, seed=0)
    train = train.take(s.train_limit)
    return _Data(train=train, test=test, views=_views(test, s.ood_limit), probe=_tensors(train.take(s.probe_size)))


def _views(test: Dataset, limit: int | None) -> dict[str, Dataset]:
    """The OOD views, or none if the samples are not single-channel square images (e.g. some .npz data)."""
    from toolkit.data import ood_views
    from toolkit.errors import DataError

    try:
        return ood_views(test, seed=0, limit=limit)
    except DataError:
        return {}


def _run_one(s: CheonSettings, method: str, seed: int, data: _Data, progress: bool) -> dict[str, Any]:
    from toolkit.training import Arch, Rule, TrainConfig, build_model, evaluate, fit, layer_metrics, pretrain_on_noise
    from toolkit.training.device import resolve_device

    rule_value, noise = METHODS[method]
    arch = Arch(in_shape=data.train.shape, hidden=s.hidden, n_classes=data.train.n_classes, rule=Rule(rule_value))
    model = build_model(arch, seed=seed).to(resolve_device(s.device))   # drawn on the CPU, then moved
    rec: dict[str, Any] = {"seed": seed, "init": layer_metrics(model, data.probe)}
    t0 = time.perf_counter()
    if noise:
        log = pretrain_on_noise(model, arch.in_shape, arch.n_classes, s.noise(), seed=seed, progress=progress)
        rec["noise_log"] = [{"step": r["step"], "loss": r["loss"], "angles": r["angles"]} for r in log]
    rec["after_noise"] = layer_metrics(model, data.probe)
    rec["noise_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    history = fit(model, data.train, data.test, TrainConfig(epochs=s.epochs, batch_size=s.batch_size, lr=s.lr),
                  seed=seed, progress=progress, desc=f"{method} seed {seed}",
                  on_epoch=lambda _e, m: {"layers": layer_metrics(m, data.probe)})
    rec["train_s"] = time.perf_counter() - t0
    rec["test_acc"] = [r["test_acc"] for r in history]
    rec["test_loss"] = [r["test_loss"] for r in history]
    rec["epoch_layers"] = [r["layers"] for r in history]
    rec["final"] = history[-1]["layers"]
    rec["ood_acc"] = {k: evaluate(model, v) for k, v in data.views.items()}
    rec.update(_adaptation(s, arch, model, data, seed))
    return rec


def _adaptation(s: CheonSettings, arch: Arch, model: torch.nn.Module, data: _Data, seed: int) -> dict[str, Any]:
    """Meta-loss: test cross-entropy after ``adapt_steps`` steps on each of ``adapt_tasks`` label-permuted tasks."""
    import numpy as np
    import torch

    from toolkit.data import Dataset
    from toolkit.training import OptimizerKind, RuleStepper, build_model, evaluate_loss
    from toolkit.training.device import device_of
    from toolkit.training.trainer import _tensors, make_gradient_step, make_optimizer

    curves: list[list[float]] = []
    accs: list[float] = []
    steps = [c for c in ADAPT_CURVE if c < s.adapt_steps] + [s.adapt_steps]
    for t in range(s.adapt_tasks):
        perm = np.random.default_rng([seed, 1000 + t]).permutation(arch.n_classes)
        train = Dataset(name="task", x=data.train.x, y=perm[data.train.y], n_classes=arch.n_classes)
        test = Dataset(name="task", x=data.test.x, y=perm[data.test.y], n_classes=arch.n_classes).take(
            s.adapt_eval_limit)
        m = build_model(arch, seed=seed).to(device_of(model))
        m.load_state_dict(model.state_dict())
        opt = make_optimizer(m, OptimizerKind.ADAM, s.lr)
        stepper = RuleStepper(m, seed=seed + t)
        grads = make_gradient_step(m)
        gen = torch.Generator().manual_seed(seed * 7919 + t)
        x, y = _tensors(train, device_of(m))
        curve = [evaluate_loss(m, test)[0]]
        for step in range(1, s.adapt_steps + 1):
            m.train()
            idx = torch.randint(0, x.shape[0], (s.batch_size,), generator=gen).to(x.device)
            opt.zero_grad(set_to_none=True)
            grads(x[idx], y[idx])
            opt.step()
            if stepper.active:
                stepper()
            if step in steps:
                curve.append(evaluate_loss(m, test)[0])
        curves.append(curve)
        accs.append(evaluate_loss(m, test)[1])
    mean_curve = [statistics.fmean(c[i] for c in curves) for i in range(len(steps))]
    return {"meta_loss": mean_curve[-1], "meta_loss_curve": {"steps": steps, "loss": mean_curve},
            "adapt_acc": statistics.fmean(accs)}


# ----------------------------------------------------------------------------- aggregation


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def _layer_means(rows_per_seed: list[list[dict[str, Any]]], key: str) -> list[float | None]:
    out: list[float | None] = []
    for i in range(len(rows_per_seed[0])):
        vals = [rows[i][key] for rows in rows_per_seed if rows[i][key] is not None]
        out.append(statistics.fmean(vals) if vals else None)
    return out


def _epochs_to(accs: list[float], target: float) -> int | None:
    return next((e for e, a in enumerate(accs) if e > 0 and a >= target), None)


def _aggregate(runs: list[dict[str, Any]], target: float) -> dict[str, Any]:
    final_m, final_s = _mean_std([r["test_acc"][-1] for r in runs])
    ep1_m, ep1_s = _mean_std([r["test_acc"][1] for r in runs])
    to_target = [_epochs_to(r["test_acc"], target) for r in runs]
    reached = [e for e in to_target if e is not None]
    meta_m, meta_s = _mean_std([r["meta_loss"] for r in runs])
    views = list(runs[0]["ood_acc"])
    n_epochs = len(runs[0]["test_acc"])
    return {
        "final_acc": final_m, "final_acc_std": final_s, "epoch1_acc": ep1_m, "epoch1_acc_std": ep1_s,
        "epochs_to_target": statistics.fmean(reached) if len(reached) == len(runs) else None,
        "epochs_to_target_per_seed": to_target,
        "angle_init": _layer_means([r["init"] for r in runs], "angle_wb"),
        "angle_before": _layer_means([r["init"] for r in runs], "angle_wb"),
        "angle_after": _layer_means([r["after_noise"] for r in runs], "angle_wb"),
        "angle_final": _layer_means([r["final"] for r in runs], "angle_wb"),
        "delta_angle_before": _layer_means([r["init"] for r in runs], "angle_delta"),
        "delta_angle_after": _layer_means([r["after_noise"] for r in runs], "angle_delta"),
        "delta_angle_final": _layer_means([r["final"] for r in runs], "angle_delta"),
        "eff_dim": _layer_means([r["final"] for r in runs], "eff_dim"),
        "eff_dim_init": _layer_means([r["init"] for r in runs], "eff_dim"),
        "eff_dim_after_noise": _layer_means([r["after_noise"] for r in runs], "eff_dim"),
        "ood_acc": {v: statistics.fmean(r["ood_acc"][v] for r in runs) for v in views},
        "ood_acc_mean": statistics.fmean(statistics.fmean(r["ood_acc"].values()) for r in runs) if views else None,
        "meta_loss": meta_m, "meta_loss_std": meta_s,
        "meta_loss_curve": {"steps": runs[0]["meta_loss_curve"]["steps"],
                            "loss": [statistics.fmean(r["meta_loss_curve"]["loss"][i] for r in runs)
                                     for i in range(len(runs[0]["meta_loss_curve"]["steps"]))]},
        "adapt_acc": statistics.fmean(r["adapt_acc"] for r in runs),
        "test_acc_per_epoch": [statistics.fmean(r["test_acc"][e] for r in runs) for e in range(n_epochs)],
        "noise_s": statistics.fmean(r["noise_s"] for r in runs),
        "train_s": statistics.fmean(r["train_s"] for r in runs),
        "seeds": runs,
    }


def _claims(methods: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The paper's claims, checked on the numbers of this run (True/False plus the figures)."""
    bp, fa, fn = methods["bp"], methods["fa"], methods["fa+noise"]
    before = [a for a in fn["angle_before"] if a is not None]
    after = [a for a in fn["angle_after"] if a is not None]
    return {
        "noise_beats_fa_epoch1": fn["epoch1_acc"] > fa["epoch1_acc"],
        "noise_beats_fa_final": fn["final_acc"] > fa["final_acc"],
        "angle_falls_in_noise_phase": bool(after) and all(a < b for a, b in zip(after, before, strict=True)),
        "delta_angle_falls_in_noise_phase": all(
            a < b for a, b in zip(fn["delta_angle_after"], fn["delta_angle_before"], strict=True)
            if a is not None and b is not None),
        "gap_to_bp_final_points": 100.0 * (bp["final_acc"] - fn["final_acc"]),
        "gap_to_bp_final_points_fa": 100.0 * (bp["final_acc"] - fa["final_acc"]),
        "lower_eff_dim_than_fa": statistics.fmean(fn["eff_dim"]) < statistics.fmean(fa["eff_dim"]),
        "noise_phase_lowers_eff_dim": (statistics.fmean(fn["eff_dim_after_noise"])
                                       < statistics.fmean(fn["eff_dim_init"])),
        "better_ood_than_fa": fn["ood_acc_mean"] > fa["ood_acc_mean"] if fn["ood_acc_mean"] is not None else None,
        "lower_meta_loss_than_fa": fn["meta_loss"] < fa["meta_loss"],
    }


def run_benchmark(s: CheonSettings, *, progress: bool = True, command: str = "", executor: Executor | None = None,
                  trials_dir: Path | None = None, threads: int = 1) -> dict[str, Any]:
    """Run every method for every seed; return the results dict written to results.json.

    Without ``executor``, one run after another in this process. With one, each run is a job in its folder
    under ``trials_dir`` (reused if it finished before with the same settings), with ``threads`` torch threads.
    """
    t0 = time.perf_counter()
    data = _load(s)
    if executor is None:
        per_method = {method: [_run_one(s, method, seed, data, progress) for seed in range(s.seeds)]
                      for method in s.methods}
    elif trials_dir is None:
        raise TypeError("run_benchmark: an executor needs trials_dir, the folder of the per-run records")
    else:
        per_method = _run_as_jobs(s, executor, trials_dir, threads=threads, progress=progress)
    bp_final = statistics.fmean(r["test_acc"][-1] for r in per_method["bp"])
    target = TARGET_FRACTION * bp_final
    methods = {m: _aggregate(runs, target) for m, runs in per_method.items()}
    return {
        "benchmark": "cheon", "command": command,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": _cpus(), "torch_threads": _threads() if executor is None else threads,
                    "device": _device(s.device),
                    "executor": "sequentially in this process" if executor is None else executor.description},
        "dataset": s.dataset, "n_train": len(data.train), "n_test": len(data.test), "in_shape": list(data.train.shape),
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()},
        "target_fraction": TARGET_FRACTION, "bp_target_acc": target,
        "layers": [r["layer"] for r in per_method["bp"][0]["init"]],
        "methods": methods, "claims": _claims(methods), "wall_s": time.perf_counter() - t0,
    }


def _jobs(s: CheonSettings, trials_dir: Path, threads: int) -> list[Job]:
    """One job per (method, seed); its spec leaves out what does not change that run (how many seeds, which
    other methods), so adding a seed or a method to a finished benchmark runs only the new runs."""
    from toolkit.sweep import Job

    where = replace(s, data_dir=None if s.data_dir is None else str(Path(s.data_dir).absolute()),
                    dataset=str(Path(s.dataset).absolute()) if s.dataset.endswith(".npz") else s.dataset)
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(where).items()
                if k not in ("seeds", "methods", "quick")}
    return [Job(name=f"{method}-seed{seed}", folder=str(Path(trials_dir).absolute() / f"{method}-seed{seed}"),
                spec={"benchmark": "cheon", "settings": settings, "method": method, "seed": seed, "threads": threads},
                fn=_job, arg=(where, method, seed), threads=threads)
            for method in s.methods for seed in range(s.seeds)]


def _run_as_jobs(s: CheonSettings, executor: Executor, trials_dir: Path, *, threads: int,
                 progress: bool) -> dict[str, list[dict[str, Any]]]:
    from toolkit.errors import ToolkitError
    from toolkit.sweep import run_jobs

    jobs = _jobs(s, trials_dir, threads)
    records = run_jobs(jobs, executor, progress=progress, desc="bench cheon")
    failed = [(job, r) for job, r in zip(jobs, records, strict=True) if r["status"] != "ok"]
    if failed:
        job, r = failed[0]
        raise ToolkitError(f"{job.folder}: run {job.name} failed ({r['error']}); {len(failed)} of {len(jobs)} "
                           "failed, see their result.json; rerun the same command to retry only the unfinished runs")
    per_method: dict[str, list[dict[str, Any]]] = {}
    for job, r in zip(jobs, records, strict=True):
        per_method.setdefault(job.arg[1], []).append(r["result"])
    return per_method


def _job(arg: tuple[CheonSettings, str, int], folder: Path) -> dict[str, Any]:
    """One (method, seed) run as a job (``toolkit.sweep.run_job`` sets the threads and writes the record)."""
    s, method, seed = arg
    return _run_one(s, method, seed, _load_cached(s), progress=False)


@functools.lru_cache(maxsize=1)
def _load_cached(s: CheonSettings) -> _Data:
    """The data, loaded once per worker process for all the runs it is given of one benchmark."""
    return _load(s)


def _device(spec: str) -> str:
    from toolkit.training.device import describe_device, resolve_device

    return describe_device(resolve_device(spec)).split(" (")[0]   # the device, not this process's threads


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# ----------------------------------------------------------------------------- report


def _f(v: float | None, fmt: str = ".3f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _angles(vals: list[float | None]) -> str:
    shown = [v for v in vals if v is not None]
    return "–" if not shown else " / ".join(f"{v:.0f}°" for v in shown)


def to_markdown(r: dict[str, Any], *, plots: dict[str, str] | None = None) -> str:
    """The results as markdown: command and date, the tables, the claims, the plots."""
    methods, layers, c = r["methods"], r["layers"], r["claims"]
    st = r["settings"]
    lines = [f"# Cheon et al. 2024 side by side: {r['dataset']}", "",
             f"Produced by `{r['command']}` on {r['date']} ({r['machine']['cpus']} CPUs{_executor(r)}, Python "
             f"{r['machine']['python']}; wall time {r['wall_s'] / 60:.1f} min).", "",
             f"MLP {'-'.join(map(str, [math.prod(r['in_shape']), *st['hidden']]))}-10, Adam lr {st['lr']}, batch "
             f"{st['batch_size']}, {st['epochs']} data epochs on {r['n_train']} training images, {st['seeds']} seeds "
             f"(mean ± std); noise phase: {st['noise_steps']} steps of batch {st['noise_batch_size']} from a fixed "
             f"pool of {st['noise_pool']} N(0, 1) inputs with uniformly random labels, Adam lr {st['noise_lr']}. "
             f"Test set: {r['n_test']} images.", "",
             "## Accuracy and learning speed", "",
             f"| method | final test acc | after epoch 1 | epochs to {100 * r['target_fraction']:.0f}% of BP "
             f"({r['bp_target_acc']:.3f}) | meta-loss (adapt acc) |",
             "|---|---|---|---|---|"]
    for name, m in methods.items():
        per_seed = ", ".join("–" if e is None else str(e) for e in m["epochs_to_target_per_seed"])
        lines.append(f"| {name} | {m['final_acc']:.4f} ± {m['final_acc_std']:.4f} | {m['epoch1_acc']:.4f} ± "
                     f"{m['epoch1_acc_std']:.4f} | {_f(m['epochs_to_target'], '.1f')} ({per_seed}) | "
                     f"{m['meta_loss']:.3f} ± {m['meta_loss_std']:.3f} ({m['adapt_acc']:.3f}) |")
    lines += _alignment_table(methods, layers) + _ood_table(methods) + _claims_text(c, methods, layers, st)
    if plots:
        lines += ["", "## Plots", ""] + [f"![{k}]({v})" for k, v in plots.items()]
    return "\n".join(lines) + "\n"


def _executor(r: dict[str, Any]) -> str:
    how = r["machine"].get("executor", "")
    return "" if not how or how.startswith("sequentially") else f", {how}"


def _alignment_table(methods: dict[str, Any], layers: list[str]) -> list[str]:
    above = " / ".join(layers[1:])
    below = " / ".join(layers[:-1])
    lines = ["", "## Alignment with backprop and effective dimensionality", "",
             f"∠(Wᵀ, B) for layers {above}; ∠(δ, δ_BP) for layers {below} on a fixed probe batch of training "
             "images; effective dimensionality (participation ratio of singular values) for layers "
             f"{' / '.join(layers)}. *start* = when data training starts (after the noise phase, if any).", "",
             "| method | ∠(Wᵀ,B) init | ∠(Wᵀ,B) start | ∠(Wᵀ,B) end | ∠(δ,δ_BP) init | ∠(δ,δ_BP) start | "
             "∠(δ,δ_BP) end | eff. dim start | eff. dim end |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, m in methods.items():
        eff_start = " / ".join(f"{v:.1f}" for v in m["eff_dim_after_noise"])
        eff_end = " / ".join(f"{v:.1f}" for v in m["eff_dim"])
        lines.append(f"| {name} | {_angles(m['angle_before'])} | {_angles(m['angle_after'])} | "
                     f"{_angles(m['angle_final'])} | {_angles(m['delta_angle_before'][:-1])} | "
                     f"{_angles(m['delta_angle_after'][:-1])} | {_angles(m['delta_angle_final'][:-1])} | "
                     f"{eff_start} | {eff_end} |")
    return lines


def _ood_table(methods: dict[str, Any]) -> list[str]:
    views = list(next(iter(methods.values()))["ood_acc"])
    if not views:
        return ["", "## Out-of-distribution test views", "",
                "Not measured: the samples are not single-channel square images."]
    lines = ["", "## Out-of-distribution test views", "",
             "Parameters in docs/training.md (translation ±round(S/7) px, zoom 0.7–1.3, rotation ±30°). USPS is "
             "not available offline and is not included.", "",
             "| method | " + " | ".join(views) + " | mean |", "|---|" + "---|" * (len(views) + 1)]
    for name, m in methods.items():
        lines.append(f"| {name} | " + " | ".join(f"{m['ood_acc'][v]:.4f}" for v in views) +
                     f" | {m['ood_acc_mean']:.4f} |")
    return lines


def _claims_text(c: dict[str, Any], methods: dict[str, Any], layers: list[str], st: dict[str, Any]) -> list[str]:
    fa, fn, bp = methods["fa"], methods["fa+noise"], methods["bp"]

    def yn(b: bool | None) -> str:
        return "not measured" if b is None else "**yes**" if b else "**no**"

    pairs = [(n, a, b) for n, a, b in zip(layers, fn["angle_before"], fn["angle_after"], strict=True)
             if a is not None and b is not None]
    moved = ", ".join(f"{n} {a:.1f}° → {b:.1f}°" for n, a, b in pairs)
    return ["", "## The claims, checked on these numbers", "",
            f"1. ∠(Wᵀ, B) falls during the noise phase: {yn(c['angle_falls_in_noise_phase'])} ({moved}); "
            f"∠(δ, δ_BP) falls: {yn(c['delta_angle_falls_in_noise_phase'])}.",
            f"2. FA + noise beats FA after the first epoch: {yn(c['noise_beats_fa_epoch1'])} "
            f"({fn['epoch1_acc']:.4f} vs {fa['epoch1_acc']:.4f}); at the end: {yn(c['noise_beats_fa_final'])} "
            f"({fn['final_acc']:.4f} vs {fa['final_acc']:.4f}). Gap to BP at the end: "
            f"{c['gap_to_bp_final_points']:.2f} points with noise, {c['gap_to_bp_final_points_fa']:.2f} without "
            f"(BP {bp['final_acc']:.4f}).",
            f"3. Lower effective dimensionality than FA (mean over layers, end of training): "
            f"{yn(c['lower_eff_dim_than_fa'])} ({statistics.fmean(fn['eff_dim']):.1f} vs "
            f"{statistics.fmean(fa['eff_dim']):.1f}); the noise phase itself lowers it: "
            f"{yn(c['noise_phase_lowers_eff_dim'])} ("
            + ", ".join(f"{n} {a:.1f} → {b:.1f}" for n, a, b in
                        zip(layers, fn["eff_dim_init"], fn["eff_dim_after_noise"], strict=True)) + ").",
            f"4. Better out-of-distribution accuracy than FA (mean of the views): {yn(c['better_ood_than_fa'])} "
            f"({_f(fn['ood_acc_mean'], '.4f')} vs {_f(fa['ood_acc_mean'], '.4f')}).",
            f"5. Lower meta-loss than FA (test cross-entropy after {st['adapt_steps']} adaptation steps on "
            f"{st['adapt_tasks']} label-permuted tasks): {yn(c['lower_meta_loss_than_fa'])} "
            f"({fn['meta_loss']:.3f} vs {fa['meta_loss']:.3f})."]


def write_outputs(r: dict[str, Any], out: Path, *, json_path: Path | None = None,
                  report: Path | None = None) -> list[Path]:
    """results.json, results.md and the plots in ``out``; optionally a copy of the JSON and a report elsewhere."""
    from toolkit.fsutil import atomic_write, write_json
    from toolkit.training.experiment import json_safe

    r = json_safe(r)
    written = [out / "results.json"]
    write_json(out / "results.json", r)
    plots = _plots(r, out, prefix="")
    with atomic_write(out / "results.md") as f:
        f.write(to_markdown(r, plots={k: p.name for k, p in plots.items()}))
    written += [out / "results.md", *plots.values()]
    if json_path is not None:
        write_json(json_path, r)
        written.append(json_path)
    if report is not None:
        rplots = _plots(r, report.parent, prefix=report.stem + "-")
        with atomic_write(report) as f:
            f.write(to_markdown(r, plots={k: p.name for k, p in rplots.items()}))
        written += [report, *rplots.values()]
    return written


def _plots(r: dict[str, Any], folder: Path, *, prefix: str) -> dict[str, Path]:
    from toolkit.plots import plot_curves

    methods = r["methods"]
    paths = {"test accuracy per epoch": folder / f"{prefix}accuracy.png"}
    curves = {m: (list(range(len(v["test_acc_per_epoch"]))), v["test_acc_per_epoch"]) for m, v in methods.items()}
    plot_curves(paths["test accuracy per epoch"], curves, title=f"{r['dataset']}: test accuracy (mean of seeds)",
                xlabel="data epoch", ylabel="test accuracy", ylim=(0.0, 1.0))
    noise_runs = methods["fa+noise"]["seeds"]
    if noise_runs and noise_runs[0].get("noise_log"):
        log0 = noise_runs[0]["noise_log"]
        n_layers = len(log0[0]["angles"])
        names = r["layers"][-n_layers:]
        curves = {f"{names[i]} ∠(Wᵀ,B)": ([e["step"] for e in log0],
                                          [statistics.fmean(run["noise_log"][j]["angles"][i] for run in noise_runs)
                                           for j in range(len(log0))]) for i in range(n_layers)}
        paths["weight-feedback angle during the noise phase"] = folder / f"{prefix}noise-angles.png"
        plot_curves(paths["weight-feedback angle during the noise phase"], curves,
                    title=f"{r['dataset']}: FA noise phase (mean of seeds)", xlabel="noise step",
                    ylabel="angle (degrees)", ylim=(0.0, 100.0))
    paths["teaching-signal angle per epoch"] = folder / f"{prefix}delta-angles.png"
    curves = {}
    for name, m in methods.items():
        if name == "bp":
            continue
        runs = m["seeds"]
        ys = [statistics.fmean(statistics.fmean(row["angle_delta"] for row in run["epoch_layers"][e][:-1])
                               for run in runs) for e in range(len(runs[0]["epoch_layers"]))]
        curves[name] = (list(range(len(ys))), ys)
    plot_curves(paths["teaching-signal angle per epoch"], curves,
                title=f"{r['dataset']}: ∠(δ, δ_BP), mean of hidden layers and seeds", xlabel="data epoch",
                ylabel="angle (degrees)", ylim=(0.0, 100.0))
    return paths


# ----------------------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", help="digits, mnist, fashion-mnist, kmnist or a .npz path")
    p.add_argument("--data-dir", default=None, help="folder with the dataset's IDX files")
    p.add_argument("--seeds", type=at_least(1), default=None, help="seeds per method (default 3)")
    p.add_argument("--epochs", type=at_least(1), default=None,
                   help="data epochs (default 20 digits, 10 images; quick 5/2)")
    p.add_argument("--noise-steps", type=at_least(0), default=None,
                   help="noise-phase steps (default 3000; quick 1000)")
    p.add_argument("--noise-pool", type=at_least(0), default=None,
                   help="fixed noise pool size (0 = fresh noise every step)")
    p.add_argument("--hidden", default=None, help="hidden layer sizes, e.g. 256,256")
    p.add_argument("--rules", default="core", help="'core' (bp, fa, fa+noise), 'all' (every rule), or a comma list")
    p.add_argument("--quick", action="store_true", help="fewer epochs and steps (under 3 minutes on 2 cores)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default runs/bench-cheon-DATASET)")
    p.add_argument("--json", type=Path, default=None, help="also write results.json to this path")
    p.add_argument("--report", type=Path, default=None,
                   help="also write the markdown report here, with its plots beside it (e.g. docs/results/...)")
    p.add_argument("--threads", type=at_least(1), default=1,
                   help="torch threads (default 1: these small networks run fastest on one core, and "
                        "more threads slow down badly when other processes share the cores)")
    p.add_argument("--device", default="cpu", metavar="auto|cpu|cuda",
                   help="where every run trains: cpu (default), cuda[:N] (an error if there is none) or auto")
    p.add_argument("--workers", type=at_least(0), default=None,
                   help="0 (default): one run after another in this process; N: each (method, seed) run a trial on "
                        "N local Ray workers, recorded in OUT/trials/ so that rerunning the command finishes only "
                        "what did not (docs/sweep.md)")
    p.add_argument("--address", default=None,
                   help="run the trials on the existing Ray cluster at this address (e.g. auto or HOST:6379); "
                        "OUT must be on a filesystem every node shares")
    p.add_argument("--max-retries", type=at_least(0), default=3,
                   help="Ray: times a run is retried when its worker dies")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _methods(spec: str) -> tuple[str, ...]:
    from toolkit.errors import ConfigError

    if spec == "core":
        return CORE
    if spec == "all":
        return tuple(METHODS)
    asked = [m.strip() for m in spec.split(",") if m.strip()]
    bad = [m for m in asked if m not in METHODS]
    if bad:
        raise ConfigError(f"--rules: unknown method {bad[0]!r}: choose from core, all, {', '.join(METHODS)}")
    return tuple(dict.fromkeys([*CORE, *asked]))


def _hidden(spec: str | None) -> tuple[int, ...] | None:
    from toolkit.errors import ConfigError

    if spec is None:
        return None
    try:
        sizes = tuple(int(v) for v in spec.split(","))
    except ValueError:
        raise ConfigError(f"--hidden: expected comma-separated layer sizes like 256,256, got {spec!r}") from None
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"--hidden: layer sizes must be >= 1, got {spec!r}")
    return sizes


def run(a: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(a.threads)
    s = settings_for(a.dataset, quick=a.quick, data_dir=a.data_dir, seeds=a.seeds, epochs=a.epochs,
                     noise_steps=a.noise_steps, noise_pool=a.noise_pool, hidden=_hidden(a.hidden),
                     methods=_methods(a.rules), device=a.device)
    _device(s.device)   # a missing GPU fails here, before any work
    command = "nfa " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("nfa") else _command(a)
    out = a.out if a.out is not None else Path("runs") / f"bench-cheon-{Path(a.dataset).stem}"
    r = _run(a, s, out, command)
    written = write_outputs(r, out, json_path=a.json, report=a.report)
    for name, m in r["methods"].items():
        print(f"{name:11s} final {m['final_acc']:.4f} ± {m['final_acc_std']:.4f}  epoch 1 {m['epoch1_acc']:.4f}  "
              f"epochs to target {_f(m['epochs_to_target'], '.1f')}  ∠(Wᵀ,B) {_angles(m['angle_before'])} -> "
              f"{_angles(m['angle_after'])}  OOD {_f(m['ood_acc_mean'], '.4f')}  meta-loss {m['meta_loss']:.3f}")
    c = r["claims"]
    print(f"FA + noise beats FA: after epoch 1 {c['noise_beats_fa_epoch1']}, at the end {c['noise_beats_fa_final']}; "
          f"gap to BP {c['gap_to_bp_final_points']:.2f} points; {r['wall_s']:.0f} s")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _run(a: argparse.Namespace, s: CheonSettings, out: Path, command: str) -> dict[str, Any]:
    """In this process (the default), or as trials on Ray with ``--workers N`` / ``--address``."""
    workers = a.workers if a.workers is not None else (None if a.address is not None else 0)
    if workers == 0 and a.address is None:
        return run_benchmark(s, progress=not a.no_progress, command=command)
    from toolkit.sweep import make_executor

    executor = make_executor(workers, address=a.address, max_retries=a.max_retries, threads=a.threads)
    try:
        return run_benchmark(s, progress=not a.no_progress, command=command, executor=executor,
                             trials_dir=out / "trials", threads=a.threads)
    finally:
        executor.close()


def _command(a: argparse.Namespace) -> str:
    parts = ["nfa bench cheon", f"--dataset {a.dataset}"]
    for name in ("data_dir", "seeds", "epochs", "noise_steps", "noise_pool", "hidden", "json", "report", "out",
                 "workers", "address"):
        v = getattr(a, name)
        if v is not None:
            parts.append(f"--{name.replace('_', '-')} {v}")
    if a.rules != "core":
        parts.append(f"--rules {a.rules}")
    if a.quick:
        parts.append("--quick")
    return " ".join(parts)
