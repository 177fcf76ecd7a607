"""Import lava-dl netx HDF5 network files (``nfa import FILE.net``): the reader registered as ``netx``.

The imported graph computes, in the reference simulator, exactly what ``lava.lib.dl.netx.hdf5.Network``
(lava-dl 0.6) builds from the file in Lava's fixed_pt simulator, spike for spike; whatever netx reads that
this reader cannot reproduce exactly is refused with ``LoweringError`` saying why. The facts below are those
of lava-dl 0.6's ``netx/hdf5.py`` and ``netx/blocks/process.py`` and of the Lava processes they build.

Layers (``layer/<i>/type``; a chain, each layer feeding the next):

* ``input``: the network input. netx's ``Input`` block never connects its input port to its neurons (they
  would run on bias alone), so a file whose input layer has a ``neuron`` group is only usable with
  ``Network(..., skip_layers=1)``, as lava-dl's tutorials load it: the input then goes straight into the
  next layer, as binary spikes (CUBA input neurons) or 16-bit graded messages (SDNN ``Delta``). The import
  is that network. Its ``weight``/``bias`` input transform is not used by netx, nor here.
* ``dense``: ``Dense`` synapses whose weights netx passes through ``optimize_weight_bits`` (rescaled to
  fill 8 bits, with weight exponent −scale bits) and Lava's Dense clips and truncates (sign mode inferred):
  the imported ``ir.Dense`` holds exactly the registers Lava then uses, computed with lava-dl's and Lava's
  own functions. ``delay`` (per output neuron, per input or one value; clamped to 62 as netx does) makes a
  ``DelayDense``: a delay of d steps adds d steps to Dense's own one-step latency, so the import splits
  the weights into one ``ir.Dense`` per distinct delay d with ``delay = d``, all feeding the neuron group
  (each group's sum is shifted by the exponent separately, as DelayDense does per delay slot).
* ``dense_rec``: as ``dense`` plus ``weight_rec`` from the group to itself; netx optimises both matrices
  together (one exponent) and Lava clips each with its own sign mode. The recurrent synapse becomes an
  ``ir.Dense`` with ``delay = 1`` (Lava's Dense latency of one step).
* ``conv``: Lava's ``Conv`` gets the file's kernel unchanged (flipped into its own layout) and no weight
  exponent: an ``ir.Conv2d`` with PyTorch semantics, ``weight_exp`` 0, the 24-bit wrap of Lava's model.
  netx ignores a conv layer's ``delay``, and so does the import.
* ``flatten``: the next dense layer reads the (C, H, W) output flattened in C order (netx transposes Lava's
  (W, H, C) back first): an ``ir.Flatten``. A (C, H, W) input read by a dense layer is flattened too (netx's input
  port is then that layer's flat one).

Weights and biases are read as netx reads them (``astype(int)``: floats truncated toward zero); a bias is per
neuron on a dense group, per channel (or per neuron in Lava's (W, H, C) order) on a conv group.

Neurons (``layer/<i>/neuron``):

* ``CUBA`` / ``LOIHI``: Lava's ``LIF`` with du = iDecay − 1, dv = vDecay, vth = vThMant, bias_mant = bias,
  bias_exp = 6: ``ir.LoihiLIF`` with those registers (reset to zero). ``refDelay`` and ``gradedSpike`` are
  not read by netx. A layer without a neuron group gets netx's default neuron (iDecay 0, vDecay 4096,
  vThMant 2^17), outside the LIF registers' ranges: refused.
* ``SDNN``: ``SigmaDelta`` with vth = vThMant, spike_exp = state_exp = 6, ReLU (netx ignores the file's
  ``activation``), no cum_error: ``ir.LoihiSigmaDelta`` with those fields. A neuron group with a
  ``sigma_output`` key is Lava's ``Sigma``, which sends its running sum σ[t] every step: it becomes an identity
  sigma-delta group with threshold 0, whose message at t is σ[t] − σ[t−1], so the running sum of its
  messages is Lava's output step for step (and the ``sigma`` readout, their sum, is σ at the last step).
* ``messageBits`` (any neuron type) is read by netx as an HDF5 group object, which its blocks then fail on;
  RF neurons have no IR node: both refused.

Time: each netx layer adds one step of latency (Lava's Dense and Conv deliver one step later); the IR has
no pipeline latency, so layer k's spikes at Lava step t are the graph's at step t − k. netx resets its LIF
neurons every ``reset_interval`` steps (``Network(reset_interval=T, reset_offset=1)`` gives the graph's
sample-by-sample reset); its sigma-delta neurons cannot be reset, so an SDNN file compares sample by sample.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compilers.importers import Imported, ImportOptions, Reader, register_reader
from toolkit import ir
from toolkit.errors import IRFormatError, LoweringError, ToolkitError
from toolkit.lavacompat import require_lava

__all__ = ["LAYER_READERS", "read_netx", "sniff_netx"]

_DECAY_MAX = 4095               # Lava LIF du, dv: 12 bits
_VTH_MAX = (1 << 17) - 1        # Lava LIF vth: 17 bits
_BIAS_MAX = 4095                # Lava LIF bias_mant: signed 13 bits
_SD_SCALE = 1 << 12             # netx's SigmaDelta: spike_exp = state_exp = 6
_MAX_DELAY = 62                 # netx clamps delays to this
_NOT_IN_NETX = ("pool", "convT", "unpool", "average", "concat")


# ---------------------------------------------------------------------------------------------- sniffing

def sniff_netx(path: Path) -> bool:
    """True if ``path`` is HDF5 with a ``layer`` group of numbered layers each holding a ``type`` dataset."""
    try:
        import h5py

        if not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r") as f:
            layers = f.get("layer")
            if not isinstance(layers, h5py.Group) or not len(layers):
                return False
            return all(k.isdigit() and isinstance(layers[k], h5py.Group) and "type" in layers[k] for k in layers)
    except (OSError, ImportError):
        return False


# ---------------------------------------------------------------------------------------------- reading

def _text(ds: Any) -> str:
    """A string dataset as netx's ``NetDict`` decodes it (first element of a fixed-length array, or a scalar)."""
    value = ds[()]
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0]
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def _ints(ds: Any) -> np.ndarray:
    """A weight or bias dataset as netx reads it: ``astype(int)`` (floats truncated toward zero)."""
    return np.asarray(ds[()]).astype(np.int64)


def _scalar(ds: Any) -> int:
    return int(np.asarray(ds[()]).reshape(-1)[0])


@dataclass
class _Build:
    """The graph under construction: nodes, edges, the last node whose signal feeds the next layer."""

    path: Path
    nodes: list[ir.Node] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    last: str = ""
    shape: tuple[int, ...] = ()
    flatten_next: bool = False
    notes: list[str] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)

    def add(self, node: ir.Node, *sources: str) -> str:
        self.nodes.append(node)
        self.edges.extend((s, node.name) for s in sources)
        return node.name

    def where(self, i: int, kind: str) -> str:
        return f"{self.path}: layer/{i} ({kind})"


LayerReader = Callable[[Any, int, _Build], None]

#: netx layer type -> reader(layer group, index, build); a type without an entry is refused
LAYER_READERS: dict[str, LayerReader] = {}


def _layer(*names: str) -> Callable[[LayerReader], LayerReader]:
    def deco(fn: LayerReader) -> LayerReader:
        for name in names:
            LAYER_READERS[name] = fn
        return fn
    return deco


# ---------------------------------------------------------------------------------------------- weights

def _lava_weight_tools() -> tuple[Any, Any, Any, Any]:
    """lava-dl's ``optimize_weight_bits`` and Lava's sign-mode, clip and truncate functions (the pipeline netx
    and Lava's Dense apply; used as they are, so that the import cannot drift from them)."""
    require_lava()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lava.lib.dl.netx.utils import optimize_weight_bits  # its import prints CUDA notices
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    return optimize_weight_bits, determine_sign_mode, clip_weights, truncate_weights


def _netx_registers(where: str, mats: list[np.ndarray]) -> tuple[list[np.ndarray], int, list[str]]:
    """The weight registers Lava's Dense processes use for the matrices netx optimises together, their shared
    exponent, and notes. Refuses what netx cannot load or computes with undefined shifts."""
    optimize, sign_mode, clip, truncate = _lava_weight_tools()
    joined = np.hstack(mats)
    if not joined.any():
        raise LoweringError(f"{where}: every weight is zero; netx's optimize_weight_bits divides by the largest "
                            "weight and fails on such a layer")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), np.errstate(all="ignore"):
        w_opt, n_bits, w_exp, _ = optimize(joined)
    notes = [f"{where}: netx clipped weights to -256..254 (optimize_weight_bits)"] if "WARNING" in printed.getvalue() \
        else []
    if w_exp > 0:
        raise LoweringError(f"{where}: weights up to {int(np.abs(joined).max())} make netx's optimize_weight_bits "
                            "shift left by a negative count (undefined in numpy), so its synapses cannot be reproduced")
    out, start = [], 0
    for m in mats:
        part = np.asarray(w_opt[:, start:start + m.shape[1]], np.int64)
        start += m.shape[1]
        mode = sign_mode(part)
        out.append(np.asarray(truncate(clip(part, mode, num_bits=8), mode, n_bits), np.int64).astype(np.int32))
    return out, int(w_exp), notes


def _delays(where: str, layer: Any, shape: tuple[int, int]) -> np.ndarray | None:
    """The per-synapse delay matrix netx builds from a dense layer's ``delay``, or None without one."""
    if "delay" not in layer:
        return None
    d = np.asarray(layer["delay"][()])
    if d.size and d.max() > _MAX_DELAY:
        d = np.clip(d, 0, _MAX_DELAY)
    if d.ndim == 0:
        full = np.full(shape, d)
    elif d.ndim == 1 and d.size == shape[0]:   # netx tries axonal (per output neuron) delays first
        full = np.repeat(d.reshape(-1, 1), shape[1], axis=1)
    elif d.ndim == 1 and d.size == shape[1]:
        full = np.repeat(d.reshape(1, -1), shape[0], axis=0)
    else:
        raise LoweringError(f"{where}: delay of shape {d.shape} fits neither the weight's {shape[0]} outputs nor "
                            f"its {shape[1]} inputs (netx raises RuntimeError)")
    full = full.astype(int)
    if full.min() < 0:
        raise LoweringError(f"{where}: negative delays ({int(full.min())}) are undefined in Lava's DelayDense")
    return full


def _dense_synapses(name: str, weight: np.ndarray, exp: int, delays: np.ndarray | None) -> list[ir.Dense]:
    """One ``ir.Dense`` (no delays), or one per distinct delay d holding the weights with that delay."""
    if delays is None:
        return [ir.Dense(name=name, weight=weight, weight_exp=exp)]
    values = [int(d) for d in np.unique(delays) if np.any(weight[delays == d])] or [int(delays.min())]
    return [ir.Dense(name=name if len(values) == 1 else f"{name}_d{d}",
                     weight=np.where(delays == d, weight, 0).astype(np.int32), weight_exp=exp, delay=d)
            for d in values]


# ---------------------------------------------------------------------------------------------- neurons

def _bias(where: str, layer: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The layer's bias on the group (shape ``shape``, ours) as netx's block spreads it, or zeros: a dense group takes
    one value per neuron; a conv group takes a bias of Lava's (W, H, C) shape per neuron, else
    one value per channel; anything else makes netx raise."""
    if "bias" not in layer:
        return np.zeros(shape, np.int64)
    b = _ints(layer["bias"])
    if len(shape) == 1 and b.size == shape[0]:
        return b.reshape(shape)
    if len(shape) == 3 and b.shape == shape[::-1]:
        return b.transpose(2, 1, 0).copy()
    if len(shape) == 3 and b.ndim == 1 and b.shape[0] == shape[0]:
        return np.broadcast_to(b.reshape(-1, 1, 1), shape).copy()
    raise LoweringError(f"{where}: bias of shape {b.shape} does not fit the neuron group {shape} (netx raises "
                        "RuntimeError or Lava rejects it)")


def _cuba(where: str, name: str, neuron: Any, bias: np.ndarray, shape: tuple[int, ...]) -> tuple[ir.Node, str]:
    du, dv, vth = _scalar(neuron["iDecay"]) - 1, _scalar(neuron["vDecay"]), _scalar(neuron["vThMant"])
    if not (0 <= du <= _DECAY_MAX and 0 <= dv <= _DECAY_MAX and 0 <= vth <= _VTH_MAX):
        raise LoweringError(f"{where}: netx's LIF would get du = iDecay - 1 = {du}, dv = vDecay = {dv}, vth = {vth}; "
                            "Lava's LIF registers hold du, dv in 0..4095 and vth in 0..131071, and outside them "
                            "its result depends on integer casts, so the layer is not imported")
    if bias.size and np.abs(bias).max() > _BIAS_MAX:
        raise LoweringError(f"{where}: bias up to {int(np.abs(bias).max())} exceeds Lava LIF's 13-bit bias_mant")
    node = ir.LoihiLIF(name=name, shape=shape, vth=vth, du=du, dv=dv, bias_mant=bias.astype(np.int32),
                       bias_exp=np.full(shape, 6, np.int32), reset=ir.ResetMode.ZERO)
    return node, f"CUBA -> LoihiLIF du={du} dv={dv} vth={vth} bias_exp=6"


def _sdnn(where: str, name: str, neuron: Any, bias: np.ndarray, shape: tuple[int, ...]) -> tuple[ir.Node, str]:
    if "sigma_output" in neuron:
        if bias.any():
            raise LoweringError(f"{where}: netx passes the bias to Lava's Sigma, which takes none (it fails)")
        node = ir.LoihiSigmaDelta(name=name, shape=shape, vth=0, bias_mant=np.zeros(shape, np.int32),
                                  activation=ir.Activation.IDENTITY, message_bits=24)
        return node, "SDNN sigma_output -> identity sigma-delta, threshold 0 (messages: increments of Lava's Sigma)"
    vth = _scalar(neuron["vThMant"])
    if not 0 <= vth * _SD_SCALE < 2**31 or (bias.size and np.abs(bias).max() * _SD_SCALE >= 2**31):
        raise LoweringError(f"{where}: vThMant {vth} or the bias, times 2^12, overflows Lava SigmaDelta's int32")
    if "activation" in neuron and _text(neuron["activation"]).lower() != "relu":
        raise LoweringError(f"{where}: activation {_text(neuron['activation'])!r}: netx ignores it and runs ReLU, "
                            "which would not be the trained network; refused rather than changed silently")
    node = ir.LoihiSigmaDelta(name=name, shape=shape, vth=vth, bias_mant=bias.astype(np.int32), spike_exp=6,
                              state_exp=6, activation=ir.Activation.RELU, message_bits=16)
    return node, f"SDNN -> LoihiSigmaDelta vth={vth} spike_exp=state_exp=6 ReLU"


_NEURONS: dict[str, Callable[[str, str, Any, np.ndarray, tuple[int, ...]], tuple[ir.Node, str]]] = {
    "CUBA": _cuba, "LOIHI": _cuba, "SDNN": _sdnn}


def _neuron(where: str, name: str, layer: Any, shape: tuple[int, ...]) -> tuple[ir.Node, str]:
    if "neuron" not in layer:
        raise LoweringError(f"{where}: no neuron group; netx would use its default (iDecay 0, vDecay 4096, vThMant "
                            "2^17), outside Lava LIF's register ranges")
    neuron = layer["neuron"]
    kind = _text(neuron["type"])
    if "messageBits" in neuron:
        raise LoweringError(f"{where}: neuron/messageBits is read by lava-dl 0.6's netx as an HDF5 group object, "
                            "not a number, and its blocks fail on it")
    make = _NEURONS.get(kind)
    if make is None:
        raise LoweringError(f"{where}: neuron type {kind!r} has no IR equivalent (imported: {', '.join(_NEURONS)})")
    return make(where, name, neuron, _bias(where, layer, shape), shape)


def _output_bits(node: ir.Node) -> int:
    """Message bits of a group's output as netx declares them (0: binary spikes)."""
    return node.message_bits if isinstance(node, ir.LoihiSigmaDelta) else 0


# ---------------------------------------------------------------------------------------------- layers

def _flatten_for_dense(b: _Build, i: int) -> None:
    """A Flatten before a dense layer whose input is (C, H, W): after a flatten layer (netx flattens Lava's (W, H, C)
    transposed back, i.e. C order of (C, H, W)), or right after the input (netx's input port is then the dense
    layer's own flat port; C order is the graph's convention, as in our export)."""
    if len(b.shape) > 1:
        if not b.flatten_next and b.last != b.nodes[0].name:
            raise LoweringError(f"{b.where(i, 'dense')}: its input has shape {b.shape} and no flatten layer precedes "
                                "it (netx cannot connect the two)")
        b.last = b.add(ir.Flatten(name=f"flat{i}"), b.last)
        b.shape = (int(np.prod(b.shape)),)
    b.flatten_next = False


def _dense_weights(where: str, layer: Any, key: str, rows: int) -> np.ndarray:
    if key not in layer:
        raise LoweringError(f"{where}: no {key!r} dataset")
    w = _ints(layer[key])
    return w.reshape(rows, -1) if w.ndim == 1 else w


@_layer("dense", "dense_rec")
def _read_dense(layer: Any, i: int, b: _Build) -> None:
    kind = _text(layer["type"])
    where = b.where(i, kind)
    if "weight" not in layer and "weight/imag" in layer:
        raise LoweringError(f"{where}: complex weights (ComplexDense) have no IR equivalent")
    rows = int(np.prod(_ints(layer["shape"])))
    _flatten_for_dense(b, i)
    mats = [_dense_weights(where, layer, "weight", rows)]
    if kind == "dense_rec":
        mats.append(_dense_weights(where, layer, "weight_rec", rows))
        if mats[1].shape != (rows, rows):
            raise LoweringError(f"{where}: weight_rec has shape {mats[1].shape}, not ({rows}, {rows})")
        if "delay" in layer:
            raise LoweringError(f"{where}: netx builds recurrent delayed synapses without the weight exponent; "
                                "not imported")
    if mats[0].shape != (rows, b.shape[0]):
        raise LoweringError(f"{where}: weight has shape {mats[0].shape}; the layer has {rows} neurons and its input "
                            f"{b.shape[0]} values")
    regs, exp, notes = _netx_registers(where, mats)
    b.notes += notes
    group_name = f"n{i}"
    synapses = _dense_synapses(f"fc{i}", regs[0], exp, _delays(where, layer, (rows, b.shape[0])))
    group, text = _neuron(where, group_name, layer, (rows,))
    for s in synapses:
        b.add(s, b.last)
    b.add(group, *(s.name for s in synapses))
    if kind == "dense_rec":
        b.add(ir.Dense(name=f"rec{i}", weight=regs[1], weight_exp=exp, delay=1), group_name)
        b.edges.append((f"rec{i}", group_name))
    delays = sorted({s.delay for s in synapses})
    b.layers.append({"layer": i, "type": kind, "neurons": rows, "weight_exp": exp, "neuron": text,
                     **({"delays": delays} if "delay" in layer else {})})
    b.last, b.shape = group_name, (rows,)


def _pair(layer: Any, key: str, default: int) -> tuple[int, int]:
    if key not in layer:
        return default, default
    v = np.asarray(layer[key][()]).reshape(-1).astype(int)
    return (int(v[0]), int(v[0])) if v.size == 1 else (int(v[0]), int(v[1]))


@_layer("conv")
def _read_conv(layer: Any, i: int, b: _Build) -> None:
    where = b.where(i, "conv")
    if len(b.shape) != 3:
        raise LoweringError(f"{where}: its input has shape {b.shape}; netx's conv needs (C, H, W)")
    if "weight" not in layer:
        raise LoweringError(f"{where}: no 'weight' dataset (complex conv weights have no IR equivalent)")
    w = _ints(layer["weight"])
    w = w.reshape(w.shape[:4]).astype(np.int32)
    groups = _scalar(layer["groups"]) if "groups" in layer else 1
    syn = ir.Conv2d(name=f"conv{i}", weight=w, stride=_pair(layer, "stride", 1), padding=_pair(layer, "padding", 0),
                    dilation=_pair(layer, "dilation", 1), groups=groups)
    shape = tuple(int(s) for s in _ints(layer["shape"]))
    if w.shape[1] * groups != b.shape[0] or syn.out_shape(b.shape) != shape:
        raise LoweringError(f"{where}: kernel {w.shape} (groups {groups}) on input {b.shape} gives "
                            f"{syn.out_shape(b.shape)}, but the layer's shape is {shape}")
    group, text = _neuron(where, f"n{i}", layer, shape)
    b.add(syn, b.last)
    b.last = b.add(group, syn.name)
    b.shape = shape
    if "delay" in layer:
        b.notes.append(f"{where}: netx ignores a conv layer's delay; so does the import")
    b.layers.append({"layer": i, "type": "conv", "shape": list(shape), "neuron": text})


@_layer("flatten")
def _read_flatten(layer: Any, i: int, b: _Build) -> None:
    b.flatten_next = True


@_layer(*_NOT_IN_NETX)
def _read_unsupported(layer: Any, i: int, b: _Build) -> None:
    kind = _text(layer["type"])
    raise LoweringError(f"{b.where(i, kind)}: lava-dl 0.6's netx raises NotImplementedError for {kind!r} layers")


@_layer("dense_comp")
def _read_complex(layer: Any, i: int, b: _Build) -> None:
    raise LoweringError(f"{b.where(i, 'dense_comp')}: netx's loader calls a create_complex_dense it does not define")


# ---------------------------------------------------------------------------------------------- the network

def _input(f: Any, b: _Build, opts: ImportOptions) -> tuple[ir.Input, int, dict[str, Any]]:
    """The graph's Input from layer 0, how many file layers it consumes, and the netx Network() arguments the
    import corresponds to."""
    first = f["layer/0"]
    if _text(first["type"]) != "input":
        if _text(first["type"]) != "dense":
            raise LoweringError(f"{b.where(0, _text(first['type']))}: without an input layer netx cannot infer the "
                                "input shape of a first layer that is not dense")
        shape: tuple[int, ...] = (_dense_weights(b.where(0, "dense"), first, "weight",
                                                 int(np.prod(_ints(first["shape"])))).shape[1],)
        graded, skip = False, 0
    else:
        shape = tuple(int(s) for s in _ints(first["shape"]))
        graded = "neuron" in first and _text(first["neuron/type"]) == "SDNN"
        skip = 1 if "neuron" in first else 0
        if skip:
            b.notes.append("netx's Input block does not connect its input port to its neurons: the file is imported "
                           "as netx runs it with skip_layers=1 (the input feeds layer 1 directly)")
    name = str(opts.extra.get("encoding", "delta" if graded else "rate"))
    choices = [e.value for e in ir.Encoding if e.graded == graded and e is not ir.Encoding.ANALOG and not e.sequential]
    if name not in choices:
        raise LoweringError(f"{b.path}: the network's input takes {'graded' if graded else 'binary'} messages; "
                            f"encoding {name!r} is not one of {', '.join(choices)}")
    inp = ir.Input(name="in", shape=shape, encoding=ir.Encoding(name), bits=int(opts.extra.get("bits", 8)))
    args = {"skip_layers": skip, "input_message_bits": 16 if graded else 0}
    return inp, (1 if _text(first["type"]) == "input" else 0), args


def _layer_ids(f: Any, path: Path) -> list[str]:
    ids = sorted(f["layer"].keys(), key=int)
    if ids != [str(k) for k in range(len(ids))]:
        raise IRFormatError(f"{path}: netx layers must be numbered 0..{len(ids) - 1}, got {', '.join(ids)}")
    return ids


def _build(f: Any, path: Path, opts: ImportOptions) -> tuple[ir.Graph, dict[str, Any]]:
    b = _Build(path=path)
    inp, start, args = _input(f, b, opts)
    b.last, b.shape = b.add(inp), inp.shape
    for k in _layer_ids(f, path)[start:]:
        layer = f[f"layer/{k}"]
        kind = _text(layer["type"])
        fn = LAYER_READERS.get(kind)
        if fn is None:
            raise LoweringError(f"{b.where(int(k), kind)}: unknown layer type (netx reads: "
                                f"{', '.join(sorted(LAYER_READERS))})")
        fn(layer, int(k), b)
    groups = [n for n in b.nodes if isinstance(n, ir.NeuronGroup)]
    if not groups:
        raise LoweringError(f"{path}: the file has no layer with neurons")
    last = b.nodes[[n.name for n in b.nodes].index(b.last)]
    readout = ir.ReadoutMode.SIGMA if isinstance(last, ir.LoihiSigmaDelta) else ir.ReadoutMode.SPIKE_COUNT
    b.add(ir.Output(name="out", shape=b.shape, readout=readout), b.last)
    steps = opts.timesteps or (_scalar(f["simulation/tSample"]) if "simulation/tSample" in f else None)
    records = (ir.Timesteps(steps=int(steps)),) if steps else ()
    edges = tuple(ir.Edge(src, dst) for src, dst in b.edges)
    graph = ir.check_graph(ir.Graph(nodes=tuple(b.nodes), edges=edges, records=records))
    if _netx_resets_exactly(graph):
        args["reset_interval"] = "T (the timesteps per sample)"
        args["reset_offset"] = 1
    else:
        b.notes.append("netx cannot start each sample from a clean state here (sigma-delta neurons have no reset; "
                       "reset_interval clears neurons, not messages in flight in delayed or recurrent synapses): "
                       "the graph equals netx run one sample at a time")
    report = {"format": "netx", "source": str(path), "layers": b.layers, "netx_network": args,
              "notes": [*_MAPPING_NOTES, *b.notes],
              "output_message_bits": _output_bits(last)}
    return graph, report


def _netx_resets_exactly(graph: ir.Graph) -> bool:
    """True if netx's ``reset_interval`` gives the graph's sample-by-sample reset: LIF neurons only (netx cannot
    reset sigma-delta ones) and no delayed synapse (its messages in flight survive netx's neuron reset)."""
    groups = graph.of_type(ir.NeuronGroup)
    return all(isinstance(n, ir.LoihiLIF) for n in groups) and not any(s.delay for s in graph.of_type(ir.Synapse))


_MAPPING_NOTES = (
    "weights: netx's optimize_weight_bits, then Lava Dense's clip and truncate; IR weight and weight_exp are the "
    "registers Lava uses",
    "CUBA: du = iDecay - 1, dv = vDecay, vth = vThMant, bias_mant = bias, bias_exp = 6, reset to zero",
    "SDNN: SigmaDelta vth = vThMant, spike_exp = state_exp = 6, ReLU; sigma_output: identity, threshold 0",
    "time: netx adds one step of latency per layer; layer k's step t is the graph's step t - k",
)


def read_netx(path: Path, opts: ImportOptions) -> Imported:
    """The netx file ``path`` as a quantised, checked graph computing what netx computes in Lava (see the module
    doc); ``LoweringError`` for what cannot be reproduced, ``IRFormatError`` for a file that is not readable."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            graph, report = _build(f, path, opts)
    except (KeyError, ValueError, TypeError, OSError) as exc:
        if isinstance(exc, ToolkitError):
            raise
        raise IRFormatError(f"{path}: not a readable netx file ({type(exc).__name__}: {exc})") from None
    return Imported(graph=graph, report=report)


READER = register_reader(Reader(name="netx", sniff=sniff_netx, read=read_netx, options=("encoding", "bits")))
