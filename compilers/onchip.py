"""On-chip feedback alignment: the spiking network that learns a classifier by itself, as an IR graph.

One graph both classifies and learns, with nothing but local plasticity and fixed synapses::

    x ──W1 (fa)──▶ h ──W2 (delta)──▶ o ──────────────────────────▶ out
                   ▲                 ▲ │
                   │ third           │ third (±g, delay 2)
                   │                 │ ▼
                   └──B (delay 3)── e+ / e− ◀── label (±a),  o (∓a)

* ``x``: the data (rate-coded pixels); ``label``: the one-hot target (rate ``label_rate`` on the true
  class, silent otherwise; all zeros when only classifying).
* ``h`` (hidden) and ``o`` (output): ``LoihiLearningLIF`` groups, integrate-and-fire, reset to zero.
* ``e+`` and ``e−``: the error, split in two populations because the chip's traces are unsigned:
  e+ fires where the target's rate exceeds the output's (input +a from the label, −a from o), e− the
  reverse. Integrate-and-fire, so each integrates its error over the sample.
* ``o``'s third factor is g·(e+ − e−) (identity, delay 2); ``W2`` learns with the delta rule
  Δw = η₂ · x1 · (y2 − y3): presynaptic trace times the output error, every step.
* ``h``'s third factor is B·(e+ − e−), B a fixed random matrix (feedback alignment: no weight
  transport); ``W1`` learns with the FA rule Δw = η₁ · y0 · x1 · (y2 − y3): only where the hidden
  neuron spiked (the ReLU's derivative), times the presynaptic trace and the error arriving through B.

The delays close the loops the chip must run (each synapse takes at least one chip step; a cycle's
delays must add up to its number of synapses, ``toolkit.ir.timing``): o → e± → o has two synapses
(delay 2 on the way back), h → o → e± → h three (delay 3 on B).

``noise`` pretraining (Cheon et al., NeurIPS 2024) runs the same graph on random input spikes and
random labels before any data: ``noise_inputs`` draws them from a seeded generator.

A network trained offline with feedback alignment (``nfa train``, then the front end ``from_torch``, which keeps
each layer's B) continues learning on chip with the same B: ``from_offline`` turns its float weights, biases and
B into the spec's registers and thresholds (data-based rate normalisation, as the rate compiler's threshold
balancing), so the chip starts from the trained classifier and keeps learning with the feedback it trained with.

Units: weights are 8-bit registers (even, as Lava's mixed-sign synapses keep them) times 2^weight_exp;
thresholds in the LIF's units (v > vth · 2^6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from toolkit import ir
from toolkit.errors import ConfigError
from toolkit.learning.builtin import delta, fa
from toolkit.learning.expr import nearest_scale, scale_parts

__all__ = ["OnChipFA", "build_onchip_fa", "feedback_angle", "feedback_matrix", "forward_graph", "from_offline",
           "idle_inputs", "noise_inputs", "train_inputs", "w_b_angle", "with_weights"]


@dataclass(frozen=True)
class OnChipFA:
    """The on-chip FA network's parameters (see the module doc); every field has a tested default for digits."""

    n_in: int = 64
    n_hidden: int = 100
    n_classes: int = 10
    timesteps: int = 16
    input_bits: int = 4
    lr_hidden: float = 2.0 ** -7        # η₁ of the FA rule on W1
    lr_output: float = 2.0 ** -7        # η₂ of the delta rule on W2
    trace_impulse: float = 16.0         # presynaptic trace x1: impulse per spike and decay time constant
    trace_tau: float = 8.0
    w1_init: int = 60                   # W1, W2 drawn uniformly from ±init (even registers)
    w2_init: int = 0
    vth_hidden: int = 150
    vth_output: int = 400
    label_rate: float = 0.75            # the true class's target spike rate
    error_gain: int = 2                 # a: label and output into the error groups
    error_vth: int = 1
    third_output: int = 4               # g: e± into o's third factor
    third_hidden: int = 2               # |B| entries: e± into h's third factor
    seed: int = 0                       # B and the initial weights
    weights: Mapping[str, np.ndarray] = field(default_factory=dict)   # start registers (W1, W2, B) instead of random
    bias: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # h, o: (bias_mant, bias_exp)

    def check(self) -> None:
        for name in ("n_in", "n_hidden", "n_classes", "timesteps", "error_vth"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"on-chip FA: {name} must be at least 1 (got {getattr(self, name)})")
        for name in ("lr_hidden", "lr_output"):
            lr = float(getattr(self, name))
            if lr <= 0 or scale_parts(lr) is None:
                raise ConfigError(f"on-chip FA: {name} {lr:g} is not a learning-engine scale m * 2^e (m in 1..7, "
                                  f"e in -7..8); nearest: {nearest_scale(abs(lr)):g}")
        if not 0 < self.label_rate <= 1:
            raise ConfigError(f"on-chip FA: label_rate must be in (0, 1] (got {self.label_rate})")
        shapes = {"W1": (self.n_hidden, self.n_in), "W2": (self.n_classes, self.n_hidden),
                  "B": (self.n_hidden, self.n_classes)}
        for name, w in self.weights.items():
            if name not in shapes or np.shape(w) != shapes[name]:
                raise ConfigError(f"on-chip FA: start weights {name!r} of shape {np.shape(w)} do not fit the network "
                                  f"(expected one of {shapes})")
        for name in ("w1_init", "w2_init", "third_output", "third_hidden", "error_gain"):
            if not 0 <= int(getattr(self, name)) <= 254:
                raise ConfigError(f"on-chip FA: {name} must be in 0..254, an 8-bit weight register "
                                  f"(got {getattr(self, name)})")


def _even(a: np.ndarray) -> np.ndarray:
    return (np.round(np.asarray(a) / 2) * 2).clip(-256, 254).astype(np.int32)


def _group(name: str, n: int, vth: int, learning: bool = False,
           bias: tuple[np.ndarray, np.ndarray] | None = None) -> ir.LoihiLIF:
    zeros = np.zeros(n, np.int32)
    mant, exp = bias if bias is not None else (zeros, zeros)
    cls = ir.LoihiLearningLIF if learning else ir.LoihiLIF
    return cls(name=name, shape=(n,), vth=int(vth), bias_mant=np.asarray(mant, np.int32),
               bias_exp=np.asarray(exp, np.int32), du=4095, dv=0, reset=ir.ResetMode.ZERO)


def feedback_matrix(spec: OnChipFA) -> np.ndarray:
    """B (n_hidden, n_classes): the spec's ``weights['B']`` (an offline network's B, ``from_offline``), else fixed
    random ±|B| registers from the spec's seed."""
    if "B" in spec.weights:
        return np.asarray(spec.weights["B"], np.int32)
    rng = np.random.default_rng([spec.seed, 1])
    return (rng.choice([-1, 1], (spec.n_hidden, spec.n_classes)) * spec.third_hidden).astype(np.int32)


def build_onchip_fa(spec: OnChipFA) -> ir.Graph:
    """The quantised graph of the module doc, learning on both layers."""
    spec.check()
    rng = np.random.default_rng([spec.seed, 0])
    w1 = spec.weights.get("W1")
    w2 = spec.weights.get("W2")
    if w1 is None:
        w1 = _even(rng.uniform(-spec.w1_init, spec.w1_init, (spec.n_hidden, spec.n_in)))
    if w2 is None:
        w2 = _even(rng.uniform(-spec.w2_init, spec.w2_init, (spec.n_classes, spec.n_hidden)))
    b = feedback_matrix(spec)
    eye = np.eye(spec.n_classes, dtype=np.int32)
    a, g = int(spec.error_gain), int(spec.third_output)
    nodes: list[ir.Node] = [
        ir.Input(name="x", shape=(spec.n_in,), encoding=ir.Encoding.RATE, bits=spec.input_bits),
        ir.Input(name="label", shape=(spec.n_classes,), encoding=ir.Encoding.RATE, bits=8),
        ir.Dense(name="W1", weight=np.asarray(w1, np.int32), plastic=fa(spec.lr_hidden, x_impulse=spec.trace_impulse,
                                                                          x_tau=spec.trace_tau)),
        _group("h", spec.n_hidden, spec.vth_hidden, learning=True, bias=spec.bias.get("h")),
        ir.Dense(name="W2", weight=np.asarray(w2, np.int32), plastic=delta(spec.lr_output, x_impulse=spec.trace_impulse,
                                                                                x_tau=spec.trace_tau)),
        _group("o", spec.n_classes, spec.vth_output, learning=True, bias=spec.bias.get("o")),
        ir.Output(name="out", shape=(spec.n_classes,), readout=ir.ReadoutMode.SPIKE_COUNT),
        ir.Dense(name="label_pos", weight=a * eye), ir.Dense(name="label_neg", weight=-a * eye),
        ir.Dense(name="out_pos", weight=-a * eye), ir.Dense(name="out_neg", weight=a * eye),
        _group("err_pos", spec.n_classes, spec.error_vth), _group("err_neg", spec.n_classes, spec.error_vth),
        ir.Dense(name="E_pos", weight=g * eye, delay=2), ir.Dense(name="E_neg", weight=-g * eye, delay=2),
        ir.Dense(name="B_pos", weight=b, delay=3), ir.Dense(name="B_neg", weight=-b, delay=3),
    ]
    edges = [("x", "W1"), ("W1", "h"), ("h", "W2"), ("W2", "o"), ("o", "out"),
             ("label", "label_pos"), ("label_pos", "err_pos"), ("label", "label_neg"), ("label_neg", "err_neg"),
             ("o", "out_pos"), ("out_pos", "err_pos"), ("o", "out_neg"), ("out_neg", "err_neg"),
             ("err_pos", "E_pos"), ("E_pos", "o", "third"), ("err_neg", "E_neg"), ("E_neg", "o", "third"),
             ("err_pos", "B_pos"), ("B_pos", "h", "third"), ("err_neg", "B_neg"), ("B_neg", "h", "third")]
    graph = ir.Graph(nodes=tuple(nodes), edges=tuple(ir.Edge(*e) for e in edges),
                     records=(ir.Timesteps(steps=spec.timesteps),))
    return ir.check_graph(graph)


def with_weights(graph: ir.Graph, learned: Mapping[str, Mapping[str, np.ndarray]]) -> ir.Graph:
    """``graph`` with each plastic synapse's weights replaced by ``learned[name]['weight']``."""
    out = {}
    for name, v in learned.items():
        node = graph.node(name)
        assert isinstance(node, ir.Synapse)
        out[name] = node.replace(weight=np.asarray(v["weight"], np.int32))
    return graph.replace_nodes(out)


def _bias_registers(bias_v: np.ndarray, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """bias_mant · 2^bias_exp ≈ ``bias_v`` (units of v: a weight register w adds w << 6), in a Loihi 2 neuron's
    bias registers (hw_configs/loihi2.yaml), as the quantiser fits them; a bias that does not fit is refused."""
    from compilers.passes.quantize import fit_bias
    from toolkit.hw import load_hw

    neu = load_hw("loihi2").neuron
    mant, exp, clipped = fit_bias(bias_v, neu.bias_mant_max, neu.bias_exp_max)
    if clipped:
        raise ConfigError(f"on-chip FA start: layer {layer!r} has a bias of {float(np.abs(bias_v).max()):.0f} in v "
                          f"units, above the neuron's {neu.bias_mant_max} * 2^{neu.bias_exp_max}; retrain with "
                          "weight decay")
    return mant, exp


def _offline_layers(graph: ir.Graph) -> tuple[ir.Dense, ir.Dense]:
    """The two Dense layers of an input → Dense → ReLU → Dense → logits float graph, or a one-line reason."""
    syn = [n for n in graph.nodes if isinstance(n, ir.Synapse)]
    groups = [n for n in graph.nodes if isinstance(n, ir.NeuronGroup)]
    if (len(syn) != 2 or not all(isinstance(n, ir.Dense) for n in syn) or len(groups) != 2
            or not isinstance(groups[0], ir.ReLU)):
        raise ConfigError("on-chip FA start: the checkpoint must be an MLP with exactly one hidden ReLU layer "
                          f"(input → Linear → ReLU → Linear), got {[type(n).__name__ for n in graph.nodes]}; train "
                          "one with model: {kind: mlp, hidden: [100]}")
    w1, w2 = syn
    assert isinstance(w1, ir.Dense) and isinstance(w2, ir.Dense)
    if w2.feedback is None:
        raise ConfigError(f"on-chip FA start: the output layer carries no feedback matrix B (trained with rule "
                          f"{w2.rule.value if w2.rule else 'unknown'}); continuing on chip with the same B needs a "
                          "network trained with rule fa, dfa, kp or wm")
    return w1, w2


def from_offline(graph: ir.Graph, spec: OnChipFA, x: np.ndarray, *, percentile: float = 99.9) -> OnChipFA:
    """``spec`` starting from a float network trained offline (``from_torch`` of an input → Linear → ReLU → Linear
    model trained with fa, dfa, kp or wm): its weights, biases and the output layer's B as registers.

    Rate normalisation on the calibration inputs ``x`` (pixels in [0, 1]): λ₁, λ₂ are the ``percentile`` of the
    hidden ReLU's and the logits' activations; a hidden neuron then fires at rate ≈ a₁/λ₁ and an output at a₂/λ₂,
    which keeps the classifier's argmax. Each weight matrix uses the whole 8-bit register (scale s = 254 / max|W|)
    and the thresholds follow: vth_h = s₁·λ₁, vth_o = s₂·λ₂/λ₁; biases b₁·s₁ and b₂·s₂/λ₁ per step. B becomes
    even registers of root-mean-square ``spec.third_hidden`` (its direction kept up to rounding: the angle is
    reported by ``feedback_angle``). The spec's w1_init, w2_init and thresholds are replaced."""
    w1, w2 = _offline_layers(graph)
    w1f, w2f = np.asarray(w1.weight, float), np.asarray(w2.weight, float)
    b1 = np.zeros(w1f.shape[0]) if w1.bias is None else np.asarray(w1.bias, float)
    b2 = np.zeros(w2f.shape[0]) if w2.bias is None else np.asarray(w2.bias, float)
    bf = np.asarray(w2.feedback, float)
    x = np.asarray(x, float).reshape(len(x), -1)
    if x.shape[1] != w1f.shape[1] or w2f.shape[0] != spec.n_classes:
        raise ConfigError(f"on-chip FA start: the checkpoint maps {w1f.shape[1]} inputs to {w2f.shape[0]} classes, "
                          f"the data has {x.shape[1]} inputs and {spec.n_classes} classes")
    a1 = np.maximum(x @ w1f.T + b1, 0)
    a2 = a1 @ w2f.T + b2
    lam1 = float(np.percentile(a1, percentile))
    lam2 = float(np.percentile(np.maximum(a2, 0), percentile))
    if lam1 <= 0 or lam2 <= 0 or not np.abs(w1f).max() > 0 or not np.abs(w2f).max() > 0:
        raise ConfigError("on-chip FA start: the checkpoint's hidden layer or logits are silent on the data "
                          "(nothing to normalise); is it trained?")
    s1, s2 = 254.0 / float(np.abs(w1f).max()), 254.0 / float(np.abs(w2f).max())
    rms = float(np.sqrt(np.mean(bf ** 2))) or 1.0
    weights = {"W1": _even(w1f * s1), "W2": _even(w2f * s2),
               "B": _even(bf * spec.third_hidden / rms) if spec.third_hidden else np.zeros(bf.shape, np.int32)}
    vth_h, vth_o = max(1, round(s1 * lam1)), max(1, round(s2 * lam2 / lam1))
    bias = {"h": _bias_registers(b1 * s1 * 64, "hidden"), "o": _bias_registers(b2 * s2 / lam1 * 64, "output")}
    return replace(spec, n_in=w1f.shape[1], n_hidden=w1f.shape[0], weights=weights, bias=bias,
                   vth_hidden=vth_h, vth_output=vth_o)


def feedback_angle(graph: ir.Graph, spec: OnChipFA) -> float:
    """The angle in degrees between an offline network's float B (the output layer's ``feedback`` in ``graph``)
    and the on-chip B registers of ``spec``: how much of B's direction the registers keep."""
    _, w2 = _offline_layers(graph)
    return _angle(np.asarray(w2.feedback, float), feedback_matrix(spec).astype(float))


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(a @ b / norm, -1, 1)))) if norm else float("nan")


def forward_graph(graph: ir.Graph) -> ir.Graph:
    """The classifier inside an on-chip learning graph: x → W1 → h → W2 → o → out with the current weights, fixed
    (what the chip runs to classify; the error path does not reach the output's spikes)."""
    keep = {"x", "W1", "h", "W2", "o", "out"}
    nodes = []
    for n in graph.nodes:
        if n.name not in keep:
            continue
        if isinstance(n, ir.Dense):
            n = n.replace(plastic=None)
        elif isinstance(n, ir.LoihiLearningLIF):
            n = ir.LoihiLIF(name=n.name, shape=n.shape, vth=n.vth, bias_mant=n.bias_mant, bias_exp=n.bias_exp,
                            du=n.du, dv=n.dv, reset=n.reset)
        nodes.append(n)
    edges = tuple(e for e in graph.edges if e.src in keep and e.dst in keep)
    return ir.check_graph(ir.Graph(nodes=tuple(nodes), edges=edges, records=graph.records))


def train_inputs(spec: OnChipFA, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The inputs of a training pass: pixels in [0, 1] and the one-hot labels at ``label_rate``."""
    label = np.zeros((len(y), spec.n_classes))
    label[np.arange(len(y)), np.asarray(y, int)] = spec.label_rate
    return {"x": np.asarray(x, float).reshape(len(x), -1), "label": label}


def idle_inputs(spec: OnChipFA, n: int) -> dict[str, np.ndarray]:
    """``n`` samples of nothing (no pixel, no label): the network does not spike and no weight changes, while the
    learning engine's rounding stream advances as in any other sample (the matched control of ``toolkit.learn``)."""
    return {"x": np.zeros((n, spec.n_in)), "label": np.zeros((n, spec.n_classes))}


def noise_inputs(spec: OnChipFA, n: int, seed: int, pool: int = 0, mean: float = 0.5,
                 std: float = 0.25) -> dict[str, np.ndarray]:
    """Noise pretraining's inputs (Cheon et al.): Gaussian pixels N(mean, std²) clipped into [0, 1] with uniformly
    random labels, from ``seed``; ``pool`` > 0 draws that many noise samples with fixed labels once and cycles
    through them (as ``nfa train``'s ``noise.pool_size``), 0 a fresh sample every time."""
    rng = np.random.default_rng([seed, 2])
    m = min(n, pool) if pool else n
    x = np.clip(rng.normal(mean, std, (m, spec.n_in)), 0, 1)
    y = rng.integers(0, spec.n_classes, m)
    idx = np.arange(n) % m
    return train_inputs(spec, x[idx], y[idx])


def w_b_angle(graph: ir.Graph, spec: OnChipFA) -> float:
    """The angle in degrees between W2ᵀ and B (both n_hidden × n_classes, flattened): 90° for unrelated matrices,
    0° when the forward weights point where the feedback does (feedback alignment; Cheon et al. report it after
    noise pretraining). NaN while W2 is zero."""
    node = graph.node("W2")
    assert isinstance(node, ir.Dense)
    return _angle(node.weight.T.astype(float), feedback_matrix(spec).astype(float))
