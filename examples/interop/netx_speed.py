"""Reference simulator vs lava-dl netx in Lava on one imported netx network (docs/results/interop.md, "netx").

A network of lava-dl slayer CUBA blocks (64 → hidden → 10 Dense, random weights, the seed fixed) is exported as
lava-dl's tutorials do (``export_hdf5`` per block), imported with ``nfa``'s netx reader, and fed the same spike
rasters (rate-coded digits test images) in both simulators:

* lava-dl's ``netx.hdf5.Network`` in Lava's CPU simulator (``Loihi2SimCfg(select_tag="fixed_pt")``), all samples
  in one run, neurons reset every T steps (``reset_interval=T``);
* the reference simulator on the imported graph: with the engine ``auto`` picks (median of 5 calls after a
  first one, which compiles the event engine) and with the NumPy engine ``nodes``; then once more recording the
  output layer (engine ``nodes``) to compare its spikes with netx's, step for step.

It prints samples/s of both and whether every output spike is equal. Usage::

    .venv/bin/python examples/interop/netx_speed.py --samples 360 --hidden 64 --timesteps 16
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import torch

from compilers.importers import read_network
from toolkit import ir
from toolkit.backends.reference import simulate
from toolkit.data import load_digits
from toolkit.encoding import encode, quantize_input
from toolkit.lavacompat import require_lava


def write_net(path: Path, hidden: int, timesteps: int, seed: int) -> None:
    """Slayer CUBA Dense blocks exported into a netx file: an input layer, then one layer per block."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lava.lib.dl import slayer
    torch.manual_seed(seed)
    cuba = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03, "requires_grad": False}
    blocks = [slayer.block.cuba.Dense(cuba, 64, hidden, weight_scale=3),
              slayer.block.cuba.Dense(cuba, hidden, 10, weight_scale=3)]
    with torch.no_grad():  # one forward pass fixes the blocks' shapes, as before any export
        x = torch.rand(1, 64, 4)
        for b in blocks:
            x = b(x)
    with h5py.File(path, "w") as f:
        f.create_dataset("simulation/Ts", data=1)
        f.create_dataset("simulation/tSample", data=timesteps)
        f.create_dataset("layer/0/type", (1,), "S10", [b"input"])
        f.create_dataset("layer/0/shape", data=np.array([64]))
        for i, b in enumerate(blocks, start=1):
            b.export_hdf5(f.create_group(f"layer/{i}"))


def run_netx(path: Path, raster: np.ndarray, timesteps: int) -> tuple[np.ndarray, float, float]:
    """(output spikes (samples·T, 10) aligned to the graph's steps, seconds in all, seconds in ``run``)."""
    require_lava()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    start = time.perf_counter()
    net = netx.hdf5.Network(net_config=str(path), reset_interval=timesteps, reset_offset=1)
    depth, steps = len(net.layers), raster.shape[0]
    data = np.zeros((raster.shape[1], steps + depth), np.int32)
    data[:, :steps] = raster.T   # zeros after the input so the ring buffer does not wrap
    src, sink = Source(data=data), Sink(shape=net.out.shape, buffer=steps + depth)
    src.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        run_start = time.perf_counter()
        net.run(condition=RunSteps(num_steps=steps + depth), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        run_s = time.perf_counter() - run_start
        out = sink.data.get().T[depth:depth + steps]   # the last layer's step t is the graph's step t - depth
    finally:
        net.stop()
    return out.astype(np.int64), time.perf_counter() - start, run_s


def _median_s(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``repeat`` calls (the machine is shared: one call is noisy at a few milliseconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--timesteps", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    x = load_digits()[1].x[:args.samples]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.net"
        write_net(path, args.hidden, args.timesteps, args.seed)
        graph = read_network(path).graph
        inp = graph.of_type(ir.Input)[0]
        t = args.timesteps
        raster = encode(quantize_input(x, inp.bits), t, inp.encoding, bits=inp.bits, seed=inp.seed)
        theirs, netx_s, netx_run_s = run_netx(path, raster.reshape(len(x) * t, -1), t)

    start = time.perf_counter()
    fast = simulate(graph, x, timesteps=t)
    first_s = time.perf_counter() - start   # includes numba's compilation of the event engine, once per process
    ref_s = _median_s(lambda: simulate(graph, x, timesteps=t))
    nodes_s = _median_s(lambda: simulate(graph, x, timesteps=t, engine="nodes"))
    last = graph.source("out").name
    traced = simulate(graph, x, timesteps=t, record=[last], engine="nodes")
    ours = traced.traces[last]["s"].reshape(len(x) * t, -1).astype(np.int64)
    equal = bool(np.array_equal(ours, theirs))
    assert np.array_equal(fast.scores, traced.scores)

    n = len(x)
    print(f"network: 64 -> {args.hidden} -> 10 CUBA (slayer blocks, netx file), T = {t}, {n} digits test samples")
    print(f"output spikes: {int(ours.sum())} (reference) vs {int(theirs.sum())} (netx)")
    print(f"every output spike equal: {equal}")
    print(f"netx in Lava (fixed_pt): {n / netx_s:10.1f} samples/s   ({netx_s:.2f} s in all, "
          f"{netx_run_s:.2f} s running)")
    print(f"reference ({fast.engine:6s}):      {n / ref_s:10.1f} samples/s   ({ref_s:.3f} s; first call "
          f"{first_s:.2f} s with compilation)")
    print(f"reference (nodes, NumPy): {n / nodes_s:10.1f} samples/s   ({nodes_s:.3f} s)")
    print(f"speed-up: {netx_s / ref_s:.0f}x (run only: {netx_run_s / ref_s:.0f}x)")
    if not equal:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
