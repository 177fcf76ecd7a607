"""BPTT, e-prop (symmetric), e-prop (random) and e-prop (random) after noise pretraining on one temporal dataset.

Every arm trains the same recurrent spiking network (``toolkit.training.eprop``: same initial weights per seed,
data, optimiser and epochs); only the rule and the noise phase differ. Measured per arm (mean ± std over seeds):
test accuracy per epoch and at the end, the time of a training epoch and its ratio to BPTT's, ∠(W_outᵀ, B) of the
random arms at initialisation, after the noise phase and at the end, and the angle of each e-prop arm's gradient
of the recurrent layer to BPTT's. Writes ``eprop.json``, ``accuracy.png`` (mean and ± std band per arm) and every
trained network's checkpoint (``<arm>-seed<k>.pt``, ``toolkit.training.eprop.load_rsnn_checkpoint``).
"""

from __future__ import annotations

import argparse
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
from toolkit.errors import ConfigError

if TYPE_CHECKING:
    from toolkit.data import Dataset
    from toolkit.training.eprop import EpropConfig

__all__ = ["ARMS", "EpropBenchSettings", "add_arguments", "run", "run_benchmark", "settings_for"]

#: arm -> (rule value, noise phase first?)
ARMS: dict[str, tuple[str, bool]] = {
    "bptt": ("bptt", False),
    "eprop-sym": ("eprop-sym", False),
    "eprop-random": ("eprop-random", False),
    "eprop-random+noise": ("eprop-random", True),
}
#: the values of ``toolkit.training.eprop.SequenceNoise``, here so that building the parser needs no torch (a test
#: checks that the two agree)
NOISE_DISTRIBUTIONS = ("uniform", "bernoulli")


@dataclass(frozen=True, slots=True, kw_only=True)
class EpropBenchSettings:
    """Everything that defines a benchmark run (written into eprop.json)."""

    dataset: str = "digits-rows"
    data_dir: str | None = None
    seeds: int = 3
    arms: tuple[str, ...] = tuple(ARMS)
    neuron: str = "lif"
    hidden: int = 100
    epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-3
    noise_steps: int = 2000
    noise_pool: int = 1000
    noise_lr: float = 2e-3
    noise_distribution: str = "uniform"
    train_limit: int | None = None
    test_limit: int | None = None
    quick: bool = False

    def config(self, arm: str, seed: int) -> EpropConfig:
        from toolkit.rsnn import NeuronKind
        from toolkit.training.eprop import EpropConfig, RecurrentRule, SequenceNoise

        rule, noise = ARMS[arm]
        return EpropConfig(rule=RecurrentRule(rule), neuron=NeuronKind(self.neuron), hidden=self.hidden,
                           epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=seed,
                           noise_steps=self.noise_steps if noise else 0, noise_pool=self.noise_pool,
                           noise_lr=self.noise_lr, noise_distribution=SequenceNoise(self.noise_distribution))


def settings_for(dataset: str, *, quick: bool = False, **overrides: Any) -> EpropBenchSettings:
    """Defaults per dataset (digits-rows: 100 hidden, batch 32, 20 epochs; 28-row images: 128 hidden, batch 128,
    10 epochs); ``quick``: 2 seeds and a few epochs (digits-rows in well under a minute on one core)."""
    base = EpropBenchSettings(dataset=dataset, quick=quick)
    if dataset in ("mnist-rows", "fashion-mnist-rows"):
        base = replace(base, hidden=128, batch_size=128, epochs=10)
    if quick:
        base = replace(base, seeds=2, epochs=1 if dataset in ("mnist-rows", "fashion-mnist-rows") else 10,
                       noise_steps=500, train_limit=None if dataset in ("digits-rows", "store-recall") else 5000,
                       test_limit=None if dataset in ("digits-rows", "store-recall") else 2000)
    given = {k: v for k, v in overrides.items() if v is not None}
    noise = given.get("noise_distribution", base.noise_distribution)
    if noise not in NOISE_DISTRIBUTIONS:
        raise ConfigError(f"e-prop bench: noise_distribution {noise!r} is not one of {', '.join(NOISE_DISTRIBUTIONS)}")
    return replace(base, **given)


# ----------------------------------------------------------------------------- runs


def _run_one(s: EpropBenchSettings, arm: str, seed: int, train: Dataset, test: Dataset, out: Path,
             progress: bool) -> dict[str, Any]:
    from toolkit.training.eprop import save_rsnn_checkpoint, train_rsnn

    cfg = s.config(arm, seed)
    t0 = time.perf_counter()
    res = train_rsnn(cfg, train, test, progress=progress, desc=f"{arm} seed {seed}")
    wall = time.perf_counter() - t0
    ckpt = save_rsnn_checkpoint(out / f"{arm}-seed{seed}.pt", res.spec, config=_plain(cfg.to_dict()),
                                dataset=s.dataset, arm=arm, test_acc=float(res.test_acc[-1]),
                                **({} if s.data_dir is None else {"data_dir": str(s.data_dir)}))
    epochs = res.history[1:]
    return {"seed": seed, "test_acc": res.test_acc, "final_acc": res.test_acc[-1],
            "train_loss": [r["train_loss"] for r in epochs], "rate": [r["rate"] for r in res.history],
            "epoch_s": statistics.fmean(r["epoch_s"] for r in epochs),
            "step_s": statistics.fmean(r["step_s"] for r in epochs),
            "angles": res.angles, "noise_log": res.noise_log, "wall_s": wall, "checkpoint": ckpt.name}


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """Config values a checkpoint can hold (weights_only: no None)."""
    return {k: v for k, v in d.items() if v is not None}


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def _angle_means(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Mean over seeds of angle ``key`` at each recorded point (init, after_noise, final)."""
    points = [p for p in ("init", "after_noise", "final") if all(key in r["angles"].get(p, {}) for r in runs)]
    return {p: statistics.fmean(r["angles"][p][key] for r in runs) for p in points}


def _aggregate(runs: list[dict[str, Any]], bptt_epoch_s: float | None) -> dict[str, Any]:
    final_m, final_s = _mean_std([r["final_acc"] for r in runs])
    n_epochs = len(runs[0]["test_acc"])
    per_epoch = [_mean_std([r["test_acc"][e] for r in runs]) for e in range(n_epochs)]
    epoch_s = statistics.fmean(r["epoch_s"] for r in runs)
    return {"final_acc": final_m, "final_acc_std": final_s,
            "test_acc_per_epoch": [m for m, _ in per_epoch], "test_acc_per_epoch_std": [s for _, s in per_epoch],
            "epoch_s": epoch_s, "step_s": statistics.fmean(r["step_s"] for r in runs),
            "time_vs_bptt": epoch_s / bptt_epoch_s if bptt_epoch_s else None,
            "feedback_angle": _angle_means(runs, "feedback"), "hidden_grad_angle": _angle_means(runs, "hidden_grad"),
            "seeds": runs}


def run_benchmark(s: EpropBenchSettings, out: Path, *, progress: bool = True, command: str = "") -> dict[str, Any]:
    """Every arm for every seed; checkpoints go to ``out``; returns the results dict written as eprop.json."""
    import torch

    from toolkit.data import load_dataset

    t0 = time.perf_counter()
    train, test = load_dataset(s.dataset, data_dir=s.data_dir, seed=0)
    train, test = train.take(s.train_limit), test.take(s.test_limit)
    runs = {arm: [_run_one(s, arm, seed, train, test, out, progress) for seed in range(s.seeds)] for arm in s.arms}
    bptt_s = statistics.fmean(r["epoch_s"] for r in runs["bptt"]) if "bptt" in runs else None
    return {"benchmark": "eprop", "dataset": s.dataset, "command": command,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()},
            "n_train": len(train), "n_test": len(test), "steps": train.shape[0], "features": train.shape[1],
            "machine": {"python": platform.python_version(), "torch": torch.__version__,
                        "threads": torch.get_num_threads()},
            "arms": {arm: _aggregate(r, bptt_s) for arm, r in runs.items()}, "wall_s": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- outputs


def plot_accuracy(path: Path, r: dict[str, Any]) -> Path:
    """Test accuracy per epoch per arm: the mean over seeds and a ± std band."""
    from toolkit.plots import plot_curves

    arms = r["arms"]
    return plot_curves(path, {arm: (range(len(m["test_acc_per_epoch"])), m["test_acc_per_epoch"])
                              for arm, m in arms.items()},
                       spread={arm: m["test_acc_per_epoch_std"] for arm, m in arms.items()},
                       title=f"{r['dataset']}: test accuracy (mean ± std of {r['settings']['seeds']} seeds)",
                       xlabel="data epoch", ylabel="test accuracy", ylim=(0.0, 1.0))


def _f(v: float | None, fmt: str = ".1f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def table(r: dict[str, Any]) -> str:
    """The results as a plain-text table."""
    head = (f"{'arm':20s} {'final acc':>17s} {'s/epoch':>8s} {'×BPTT':>6s}  ∠(W_outᵀ,B) init→noise→end   "
            "∠(∇rec,∇BPTT) init→(noise)→end")
    lines = [head]
    for arm, m in r["arms"].items():
        fb, hg = m["feedback_angle"], m["hidden_grad_angle"]
        fb_s = "–" if arm == "bptt" or arm == "eprop-sym" else " → ".join(f"{v:.0f}°" for v in fb.values())
        hg_s = " → ".join(f"{v:.0f}°" for v in hg.values()) or "–"
        lines.append(f"{arm:20s} {m['final_acc']:.4f} ± {m['final_acc_std']:.4f} {m['epoch_s']:8.2f} "
                     f"{_f(m['time_vs_bptt'], '.2f'):>6s}  {fb_s:28s} {hg_s}")
    return "\n".join(lines)


def write_outputs(r: dict[str, Any], out: Path) -> list[Path]:
    from toolkit.fsutil import write_json

    write_json(out / "eprop.json", r)
    return [out / "eprop.json", plot_accuracy(out / "accuracy.png", r)]


# ----------------------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits-rows",
                   help="a temporal dataset: digits-rows (default), mnist-rows, fashion-mnist-rows, store-recall")
    p.add_argument("--data-dir", default=None, help="folder with the dataset's IDX files")
    p.add_argument("--seeds", type=at_least(1), default=None, help="seeds per arm (default 3; quick 2)")
    p.add_argument("--epochs", type=at_least(1), default=None,
                   help="data epochs (default 20 digits-rows, 10 28-row images; quick 10/1)")
    p.add_argument("--hidden", type=at_least(1), default=None, help="recurrent neurons (default 100; 128 images)")
    p.add_argument("--neuron", choices=("lif", "alif"), default=None, help="hidden neuron model (default lif)")
    p.add_argument("--batch-size", type=at_least(1), default=None, help="default 32 (128 for 28-row images)")
    p.add_argument("--noise-steps", type=at_least(0), default=None,
                   help="noise-pretraining steps of the +noise arm (default 2000; quick 500)")
    p.add_argument("--noise-pool", type=at_least(1), default=None, help="fixed noise pool size (default 1000)")
    p.add_argument("--noise-distribution", choices=NOISE_DISTRIBUTIONS, default=None,
                   help="noise sequences: uniform values in [0, 1] (default) or random spike trains (0/1, p = 1/2)")
    p.add_argument("--arms", default=None, help=f"comma list of arms (default all: {', '.join(ARMS)})")
    p.add_argument("--quick", action="store_true", help="2 seeds, fewer epochs (digits-rows in under a minute)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default runs/bench-eprop-DATASET)")
    p.add_argument("--threads", type=at_least(1), default=1, help="torch threads (default 1)")
    p.add_argument("--deploy", type=at_least(0), default=None, metavar="N",
                   help="after training, compile every checkpoint for Loihi 2 and compare float, the reference (whole "
                        "test set) and Lava fixed_pt on N test samples (`nfa bench deploy-rsnn`; 0: reference only)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _arms(spec: str | None) -> tuple[str, ...] | None:
    if spec is None:
        return None
    asked = tuple(dict.fromkeys(a.strip() for a in spec.split(",") if a.strip()))
    bad = [a for a in asked if a not in ARMS]
    if bad or not asked:
        raise ConfigError(f"--arms: unknown arm {bad[0] if bad else spec!r}: choose from {', '.join(ARMS)}")
    return asked


def run(a: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(a.threads)
    s = settings_for(a.dataset, quick=a.quick, data_dir=a.data_dir, seeds=a.seeds, epochs=a.epochs,
                     hidden=a.hidden, neuron=a.neuron, batch_size=a.batch_size, noise_steps=a.noise_steps,
                     noise_pool=a.noise_pool, noise_distribution=a.noise_distribution, arms=_arms(a.arms))
    out = a.out if a.out is not None else Path("runs") / f"bench-eprop-{a.dataset}"
    command = "nfa " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("nfa") else "nfa bench eprop"
    r = run_benchmark(s, out, progress=not a.no_progress, command=command)
    if a.deploy is not None:
        from toolkit.bench.rsnn_deploy import deploy_checkpoint
        from toolkit.bench.rsnn_deploy import table as deploy_table

        r["deploy"] = [deploy_checkpoint(out / run["checkpoint"], data=s.dataset, data_dir=s.data_dir,
                                         lava_samples=a.deploy, limit=s.test_limit)
                       for arm in r["arms"].values() for run in arm["seeds"]]
    written = write_outputs(r, out)
    print(table(r))
    if "deploy" in r:
        print(deploy_table(r["deploy"]))
        if any(d.get("lava_scores_equal") is False for d in r["deploy"]):
            print("Lava's scores differ from the reference's: a bug in the Lava lowering or the reference; report it")
            return 1
    print(f"{r['wall_s']:.0f} s; wrote " + ", ".join(str(p) for p in written) + f" and checkpoints in {out}")
    return 0
