"""Activity counts and the modelled energy and latency, against hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from compilers.cost import MODELLED_LABEL, count_activity, input_events, model_cost
from compilers.passes.mapping import plan_network
from toolkit.backends.reference import simulate
from toolkit.hw import EnergyBasis, load_hw


@pytest.fixture
def tiny(lif_chain):
    """2 inputs -> 3 neurons (all weights nonzero) -> 1 neuron fed by neurons 0 and 2 only."""
    return lif_chain([np.full((3, 2), 4, np.int32), np.array([[2, 0, 2]], np.int32)], timesteps=4)


def _events(rng, n=2, t=4):
    return {"in": rng.integers(0, 2, (n, t, 2)), "lif1": rng.integers(0, 2, (n, t, 3)),
            "lif2": rng.integers(0, 2, (n, t, 1))}


def test_counts_by_hand(tiny, rng):
    p = plan_network(tiny, load_hw("loihi2"))
    assert list(p.layers[0].entries_per_input) == [3, 3]   # one dense list of 3 entries per input
    assert list(p.layers[1].entries_per_input) == [1, 0, 1]  # neuron 1 has no synapse on fc2's core
    ev = _events(rng)
    a = count_activity(p, ev, input_name="in")
    n_in, n1, n2 = (ev[k].sum() / 2 for k in ("in", "lif1", "lif2"))
    via_02 = ev["lif1"][..., [0, 2]].sum() / 2
    assert a.samples == 2 and a.timesteps == 4
    assert a.synops == pytest.approx(3 * n_in + via_02)
    assert a.neuron_updates == (3 + 1) * 4
    assert a.messages == pytest.approx(n_in + via_02 + n2)  # each to one core; output spikes to the host
    assert a.spikes == pytest.approx(n1 + n2)


def test_energy_and_latency_by_hand(tiny, rng):
    hw = load_hw("loihi1")
    e = hw.energy
    p = plan_network(tiny, hw)
    ev = _events(rng)
    a = count_activity(p, ev, input_name="in")
    cost = model_cost(a, p)
    assert cost is not None and cost.basis == EnergyBasis.PRE_SILICON.value
    want = a.synops * 23.6 + a.neuron_updates * 81.0 + a.messages * 1.7
    assert cost.energy_pj["total"] == pytest.approx(want)
    # per step: the busier of the two cores, plus one barrier synchronisation
    ops0 = ev["in"].sum(axis=2) * 3
    ops1 = ev["lif1"][..., [0, 2]].sum(axis=2)
    step = np.maximum(ops0 * e.synop_ns + 3 * e.neuron_update_ns, ops1 * e.synop_ns + e.neuron_update_ns)
    assert cost.latency_ns == pytest.approx((step + e.barrier_sync_ns).sum(axis=1).mean())
    js = cost.to_json()
    assert js["label"] == MODELLED_LABEL and "static (leakage) power" in js["not_modelled"]


def test_loihi2_energy_is_a_labelled_stand_in():
    e = load_hw("loihi2").energy
    assert e is not None and e.basis is EnergyBasis.STAND_IN and "STAND-IN" in e.source


def test_no_energy_section_means_no_energy(tiny, tiny_hw, rng):
    hw = tiny_hw(energy=None)
    p = plan_network(tiny, hw)
    assert model_cost(count_activity(p, _events(rng), input_name="in"), p) is None


def test_counts_from_the_reference_simulator(tiny, rng):
    x = rng.random((5, 2))
    p = plan_network(tiny, load_hw("loihi2"))
    traces = simulate(tiny, x, record=["lif1", "lif2"]).traces
    ev = {"lif1": traces["lif1"]["s"], "lif2": traces["lif2"]["s"], "in": input_events(tiny, x, 4)}
    a = count_activity(p, ev, input_name="in")
    assert a.layers[0].in_events == pytest.approx(ev["in"].sum() / 5) and a.layers[0].in_events > 0
    assert a.layers[1].out_events == pytest.approx(ev["lif2"].sum() / 5)
