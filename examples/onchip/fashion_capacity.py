"""How well can the on-chip FA network's hidden layer separate Fashion-MNIST? (docs/results/onchip.md)

For the network of ``onchip-fashion.yaml`` (784 → H hidden → 10), a ridge classifier fitted offline on the hidden
layer's spike counts in the reference bounds what the chip's readout (the delta rule on W2) can reach with those
features: with the random initial W1, and with the W1 the chip learned over the first ``--samples`` training images
(the chip's own readout accuracy is printed beside it). Usage::

    .venv/bin/python examples/onchip/fashion_capacity.py --samples 10000 --hidden 100 300
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.linear_model import RidgeClassifier

from compilers.onchip import OnChipFA, build_onchip_fa, forward_graph, train_inputs, with_weights
from toolkit import ir
from toolkit.backends.reference import simulate
from toolkit.data import load_dataset


def hidden_counts(graph: ir.Graph, x: np.ndarray, n_hidden: int) -> np.ndarray:
    """Spike counts of the hidden group ``h`` of ``graph``'s classifier for inputs ``x``."""
    fwd = forward_graph(graph)
    keep = {"x", "W1", "h"}
    nodes = [n for n in fwd.nodes if n.name in keep]
    nodes.append(ir.Output(name="out", shape=(n_hidden,), readout=ir.ReadoutMode.SPIKE_COUNT))
    edges = [e for e in fwd.edges if e.src in keep and e.dst in keep] + [ir.Edge("h", "out")]
    sub = ir.check_graph(ir.Graph(nodes=tuple(nodes), edges=tuple(edges), records=fwd.records))
    return simulate(sub, x).scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10000, help="training images the chip learns (and ridge fits)")
    ap.add_argument("--test", type=int, default=2000, help="test images")
    ap.add_argument("--hidden", type=int, nargs="+", default=[100, 300])
    a = ap.parse_args()
    train, test = load_dataset("fashion-mnist")
    x, y = train.x[:a.samples].reshape(a.samples, -1).astype(float), train.y[:a.samples]
    xt, yt = test.x[:a.test].reshape(a.test, -1).astype(float), test.y[:a.test]
    for h in a.hidden:
        # the settings of onchip-fashion.yaml; more hidden neurons sum more inputs: a proportionally higher vth_output
        spec = OnChipFA(n_in=784, n_hidden=h, vth_hidden=500, third_hidden=1, vth_output=400 * h // 100)
        g = build_onchip_fa(spec)
        learned = with_weights(g, simulate(g, train_inputs(spec, x, y)).learned)
        chip = simulate(forward_graph(learned), xt).accuracy(yt)
        for name, graph in (("random W1", g), ("learned W1", learned)):
            ridge = RidgeClassifier(alpha=10.0).fit(hidden_counts(graph, x, h), y)
            score = ridge.score(hidden_counts(graph, xt, h), yt)
            print(f"H={h}: ridge on the hidden spike counts, {name}: {score:.4f}")
        print(f"H={h}: the chip's own readout after {a.samples} samples: {chip:.4f}")
    ridge = RidgeClassifier(alpha=10.0).fit(x, y)
    print(f"ridge on the pixels themselves: {ridge.score(xt, yt):.4f}")


if __name__ == "__main__":
    main()
