"""Compiler passes: each a pure function Graph -> Graph, run as a flat named pipeline.

One pipeline per ``ConversionMode`` (``PIPELINES``); read each top to bottom
(``rate_pipeline``, ``sdn_pipeline``). Each pass declares the records it needs and leaves
(``compilers.passes.common.graph_pass``); ``run_pipeline`` checks a pipeline's order from those
declarations before it runs anything, then runs it and checks the graph after every pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from compilers.passes.balance import balance_thresholds, calibrate_readout
from compilers.passes.common import check_order, graph_pass, pass_info
from compilers.passes.convert import ConversionMode, convert_rate, convert_sdn
from compilers.passes.fold import fold_biases
from compilers.passes.mapping import map_cores
from compilers.passes.options import CompileOptions
from compilers.passes.pooling import pool_to_conv
from compilers.passes.quantize import quantize
from compilers.passes.ranges import measure_ranges
from toolkit import ir
from toolkit.errors import LoweringError

__all__ = [
    "PIPELINES",
    "CompileOptions",
    "ConversionMode",
    "Pass",
    "balance_thresholds",
    "calibrate_readout",
    "check_order",
    "convert_rate",
    "convert_sdn",
    "fold_biases",
    "graph_pass",
    "map_cores",
    "measure_ranges",
    "pass_info",
    "pipeline_for",
    "pool_to_conv",
    "quantize",
    "rate_pipeline",
    "run_pipeline",
    "sdn_pipeline",
]

Pass = Callable[[ir.Graph], ir.Graph]

def _check_netx(opts: CompileOptions) -> None:
    """netx (lava-dl's HDF5 format) builds Lava's LIF (reset to zero) fed by binary spikes."""
    problems = []
    if opts.reset is not ir.ResetMode.ZERO:
        problems.append("reset to zero (--reset zero)")
    if opts.input_encoding not in (ir.Encoding.RATE, ir.Encoding.POISSON):
        problems.append(f"binary input spikes (--encoding rate or poisson, not {opts.input_encoding.value})")
    if problems:
        raise LoweringError("a netx-compatible network needs " + " and ".join(problems))


def rate_pipeline(opts: CompileOptions) -> list[tuple[str, Pass]]:
    """Float graph -> rate-coded IF network quantised and mapped for ``opts.hw``."""
    if opts.netx_compatible:
        _check_netx(opts)
    return [
        ("pool_to_conv", pool_to_conv),
        ("fold_biases", fold_biases),
        ("balance_thresholds", partial(balance_thresholds, calibration=opts.calibration,
                                       percentile=opts.percentile)),
        ("calibrate_readout", partial(calibrate_readout, calibration=opts.calibration,
                                      percentile=opts.percentile)),
        ("convert_rate", partial(convert_rate, reset=opts.reset, encoding=opts.input_encoding,
                                 timesteps=opts.steps)),
        ("quantize", partial(quantize, hw=opts.hw, allow_clipping=opts.allow_clipping,
                             netx_compatible=opts.netx_compatible)),
        ("map_cores", partial(map_cores, hw=opts.hw)),
    ]


def sdn_pipeline(opts: CompileOptions) -> list[tuple[str, Pass]]:
    """Float graph -> sigma-delta network with graded spikes, quantised and mapped for ``opts.hw``."""
    if not opts.hw.synapse.graded_spikes:
        raise LoweringError(
            f"conversion mode sdn needs graded spikes (sigma-delta neurons), which {opts.hw.name} does not have "
            f"({opts.hw.source or opts.hw.name}: synapse.graded_spikes is false); compile with --mode rate "
            "for this chip, or choose --hw loihi2")
    if opts.netx_compatible:
        raise LoweringError("netx export takes rate-coded networks only (netx's file has no input message "
                            "width for graded spikes); compile with --mode rate for a netx-compatible network")
    if opts.input_encoding is not ir.Encoding.DELTA:
        raise LoweringError(f"conversion mode sdn takes the delta-encoded image (encoding delta), "
                            f"not {opts.input_encoding.value}")
    return [
        ("pool_to_conv", pool_to_conv),
        ("fold_biases", fold_biases),
        ("balance_thresholds", partial(balance_thresholds, calibration=opts.calibration,
                                       percentile=opts.percentile)),
        ("measure_ranges", partial(measure_ranges, calibration=opts.calibration)),
        ("convert_sdn", partial(convert_sdn, threshold=opts.delta_threshold, cum_error=opts.cum_error,
                                timesteps=opts.steps)),
        ("quantize", partial(quantize, hw=opts.hw, allow_clipping=opts.allow_clipping,
                             message_bits=opts.message_bits)),
        ("map_cores", partial(map_cores, hw=opts.hw)),
    ]


PIPELINES: dict[ConversionMode, Callable[[CompileOptions], list[tuple[str, Pass]]]] = {
    ConversionMode.RATE: rate_pipeline,
    ConversionMode.SDN: sdn_pipeline,
}


def pipeline_for(opts: CompileOptions) -> list[tuple[str, Pass]]:
    return PIPELINES[opts.mode](opts)


def run_pipeline(graph: ir.Graph, passes: Sequence[tuple[str, Pass]]) -> ir.Graph:
    """Check the order of ``passes`` (``check_order``), then run them, checking the graph after each one."""
    ir.check_graph(graph)
    check_order(graph, passes)
    for _, fn in passes:
        graph = ir.check_graph(fn(graph))
    return graph
