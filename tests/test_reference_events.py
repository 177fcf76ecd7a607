"""The reference simulator's event-driven engine computes the same integers as its NumPy engines.

The NumPy engines are conformance-tested against Lava (tests/conformance); here random
Dense/LIF chains with every parameter the engine treats separately (integrate-and-fire and
leaky neurons, both resets, weight exponents of both signs, biases, rate/Poisson/current
input, sums that need int64 and currents that wrap) must give identical spike counts.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from toolkit import ir
from toolkit.backends.reference import events, simulate
from toolkit.errors import LoweringError

pytestmark = pytest.mark.skipif(not events.available(), reason="numba is not installed")


def _random_chain(rng: np.random.Generator, encoding: ir.Encoding, *, leaky: bool, big: bool) -> ir.Graph:
    sizes = [int(rng.integers(5, 60)) for _ in range(int(rng.integers(2, 5)))]
    nodes: list[ir.Node] = [ir.Input(name="in", shape=(1, 1, sizes[0]), encoding=encoding,
                                     bits=int(rng.integers(1, 9)), seed=int(rng.integers(100))),
                            ir.Flatten(name="flat")]
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        magnitude = 254 if big else int(rng.choice([8, 64, 254]))
        w = (rng.integers(-magnitude // 2, magnitude // 2 + 1, size=(b, a)) * 2).astype(np.int32)
        exp = int(rng.integers(3, 8) if big else rng.integers(-7, 4))
        nodes.append(ir.Dense(name=f"d{i}", weight=w, weight_exp=exp))
        nodes.append(ir.LoihiLIF(
            name=f"lif{i}", shape=(b,), vth=int(rng.integers(0, 1 << (17 if big else 8))),
            bias_mant=rng.integers(-4096, 4096, size=b).astype(np.int32),
            bias_exp=rng.integers(0, 8, size=b).astype(np.int32),
            du=int(rng.integers(0, 4096)) if leaky else 4095, dv=int(rng.integers(0, 4096)) if leaky else 0,
            reset=ir.ResetMode(rng.choice([m.value for m in ir.ResetMode]))))
    nodes.append(ir.Output(name="out", shape=(sizes[-1],), readout=ir.ReadoutMode.SPIKE_COUNT))
    return ir.check_graph(ir.Graph.chain(nodes, records=(ir.Timesteps(steps=int(rng.integers(1, 40))),)))


@pytest.mark.parametrize("encoding", [ir.Encoding.RATE, ir.Encoding.POISSON, ir.Encoding.CURRENT])
@pytest.mark.parametrize("leaky", [False, True])
@pytest.mark.parametrize("big", [False, True])
def test_events_equal_numpy_engines_on_random_chains(encoding, leaky, big):
    rng = np.random.default_rng([7, list(ir.Encoding).index(encoding), leaky, big])
    spiked = 0
    for _ in range(8):
        graph = _random_chain(rng, encoding, leaky=leaky, big=big)
        x = rng.random((int(rng.integers(1, 40)), *graph.nodes[0].shape))
        want = simulate(graph, x, engine="step")
        got = simulate(graph, x, engine="events", batch_size=7)  # several batches: Poisson indices carry over
        assert got.engine == "events" and want.engine == "step"
        np.testing.assert_array_equal(got.scores, want.scores)
        np.testing.assert_array_equal(simulate(graph, x, engine="nodes", batch_size=5).scores, want.scores)
        spiked += int(want.scores.sum() > 0)
    assert spiked >= 2, "too few of the random networks spiked at all to compare anything"


def test_events_take_the_wide_paths_where_the_narrow_ones_could_overflow():
    # synaptic input far above 2^17 (a << 6 wraps the 24-bit current) and sums above 2^31 (int64)
    w = np.full((3, 784), 254, np.int32)
    w[1] *= -1
    graph = ir.check_graph(ir.Graph.chain([
        ir.Input(name="in", shape=(784,), encoding=ir.Encoding.CURRENT, bits=8),
        ir.Dense(name="d", weight=w, weight_exp=7),
        ir.LoihiLIF(name="lif", shape=(3,), vth=(1 << 17) - 1, bias_mant=np.zeros(3, np.int32),
                    bias_exp=np.zeros(3, np.int32), du=4095, dv=0),
        ir.Output(name="out", shape=(3,), readout=ir.ReadoutMode.SPIKE_COUNT)], records=(ir.Timesteps(steps=20),)))
    x = np.random.default_rng(0).random((5, 784))
    np.testing.assert_array_equal(simulate(graph, x, engine="events").scores, simulate(graph, x, engine="step").scores)


def test_auto_uses_events_only_where_they_apply(compiled_rate, digits):
    _, test = digits
    x = test.x[:50]
    assert simulate(compiled_rate, x).engine == "events"
    recorded = simulate(compiled_rate, x, record=True)
    assert recorded.engine == "nodes"
    np.testing.assert_array_equal(recorded.scores, simulate(compiled_rate, x).scores)
    with pytest.raises(LoweringError, match="engine='step' or 'nodes'"):
        simulate(compiled_rate, x, engine="events", record=True)
    with pytest.raises(LoweringError, match="unknown reference engine"):
        simulate(compiled_rate, x, engine="gpu")


def test_plan_refuses_what_the_engine_cannot_run(lif_chain):
    g = lif_chain([np.ones((4, 6), np.int32), np.ones((3, 4), np.int32)])
    assert events.plan_events(g) is not None
    delta = ir.Graph.chain([n.replace(encoding=ir.Encoding.DELTA) if isinstance(n, ir.Input) else n
                            for n in g.nodes], records=g.records)
    assert events.plan_events(delta) is None


def test_the_kernel_cache_is_keyed_by_the_arithmetic_it_inlines(monkeypatch):
    """Numba's own cache checks only the kernel file's time stamp; the kernel inlines ``fixed.py``, so the cache
    folder is named by a hash of both sources (a stale kernel once ran the old arithmetic 100x slower)."""
    from pathlib import Path

    from toolkit.backends.reference import events

    read: list[str] = []
    real = Path.read_bytes

    def spy(self: Path) -> bytes:
        read.append(self.name)
        return real(self)

    before = events._cache_dir()
    monkeypatch.setattr(Path, "read_bytes", spy)
    assert events._cache_dir() == before
    assert sorted(read) == ["_event_kernel.py", "fixed.py"]
    monkeypatch.setattr(Path, "read_bytes", lambda self: real(self) + (b"#" if self.name == "fixed.py" else b""))
    assert events._cache_dir() != before
