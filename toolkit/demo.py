"""``nfa demo``: the whole path on the embedded digits, with an honest report.

1. Train the same MLP three ways on digits: backprop, feedback alignment (FA), and FA
   after random-noise pretraining (Cheon et al. 2024); same seed, epochs and optimiser.
2. Compile the noise-pretrained FA network for Loihi 2: fold biases, balance thresholds on
   training data, convert to rate-coded IF neurons, quantise, map onto cores.
3. Run the whole test set in Lava's CPU simulator (fixed point), and in the reference
   simulator as a cross-check.
4. Write ``model.pt``, the compiled network (``network.nfa`` + ``compile.json``),
   ``report.json`` and ``accuracy.png`` to the output folder, and print a short report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compilers.driver import compile_model, compile_report
from compilers.netdir import GRAPH_FILE, save_network
from compilers.passes import CompileOptions
from toolkit.backends import Backend, run_backend
from toolkit.data import load_digits
from toolkit.fsutil import write_json
from toolkit.hw import load_hw
from toolkit.plots import plot_curves
from toolkit.training import (
    Arch,
    NoiseConfig,
    Rule,
    TrainConfig,
    build_model,
    fit,
    pretrain_on_noise,
    save_checkpoint,
    weight_feedback_angles,
)

__all__ = ["DemoConfig", "run_demo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoConfig:
    out: Path = Path("runs/demo")
    hidden: tuple[int, ...] = (100, 100)
    epochs: int = 20
    noise_steps: int = 3000
    timesteps: int = 32
    seed: int = 0
    hw: str = "loihi2"
    backend: Backend = Backend.LAVA_SIM
    progress: bool = True


def _train(arch: Arch, rule: Rule, noise: NoiseConfig | None, cfg: DemoConfig, data: tuple[Any, Any],
           log: list[str]) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
    train, test = data
    model = build_model(arch.with_rule(rule), seed=cfg.seed)
    extra: dict[str, Any] = {}
    if noise is not None:
        extra["angles_before_noise"] = weight_feedback_angles(model)
        pretrain_on_noise(model, arch.in_shape, arch.n_classes, noise, seed=cfg.seed, progress=cfg.progress)
        extra["angles_after_noise"] = weight_feedback_angles(model)
    history = fit(model, train, test, TrainConfig(epochs=cfg.epochs), seed=cfg.seed, progress=cfg.progress,
                  desc=rule.value + ("+noise" if noise else ""))
    log.append(f"  {rule.value + (' + noise' if noise else ''):12s} test accuracy "
               f"{history[-1]['test_acc']:.3f} (after epoch 1: {history[1]['test_acc']:.3f})")
    return model, history, extra


def run_demo(cfg: DemoConfig | None = None) -> dict[str, Any]:
    """Run the demo and return the report written to ``cfg.out / report.json``."""
    cfg = cfg or DemoConfig()
    t0 = time.perf_counter()
    train, test = load_digits(seed=cfg.seed)
    arch = Arch(in_shape=train.shape, hidden=cfg.hidden, n_classes=train.n_classes, rule=Rule.FA)
    lines = [f"digits: {len(train)} train / {len(test)} test images, MLP {arch.in_shape[0]}-"
             + "-".join(map(str, cfg.hidden)) + f"-{arch.n_classes}, {cfg.epochs} epochs, seed {cfg.seed}"]
    runs = {}
    for label, rule, noise in (("bp", Rule.BP, None), ("fa", Rule.FA, None),
                               ("fa+noise", Rule.FA, NoiseConfig(steps=cfg.noise_steps))):
        runs[label] = _train(arch, rule, noise, cfg, (train, test), lines)
    model, history, angles = runs["fa+noise"]
    cfg.out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(cfg.out / "model.pt", model, arch, history=history, dataset="digits", seed=cfg.seed)

    hw = load_hw(cfg.hw)
    opts = CompileOptions(hw=hw, calibration=train.x, timesteps=cfg.timesteps)
    graph = compile_model(model, arch.in_shape, opts)
    save_network(cfg.out / "net", graph, compile_report(graph, opts, checkpoint=str(cfg.out / "model.pt"),
                                                        calibration="digits/train"))
    ref = run_backend(Backend.REFERENCE, graph, test.x, progress=False)
    spiking = run_backend(cfg.backend, graph, test.x, progress=cfg.progress)

    mapping = compile_report(graph, opts)["mapping"]
    report = _report(cfg, runs, angles, mapping, ref, spiking, test.y, time.perf_counter() - t0)
    write_json(cfg.out / "report.json", report)
    _plot(cfg.out / "accuracy.png", runs)
    lines += _summary(report, cfg)
    report["summary"] = lines
    return report


def _report(cfg: DemoConfig, runs: dict[str, Any], angles: dict[str, Any], mapping: dict[str, Any],
            ref: Any, spiking: Any, labels: np.ndarray, total_s: float) -> dict[str, Any]:
    float_acc = runs["fa+noise"][1][-1]["test_acc"]
    spiking_acc = spiking.accuracy(labels)
    return {
        "dataset": "digits", "n_test": int(len(labels)), "seed": cfg.seed, "epochs": cfg.epochs,
        "hidden": list(cfg.hidden),
        "float_acc": float_acc,
        "lava_acc": spiking_acc if spiking.backend != "reference" else None,
        "spiking_backend": spiking.backend,
        "reference_acc": ref.accuracy(labels),
        "reference_matches_lava": bool(np.array_equal(ref.scores, spiking.scores)),
        "gap_points": 100.0 * (float_acc - spiking_acc),
        "timesteps": spiking.timesteps,
        "lava_wall_s": spiking.wall_s,
        "lava_steps": spiking.total_steps,
        "cores": mapping["cores"], "chips": mapping["chips"], "hw": cfg.hw,
        "methods": {k: {"final_acc": v[1][-1]["test_acc"], "epoch1_acc": v[1][1]["test_acc"],
                        "test_acc_per_epoch": [r["test_acc"] for r in v[1]]} for k, v in runs.items()},
        **angles,
        "network": str(cfg.out / "net" / GRAPH_FILE),
        "total_s": total_s,
    }


def _plot(path: Path, runs: dict[str, Any]) -> None:
    names = {"bp": "backprop", "fa": "feedback alignment", "fa+noise": "FA + noise pretraining"}
    curves = {names[k]: ([r["epoch"] for r in h], [r["test_acc"] for r in h]) for k, (_, h, _) in runs.items()}
    plot_curves(path, curves, title="digits: test accuracy per epoch", xlabel="data epoch",
                ylabel="test accuracy", ylim=(0.0, 1.0))


def _summary(r: dict[str, Any], cfg: DemoConfig) -> list[str]:
    before = ", ".join(f"{a:.0f}°" for a in r.get("angles_before_noise", []))
    after = ", ".join(f"{a:.0f}°" for a in r.get("angles_after_noise", []))
    where = "Lava CPU simulator (fixed_pt)" if r["spiking_backend"] == "lava-sim" else r["spiking_backend"]
    return [
        f"  noise pretraining moved the W-vs-B angles of layers 2.. from [{before}] to [{after}]",
        f"float accuracy (FA + noise):     {r['float_acc']:.3f}",
        f"spiking accuracy, {where}: {r['lava_acc'] if r['lava_acc'] is not None else r['reference_acc']:.3f}"
        f"  ({-r['gap_points']:+.1f} points vs float; {r['n_test']} test images)",
        f"reference simulator accuracy:    {r['reference_acc']:.3f} "
        f"({'identical' if r['reference_matches_lava'] else 'DIFFERENT'} spike counts)",
        f"timesteps per sample: {r['timesteps']}; {r['lava_steps']} steps in {r['lava_wall_s']:.1f} s wall time",
        f"cores used: {r['cores']} on {r['chips']} {cfg.hw} chip(s) (planned by the compiler)",
        f"wrote {cfg.out}/: model.pt, net/{GRAPH_FILE}, net/compile.json, report.json, accuracy.png",
    ]
