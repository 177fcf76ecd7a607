"""The core-mapping pass against hand-computed core counts, and its limit errors.

Memory figures below use the Loihi 1 synapse lists of hw_configs/*.yaml (nengo-loihi's
``bits_per_axon``): per input axon, lists of up to 64 entries, each list 10 header bits plus
8 bits per dense entry (14 = 8 + 6 index bits per sparse entry), rounded up to 64-bit words.
So a dense list of 64 entries costs ceil(522 / 64) = 9 words = 576 bits, of 36 entries 320 bits.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compilers.passes import map_cores
from compilers.passes.mapping import conv2d_matrix, list_bits, plan_network
from toolkit import ir
from toolkit.errors import HardwareLimitError, LoweringError
from toolkit.hw import load_hw


def _full(n_out: int, n_in: int) -> np.ndarray:
    """An all-nonzero weight matrix that costs no memory (a broadcast view)."""
    return np.broadcast_to(np.int32(2), (n_out, n_in))


def test_list_bits_match_nengo_loihi():
    mem = load_hw("loihi2").synapse_memory
    assert list(list_bits(np.array([0, 1, 36, 64, 100, 128]), 8, mem)) == [0, 64, 320, 576, 896, 1152]
    assert int(list_bits(np.array(10), 8 + 7, mem)) == 192  # 10 sparse entries: 150 + 10 = 160 -> 3 words


def test_small_mlp_one_core_per_layer(lif_chain, rng):
    g = lif_chain([rng.integers(1, 50, (100, 64)) * 2, rng.integers(1, 50, (100, 100)) * 2,
                   rng.integers(1, 50, (10, 100)) * 2])
    m = map_cores(g, hw=load_hw("loihi2")).record(ir.CoreMapping).to_json()["placement"]
    assert m["cores"] == 3 and m["chips"] == 1
    first = m["groups"][0]
    # 64 input axons, each with a dense list of 100 entries (64 + 36): 64 * (576 + 320) bits
    assert first["synapse_memory_bits"] == 64 * 896
    assert first["max_per_core"] == {"max_neurons": 100, "max_synapse_memory_bits": 57344, "max_fan_in_axons": 64,
                                     "max_fan_out_axons": 100}  # each relu1 neuron sends to dense2's one core
    assert first["limited_by"] is None and first["source"] == "in"


def test_neuron_limit_splits_a_group(lif_chain):
    # loihi1: 1024 neurons per core; 100 axons x 16 dense lists of 64 = 921,600 bits fit the 1,048,576
    g = lif_chain([_full(3000, 100)])
    m = map_cores(g, hw=load_hw("loihi1")).record(ir.CoreMapping).to_json()["placement"]
    assert m["cores"] == 3 and m["groups"][0]["neurons_per_core"] == 1024  # ceil(3000 / 1024)
    assert m["groups"][0]["limited_by"] == "core.max_neurons"


def test_wide_mlp_needs_three_loihi2_chips(lif_chain):
    """64-4096-4096-10, every weight nonzero, hand-computed:

    * fc2 (fan-in 4096): p neurons per core cost 4096 axons x list_bits(p) <= 2^20 bits, so
      list_bits(p) <= 256, i.e. 8p + 10 <= 256: p = 30 -> ceil(4096 / 30) = 137 cores;
    * fc1: each neuron sends to all 137 fc2 cores; 4096 output axons per core allow
      floor(4096 / 137) = 29 neurons -> ceil(4096 / 29) = 142 cores (memory allows far more);
    * fc3: 10 neurons, 4096 axons x 128 bits = 2^19 bits -> 1 core.
    280 cores = 3 chips of 128; fc2 spans chips 1-2.
    """
    g = lif_chain([_full(4096, 64), _full(4096, 4096), _full(10, 4096)])
    m = map_cores(g, hw=load_hw("loihi2")).record(ir.CoreMapping).to_json()["placement"]
    assert [grp["cores"] for grp in m["groups"]] == [142, 137, 1]
    assert [grp["neurons_per_core"] for grp in m["groups"]] == [29, 30, 10]
    assert [grp["limited_by"] for grp in m["groups"]] == ["core.max_fan_out_axons",
                                                          "core.max_synapse_memory_bits", None]
    assert m["cores"] == 280 and m["chips"] == 3
    assert [grp["chips"] for grp in m["groups"]] == [[0, 1], [1, 2], [2, 2]]


def test_network_larger_than_the_board_names_the_layer(lif_chain):
    # nine 4096-wide layers: 142 cores each (fan-out bound) + 137 + 1 = 1,278 + ... > 8 x 128
    g = lif_chain([_full(4096, 64)] + [_full(4096, 4096)] * 8 + [_full(10, 4096)])
    with pytest.raises(HardwareLimitError) as exc:
        map_cores(g, hw=load_hw("loihi2"))
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("layer 'fc7' does not fit on the board")  # fc1..fc7 end past core 1,024
    assert "board.chips = 8 (Kapoho Point, loihi2)" in msg and "larger board" in msg and "sparser" in msg


def test_fan_in_above_the_axon_limit_is_refused(lif_chain):
    g = lif_chain([_full(3000, 5000)])
    with pytest.raises(HardwareLimitError, match=r"layer 'fc1': one neuron has synapses from 5000 inputs, more than "
                                                 r"core.max_fan_in_axons = 4096 of loihi1; reduce the layer's fan-in"):
        map_cores(g, hw=load_hw("loihi1"))


def test_fan_out_above_the_axon_limit_is_refused(lif_chain, tiny_hw):
    # 2 neurons per core, 8 output axons: each fc1 neuron would send to all 10 fc2 cores
    hw = tiny_hw(core={"max_neurons": 2, "max_fan_out_axons": 8})
    g = lif_chain([_full(4, 8), _full(20, 4)])
    with pytest.raises(HardwareLimitError, match="layer 'fc1': one neuron sends to 10 cores of layer 'fc2', more "
                                                 "than core.max_fan_out_axons = 8"):
        map_cores(g, hw=hw)


def test_sparser_weights_take_fewer_cores(lif_chain, rng):
    dense_w = rng.integers(1, 100, (2000, 2000)).astype(np.int32) * 2
    sparse_w = dense_w * (rng.random(dense_w.shape) < 0.05)  # 95 % zeros
    hw = load_hw("loihi2")
    dense_cores = map_cores(lif_chain([dense_w]), hw=hw).record(ir.CoreMapping).to_json()["placement"]["groups"][0]
    sparse_cores = map_cores(lif_chain([sparse_w]), hw=hw).record(ir.CoreMapping).to_json()["placement"]["groups"][0]
    assert dense_cores["lists"]["sparse_cores"] == 0 and sparse_cores["lists"]["dense_cores"] == 0
    assert sparse_cores["cores"] < dense_cores["cores"] / 4
    assert sparse_cores["synapses"] == int(np.count_nonzero(sparse_w))


def test_chips_fill_in_order_on_a_small_board(lif_chain, tiny_hw):
    hw = tiny_hw(chip={"neuro_cores": 4}, board={"chips": 2}, core={"max_neurons": 64})
    m = map_cores(lif_chain([_full(200, 64), _full(10, 200)]), hw=hw).record(ir.CoreMapping).to_json()["placement"]
    assert [g["cores"] for g in m["groups"]] == [4, 1] and m["chips"] == 2  # ceil(200 / 64) = 4, then 1
    assert [g["chips"] for g in m["groups"]] == [[0, 0], [1, 1]]


@pytest.mark.parametrize("stride, padding, dilation, groups",
                         [((1, 1), (1, 1), (1, 1), 1), ((2, 1), (0, 2), (1, 2), 2)])
def test_conv_connectivity_is_the_convolution(rng, stride, padding, dilation, groups):
    w = rng.integers(-3, 4, (4, 4 // groups, 3, 3)).astype(np.int32)
    n = ir.Conv2d(name="c", weight=w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    x = rng.integers(0, 2, (4, 9, 8))
    m = conv2d_matrix(n, x.shape)
    want = torch.nn.functional.conv2d(torch.tensor(x[None], dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                                      stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_array_equal(m @ x.reshape(-1), want.numpy().reshape(-1))


def test_conv_layer_maps_by_its_receptive_fields():
    w = np.ones((4, 1, 3, 3), np.int32) * 2
    g = ir.check_graph(ir.Graph.chain([
        ir.Input(name="in", shape=(1, 8, 8), encoding=ir.Encoding.RATE),
        ir.Conv2d(name="conv", weight=w, padding=(1, 1)),
        ir.LoihiLIF(name="lif", shape=(4, 8, 8), vth=10, bias_mant=np.zeros((4, 8, 8), np.int32),
                    bias_exp=np.zeros((4, 8, 8), np.int32)),
        ir.Flatten(name="flat"),
        ir.Dense(name="fc", weight=_full(10, 256)),
        ir.LoihiLIF(name="out_lif", shape=(10,), vth=10, bias_mant=np.zeros(10, np.int32),
                    bias_exp=np.zeros(10, np.int32)),
        ir.Output(name="out", shape=(10,), readout=ir.ReadoutMode.SPIKE_COUNT)]))
    p = plan_network(g, load_hw("loihi2"))
    conv = p.layers[0]
    # 256 neurons x 9 taps minus the zero padding: 4 channels x (64 x 9 - 4 x 8 x 3 + 4) = 4 x 484
    assert conv.synapses == 4 * 484 and conv.fan_in == 9 and conv.cores == 1
    assert p.layers[1].source == "lif"  # through the Flatten


def test_unknown_node_types_name_what_is_supported(lif_chain):
    g = lif_chain([_full(4, 3)])
    float_group = ir.LIF(name="lif1", shape=(4,), threshold=1.0)
    with pytest.raises(LoweringError, match=r"no core-mapping rule for LIF 'lif1' \(supported: [\w, ]*LoihiLIF"):
        map_cores(g.with_nodes([float_group if n.name == "lif1" else n for n in g.nodes]), hw=load_hw("loihi2"))


def test_mapping_never_mutates_its_input(lif_chain):
    g = lif_chain([_full(4, 3)])
    before = {n.name: {k: a.copy() for k, a in n.arrays().items()} for n in g.nodes}
    out = map_cores(g, hw=load_hw("loihi2"))
    assert g.record(ir.CoreMapping) is None and out.record(ir.CoreMapping).to_json()["placement"]["cores"] == 1
    for n in g.nodes:
        for k, a in n.arrays().items():
            assert not a.flags.writeable, f"{n.name}.{k} is writable"
            np.testing.assert_array_equal(a, before[n.name][k], err_msg=f"{n.name}.{k} changed")
