"""A trained recurrent spiking network (``toolkit.rsnn.RSNNSpec``) as an IR graph for the chip.

``rsnn_graph`` builds the float, converted graph; ``compile_rsnn`` quantises it with ``compilers.passes.quantize``,
proves its read-out never fires (``compilers.readouts``) and maps it onto cores; ``dequantized_spec`` gives back
the spec with the compiled weights (the chip's weight grid, for quantisation-aware training). The mapping, with
H = ``spec.hidden``, F = ``spec.features``, C = ``spec.classes``, T = ``spec.steps``:

    Input "x" (F,), sequence = T, Encoding.SEQUENCE, ``bits``      row x^τ as a graded spike at step τ
      → Dense "w_in" (W_in, delay 0)          → hidden
    hidden: ir.LIF (H,) threshold θ, bias b, du = 1, dv = 1 − α, reset ZERO     (NeuronKind.ALIF: ir.ALIF, also
                                                                                   beta β, rho ρ)
      → Dense "w_rec" (W_rec / θ, delay 1)    → hidden                           z^{τ−1} back into the group
      → Dense "w_out" (W_out / θ, delay 0)    → readout
    readout: ir.LIF (C,) bias b_out, du = 1, dv = 1 − κ, threshold above every reachable voltage
      → Output "output" (C,), ReadoutMode.VOLTAGE                               y^T, the voltage after step T

Why this is RSNNSpec's dynamics: by the IR's time (``toolkit.ir.core``) a group integrates at step τ the outputs its
synapses deliver at τ; a delay-0 synapse delivers its input of the same step, a delay-1 synapse that of τ − 1 (zero
at τ = 1). So the hidden group receives a^τ = W_in x^τ + W_rec z^{τ−1} (a spike stands for θ activation units
downstream, ``ir.LIF``, hence W / θ on the synapses reading it), and the LIF with du = 1 (u^τ = a^τ) and
dv = 1 − α computes v^τ = α v^{τ−1} + a^τ + b with v reset to 0 after a spike, i.e. α v^{τ−1} (1 − z^{τ−1}) + I^τ,
and z^τ = [v^τ > θ]; the ALIF's θ + r^{τ−1}, r^τ = ρ r^{τ−1} + β z^τ, is θ + β a^τ of the spec (``ir.ALIF``). The
read-out, fed W_out z^τ at the same step, computes v^τ = κ v^{τ−1} + W_out z^τ + b_out = y^τ as long as it never
fires. The float graph therefore equals ``spec.simulate`` up to float rounding (``compilers.floateval``).

What quantisation changes (``compilers.passes.quantize``; everything else is exact): input rows become levels
q = round(x · (2^bits − 1)); weights 8-bit mantissas with one exponent per synapse (the hidden group's two synapses
share its voltage scale S, the recurrent one losing at most one bit); θ becomes vth = round(θ · S); biases 13-bit
mantissas; the decays dv = round(4096 · (1 − α)), du = 4095, read-out dv = round(4096 · (1 − κ)) (ALIF:
beta = round(β · S), dr = round(4096 · (1 − ρ))), applied as Loihi truncates (toward zero, 12 bits). A hidden spike
is decided on these integers, so a voltage within the rounding of θ may spike on one side and not the other; the
read-out's voltage is y^T in its own integer units (one scale for all classes: the argmax is the prediction).
``check_readouts`` proves after quantisation that the read-out's voltage stays at or below vth << 6, so it never
fires and its score is exactly the integer leaky integral of its input; otherwise compiling is refused.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from compilers.readouts import check_readouts, readout_threshold
from toolkit import ir
from toolkit.errors import LoweringError
from toolkit.hw import HardwareConfig, load_hw
from toolkit.rsnn import NeuronKind, RSNNSpec

if TYPE_CHECKING:
    from toolkit.data import DataSource

__all__ = ["compile_rsnn", "compile_rsnn_checkpoint", "dequantized_spec", "rsnn_graph"]


def _hidden(spec: RSNNSpec) -> ir.NeuronGroup:
    shape, theta, bias, dv = (spec.hidden,), float(spec.theta), np.asarray(spec.b, float), 1.0 - float(spec.alpha)
    if spec.neuron is NeuronKind.LIF:
        return ir.LIF(name="hidden", shape=shape, threshold=theta, bias=bias, du=1.0, dv=dv, reset=ir.ResetMode.ZERO)
    if spec.neuron is NeuronKind.ALIF:
        return ir.ALIF(name="hidden", shape=shape, threshold=theta, beta=float(spec.beta), rho=float(spec.rho),
                       bias=bias, du=1.0, dv=dv, reset=ir.ResetMode.ZERO)
    raise LoweringError(f"recurrent network: no neuron group for neuron kind {spec.neuron.value!r} "
                        f"(supported: {', '.join(k.value for k in NeuronKind)})")


def rsnn_graph(spec: RSNNSpec, *, bits: int = 8) -> ir.Graph:
    """The float, converted graph of ``spec`` (module doc): its ``float_forward`` is ``spec.simulate``'s y^T."""
    if not 1 <= bits <= 16:
        raise LoweringError(f"recurrent network: input bits must be in 1..16, got {bits}")
    if round(4096 * (1.0 - spec.kappa)) == 0:
        raise LoweringError(f"recurrent network: the read-out decay kappa = {spec.kappa:g} leaves "
                            "dv = round(4096·(1 − kappa)) = 0, so the read-out would not leak and its voltage has no "
                            "bound on the chip; train with a shorter read-out time constant (kappa <= 1 − 1/8192)")
    theta = float(spec.theta)
    nodes = (
        ir.Input(name="x", shape=(spec.features,), encoding=ir.Encoding.SEQUENCE, bits=bits, sequence=spec.steps),
        ir.Dense(name="w_in", weight=np.asarray(spec.w_in, float)),
        _hidden(spec),
        ir.Dense(name="w_rec", weight=np.asarray(spec.w_rec, float) / theta, delay=1),
        ir.Dense(name="w_out", weight=np.asarray(spec.w_out, float) / theta),
        ir.LIF(name="readout", shape=(spec.classes,), threshold=1.0, bias=np.asarray(spec.b_out, float), du=1.0,
               dv=1.0 - float(spec.kappa), reset=ir.ResetMode.ZERO),
        ir.Output(name="output", shape=(spec.classes,), readout=ir.ReadoutMode.VOLTAGE),
    )
    edges = tuple(ir.Edge(src, dst) for src, dst in (("x", "w_in"), ("w_in", "hidden"), ("hidden", "w_rec"),
                                                     ("w_rec", "hidden"), ("hidden", "w_out"), ("w_out", "readout"),
                                                     ("readout", "output")))
    graph = ir.Graph(nodes=nodes, edges=edges,
                     records=(ir.Converted(mode="rate"), ir.BiasesFolded(), ir.Timesteps(steps=spec.steps)))
    graph = graph.replace_nodes({"readout": graph.node("readout").replace(threshold=readout_threshold(graph,
                                                                                                      "readout"))})
    return ir.check_graph(graph)


def compile_rsnn(spec: RSNNSpec, hw: HardwareConfig | str = "loihi2", *, bits: int = 8,
                 allow_clipping: bool = False) -> ir.Graph:
    """``spec`` quantised for ``hw`` (a config or its name/path) and mapped onto its cores, its read-out proven never
    to fire (module doc); ``QuantizationError`` / ``LoweringError`` name what does not fit."""
    from compilers.passes.mapping import map_cores
    from compilers.passes.quantize import quantize

    config = load_hw(hw) if isinstance(hw, str) else hw
    graph = map_cores(quantize(rsnn_graph(spec, bits=bits), hw=config, allow_clipping=allow_clipping), hw=config)
    check_readouts(graph, label="recurrent network: ")
    return ir.check_graph(graph)


def dequantized_spec(spec: RSNNSpec, graph: ir.Graph) -> RSNNSpec:
    """``spec`` with the weights of its compiled ``graph`` (``compile_rsnn``) in float: W = r · unit per synapse (r the
    registers, unit the quantiser's ``weight_unit``: float weight per register unit), W_rec and W_out times θ. Biases,
    decays and θ stay ``spec``'s. Compiling the result gives the same registers: the network on the chip's weight
    grid, for quantisation-aware training, or to tell weight rounding apart from the rest."""
    q = graph.record(ir.Quantization)
    if q is None:
        raise LoweringError("dequantized_spec: the graph is not quantised; pass what compile_rsnn returned")
    units = {name: float(s["weight_unit"]) for layer in q.layers for name, s in layer.get("synapses", {}).items()}
    syns = {n.name: n for n in graph.of_type(ir.Dense) if n.name in units}
    missing = sorted({"w_in", "w_rec", "w_out"} - set(syns))
    if missing:
        raise LoweringError(f"dequantized_spec: the graph has no quantised synapses {missing}; pass what compile_rsnn "
                            "returned for this spec")

    def weight(name: str, factor: float = 1.0) -> np.ndarray:
        return np.asarray(syns[name].weight, np.float64) * units[name] * factor

    return RSNNSpec(w_in=weight("w_in"), w_rec=weight("w_rec", spec.theta), w_out=weight("w_out", spec.theta),
                    b=spec.b, b_out=spec.b_out, alpha=spec.alpha, kappa=spec.kappa, theta=spec.theta, steps=spec.steps,
                    neuron=spec.neuron, beta=spec.beta, rho=spec.rho)


def _record_json(graph: ir.Graph, kind: type[ir.Record], field: str, default: Any) -> Any:
    rec = graph.record(kind)
    return default if rec is None else rec.to_json()[field]


def compile_rsnn_checkpoint(checkpoint: str | Path, hw: HardwareConfig | str = "loihi2", *, bits: int = 8,
                            allow_clipping: bool = False, out_dir: str | Path | None = None,
                            source: DataSource | None = None,
                            loaded: tuple[RSNNSpec, dict[str, Any]] | None = None) -> tuple[ir.Graph, dict[str, Any]]:
    """``compile_rsnn`` of the network in a recurrent-network checkpoint (``toolkit.training.eprop``), with the compile
    report; if ``out_dir`` is given, the network folder (``compilers.netdir``) that ``nfa run``/``verify``/``inspect``
    take. The report records the dataset ``source`` to evaluate on (default: the one the checkpoint was trained on)
    and the float test accuracy the training measured. ``loaded``: what ``load_rsnn_checkpoint`` returned, if read."""
    from compilers.netdir import save_network
    from toolkit.training.eprop import load_rsnn_checkpoint

    t0 = time.perf_counter()
    spec, ckpt = loaded if loaded is not None else load_rsnn_checkpoint(checkpoint)
    config = load_hw(hw) if isinstance(hw, str) else hw
    graph = compile_rsnn(spec, config, bits=bits, allow_clipping=allow_clipping)
    trained = ckpt.get("test_acc")
    report: dict[str, Any] = {
        "hw": config.name, "hw_config": config.source, "mode": "rsnn", "timesteps": spec.steps,
        "encoding": ir.Encoding.SEQUENCE.value, "bits": bits, "neuron": spec.neuron.value,
        "network": {"features": spec.features, "hidden": spec.hidden, "classes": spec.classes, "steps": spec.steps},
        "passes": _record_json(graph, ir.PassLog, "passes", []),
        "quantization": _record_json(graph, ir.Quantization, "layers", []),
        "mapping": _record_json(graph, ir.CoreMapping, "placement", {}),
        "checkpoint": str(checkpoint), "trained_test_acc": float(trained) if isinstance(trained, float) else None,
        **({} if source is None else source._asdict()), "compile_s": time.perf_counter() - t0}
    if out_dir is not None:
        save_network(out_dir, graph, report)
    return graph, report
