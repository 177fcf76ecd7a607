"""Random conformance cases: small quantised IR graphs in the chip's full parameter ranges.

A *family* is a hypothesis strategy producing a ``Case`` (graph, inputs, timesteps). The
structure (depth, sizes, modes, exponents, T) is drawn by hypothesis so failures shrink to
small cases; array contents come from a drawn seed. Ranges deliberately reach the edges of
the formats (24-bit current wrap-around, voltage saturation, zero thresholds, right-shifted
sums; for convolutions the 24-bit wrap of the sum, strides, dilation, padding, depthwise and
pooling kernels; for sigma-delta groups every state and spike exponent, zero and 24-bit
thresholds, 16-bit biases, negative graded spikes, accumulated-error spiking, states up to
2^25) because that is where two implementations part ways.

Graded inputs can make sums grow without bound, and Lava's CPU models compute in int32, past
the chip's 24-bit formats. The sigma-delta and convolution families therefore size each
layer's exponent and weights from a worst-case bound of its input (``_fit_dense``,
``_fit_conv``) so that every value stays within the formats' edges and inside int32, where
the chip's arithmetic (and so the reference) is defined.

Chains are not enough: the graph families (``branching``, ``recurrent``, ``two_inputs``) join
LoihiLIF groups with Dense synapses in other topologies (fan-out and fan-in over paths of
unequal length, logical delays, self-recurrent and feedback cycles, a second Input), where the
Lava lowering must balance paths and keep samples apart (``toolkit.ir.timing``). Each
declares in ``Family.guarantees`` the structures (``PROPERTIES``) all its cases have.

Add a family for every node type the compiler lowers (``FAMILIES``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from toolkit import ir
from toolkit import learning as lr

__all__ = [
    "FAMILIES",
    "PROPERTIES",
    "Case",
    "Family",
    "alif_networks",
    "branching",
    "conv_chains",
    "dense_lif_chains",
    "dense_sdn_chains",
    "learning_lif_chains",
    "plastic_networks",
    "plastic_rules",
    "recurrent",
    "sequence_inputs",
    "two_factor_rules",
    "two_inputs",
    "voltage_readouts",
]


@dataclass(frozen=True)
class Case:
    graph: ir.Graph
    x: np.ndarray | dict[str, np.ndarray]   # a mapping by Input name for graphs with several inputs
    timesteps: int

    @property
    def neuron_groups(self) -> list[str]:
        return [n.name for n in self.graph.nodes if isinstance(n, ir.NeuronGroup)]


def _even_registers(rng: np.random.Generator, shape: tuple[int, ...], magnitude: int) -> np.ndarray:
    """Weight registers as the quantiser emits them: even values in [-magnitude, magnitude]."""
    return (rng.integers(-magnitude // 2, magnitude // 2 + 1, size=shape) * 2).astype(np.int32)


@st.composite
def _lif(draw: Callable, name: str, n: int | tuple[int, ...], rng: np.random.Generator) -> ir.LoihiLIF:
    shape = (n,) if isinstance(n, int) else tuple(n)
    return ir.LoihiLIF(
        name=name, shape=shape,
        vth=draw(st.one_of(st.integers(0, 64), st.integers(0, (1 << 17) - 1))),
        bias_mant=rng.integers(-draw(st.sampled_from([0, 50, 4096])), draw(st.sampled_from([1, 51, 4096])),
                               size=shape).astype(np.int32),
        bias_exp=rng.integers(0, draw(st.integers(1, 8)), size=shape).astype(np.int32),
        du=draw(st.one_of(st.just(4095), st.integers(0, 4095))),
        dv=draw(st.one_of(st.just(0), st.integers(0, 4095))),
        reset=draw(st.sampled_from(list(ir.ResetMode))),
    )


_ENCODINGS = [ir.Encoding.RATE, ir.Encoding.POISSON, ir.Encoding.CURRENT, ir.Encoding.DELTA]


@st.composite
def _inputs(draw: Callable, n: int) -> list[ir.Node]:
    """An Input of n features, sometimes shaped (c, h, w) and flattened."""
    encoding = draw(st.sampled_from(_ENCODINGS))
    kw = dict(name="input", encoding=encoding, bits=draw(st.integers(1, 8)), seed=draw(st.integers(0, 1000)))
    if draw(st.booleans()):
        return [ir.Input(shape=(n,), **kw)]
    return [ir.Input(shape=(1, 1, n), **kw), ir.Flatten(name="flatten")]


@st.composite
def dense_lif_chains(draw: Callable) -> Case:
    """Input → (Dense → LoihiLIF) × depth → Output, parameters anywhere in their ranges."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sizes = draw(st.lists(st.integers(1, 12), min_size=2, max_size=4))
    nodes: list[ir.Node] = draw(_inputs(sizes[0]))
    inp = nodes[0]
    assert isinstance(inp, ir.Input)
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        magnitude = draw(st.sampled_from([8, 64, 254]))
        r, e = _even_registers(rng, (b, a), magnitude), draw(st.integers(-7, 7))
        if i == 0 and inp.encoding.graded:  # graded input: keep a << 6 inside Lava's int32 (binary spikes always are)
            r, e, _ = _fit_dense(r, (1 << inp.bits) - 1, e, _LIF_DRIVE)
        nodes.append(ir.Dense(name=f"dense{i}", weight=r, weight_exp=e))
        nodes.append(draw(_lif(f"lif{i}", b, rng)))
    nodes.append(ir.Output(name="output", shape=(sizes[-1],), readout=ir.ReadoutMode.SPIKE_COUNT))
    t = draw(st.integers(1, 12))
    x = rng.random((draw(st.integers(1, 3)), *nodes[0].shape))
    return Case(graph=ir.Graph.chain(nodes, records=(ir.Timesteps(steps=t),)), x=x, timesteps=t)


_INT32_SAFE = 1 << 30   # every dendritic sum before its shift stays below this (Lava sums in int32)
_SD_DRIVE = 1 << 25     # T · max|a| of a sigma-delta group: its state reaches past 24 bits, inside int32
_LIF_DRIVE = 1 << 24    # max|a| into a LIF group (Lava shifts a << 6 in int32)
_WRAP = 1 << 23         # a convolution's sum is wrapped into 24 bits


def _row_bound(r: np.ndarray, max_in: int) -> int:
    flat = np.abs(r.reshape(r.shape[0], -1).astype(np.int64))
    return int(flat.sum(axis=1).max()) * max_in if flat.size else 0


def _shifted(bound: int, e: int) -> int:
    """Bound of |x · 2^e| (floor shift) for |x| ≤ bound."""
    return bound << e if e >= 0 else (bound >> -e) + 1


def _fit_dense(r: np.ndarray, max_in: int, e: int, a_limit: int) -> tuple[np.ndarray, int, int]:
    """Lower e (to −7), then halve the even registers, until the sum fits int32 and, shifted, ``a_limit``.

    Returns (registers, e, bound of the shifted sum)."""
    while True:
        b = _row_bound(r, max_in)
        if b < _INT32_SAFE and _shifted(b, e) <= a_limit:
            return r, e, _shifted(b, e)
        if _shifted(b, e) > a_limit and e > -7:
            e -= 1
        elif not r.any():
            return r, e, 0
        else:
            r = (np.fix(r / 4) * 2).astype(np.int32)  # halve, keep even (Lava drops a mixed-sign LSB)


def _fit_conv(r: np.ndarray, max_in: int) -> tuple[np.ndarray, int]:
    """Halve the registers until the sum fits int32 (it is then wrapped into 24 bits); returns (r, bound)."""
    while _row_bound(r, max_in) >= _INT32_SAFE:
        r = np.fix(r / 2).astype(np.int32)
    return r, min(_row_bound(r, max_in), _WRAP)


@st.composite
def _sigma_delta(draw: Callable, name: str, shape: tuple[int, ...], rng: np.random.Generator,
                 drive: int) -> tuple[ir.LoihiSigmaDelta, int]:
    """A sigma-delta group whose input sums over a sample are bounded by ``drive``; returns it and a bound
    of its graded spikes (|residue| ≤ 2 |y|, |δ| ≤ 3 |y|)."""
    state_exp, spike_exp = draw(st.integers(0, 7)), draw(st.integers(0, 7))
    scale = state_exp + spike_exp
    bias_max = draw(st.sampled_from([0, 3, ((1 << 15) - 1) >> scale]))
    node = ir.LoihiSigmaDelta(
        name=name, shape=shape, state_exp=state_exp, spike_exp=spike_exp,
        vth=draw(st.one_of(st.just(0), st.integers(0, 4), st.integers(0, ((1 << 23) - 1) >> scale))),
        bias_mant=rng.integers(-bias_max, bias_max + 1, size=shape).astype(np.int32),
        activation=draw(st.sampled_from(list(ir.Activation))), cum_error=draw(st.booleans()), message_bits=24)
    act = drive + (bias_max << scale)
    return node, ((3 * act) >> state_exp) + 1


def _max_level(inp: ir.Input) -> int:
    return (1 << inp.bits) - 1 if inp.encoding.graded else 1


@st.composite
def dense_sdn_chains(draw: Callable) -> Case:
    """Input → (Dense → LoihiSigmaDelta) × depth → Output (sigma readout), graded or binary input."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sizes = draw(st.lists(st.integers(1, 10), min_size=2, max_size=4))
    t = draw(st.integers(1, 8))
    nodes: list[ir.Node] = draw(_inputs(sizes[0]))
    max_in = _max_level(nodes[0])
    edge = draw(st.booleans())  # one-signed large weights at the largest exponent that fits: states near 2^25
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        r = _even_registers(rng, (b, a), 254 if edge else draw(st.sampled_from([8, 64, 254])))
        r = np.abs(r) if edge else r
        r, e, bound = _fit_dense(r, max_in, 7 if edge else draw(st.integers(-7, 7)), _SD_DRIVE // t)
        nodes.append(ir.Dense(name=f"dense{i}", weight=r, weight_exp=e))
        group, max_in = draw(_sigma_delta(f"sd{i}", (b,), rng, t * bound))
        nodes.append(group)
    nodes.append(ir.Output(name="output", shape=(sizes[-1],), readout=ir.ReadoutMode.SIGMA))
    x = rng.uniform(0.6 if edge else 0.0, 1.0, (draw(st.integers(1, 3)), *nodes[0].shape))
    return Case(graph=ir.Graph.chain(nodes, records=(ir.Timesteps(steps=t),)), x=x, timesteps=t)


@st.composite
def _conv(draw: Callable, name: str, in_shape: tuple[int, ...], rng: np.random.Generator,
          max_in: int) -> tuple[ir.Conv2d, int]:
    """A convolution (sometimes an average-pooling kernel) of a (C, H, W) input; returns it and its sum bound."""
    c, h, w = in_shape
    if draw(st.booleans()) and min(h, w) >= 2:  # a pooling kernel, as pool_to_conv emits
        k = draw(st.integers(2, min(3, h, w)))
        weight = np.full((c, 1, k, k), draw(st.sampled_from([1, 64, 255])), np.int32)
        node = ir.Conv2d(name=name, weight=weight, stride=(k, k), groups=c)
    else:
        kh, kw = draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w)))
        groups = draw(st.sampled_from([1, c]))
        c_out = groups * draw(st.integers(1, 3))
        mag = draw(st.sampled_from([8, 64, 255]))
        low = -mag if draw(st.booleans()) else 0  # one sign: wide sums reach the 24-bit wrap
        weight = rng.integers(low, mag + 1, size=(c_out, c // groups, kh, kw)).astype(np.int32)
        dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        if dil[0] * (kh - 1) >= h or dil[1] * (kw - 1) >= w:
            dil = (1, 1)
        node = ir.Conv2d(name=name, weight=weight, stride=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
                         padding=(draw(st.integers(0, 1)), draw(st.integers(0, 1))), dilation=dil, groups=groups)
    r, bound = _fit_conv(node.weight, max_in)
    return node.replace(weight=r), bound


@st.composite
def conv_chains(draw: Callable, sdn: bool) -> Case:
    """Input (C, H, W) → (Conv2d → group) × 1..2 [→ Flatten → Dense → group] → Output, groups
    LoihiSigmaDelta (``sdn``) or LoihiLIF, in (C, H, W) and flat shapes."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = draw(st.integers(1, 4))
    edge = draw(st.booleans())  # a first convolution whose sums always pass 2^23 and wrap
    shape = (32 if edge else draw(st.integers(1, 3)), draw(st.integers(3, 6)), draw(st.integers(3, 6)))
    encoding = draw(st.sampled_from(_ENCODINGS[2:] if edge else _ENCODINGS))
    nodes: list[ir.Node] = [ir.Input(name="input", shape=shape, encoding=encoding,
                                     bits=8 if edge else draw(st.integers(1, 8)), seed=draw(st.integers(0, 1000)))]
    max_in = _max_level(nodes[0])
    for i in range(draw(st.integers(1, 2))):
        conv, bound = draw(_wide_conv(f"conv{i}", shape, rng, max_in) if edge and i == 0
                           else _conv(f"conv{i}", shape, rng, max_in))
        shape = conv.out_shape(shape)
        nodes.append(conv)
        max_in = _group(draw, nodes, f"g{i}", shape, rng, sdn, t * bound)
    if draw(st.booleans()):
        n_out = draw(st.integers(1, 6))
        r = _even_registers(rng, (n_out, int(np.prod(shape))), draw(st.sampled_from([8, 254])))
        r, e, bound = _fit_dense(r, max_in, draw(st.integers(-7, 7)), _SD_DRIVE // t if sdn else _LIF_DRIVE)
        nodes += [ir.Flatten(name="flatten"), ir.Dense(name="dense", weight=r, weight_exp=e)]
        shape = (n_out,)
        _group(draw, nodes, "g_out", shape, rng, sdn, t * bound)
    readout = ir.ReadoutMode.SIGMA if sdn else ir.ReadoutMode.SPIKE_COUNT
    nodes.append(ir.Output(name="output", shape=(int(np.prod(shape)),), readout=readout))
    x = rng.uniform(0.6 if edge else 0.0, 1.0, (draw(st.integers(1, 2)), *nodes[0].shape))
    return Case(graph=ir.Graph.chain(nodes, records=(ir.Timesteps(steps=t),)), x=x, timesteps=t)


@st.composite
def _wide_conv(draw: Callable, name: str, in_shape: tuple[int, ...], rng: np.random.Generator,
               max_in: int) -> tuple[ir.Conv2d, int]:
    """3x3 kernels of weights 200..255 over all channels: with 8-bit levels ≥ 153 the sums exceed 2^23."""
    weight = rng.integers(200, 256, size=(draw(st.integers(1, 3)), in_shape[0], 3, 3)).astype(np.int32)
    r, bound = _fit_conv(weight, max_in)
    return ir.Conv2d(name=name, weight=r), bound


def _group(draw: Callable, nodes: list[ir.Node], name: str, shape: tuple[int, ...], rng: np.random.Generator,
           sdn: bool, drive: int) -> int:
    """Append a sigma-delta or LIF group of ``shape``; return the bound of its output payload."""
    if sdn:
        group, max_out = draw(_sigma_delta(name, shape, rng, drive))
        nodes.append(group)
        return max_out
    nodes.append(draw(_lif(name, shape, rng)))
    return 1


# --------------------------------------------------------------------------- graphs that are not chains
#
# LoihiLIF groups joined by Dense synapses in any topology: fan-out and fan-in (a group's ``in`` port
# sums several synapses), paths of unequal length (Lava needs DelayDense to balance them), logical
# delays (WindowDense), recurrent cycles and several Inputs. Every synapse into a group is fitted so
# that the group's total drive stays inside ``_lif_drive`` (see there).

_LIF_EXACT = 1 << 18   # max |a| into a leaky-current LIF group: a << 6 ≤ 2^24, so u stays a 24-bit register


def _lif_drive(group: ir.LoihiLIF) -> int:
    """Bound of the summed input |a| of ``group`` at which Lava's int32 arithmetic stays exact.

    With du = 4095 the current keeps nothing of its past (u = wrap₂₄(a << 6)), so a << 6 may reach 2^30 and
    the current wraps once from far outside 24 bits, exactly as Lava's model does. With any other du, a
    current that left 24 bits would carry over and grow step by step past int32 (the ``int32 overflow`` entry
    of ``UNSUPPORTED``); |a| ≤ 2^18 keeps it inside 24 bits (one wrap brings it back) while still reaching the
    wrap-around."""
    return _LIF_DRIVE if group.du == 4095 else _LIF_EXACT


@dataclass(frozen=True)
class _Link:
    src: str        # the signal the synapse reads: an Input, its Flatten, or a LoihiLIF group
    dst: str        # the LoihiLIF group it feeds
    delay: int = 0  # the IR's logical delay


def _delay(draw: Callable, high: int = 3) -> int:
    """Mostly 0 (the common case), else 1..high."""
    return draw(st.integers(1, high)) if draw(st.integers(0, 2)) == 0 else 0


def _lif_graph(draw: Callable, rng: np.random.Generator, sources: list[list[ir.Node]], sizes: dict[str, int],
               links: list[_Link], out: str, t: int) -> ir.Graph:
    """Inputs (``sources``: each an Input, or an Input and the Flatten after it), LoihiLIF groups ``sizes``
    (name -> neurons), a Dense per link (weights in the chip's full ranges, fitted so that the sum into each
    group stays within ``_lif_drive``) and an Output reading the spike counts of group ``out``. The node order
    is sometimes shuffled: nothing may depend on the order in which a graph lists its nodes."""
    groups = {name: draw(_lif(name, n, rng)) for name, n in sizes.items()}
    width, level = dict(sizes), {}
    nodes: list[ir.Node] = []
    edges: list[tuple[str, str]] = []
    for chain in sources:
        for node in chain:
            width[node.name], level[node.name] = int(np.prod(chain[0].shape)), _max_level(chain[0])
        nodes += chain
        edges += [(a.name, b.name) for a, b in itertools.pairwise(chain)]
    nodes += groups.values()
    fan_in = {g: sum(ln.dst == g for ln in links) for g in groups}
    for i, ln in enumerate(links):
        r = _even_registers(rng, (width[ln.dst], width[ln.src]), draw(st.sampled_from([8, 64, 254])))
        r, e, _ = _fit_dense(r, level.get(ln.src, 1), draw(st.integers(-7, 7)),
                             _lif_drive(groups[ln.dst]) // fan_in[ln.dst])
        nodes.append(ir.Dense(name=f"dense{i}", weight=r, weight_exp=e, delay=ln.delay))
        edges += [(ln.src, f"dense{i}"), (f"dense{i}", ln.dst)]
    nodes.append(ir.Output(name="output", shape=(width[out],), readout=ir.ReadoutMode.SPIKE_COUNT))
    edges.append((out, "output"))
    if draw(st.booleans()):
        nodes = draw(st.permutations(nodes))
    return ir.Graph(nodes=tuple(nodes), edges=tuple(edges), records=(ir.Timesteps(steps=t),))


@st.composite
def branching(draw: Callable) -> Case:
    """A random DAG of 2..4 LoihiLIF groups: each group after the first reads 1..3 of the input and the groups
    before it, so branches fan out and merge again over paths of unequal length (a residual input → A → B → C
    plus input → C or A → C, or parallel branches into one group); some synapses carry a delay, and sometimes
    two synapses (with their own delays) join the same pair. Every case has a group with fan-in."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = draw(st.integers(2, 4))
    inputs: list[ir.Node] = draw(_inputs(draw(st.integers(1, 12))))
    signals = [inputs[-1].name] + [f"lif{j}" for j in range(k)]   # 0: the input; j ≥ 1: group lif{j-1}
    pairs = [(0, 1)]
    for j in range(2, k + 1):
        pairs += [(i, j) for i in draw(st.lists(st.integers(0, j - 1), min_size=1, max_size=3, unique=True))]
    for j in range(1, k):  # a group that feeds nothing feeds the last one
        if not any(a == j for a, _ in pairs):
            pairs.append((j, k))
    if all(sum(b == j for _, b in pairs) < 2 for j in range(1, k + 1)):  # a chain so far: add a skip
        pairs.append((0, k))
    links = [_Link(signals[a], signals[b], _delay(draw)) for a, b in pairs]
    if draw(st.booleans()):  # a second synapse between a pair already joined, with its own delay
        twin = links[draw(st.integers(0, len(links) - 1))]
        links.append(_Link(twin.src, twin.dst, _delay(draw)))
    sizes = {f"lif{j}": draw(st.integers(1, 12)) for j in range(k)}
    t = draw(st.integers(1, 16))
    graph = _lif_graph(draw, rng, [inputs], sizes, links, f"lif{k - 1}", t)
    x = rng.random((draw(st.integers(1, 3)), *inputs[0].shape))
    return Case(graph=graph, x=x, timesteps=t)


@st.composite
def recurrent(draw: Callable) -> Case:
    """Input → 1..3 LoihiLIF groups in a chain with recurrence: self-recurrent Dense synapses of delay 1..3 and
    0..2 feedback synapses from a later group back to an earlier one. A feedback cycle over n synapses gets a
    delay that makes the cycle's total delay at least n (Lava's rule; the IR's needs only one delay ≥ 1), and
    it is 0 where the chain's own delays already add up to n. Sometimes the input also feeds the last group.
    Every case has a cycle."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = draw(st.integers(1, 3))
    inputs: list[ir.Node] = draw(_inputs(draw(st.integers(1, 12))))
    groups = [f"lif{j}" for j in range(k)]
    forward = [_delay(draw, 2) for _ in range(k - 1)]      # lif{j} → lif{j+1}
    links = [_Link(inputs[-1].name, groups[0], _delay(draw, 2))]
    links += [_Link(groups[j], groups[j + 1], d) for j, d in enumerate(forward)]
    if k > 1 and draw(st.booleans()):
        links.append(_Link(inputs[-1].name, groups[-1], _delay(draw, 2)))
    for g in groups:
        if draw(st.booleans()):
            links.append(_Link(g, g, draw(st.integers(1, 3))))
    for _ in range(draw(st.integers(0, 2)) if k > 1 else 0):
        i = draw(st.integers(0, k - 2))
        j = draw(st.integers(i + 1, k - 1))
        need = max(0, (j - i + 1) - sum(forward[i:j]))
        links.append(_Link(groups[j], groups[i], need + draw(st.integers(0, 2))))
    if not any(ln.src in groups and groups.index(ln.src) >= groups.index(ln.dst) for ln in links):
        g = groups[draw(st.integers(0, k - 1))]
        links.append(_Link(g, g, draw(st.integers(1, 3))))
    sizes = {g: draw(st.integers(1, 12)) for g in groups}
    t = draw(st.integers(1, 24))
    graph = _lif_graph(draw, rng, [inputs], sizes, links, groups[-1], t)
    x = rng.random((draw(st.integers(1, 3)), *inputs[0].shape))
    return Case(graph=graph, x=x, timesteps=t)


@st.composite
def two_inputs(draw: Callable) -> Case:
    """A data Input (any encoding, sometimes flattened) → 1..3 LoihiLIF groups in a chain, and a second Input
    ``label`` (rate or current encoding: one-hot or random levels) feeding 1..k of the groups, the first (the
    same group as the data) or later ones, some synapses delayed. Samples are a mapping by input name."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = draw(st.integers(1, 3))
    inputs: list[ir.Node] = draw(_inputs(draw(st.integers(1, 12))))
    n_label = draw(st.integers(1, 6))
    label = ir.Input(name="label", shape=(n_label,), encoding=draw(st.sampled_from([ir.Encoding.RATE,
                                                                                     ir.Encoding.CURRENT])),
                     bits=draw(st.integers(1, 8)), seed=draw(st.integers(0, 1000)))
    groups = [f"lif{j}" for j in range(k)]
    links = [_Link(inputs[-1].name, groups[0], _delay(draw, 2))]
    links += [_Link(a, b, _delay(draw, 2)) for a, b in itertools.pairwise(groups)]
    fed = draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=k, unique=True))
    links += [_Link("label", groups[j], _delay(draw, 2)) for j in fed]
    sizes = {g: draw(st.integers(1, 12)) for g in groups}
    t = draw(st.integers(1, 16))
    n = draw(st.integers(1, 3))
    graph = _lif_graph(draw, rng, [inputs, [label]], sizes, links, groups[-1], t)
    labels = (np.eye(n_label)[rng.integers(0, n_label, n)] if draw(st.booleans())
              else rng.random((n, n_label)))
    x = {"input": rng.random((n, *inputs[0].shape)), "label": labels}
    return Case(graph=graph, x=x, timesteps=t)


def _has_cycle(graph: ir.Graph) -> bool:
    return not graph.is_acyclic()


def _has_fan_in(graph: ir.Graph) -> bool:
    return any(len(graph.in_edges(g.name)) >= 2 for g in graph.of_type(ir.NeuronGroup))


def _has_two_inputs(graph: ir.Graph) -> bool:
    return len(graph.of_type(ir.Input)) >= 2


#: structural properties a family can guarantee for every case it draws (``Family.guarantees``)
PROPERTIES: dict[str, Callable[[ir.Graph], bool]] = {
    "cycle": _has_cycle,
    "fan_in": _has_fan_in,
    "two_inputs": _has_two_inputs,
}


@st.composite
def learning_lif_chains(draw: Callable) -> Case:
    """``dense_lif`` chains whose groups are learning neurons (``LoihiLearningLIF``, reset to zero, any y1
    trace parameters) with nothing to learn from: their neuron dynamics must be LoihiLIF's in every backend
    (Lava builds our ``LearningLIFReset`` process for them)."""
    case = draw(dense_lif_chains())
    y1_impulse, y1_decay = draw(st.integers(0, 127)), draw(st.integers(0, 4096))
    nodes = []
    for n in case.graph.nodes:
        if type(n) is ir.LoihiLIF:
            n = ir.LoihiLearningLIF(name=n.name, shape=n.shape, vth=n.vth, bias_mant=n.bias_mant,
                                    bias_exp=n.bias_exp, du=n.du, dv=n.dv, reset=ir.ResetMode.ZERO,
                                    y1_impulse=y1_impulse, y1_decay=y1_decay)
        nodes.append(n)
    return Case(graph=case.graph.with_nodes(nodes), x=case.x, timesteps=case.timesteps)


@dataclass(frozen=True)
class Family:
    strategy: st.SearchStrategy[Case]
    examples: int                      # random cases per backend
    covers: frozenset[type[ir.Node]]   # node types every case of the family contains or may contain
    guarantees: frozenset[str] = frozenset()  # ``PROPERTIES`` every case of the family has (the tests check)
    learns: bool = False               # plastic synapses: compared on learned weights, in the stream engine


_LIF_GRAPH = frozenset({ir.Input, ir.Flatten, ir.Dense, ir.LoihiLIF, ir.Output})

#: family name -> Family. Together the families must cover every node type with a Lava
#: lowering and run at least 200 cases per backend (tests/conformance/test_conformance.py).
FAMILIES: dict[str, Family] = {
    "dense_lif": Family(dense_lif_chains(), 70, frozenset({ir.Input, ir.Flatten, ir.Dense, ir.LoihiLIF,
                                                           ir.Output})),
    "conv_lif": Family(conv_chains(sdn=False), 50, frozenset({ir.Input, ir.Conv2d, ir.LoihiLIF, ir.Flatten,
                                                             ir.Dense, ir.Output})),
    "dense_sdn": Family(dense_sdn_chains(), 50, frozenset({ir.Input, ir.Flatten, ir.Dense, ir.LoihiSigmaDelta,
                                                           ir.Output})),
    "conv_sdn": Family(conv_chains(sdn=True), 40, frozenset({ir.Input, ir.Conv2d, ir.LoihiSigmaDelta,
                                                             ir.Flatten, ir.Dense, ir.Output})),
    "branching": Family(branching(), 40, _LIF_GRAPH, frozenset({"fan_in"})),
    "recurrent": Family(recurrent(), 40, _LIF_GRAPH, frozenset({"cycle"})),
    "two_inputs": Family(two_inputs(), 30, _LIF_GRAPH, frozenset({"two_inputs"})),
    "learning_lif": Family(learning_lif_chains(), 20, frozenset({ir.Input, ir.Flatten, ir.Dense,
                                                                 ir.LoihiLearningLIF, ir.Output})),
}


@st.composite
def voltage_readouts(draw: Callable) -> Case:
    """A ``dense_lif``, ``branching`` or ``recurrent`` case whose Output reads its group's voltage after the last
    step (``ir.ReadoutMode.VOLTAGE``, a leaky-integrator read-out): any parameters, so the read-out group may also
    spike, reset (to zero or by subtraction), saturate and feed a recurrent synapse; Lava builds our
    ``LIFResetVoltage`` for it and a ``SampleCounter`` that keeps the window's last value."""
    case = draw(st.one_of(dense_lif_chains(), branching(), recurrent()))
    nodes = [n.replace(readout=ir.ReadoutMode.VOLTAGE) if isinstance(n, ir.Output) else n for n in case.graph.nodes]
    graph = case.graph.with_nodes(nodes)
    assume(type(graph.signal_source(graph.of_type(ir.Output)[0].name)) is ir.LoihiLIF)
    return Case(graph=graph, x=case.x, timesteps=case.timesteps)


FAMILIES["voltage_readout"] = Family(voltage_readouts(), 30, _LIF_GRAPH)


# ---------------------------------------------------------------- adaptive threshold: LoihiALIF groups

_BETA_MAX = (1 << 17) - 1


@st.composite
def _adaptive(draw: Callable, lif: ir.LoihiLIF) -> ir.LoihiALIF:
    """``lif`` with an adaptive threshold: beta anywhere in 0..2^17 − 1 (small ones often), dr anywhere (0 and
    4095 often). A third of the groups are drawn to saturate r: vth ≤ 8, beta ≥ 2^16, no decay, no leak and the
    largest bias (2^19 per step), so the first spike lifts r to 2^22 or more and the second, 8–16 steps later,
    fills the 24-bit register."""
    if draw(st.integers(0, 2)) == 0:
        full = np.full(lif.shape, 4095, np.int32)
        return ir.LoihiALIF(name=lif.name, shape=lif.shape, vth=draw(st.integers(0, 8)), bias_mant=full,
                            bias_exp=np.full(lif.shape, 7, np.int32), du=lif.du, dv=0, reset=lif.reset,
                            beta=draw(st.integers(1 << 16, _BETA_MAX)), dr=0)
    beta = draw(st.one_of(st.integers(0, 64), st.integers(0, _BETA_MAX), st.just(_BETA_MAX)))
    dr = draw(st.one_of(st.sampled_from([0, 4095]), st.integers(0, 4095)))
    return ir.LoihiALIF(name=lif.name, shape=lif.shape, vth=lif.vth, bias_mant=lif.bias_mant, bias_exp=lif.bias_exp,
                        du=lif.du, dv=lif.dv, reset=lif.reset, beta=beta, dr=dr)


@st.composite
def alif_networks(draw: Callable) -> Case:
    """``dense_lif`` chains (a third) and ``recurrent`` graphs whose groups are all adaptive-threshold groups
    (``LoihiALIF``; Lava: our ``ALIFReset``), any LIF parameters, reset to zero or by subtraction, and a quarter
    of them read out through the last group's voltage."""
    case = draw(dense_lif_chains() if draw(st.integers(0, 2)) == 0 else recurrent())
    nodes = [draw(_adaptive(n)) if type(n) is ir.LoihiLIF else n for n in case.graph.nodes]
    if draw(st.integers(0, 3)) == 0:
        nodes = [n.replace(readout=ir.ReadoutMode.VOLTAGE) if isinstance(n, ir.Output) else n for n in nodes]
    return Case(graph=case.graph.with_nodes(nodes), x=case.x, timesteps=case.timesteps)


FAMILIES["alif"] = Family(alif_networks(), 30, frozenset({ir.Input, ir.Flatten, ir.Dense, ir.LoihiALIF, ir.Output}))


# ---------------------------------------------------------------- learning: rules and plastic networks

_FACTORS = [lr.x1, lr.x2, lr.y1, lr.y2, lr.y3, lr.w, lr.t, lr.w - 32, lr.sgn(lr.w)]


@st.composite
def two_factor_rules(draw: Callable) -> lr.Plasticity:
    """Random rules of the expression language: 1–3 products of a dependency (x0, y0, u0, u1) and up to two
    factors (traces, w, t, w − 32, sgn(w)), scales m·2^e, random trace impulses and decays, epochs of 1, 2, 4."""
    products = []
    for _ in range(draw(st.integers(1, 3))):
        dep = draw(st.sampled_from([lr.x0, lr.y0, lr.u(0), lr.u(1)]))
        factors = draw(st.lists(st.sampled_from(_FACTORS), min_size=0, max_size=2))
        scale = draw(st.integers(-8, 7).filter(bool)) * 2.0 ** draw(st.integers(-7, -2))
        term = scale * dep
        for f in factors:
            term = term * f
        products.append(term)
    rule = sum(products[1:], products[0])
    if len({p.decimate for p in rule.products if p.dependency == "u"}) > 1:
        rule = sum((p.scale * (lr.u(0) if p.dependency == "u" else lr.Rule.symbol(p.dependency))
                    for p in rule.products), lr.Rule())
    if not rule:                  # the drawn products cancelled out
        rule = lr.x0 * lr.y1
    assume(all(lr.scale_parts(p.scale) is not None for p in rule.products))   # merged like terms may not fit
    traces = {n: lr.Trace(draw(st.integers(1, 30)), draw(st.integers(2, 20))) for n in ("x1", "x2", "y1", "y2", "y3")}
    return lr.Plasticity(name="random", dw=rule, traces=traces, t_epoch=draw(st.sampled_from([1, 2, 4])))


@st.composite
def plastic_rules(draw: Callable) -> lr.Plasticity:
    """``two_factor_rules`` with, sometimes, tag and delay rules, fractional impulses, and the third-factor form
    (y1..y3 delivered by the postsynaptic neuron)."""
    base = draw(two_factor_rules())
    targets = {"dw": base.dw}
    if draw(st.booleans()):
        targets["dt"] = draw(st.sampled_from([lr.x0 * lr.y1 - 2 ** -2 * lr.u0 * lr.t, 2 * lr.y0 * lr.x1 * lr.x2,
                                                    lr.u0 * (lr.t - 3)]))
    if draw(st.booleans()):
        targets["dd"] = draw(st.sampled_from([lr.x0 * lr.y1, 3 * lr.y0 * lr.x1 - lr.x0]))
    if base.decimate is not None and base.decimate != 0:   # one K per synapse: the extra rules use u0
        targets = {"dw": base.dw}
    impulses = st.sampled_from([1.0, 12.5, 20.25, 60.0, 127.0])
    traces = {n: lr.Trace(draw(impulses), tr.tau) for n, tr in base.traces.items()}
    third = draw(st.booleans())      # y1..y3 delivered by the postsynaptic neuron instead of kept by the synapse
    if third:
        traces = {n: tr for n, tr in traces.items() if n.startswith("x")}
    return lr.Plasticity(name="random", traces=traces, t_epoch=base.t_epoch, third_factor=third, **targets)


@st.composite
def _learning_group(draw: Callable, name: str, n: int, rng: np.random.Generator) -> ir.LoihiLearningLIF:
    lif = draw(_lif(name, n, rng))
    return ir.LoihiLearningLIF(name=name, shape=lif.shape, vth=draw(st.integers(0, 300)), bias_mant=lif.bias_mant,
                               bias_exp=lif.bias_exp, du=lif.du, dv=lif.dv, reset=ir.ResetMode.ZERO,
                               y1_impulse=draw(st.integers(0, 127)), y1_decay=draw(st.integers(0, 4096)))


@st.composite
def plastic_networks(draw: Callable) -> Case:
    """Networks that learn while they run: data x → plastic W1 → learning group h → (plastic or fixed) W2 →
    learning group o, random rules (``plastic_rules``) on both; a second Input e → fixed B → h's third-factor
    port; sometimes o → fixed F (delay 2–3) → h's third-factor port as well (fan-in into the port and a
    cycle, the shape of feedback alignment's error path). Compared after the run: output counts and every
    plastic synapse's weights, tags and delays."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in, n_h, n_o = (draw(st.integers(1, 8)) for _ in range(3))
    t = draw(st.integers(2, 12))
    enc = draw(st.sampled_from([ir.Encoding.RATE, ir.Encoding.POISSON]))
    nodes: list[ir.Node] = [
        ir.Input(name="x", shape=(n_in,), encoding=enc, bits=draw(st.integers(1, 8)), seed=draw(st.integers(0, 99))),
        ir.Input(name="e", shape=(n_h,), encoding=ir.Encoding.RATE, bits=draw(st.integers(1, 8))),
        ir.Dense(name="W1", weight=_even_registers(rng, (n_h, n_in), draw(st.sampled_from([8, 64, 254]))),
                 weight_exp=draw(st.integers(-2, 3)), plastic=draw(plastic_rules())),
        draw(_learning_group("h", n_h, rng)),
        ir.Dense(name="W2", weight=_even_registers(rng, (n_o, n_h), draw(st.sampled_from([8, 64, 254]))),
                 weight_exp=draw(st.integers(-2, 3)), plastic=draw(st.one_of(st.none(), plastic_rules()))),
        draw(_learning_group("o", n_o, rng)),
        ir.Dense(name="B", weight=rng.integers(-255, 256, (n_h, n_h)).astype(np.int32),  # odd too (as learned ones)
                 weight_exp=draw(st.integers(-2, 2)), delay=draw(st.integers(0, 2))),
        ir.Output(name="out", shape=(n_o,), readout=ir.ReadoutMode.SPIKE_COUNT),
    ]
    edges: list[tuple[str, ...]] = [("x", "W1"), ("W1", "h"), ("h", "W2"), ("W2", "o"), ("e", "B"), ("B", "h", "third"),
                                    ("o", "out")]
    if draw(st.booleans()):
        nodes.append(ir.Dense(name="F", weight=rng.integers(-255, 256, (n_h, n_o)).astype(np.int32),
                              delay=draw(st.integers(2, 3))))
        edges += [("o", "F"), ("F", "h", "third")]
    x = {"x": rng.random((draw(st.integers(1, 4)), n_in))}
    x["e"] = rng.random((len(x["x"]), n_h))
    graph = ir.Graph(nodes=tuple(nodes), edges=tuple(edges), records=(ir.Timesteps(steps=t),))
    return Case(graph=ir.check_graph(graph), x=x, timesteps=t)


FAMILIES["plastic"] = Family(plastic_networks(), 30, frozenset({ir.Input, ir.Dense, ir.LoihiLearningLIF, ir.Output}),
                             frozenset({"fan_in", "two_inputs"}), learns=True)


# ---------------------------------------------------------------- sequence inputs: one row per step

@st.composite
def sequence_inputs(draw: Callable) -> Case:
    """A sequence Input (``Encoding.SEQUENCE``: S rows of F features per sample, row τ a graded spike of 1..8 bits at
    step τ ≤ S, nothing after; S = T in half the cases, else 1..T; random rows, some all zero, some at the top
    level) → 1..3 LoihiLIF groups in a chain, as a trained recurrent network compiles (``compilers.rsnn``): most
    groups with a self-recurrent synapse (delay 1..2), sometimes a feedback synapse from the last group to the
    first (delayed enough for Lava), sometimes no cycle at all (the nodes engine runs those). The Output reads the
    last group's spike counts or, in half the cases, its voltage after the last step."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k, t, f = draw(st.integers(1, 3)), draw(st.integers(1, 16)), draw(st.integers(1, 12))
    rows = t if draw(st.booleans()) else draw(st.integers(1, t))
    kw = dict(name="input", encoding=ir.Encoding.SEQUENCE, bits=draw(st.integers(1, 8)), sequence=rows)
    chain: list[ir.Node] = ([ir.Input(shape=(f,), **kw)] if draw(st.booleans())
                            else [ir.Input(shape=(1, 1, f), **kw), ir.Flatten(name="flatten")])
    groups = [f"lif{j}" for j in range(k)]
    links = [_Link(chain[-1].name, groups[0], _delay(draw, 2))]
    links += [_Link(a, b) for a, b in itertools.pairwise(groups)]
    links += [_Link(g, g, draw(st.integers(1, 2))) for g in groups if draw(st.integers(0, 3))]
    if k > 1 and draw(st.booleans()):
        links.append(_Link(groups[-1], groups[0], k + draw(st.integers(0, 1))))
    graph = _lif_graph(draw, rng, [chain], {g: draw(st.integers(1, 12)) for g in groups}, links, groups[-1], t)
    if draw(st.booleans()):
        graph = graph.with_nodes([n.replace(readout=ir.ReadoutMode.VOLTAGE) if isinstance(n, ir.Output) else n
                                  for n in graph.nodes])
    n = draw(st.integers(1, 3))
    x = rng.random((n, rows, f))
    x[rng.random((n, rows)) < 0.25] = 0.0          # rows of zeros: nothing sent at that step
    x[rng.random((n, rows, f)) < 0.1] = 1.0        # the top level, 2^bits − 1
    return Case(graph=graph, x=x, timesteps=t)


FAMILIES["sequence_input"] = Family(sequence_inputs(), 25, _LIF_GRAPH)
