"""Compile a trained model (or checkpoint) into a quantised, mapped IR graph."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from torch import nn

from compilers.frontend import from_torch
from compilers.netdir import save_network
from compilers.passes import CompileOptions, ConversionMode, pipeline_for, run_pipeline
from toolkit import ir
from toolkit.data import Dataset, DataSource
from toolkit.training import Arch
from toolkit.training.checkpoint import load_checkpoint

__all__ = ["compile_checkpoint", "compile_model", "compile_report"]


def compile_model(model: nn.Module, in_shape: tuple[int, ...], opts: CompileOptions) -> ir.Graph:
    """Float model -> IR -> the pipeline of ``opts.mode`` -> a graph ready for a backend."""
    return run_pipeline(from_torch(model, in_shape), pipeline_for(opts))


def _json(rec: ir.Record | None, field: str | None = None, default: Any = None) -> Any:
    if rec is None:
        return default
    data = rec.to_json()
    return data if field is None else data[field]


def compile_report(graph: ir.Graph, opts: CompileOptions, **extra: Any) -> dict[str, Any]:
    """The compile report (``report.json`` of a network folder), from the records the passes left."""
    mode_options: dict[str, Any] = {"reset": opts.reset.value}
    if opts.mode is ConversionMode.SDN:
        ranges = graph.record(ir.Ranges)
        mode_options = {"delta_threshold": opts.delta_threshold, "cum_error": opts.cum_error,
                        "message_bits": opts.message_bits,
                        "ranges": {g: {"pre_max": ranges.pre_max[g], "act_max": ranges.act_max[g]}
                                   for g in ranges.pre_max} if ranges else {}}
    return {"hw": opts.hw.name, "hw_config": opts.hw.source, "mode": opts.mode.value,
            "timesteps": opts.steps, "encoding": opts.input_encoding.value, **mode_options,
            "percentile": opts.percentile, "passes": _json(graph.record(ir.PassLog), "passes", []),
            "quantization": _json(graph.record(ir.Quantization), "layers", []),
            "mapping": _json(graph.record(ir.CoreMapping), "placement", {}),
            "balance": _json(graph.record(ir.Balance), None, {}), **extra}


def compile_checkpoint(checkpoint: str | Path, calibration: Dataset, opts: CompileOptions,
                       out_dir: str | Path | None = None,
                       source: DataSource | None = None,
                       loaded: tuple[nn.Module, Arch, dict[str, Any]] | None = None) -> tuple[ir.Graph, dict[str, Any]]:
    """Compile the model in ``checkpoint``; if ``out_dir`` is given, write the network folder. The report records
    the calibration data's ``source`` (the dataset as it was named, a name or a ``.npz`` path, its ``data_dir`` and
    whether it is fed as ON/OFF channels), which ``nfa run``, ``verify`` and ``inspect`` then default to.
    ``loaded``: what ``load_checkpoint(checkpoint)`` returned, if the caller has read it already."""
    t0 = time.perf_counter()
    model, arch, _ = loaded if loaded is not None else load_checkpoint(checkpoint)
    graph = compile_model(model, arch.in_shape, opts)
    report = compile_report(graph, opts, checkpoint=str(checkpoint), calibration=calibration.name,
                            **({} if source is None else source._asdict()),
                            compile_s=time.perf_counter() - t0)
    if out_dir is not None:
        save_network(out_dir, graph, report)
    return graph, report
