"""How much on-chip learning on digits depends on where in the learning engine's rounding stream it starts.

Lava's learning engine rounds every weight update with one random number per learning epoch, shared by every
synapse, from ``default_rng(2)`` whatever the run's seed (``toolkit.learning.fixed``; the reference reproduces
it). Idle samples (no input, no label: no spike, no weight change) advance that stream and nothing else, so
``offset`` idle samples before the data start the data at another place in it. Two studies, in the reference's
stream engine (bit-exact with Lava), the network of examples/onchip/onchip-digits.yaml:

* ``passes``: seed 0, 3 passes over the training set after ``offset`` idle samples, for several offsets.
* ``noise``: for seed s, ``137·s`` idle samples, then either 2,000 on-chip noise samples (pool of 50) or as many
  idle samples (the matched control), then one pass: noise vs none with each seed at its own stream position.

    .venv/bin/python examples/onchip/rounding_offsets.py passes
    .venv/bin/python examples/onchip/rounding_offsets.py noise --seeds 10
    .venv/bin/python examples/onchip/rounding_offsets.py noise --seeds 10 \
        --set label_rate=0.5,third_output=2,timesteps=32     # other network settings (nfa learn's network:)
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

import numpy as np

from compilers.onchip import (
    OnChipFA,
    build_onchip_fa,
    forward_graph,
    idle_inputs,
    noise_inputs,
    train_inputs,
    with_weights,
)
from toolkit.backends.reference import simulate
from toolkit.config import OnChipNetworkConfig
from toolkit.data import load_dataset

STEP = 137   # idle samples between the stream positions of consecutive seeds (any number not a multiple of the pool)


def _spec(seed: int, changes: dict[str, object]) -> OnChipFA:
    kw = {**asdict(OnChipNetworkConfig()), **changes}
    kw["n_hidden"] = kw.pop("hidden")
    return OnChipFA(n_in=64, n_classes=10, seed=seed, **kw)


def _changes(text: str) -> dict[str, object]:
    """``key=value,...`` network settings (the keys of ``nfa learn``'s ``network:``) over the defaults."""
    base = OnChipNetworkConfig()
    out: dict[str, object] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if not hasattr(base, key):
            raise SystemExit(f"--set: {key!r} is not a network setting (one of {', '.join(asdict(base))})")
        try:
            out[key] = type(getattr(base, key))(float(value) if "." in value else int(value))
        except ValueError:
            raise SystemExit(f"--set: {key}={value!r} is not a number; write e.g. {key}=2 or {key}=0.5") from None
    return out


def _cat(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in ("x", "label")}


def _accuracy(g, weights, x, y) -> float:
    return simulate(forward_graph(with_weights(g, {k: {"weight": v} for k, v in weights.items()})), x).accuracy(y)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", choices=["passes", "noise"])
    p.add_argument("--seeds", type=int, default=10, help="noise study: seeds 0..N-1")
    p.add_argument("--offsets", default="0,137,274,411,548,685,822", help="passes study: idle samples first")
    p.add_argument("--set", default="", help="network settings over the defaults, e.g. label_rate=0.5,third_output=2")
    a = p.parse_args()
    changes = _changes(a.set)
    train, test = load_dataset("digits")
    xtr, xte = train.x.reshape(len(train), -1).astype(float), test.x.reshape(len(test), -1).astype(float)
    if a.study == "passes":
        spec = _spec(0, changes)
        g = build_onchip_fa(spec)
        passes = [train_inputs(spec, xtr[o], train.y[o])
                  for o in (np.random.default_rng([0, k]).permutation(len(train)) for k in range(3))]
        for off in (int(v) for v in a.offsets.split(",")):
            r = simulate(g, _cat(idle_inputs(spec, off), *passes), seed=0, engine="stream",
                         snapshot_at=[off + len(train), off + 2 * len(train)])
            ws = [s["weights"] for s in r.snapshots] + [{k: v["weight"] for k, v in r.learned.items()}]
            print(f"offset {off:4d}: test accuracy after passes 1, 2, 3: "
                  + ", ".join(f"{_accuracy(g, w, xte, test.y):.3f}" for w in ws), flush=True)
        return
    res: dict[str, list[float]] = {"without noise": [], "with noise": []}
    for seed in range(a.seeds):
        spec = _spec(seed, changes)
        g = build_onchip_fa(spec)
        order = np.random.default_rng([seed, 0]).permutation(len(train))
        data, lead = train_inputs(spec, xtr[order], train.y[order]), idle_inputs(spec, STEP * seed)
        for name, first in (("without noise", idle_inputs(spec, 2000)),
                            ("with noise", noise_inputs(spec, 2000, seed, pool=50))):
            r = simulate(g, _cat(lead, first, data), seed=seed, engine="stream")
            res[name].append(_accuracy(g, {k: v["weight"] for k, v in r.learned.items()}, xte, test.y))
        print(f"seed {seed} (offset {STEP * seed}): without noise {res['without noise'][-1]:.3f}, "
              f"with noise {res['with noise'][-1]:.3f}", flush=True)
    for name, v in res.items():
        print(f"{name}: {np.mean(v):.3f} ± {np.std(v):.3f}")
    wins = sum(b > a_ for a_, b in zip(res["without noise"], res["with noise"], strict=True))
    print(f"with noise higher in {wins} of {a.seeds} seeds")


if __name__ == "__main__":
    main()
