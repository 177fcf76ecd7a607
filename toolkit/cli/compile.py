"""``nfa compile``: a checkpoint becomes a compiled network folder for a chip."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.argtypes import at_least

if TYPE_CHECKING:
    from toolkit.data import DataSource

HELP = "compile a checkpoint (feed-forward, or a recurrent network from `nfa bench eprop`) into a quantised, " \
       "core-mapped network for a chip"

_ENCODINGS = ("rate", "poisson", "current", "delta")
_RESETS = ("zero", "subtract")
_MODES = ("rate", "sdn")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path,
                   help="model checkpoint written by `nfa demo` or `nfa train`, or a recurrent network's written by "
                        "`nfa bench eprop` (then only --hw, --data, --data-dir and --allow-clipping apply)")
    p.add_argument("-o", "--out", type=Path, required=True, help="folder to write the compiled network to")
    p.add_argument("--hw", default="loihi2", help="hardware config: loihi2, loihi1 or a YAML path")
    p.add_argument("--mode", choices=_MODES, default="rate",
                   help="conversion mode: rate (integrate-and-fire, binary spikes; Loihi 1 and 2) or sdn "
                        "(sigma-delta neurons, graded spikes; Loihi 2) (default rate)")
    p.add_argument("--timesteps", "-T", type=at_least(1), default=None,
                   help="timesteps per sample (default: rate 32, sdn 1)")
    p.add_argument("--encoding", choices=_ENCODINGS, default=None,
                   help="input encoding (default: rate for --mode rate, delta for --mode sdn)")
    p.add_argument("--reset", choices=_RESETS, default="zero",
                   help="rate: voltage reset after a spike (default zero)")
    p.add_argument("--delta-threshold", type=float, default=0.0,
                   help="sdn: delta threshold in units of each layer's balanced activation scale "
                        "(default 0: one unit of the graded spike payload)")
    p.add_argument("--cum-error", action="store_true",
                   help="sdn: spike when the error accumulated since the last spike reaches the threshold")
    p.add_argument("--message-bits", type=int, default=16,
                   help="sdn: signed width of the graded spikes, at most the chip's synapse.max_message_bits "
                        "(default 16)")
    p.add_argument("--percentile", type=float, default=99.9, help="threshold-balancing percentile (default 99.9)")
    p.add_argument("--data", default=None,
                   help="calibration dataset: name or path (default: the one the checkpoint was trained on, "
                        "else digits)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder with the dataset's files (default: the training config's data_dir)")
    p.add_argument("--onoff", action="store_true",
                   help="signed samples as ON/OFF input channels (default: as the checkpoint was trained)")
    p.add_argument("--calibration-samples", type=at_least(1), default=2000, help="training images used to balance")
    p.add_argument("--allow-clipping", action="store_true", help="clip unrepresentable values instead of failing")
    p.add_argument("--netx-compatible", action="store_true",
                   help="quantise so lava-dl netx expresses the network exactly (for `nfa export --format netx`): "
                        "weight exponent 0, biases in steps of 64; needs --mode rate, --reset zero, binary input")


def _trained_on(ckpt: dict[str, Any], data: str | None, data_dir: Path | None, onoff: bool) -> DataSource:
    """The dataset to calibrate on: the one given, else the checkpoint's training data, else digits; ON/OFF
    channels if asked or if the network was trained on them (its input expects them either way)."""
    from toolkit.data import DataSource

    cfg_data = (ckpt.get("config") or {}).get("data") or {}
    name = ckpt.get("dataset") if isinstance(ckpt.get("dataset"), str) else None
    if isinstance(cfg_data.get("dataset"), str) and cfg_data["dataset"].endswith(".npz"):
        name = cfg_data["dataset"]   # the path, not the name the loader gave it (the file's stem)
    saved_dir = cfg_data.get("data_dir") if isinstance(cfg_data.get("data_dir"), str) else None
    return DataSource.chosen(data, data_dir, onoff or cfg_data.get("onoff") is True, name, saved_dir)


#: options that a recurrent network's compile does not take, with their defaults (its input is a sequence of rows,
#: its groups LIF/ALIF as trained, its timesteps its rows; nothing is calibrated)
_NOT_FOR_RSNN = {"mode": "rate", "timesteps": None, "encoding": None, "reset": "zero", "delta_threshold": 0.0,
                 "cum_error": False, "message_bits": 16, "percentile": 99.9, "onoff": False,
                 "calibration_samples": 2000, "netx_compatible": False}


def _run_rsnn(a: argparse.Namespace, loaded: tuple[Any, dict[str, Any]]) -> int:
    from compilers.rsnn import compile_rsnn_checkpoint
    from toolkit.data import DataSource
    from toolkit.errors import ConfigError

    spec, ckpt = loaded
    given = ["--" + k.replace("_", "-") for k, default in _NOT_FOR_RSNN.items() if getattr(a, k) != default]
    if given:
        what = f"{given[0]} does" if len(given) == 1 else f"{', '.join(given[:-1])} and {given[-1]} do"
        raise ConfigError(f"{a.checkpoint} is a recurrent network (`nfa bench eprop`), which compiles as trained: "
                          f"{what} not apply (its input sends one row of the sample per step, {spec.steps} steps); "
                          "drop them")
    name = ckpt.get("dataset") if isinstance(ckpt.get("dataset"), str) else None
    saved_dir = ckpt.get("data_dir") if isinstance(ckpt.get("data_dir"), str) else None
    src = DataSource.chosen(a.data, a.data_dir, False, name, saved_dir)
    _, report = compile_rsnn_checkpoint(a.checkpoint, a.hw, allow_clipping=a.allow_clipping, out_dir=a.out,
                                        source=src, loaded=loaded)
    m, net = report["mapping"], report["network"]
    acc = report.get("trained_test_acc")
    print(f"compiled recurrent network {a.checkpoint} ({report['neuron']}, {net['features']} inputs x "
          f"{net['steps']} steps -> {net['hidden']} hidden -> {net['classes']} classes"
          f"{'' if acc is None else f', float test accuracy {acc:.4f} when trained'}) for {report['hw']}: "
          f"{m['cores']} cores on {m['chips']} chip(s); evaluates on {src.dataset}; wrote {a.out}/")
    return 0


def run(a: argparse.Namespace) -> int:
    from compilers.driver import compile_checkpoint
    from compilers.passes import CompileOptions, ConversionMode
    from toolkit.hw import load_hw
    from toolkit.ir import Encoding, ResetMode
    from toolkit.training.checkpoint import load_checkpoint, read_checkpoint_file
    from toolkit.training.eprop import RSNN_FORMAT, load_rsnn_checkpoint

    if read_checkpoint_file(a.checkpoint).get("format") == RSNN_FORMAT:
        return _run_rsnn(a, load_rsnn_checkpoint(a.checkpoint))
    loaded = load_checkpoint(a.checkpoint)   # for its training data here, for its model below
    src = _trained_on(loaded[2], a.data, a.data_dir, a.onoff)
    train, _ = src.load()
    calib = train.take(a.calibration_samples)
    opts = CompileOptions(hw=load_hw(a.hw), calibration=calib.x, mode=ConversionMode(a.mode),
                          percentile=a.percentile, reset=ResetMode(a.reset),
                          encoding=None if a.encoding is None else Encoding(a.encoding),
                          timesteps=a.timesteps, allow_clipping=a.allow_clipping,
                          delta_threshold=a.delta_threshold, cum_error=a.cum_error, message_bits=a.message_bits,
                          netx_compatible=a.netx_compatible)
    _, report = compile_checkpoint(a.checkpoint, calib, opts, out_dir=a.out, source=src, loaded=loaded)
    m = report["mapping"]
    print(f"compiled {a.checkpoint} for {report['hw']} ({report['mode']}, T={report['timesteps']}): "
          f"{m['cores']} cores on {m['chips']} chip(s) of {m['board']} "
          f"({m.get('board_chips', '?')} chips of {m.get('cores_per_chip', '?')} cores); calibrated on {calib.name}; "
          f"wrote {a.out}/")
    for g in m.get("groups", []):  # where each layer went (`nfa inspect` shows the full table)
        first, last = g.get("chips", [0, 0])
        into = " + ".join(g.get("synapse_list") or [g["synapse"]])   # every synapse into the group (fan-in)
        print(f"  {into} -> {g['group']}: {g['neurons']} neurons on {g['cores']} core(s), "
              f"chip{'s' if last > first else ''} {first}{f'-{last}' if last > first else ''}")
    return 0
