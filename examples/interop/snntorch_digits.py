"""Train a 64-32-10 snnTorch network on sklearn digits, export it to NIR, import it with ``nfa``'s NIR reader and
compare its accuracy in snnTorch, in the reference simulator and in Lava (fixed_pt) on the same input spikes.

Every network sees the deterministic rate code of the image (``toolkit.encoding.Encoding.RATE``, 8 bits): the
spikes fed to snnTorch are exactly those the imported network's Input node produces. The neurons reset to zero
(``reset_mechanism="zero"``), which is NIR's (and Loihi's) reset, so the imported dynamics differ from snnTorch's
only by forward Euler being exact here (dt = snnTorch's export step) and by quantisation.

    .venv/bin/python examples/interop/snntorch_digits.py [--epochs 30] [--steps 16] [--lava-samples 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

DT = 1e-4            # snnTorch's export_to_nir writes tau = dt / (1 - beta) with this dt
HIDDEN, CLASSES = 32, 10


def rate_spikes(x: np.ndarray, steps: int, bits: int = 8) -> np.ndarray:
    """(N, T, features) binary spikes: the Input node's rate code of x in [0, 1]."""
    from toolkit.encoding import Encoding, encode, quantize_input

    return encode(quantize_input(x, bits), steps, Encoding.RATE, bits=bits)


def make_net(beta: float = 0.9) -> torch.nn.Sequential:
    """Per-neuron beta and threshold tensors give the exported NIR nodes their shapes (a scalar beta exports a
    shapeless LIF that nir's type inference rejects)."""
    import snntorch as snn

    def leaky(n: int) -> torch.nn.Module:
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n), init_hidden=True,
                         reset_mechanism="zero")

    return torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), leaky(HIDDEN), torch.nn.Linear(HIDDEN, CLASSES),
                               leaky(CLASSES))


def run_snntorch(net: torch.nn.Sequential, spikes: np.ndarray) -> torch.Tensor:
    """Output spike counts (N, classes) over the T steps, states reset per batch."""
    import snntorch.utils as su

    su.reset(net)
    s = torch.as_tensor(spikes, dtype=torch.float32)
    return torch.stack([net(s[:, t]) for t in range(s.shape[1])], dim=1).sum(dim=1)


def train(net: torch.nn.Sequential, spikes: np.ndarray, labels: np.ndarray, epochs: int, seed: int = 0) -> None:
    """Cross-entropy on the spike counts, surrogate gradients (snnTorch's default ATan)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    y = torch.as_tensor(labels)
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(128):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(run_snntorch(net, spikes[idx.numpy()]), y[idx])
            loss.backward()
            opt.step()


def export(net: torch.nn.Sequential, path: Path) -> Path:
    import nir
    from snntorch.export_nir import export_to_nir

    nir.write(str(path), export_to_nir(net, torch.zeros(64)))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--lava-samples", type=int, default=360, help="test images run in Lava (default: all 360)")
    a = ap.parse_args()

    from compilers.importers import ImportOptions, read_network
    from toolkit.backends.lava_sim import run_lava
    from toolkit.backends.reference import simulate
    from toolkit.data import load_dataset

    train_set, test_set = load_dataset("digits")
    torch.manual_seed(0)   # the initial weights
    net = make_net()
    t0 = time.perf_counter()
    train(net, rate_spikes(train_set.x, a.steps), train_set.y, a.epochs)
    print(f"trained {a.epochs} epochs in {time.perf_counter() - t0:.1f} s")
    with torch.no_grad():
        counts = run_snntorch(net, rate_spikes(test_set.x, a.steps)).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        imported = read_network(export(net, Path(tmp) / "digits.nir"), ImportOptions(dt=DT, timesteps=a.steps))
    ref = simulate(imported.graph, test_set.x)
    n = a.lava_samples
    lava = run_lava(imported.graph, test_set.x[:n], progress=False)
    print(f"test images: {len(test_set.y)}, timesteps {a.steps}, dt {DT}")
    print(f"snnTorch accuracy:            {np.mean(counts.argmax(1) == test_set.y):.4f}")
    print(f"imported, reference accuracy: {ref.accuracy(test_set.y):.4f}")
    print(f"first {n}: snnTorch {np.mean(counts[:n].argmax(1) == test_set.y[:n]):.4f}, "
          f"reference {np.mean(ref.predictions[:n] == test_set.y[:n]):.4f}, "
          f"Lava fixed_pt {lava.accuracy(test_set.y[:n]):.4f}, Lava == reference spike counts: "
          f"{bool(np.array_equal(lava.scores, ref.scores[:n]))}")
    print("predictions agree snnTorch vs reference:", f"{np.mean(counts.argmax(1) == ref.predictions):.4f}")


if __name__ == "__main__":
    main()
