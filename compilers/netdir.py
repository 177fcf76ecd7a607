"""A compiled network on disk: a folder holding ``network.nfa`` and ``compile.json``.

``network.nfa`` is the quantised IR (see ``toolkit.ir.fileformat``); ``compile.json`` says
how it was made (checkpoint, hardware, mode, options) and carries the compile report
(quantisation errors per layer, core mapping). The folder is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolkit import ir
from toolkit.data import DataSource
from toolkit.errors import IRFormatError
from toolkit.fsutil import atomic_dir, write_json

__all__ = ["GRAPH_FILE", "REPORT_FILE", "load_compile_report", "load_network", "save_network"]

GRAPH_FILE = "network.nfa"
REPORT_FILE = "compile.json"


def save_network(net_dir: str | Path, graph: ir.Graph, report: dict[str, Any]) -> Path:
    """Write ``graph`` and ``report`` as the folder ``net_dir``, replacing it atomically."""
    with atomic_dir(net_dir) as tmp:
        ir.save_graph(graph, tmp / GRAPH_FILE)
        write_json(tmp / REPORT_FILE, report)
    return Path(net_dir)


def _graph_path(net_dir: str | Path) -> Path:
    p = Path(net_dir)
    if p.is_file() and p.suffix == ".nfa":
        return p
    if not p.exists():
        raise IRFormatError(f"{p}: no such compiled network; create one with "
                            "`nfa compile CHECKPOINT -o DIR` or `nfa demo`")
    if not (p / GRAPH_FILE).is_file():
        raise IRFormatError(f"{p}: not a compiled network folder (no {GRAPH_FILE} inside); "
                            "create one with `nfa compile CHECKPOINT -o DIR`")
    return p / GRAPH_FILE


def load_network(net_dir: str | Path) -> ir.Graph:
    """The quantised graph of a compiled network folder (or of an ``.nfa`` file)."""
    path = _graph_path(net_dir)
    graph = ir.load_graph(path)
    problems = ir.graph_problems(graph)
    if problems:
        raise IRFormatError(f"{path}: not a valid network: {'; '.join(problems)}")
    return graph


def load_compile_report(net_dir: str | Path) -> dict[str, Any]:
    p = _graph_path(net_dir).parent / REPORT_FILE
    if not p.is_file():
        return {}
    try:
        data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IRFormatError(f"{p}: not valid JSON ({exc.msg})") from None
    return data


def network_dataset(net_dir: str | Path, data: str | None, data_dir: str | Path | None,
                    onoff: bool = False) -> DataSource:
    """The dataset to evaluate a network on: the one given, else the one it was compiled on (its report's
    ``dataset``, or for older reports the ``calibration`` name, and ``data_dir``), else the embedded digits. The
    ON/OFF encoding is a property of the network's input, so it follows the report (or ``onoff``) either way."""
    report = load_compile_report(net_dir)
    name = next((report[k] for k in ("dataset", "calibration") if isinstance(report.get(k), str)), None)
    saved_dir = report.get("data_dir") if isinstance(report.get("data_dir"), str) else None
    return DataSource.chosen(data, data_dir, onoff or report.get("onoff") is True, name, saved_dir)

