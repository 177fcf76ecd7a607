"""Steps per second of every rule against backprop on the same network and batch, in one process.

A step is what training does per mini-batch: forward, cross-entropy, backward, optimiser step
(Adam) and the rule's between-step work (KP decay, WM mirror phase). Rules are timed in
interleaved rounds (the order rotates every round) so that load from other processes hits all
of them alike; the ratio to BP is taken within each round and the median over rounds is
reported. FA, DFA and KP do the same matrix products as BP (DFA's input gradient is smaller),
so their ratio should be about 1; sign symmetry adds elementwise work on W, brsf a random draw
of W's size per step, and WM a mirror forward and outer product per layer. zil's sweep does BP's
products without autograd (about 1); pc and pc-fa run T forward and downward passes (about T + 1).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.argtypes import at_least

if TYPE_CHECKING:
    import torch

    from toolkit.training import Arch

__all__ = ["add_arguments", "measure", "run"]

RULES = ("bp", "fa", "dfa", "kp", "sign", "brsf", "frsf", "wm", "pc", "zil", "pc-fa")


def _arch(kind: str, rule: str, hidden: tuple[int, ...]) -> Arch:
    from toolkit.training import Arch, ModelKind, Rule

    if kind == "mlp":
        return Arch(in_shape=(784,), hidden=hidden, n_classes=10, rule=Rule(rule))
    return Arch(kind=ModelKind.CNN, in_shape=(1, 28, 28), conv_channels=(16, 32), hidden=(128,), n_classes=10,
                rule=Rule(rule))


class _Stepper:
    def __init__(self, arch: Arch, batch: int, device: torch.device) -> None:
        import torch

        from toolkit.config import OptimizerKind
        from toolkit.training import RuleStepper, build_model
        from toolkit.training.trainer import make_gradient_step, make_optimizer

        self.model = build_model(arch, seed=0).to(device)
        self.device = device
        self.opt = make_optimizer(self.model, OptimizerKind.ADAM, 1e-3)
        self.rule_step = RuleStepper(self.model, seed=0)
        self.grads = make_gradient_step(self.model)
        gen = torch.Generator().manual_seed(0)
        self.x = torch.rand((batch, *arch.in_shape), generator=gen).to(device)
        self.y = torch.randint(0, arch.n_classes, (batch,), generator=gen).to(device)

    def run(self, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            self.opt.zero_grad(set_to_none=True)
            self.grads(self.x, self.y)
            self.opt.step()
            if self.rule_step.active:
                self.rule_step()
        if self.device.type == "cuda":   # kernels run asynchronously: time them, not their launches
            import torch

            torch.cuda.synchronize(self.device)
        return time.perf_counter() - t0


def measure(kind: str = "mlp", *, hidden: tuple[int, ...] = (256, 256), batch: int = 64, steps: int = 50,
            rounds: int = 7, rules: tuple[str, ...] = RULES, threads: int | None = None,
            device: str = "cpu") -> dict[str, Any]:
    """Steps per second and the ratio of step time to BP's for every rule (medians over rounds), on ``device``
    (``cpu``, ``cuda[:N]`` or ``auto``)."""
    import torch

    from toolkit.training.device import describe_device, resolve_device

    dev = resolve_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    steppers = {r: _Stepper(_arch(kind, r, hidden), batch, dev) for r in rules}
    for s in steppers.values():
        s.run(5)  # warm-up: allocator, Adam state, threads
    times: dict[str, list[float]] = {r: [] for r in rules}
    for k in range(rounds):
        order = list(rules[k % len(rules):]) + list(rules[:k % len(rules)])
        for r in order:
            times[r].append(steppers[r].run(steps) / steps)
    bp = times["bp"]
    out = {}
    for r in rules:
        ratios = [t / b for t, b in zip(times[r], bp, strict=True)]
        out[r] = {"steps_per_s": 1.0 / statistics.median(times[r]), "ratio_to_bp": statistics.median(ratios),
                  "ratio_min": min(ratios), "ratio_max": max(ratios)}
    return {"network": kind, "hidden": list(hidden), "batch": batch, "steps_per_round": steps, "rounds": rounds,
            "threads": torch.get_num_threads(), "device": describe_device(dev), "rules": out}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", choices=["mlp", "cnn", "both"], default="both",
                   help="784-256-256-10 MLP, a 2-conv CNN on 1x28x28, or both (default)")
    p.add_argument("--hidden", default="256,256", help="MLP hidden sizes (default 256,256)")
    p.add_argument("--batch", type=at_least(1), default=64, help="mini-batch size (default 64)")
    p.add_argument("--steps", type=at_least(1), default=50, help="steps per rule per round (default 50)")
    p.add_argument("--rounds", type=at_least(1), default=7, help="interleaved rounds (default 7)")
    p.add_argument("--rules", default="all", help="comma list of rules or 'all' (bp is always included)")
    p.add_argument("--threads", type=at_least(0), default=1,
                   help="torch threads (default 1; 0 = torch's choice). One thread gives stable figures on a "
                        "shared 2-core machine")
    p.add_argument("--device", default="cpu", metavar="auto|cpu|cuda",
                   help="where the steps run: cpu (default), cuda[:N] (an error if there is none) or auto")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")


def _parse(a: argparse.Namespace) -> tuple[tuple[int, ...], tuple[str, ...]]:
    from toolkit.errors import ConfigError

    try:
        hidden = tuple(int(v) for v in a.hidden.split(","))
    except ValueError:
        raise ConfigError(f"--hidden: expected sizes like 256,256, got {a.hidden!r}") from None
    rules = RULES if a.rules == "all" else tuple(dict.fromkeys(["bp", *(r.strip() for r in a.rules.split(","))]))
    bad = [r for r in rules if r not in RULES]
    if bad:
        raise ConfigError(f"--rules: unknown rule {bad[0]!r}: choose from {', '.join(RULES)} or all")
    if min(hidden, default=0) < 1:
        raise ConfigError(f"--hidden: sizes must be >= 1, got {a.hidden!r}")
    return hidden, rules


def run(a: argparse.Namespace) -> int:
    from toolkit.fsutil import write_json

    hidden, rules = _parse(a)
    kinds = ["mlp", "cnn"] if a.network == "both" else [a.network]
    results = []
    for kind in kinds:
        res = measure(kind, hidden=hidden, batch=a.batch, steps=a.steps, rounds=a.rounds, rules=rules,
                      threads=a.threads or None, device=a.device)
        results.append(res)
        net = f"MLP 784-{'-'.join(map(str, hidden))}-10" if kind == "mlp" else "CNN 1x28x28 conv16-conv32-128-10"
        print(f"{net}, batch {a.batch}, Adam, on {res['device']}; median of {a.rounds} interleaved rounds "
              f"of {a.steps} steps")
        print(f"  {'rule':6s} {'steps/s':>9s} {'time vs BP':>11s} {'(min-max)':>13s}")
        for r, v in res["rules"].items():
            spread = f"({v['ratio_min']:.2f}-{v['ratio_max']:.2f})"
            print(f"  {r:6s} {v['steps_per_s']:9.1f} {v['ratio_to_bp']:10.3f}x  {spread}")
    if a.json is not None:
        write_json(a.json, {"benchmark": "speed", "results": results})
    return 0
