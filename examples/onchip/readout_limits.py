"""What limits the on-chip FA network's readout on Fashion-MNIST (docs/results/onchip.md, "What limits the readout").

Three probes, for the 300-hidden, 32-step network of the Fashion section (784 → 300 → 10; vth_hidden 500):

* ``ceiling``: the hidden layer's spike counts with the random initial W1 (reference), on all 60,000 training and
  10,000 test images, read out offline (a ridge classifier) and by the delta rule *in floating point*: one pass in a
  random order, the output a rectified linear unit clipped to 0..T with target ``label_rate``·T spikes for the true
  class and 0 for the others (what the chip's delta rule approximates), at a few learning rates. What one pass of
  the readout's rule could reach on these features without the chip's integer arithmetic.
* ``rounding``: why the chip's readout stays below that. Lava's fixed-point learning engine rounds every update
  stochastically with *one* random number per epoch shared by every synapse (``toolkit.learning.fixed``). Per
  weight that is as noisy as independent rounding, but the errors of all the synapses into one neuron move
  together, so the noise of the neuron's input grows with the number N of active synapses instead of √N.
  Pure NumPy, no network.
* ``independent``: what that shared number costs. The same one-pass run as the Fashion section's (or one pass over
  digits) in a copy of the compiled stream engine changed in one place: each synapse's update rounds with a
  fresh random number of its own (numba's generator, seeded from ``--seed``) instead of the epoch's shared one.
  A what-if, *not* what Lava computes (the reference's own engine stays bit-exact with Lava): it measures how
  much of the gap to the float rule, and of the spread over stream positions, the shared number causes.
  ``--layer W1`` (or ``W2``) rounds per synapse on that layer only, the other as Lava does: which layer's
  rounding costs the accuracy.
* ``population``: ``k`` output neurons per class, their spike counts summed per class, to average the readout's
  noise. Starting from W2 = 0 with the same inputs, targets and (shared) rounding numbers, the copies learn the same
  integers: there is nothing to average. Prints whether the copies' W2 rows are identical.

Usage::

    .venv/bin/python examples/onchip/readout_limits.py ceiling [--hidden 600]
    .venv/bin/python examples/onchip/readout_limits.py rounding
    .venv/bin/python examples/onchip/readout_limits.py population --k 5 --samples 5000
    .venv/bin/python examples/onchip/readout_limits.py independent --seed 0 [--dataset digits] [--layer W1]
"""

from __future__ import annotations

import argparse

import numpy as np
from fashion_capacity import hidden_counts  # the sibling scripts (run from this folder's path)
from rounding_offsets import _spec as digits_spec

from compilers.onchip import OnChipFA, build_onchip_fa, forward_graph, with_weights
from toolkit.backends.reference import simulate
from toolkit.data import load_dataset
from toolkit.errors import ToolkitError

#: the 300-hidden, 32-step network of the Fashion section
SETTINGS = dict(n_in=784, n_hidden=300, timesteps=32, vth_hidden=500, third_hidden=1, vth_output=1200,
                label_rate=0.5, third_output=2)


def _flat(ds) -> np.ndarray:
    return ds.x.reshape(len(ds), -1).astype(np.float64)


def ceiling(hidden: int) -> None:
    from sklearn.linear_model import RidgeClassifier

    train, test = load_dataset("fashion-mnist")
    spec = OnChipFA(**{**SETTINGS, "n_hidden": hidden})
    g = build_onchip_fa(spec)
    c, ct = hidden_counts(g, _flat(train), spec.n_hidden), hidden_counts(g, _flat(test), spec.n_hidden)
    ridge = RidgeClassifier(alpha=10.0).fit(c, train.y).score(ct, test.y)
    print(f"{hidden} hidden neurons: {c.sum(1).mean():.0f} spikes per image; ridge (all 60,000 / 10,000): {ridge:.4f}")
    t = spec.timesteps
    target = np.eye(10)[train.y] * spec.label_rate * t
    order = np.random.default_rng(0).permutation(len(c))
    per_spike = 1882 / c.sum(1).mean()      # the same step per image as at 300 hidden (1,882 spikes per image)
    for lr in (1e-6 * per_spike, 3e-6 * per_spike, 1e-5 * per_spike, 3e-5 * per_spike):
        w = np.zeros((10, spec.n_hidden))
        accs = []
        for k, i in enumerate(order, 1):
            out = np.clip(w @ c[i], 0, t)
            w += lr * np.outer(target[i] - out, c[i])
            if k % 20000 == 0:
                accs.append(float(((ct @ w.T).argmax(1) == test.y).mean()))
        print(f"float delta rule, one pass, lr {lr:.2g}: test accuracy after 20,000 / 40,000 / 60,000 images "
              + " / ".join(f"{a:.4f}" for a in accs), flush=True)


def _rounding_error(d: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Stochastic rounding's error: ``d`` rounded up where the random ``r`` < its fraction, minus ``d``."""
    return np.floor(d) + (r < d % 1) - d


def rounding(n: int = 100, epochs: int = 20000) -> None:
    rng = np.random.default_rng(0)
    for hi in (0.05, 0.3):
        d = rng.uniform(-hi, hi, (epochs, n))     # each synapse's update per epoch, in weight LSBs, all below one

        shared, indep = (_rounding_error(d, rng.random((epochs, m))) for m in (1, n))
        print(f"{n} active synapses, updates below {hi} LSB: rounding error per weight sd {shared.std():.3f} (shared) "
              f"vs {indep.std():.3f} (independent); of their sum, the neuron's input, sd {shared.sum(1).std():.2f} "
              f"vs {indep.sum(1).std():.2f}")


def _independent_kernel(seed: int, fan_in: int | None = None, layer: str = "both") -> None:
    """Install, for this process, the compiled stream kernel with per-synapse rounding (see the module doc): on every
    plastic synapse (``layer`` "both"), or only on W1 or only on W2, told apart by W1's fan-in ``fan_in``."""
    import atexit
    import importlib.util
    import shutil
    import tempfile
    from pathlib import Path

    import numba

    from toolkit.backends.reference import _stream_kernel, stream_compiled

    source = Path(_stream_kernel.__file__).read_text()
    shared = "1 if r_syn < q - f else 0"
    if source.count(shared) != 1:
        raise SystemExit("readout_limits.py independent: the kernel's rounding line has changed; update this probe")
    folder = Path(tempfile.mkdtemp(prefix="nfa-independent-rounding-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)     # the patched copy and its numba cache
    own = "np.random.random()"
    if layer != "both":        # the kernel sees a synapse's shape only: W1 is the one whose fan-in is the input's
        own = f"(np.random.random() if n_pre {'==' if layer == 'W1' else '!='} {int(fan_in or 0)} else r_syn)"
    (folder / "kernel_independent.py").write_text(source.replace(shared, f"1 if {own} < q - f else 0"))
    numba.config.CACHE_DIR = str(folder / "cache")
    spec = importlib.util.spec_from_file_location("kernel_independent", folder / "kernel_independent.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stream_compiled._KERNEL = module.stream_kernel

    @numba.njit
    def _seed(s: int) -> None:   # numba's generator is its own: seed it inside compiled code
        np.random.seed(s)

    _seed(seed)


def independent(dataset: str, seed: int, layer: str = "both") -> None:
    from compilers.onchip import train_inputs

    train, test = load_dataset(dataset)
    # the Fashion settings above, or the digits network of onchip-digits.yaml (as rounding_offsets.py builds it)
    spec = OnChipFA(**{**SETTINGS, "seed": seed}) if dataset == "fashion-mnist" else digits_spec(seed, {})
    if layer != "both" and spec.n_in == spec.n_hidden:
        raise SystemExit("readout_limits.py independent --layer: W1 and W2 have the same fan-in, which is how the "
                         "kernel tells them apart; use --layer both")
    _independent_kernel(seed, spec.n_in, layer)
    order = np.random.default_rng([seed, 0]).permutation(len(train))
    g = build_onchip_fa(spec)
    learned = simulate(g, train_inputs(spec, _flat(train)[order], train.y[order]), seed=seed, engine="stream").learned
    acc = simulate(forward_graph(with_weights(g, learned)), _flat(test)).accuracy(test.y)
    where = "every plastic synapse" if layer == "both" else f"{layer} only (the other layer: Lava's shared number)"
    print(f"{dataset}, seed {seed}, one pass with per-synapse rounding on {where} (not Lava's): test accuracy "
          f"{acc:.4f}")


def population(k: int, samples: int, seed: int) -> None:
    train, test = load_dataset("fashion-mnist")
    spec = OnChipFA(**{**SETTINGS, "n_classes": 10 * k, "seed": seed})
    order = np.random.default_rng([seed, 0]).permutation(len(train))[:samples]
    x, y = _flat(train)[order], train.y[order]
    label = np.zeros((len(y), 10 * k))
    for j in range(k):
        label[np.arange(len(y)), y * k + j] = spec.label_rate
    g = build_onchip_fa(spec)
    learned = with_weights(g, simulate(g, {"x": x, "label": label}, seed=seed, engine="stream").learned)
    w2 = np.asarray(learned.node("W2").weight).reshape(10, k, -1)
    same = all(np.array_equal(w2[:, 0], w2[:, j]) for j in range(1, k))
    s = np.asarray(simulate(forward_graph(learned), _flat(test)).scores).reshape(len(test), 10, k)
    single = [float((s[:, :, j].argmax(1) == test.y).mean()) for j in range(k)]
    pooled = float((s.sum(2).argmax(1) == test.y).mean())
    print(f"k={k}, {samples} images, seed {seed}: the {k} copies' W2 rows identical: {same}; test accuracy of each "
          f"copy {', '.join(f'{a:.4f}' for a in single)}; pooled {pooled:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("probe", choices=["ceiling", "rounding", "independent", "population"])
    ap.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist", "digits"], help="independent")
    ap.add_argument("--hidden", type=int, default=300, help="ceiling: hidden neurons")
    ap.add_argument("--k", type=int, default=5, help="population: output neurons per class")
    ap.add_argument("--samples", type=int, default=5000, help="population: training images")
    ap.add_argument("--layer", default="both", choices=["both", "W1", "W2"],
                    help="independent: round per synapse on both plastic layers, or on one (the other as Lava does)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    try:
        _run(a)
    except ToolkitError as e:    # e.g. the Fashion-MNIST IDX files missing: one line, with the way out
        raise SystemExit(f"readout_limits.py {a.probe}: {e}") from None


def _run(a: argparse.Namespace) -> None:
    if a.probe == "ceiling":
        ceiling(a.hidden)
    elif a.probe == "rounding":
        rounding()
    elif a.probe == "independent":
        independent(a.dataset, a.seed, a.layer)
    else:
        population(a.k, a.samples, a.seed)


if __name__ == "__main__":
    main()
