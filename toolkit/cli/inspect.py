"""``nfa inspect``: per-layer resources of a compiled network, and its modelled energy and latency."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from toolkit.argtypes import at_least

HELP = "show a compiled network's cores, synapses and utilisation per layer, and modelled energy and latency"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("net", type=Path, help="compiled network folder (from `nfa compile` or `nfa demo`)")
    p.add_argument("--hw", default=None, help="map onto this hardware config instead of the compiled one")
    p.add_argument("--data", default=None,
                   help="test images that drive the activity counts: dataset name or path, or 'none' (default: "
                        "the dataset the network was compiled on, else digits)")
    p.add_argument("--data-dir", type=Path, default=None, help="folder with the dataset's files")
    p.add_argument("--limit", type=at_least(1), default=100, help="images to average the activity over (default 100)")
    p.add_argument("--format", choices=["text", "markdown"], default="text", help="table style (default text)")
    p.add_argument("--json", type=Path, default=None, help="also write all figures to this JSON file")


def _hw(a: argparse.Namespace, graph: Any, report: dict[str, Any]) -> Any:
    from toolkit.hw import load_hw

    if a.hw is not None:
        return load_hw(a.hw)
    path = report.get("hw_config")
    if path and Path(path).is_file():
        return load_hw(path)
    from toolkit import ir

    mapping, quant = graph.record(ir.CoreMapping), graph.record(ir.Quantization)
    return load_hw((mapping.placement.get("hw") if mapping else None) or (quant.hw if quant else None) or "loihi2")


def _activity(a: argparse.Namespace, graph: Any, placement: Any) -> tuple[Any, str] | None:
    import numpy as np

    from compilers.cost import count_activity, input_events
    from compilers.netdir import network_dataset
    from toolkit import ir
    from toolkit.backends.reference import simulate
    from toolkit.encoding import sample_shape
    from toolkit.errors import DataError

    if a.data == "none":
        return None
    src = network_dataset(a.net, a.data, a.data_dir)
    data, test = src.dataset, src.load()[1].take(a.limit)
    inp = graph.of_type(ir.Input)[0]
    if int(np.prod(test.shape)) != int(np.prod(sample_shape(inp))):
        raise DataError(f"dataset {data!r} has samples of shape {test.shape} but the network's input is "
                        f"{sample_shape(inp)}; pass a matching --data, or --data none for resources only")
    t = int(graph.timesteps or 32)
    traces = simulate(graph, test.x, timesteps=t, record=[lp.group for lp in placement.layers]).traces
    events = {name: tr["s"] for name, tr in traces.items()}
    events[inp.name] = input_events(graph, test.x, t)
    where = f"reference simulator, {len(test)} {data} test images, T = {t}"
    return count_activity(placement, events, input_name=inp.name), where


def run(a: argparse.Namespace) -> int:
    from compilers.cost import model_cost
    from compilers.netdir import load_compile_report, load_network
    from compilers.passes.mapping import check_board, plan_network
    from toolkit.errors import HardwareLimitError
    from toolkit.fsutil import write_json

    graph = load_network(a.net)
    hw = _hw(a, graph, load_compile_report(a.net))
    placement = plan_network(graph, hw)
    try:
        check_board(placement)
        fits = None
    except HardwareLimitError as exc:
        fits = str(exc)
    md = a.format == "markdown"
    item = "- " if md else ""  # in markdown the lines under the table are a list
    print(_render_table(placement, markdown=md) + ("\n" if md else ""))
    print(item + _totals(placement, fits))
    act = _activity(a, graph, placement)
    out: dict[str, Any] = {"net": str(a.net), "mapping": placement.to_json(), "fits_board": fits is None}
    if act is not None:
        activity, where = act
        cost = model_cost(activity, placement)
        print("\n".join(item + line for line in _cost_lines(activity, where, cost, hw)))
        out.update(activity={"source": where, **activity.to_json()}, modelled=cost.to_json() if cost else None)
    if a.json is not None:
        write_json(a.json, out)
    return 0


_COLUMNS = ("layer", "type", "neurons", "synapses", "weight bits", "cores", "neurons/core", "utilisation",
            "limiting resource", "chips")


def _rows(placement: Any) -> list[list[str]]:
    rows = []
    for g in placement.to_json()["groups"]:
        first, last = g["chips"]
        lim = g["limited_by"].split(".", 1)[1] if g["limited_by"] else "none (fits one core)"
        into = " + ".join(g.get("synapse_list") or [g["synapse"]])   # every synapse into the group (fan-in)
        rows.append([f"{into} -> {g['group']}", g["type"], f"{g['neurons']:,}", f"{g['synapses']:,}",
                     str(g["weight_bits"]), f"{g['cores']:,}", f"{g['neurons_per_core']:,}",
                     f"{100 * g['utilisation']:.1f}% {g['utilisation_of']}", lim,
                     f"{first}" if first == last else f"{first}-{last}"])
    return rows


def _render_table(placement: Any, *, markdown: bool) -> str:
    rows = _rows(placement)
    if markdown:
        lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(_COLUMNS)]
    fmt = "  ".join(f"{{:{'<' if i in (0, 1, 7, 8) else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*_COLUMNS), *(fmt.format(*r) for r in rows)])


def _totals(placement: Any, fits: str | None) -> str:
    hw = placement.hw
    neurons = sum(lp.neurons for lp in placement.layers)
    synapses = sum(lp.synapses for lp in placement.layers)
    line = (f"total: {neurons:,} neurons, {synapses:,} synapses, {placement.cores:,} cores on {placement.chips} "
            f"chip(s) of {hw.chip.neuro_cores} cores; board {hw.board.name} ({hw.name}) has {hw.board.chips} chips")
    return line if fits is None else f"{line}\nDOES NOT FIT THE BOARD: {fits}"


def _cost_lines(activity: Any, where: str, cost: Any, hw: Any) -> list[str]:
    lines = [f"activity per inference ({where}): {activity.synops:,.0f} synaptic ops, "
             f"{activity.neuron_updates:,.0f} neuron updates, {activity.spikes:,.0f} spikes, "
             f"{activity.messages:,.0f} spike messages"]
    if cost is None:
        return [*lines, f"energy and latency: not available ({hw.name} has no energy: section in its config)"]
    e = cost.energy_pj
    lines += [f"energy per inference: {e['total'] * 1e-6:.3f} uJ (synaptic ops {e['synaptic_ops'] * 1e-6:.3f}, "
              f"neuron updates {e['neuron_updates'] * 1e-6:.3f}, spike messages {e['spike_messages'] * 1e-6:.4f} uJ)"
              f"  [MODELLED, not measured]",
              f"latency per inference: {cost.latency_ns * 1e-3:.1f} us ({activity.timesteps} steps, mean step "
              f"{cost.step_ns * 1e-3:.2f} us)  [MODELLED, not measured]",
              f"constants: {cost.source}",
              "not modelled: " + ", ".join(cost.to_json()["not_modelled"]) + "; see docs/hardware.md"]
    return lines
