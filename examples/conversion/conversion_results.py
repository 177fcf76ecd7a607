"""Make docs/results/conversion.md: float vs Lava fixed_pt accuracy of the sdn and rate conversions.

    .venv/bin/python examples/conversion/conversion_results.py            # everything (about 1-2 h on 2 cores)
    .venv/bin/python examples/conversion/conversion_results.py --lava-n 100   # a quicker look

For each network (the FA + noise-pretraining MLP of examples/fa-noise-fashion-mnist.yaml and the
small CNN of examples/conversion/fa-noise-cnn-fashion-mnist.yaml, both trained here with
``toolkit.training``'s experiment runner unless their run folder already holds ``model.pt``):

1. float accuracy of the trained PyTorch model on the first ``--lava-n`` Fashion-MNIST test images
   and on all 10,000;
2. ``sdn``: compile (``nfa compile --mode sdn``) and run in Lava's CPU simulator (fixed_pt) on the
   first ``--lava-n`` test images; the reference simulator on the same images must give identical
   output sums (checked), and on all 10,000 images;
3. ``rate``: for each reset mode, the smallest T in ``--rate-steps`` whose accuracy on the first
   ``--lava-n`` images is within 1.5 points of float (found with the reference simulator, which
   is bit-exact with Lava, then confirmed in Lava at that T; identical outputs checked).

Every Lava result is cached as JSON in the run folder (``--out``), so an interrupted run resumes.
The compiled networks are kept there too (``nfa run DIR --backend lava-sim --data fashion-mnist
--limit N`` reproduces a row).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
NETWORKS = {"mlp": ROOT / "examples" / "fa-noise-fashion-mnist.yaml",
            "cnn": ROOT / "examples" / "conversion" / "fa-noise-cnn-fashion-mnist.yaml"}
SDN_GOAL, RATE_GOAL = 0.5, 1.5   # points of accuracy below float


@dataclass
class Net:
    name: str
    checkpoint: Path
    model: Any
    arch: Any
    float_acc_n: float
    float_acc_all: float
    layers: int


def _train(name: str, out: Path) -> Path:
    from toolkit.config import load_experiment
    from toolkit.training.experiment import run_experiment

    run_dir = out / name
    if not (run_dir / "model.pt").is_file():
        print(f"training {name} from {NETWORKS[name].relative_to(ROOT)} into {run_dir} ...", flush=True)
        run_experiment(load_experiment(NETWORKS[name]), run_dir, progress=False)
    return run_dir / "model.pt"


def _load(name: str, out: Path, test: Any, n: int) -> Net:
    from toolkit.training import evaluate, load_checkpoint, rule_layers

    ckpt = _train(name, out)
    model, arch, _ = load_checkpoint(ckpt)
    return Net(name=name, checkpoint=ckpt, model=model, arch=arch, float_acc_n=evaluate(model, test.take(n)),
               float_acc_all=evaluate(model, test), layers=len(rule_layers(model)))


def _compile(net: Net, calib: Any, out: Path, tag: str, **opts: Any) -> tuple[Any, Path]:
    from compilers.driver import compile_checkpoint
    from compilers.passes import CompileOptions
    from toolkit.hw import load_hw

    net_dir = out / f"{net.name}-{tag}"
    graph, _ = compile_checkpoint(net.checkpoint, calib, CompileOptions(hw=load_hw("loihi2"), calibration=calib.x,
                                                                         **opts), out_dir=net_dir)
    return graph, net_dir


def _digest(graph: Any) -> str:
    """A hash of the compiled network's contents (nodes, fields, arrays, T), for the Lava result cache."""
    import dataclasses
    import hashlib

    h = hashlib.sha256(str(graph.timesteps).encode())
    for n in graph.nodes:
        for f in dataclasses.fields(n):
            v = getattr(n, f.name)
            h.update(f"{type(n).__name__}.{f.name}".encode())
            h.update(v.tobytes() if isinstance(v, np.ndarray) else repr(v).encode())
    return h.hexdigest()


def _lava(graph: Any, test: Any, cache: Path) -> dict[str, Any]:
    """Lava fixed_pt on ``test`` (cached per network contents), checked output for output against the reference."""
    from toolkit.backends.lava_sim import run_lava
    from toolkit.backends.reference import simulate

    ref = simulate(graph, test.x)
    digest = _digest(graph)
    if cache.is_file():
        got = json.loads(cache.read_text())
        if got["n"] == len(test) and got.get("digest") == digest:
            return got
    lava = run_lava(graph, test.x, progress=False)
    got = {"n": len(test), "timesteps": lava.timesteps, "accuracy": lava.accuracy(test.y), "wall_s": lava.wall_s,
           "total_steps": lava.total_steps, "identical_to_reference": bool(np.array_equal(lava.scores, ref.scores)),
           "reference_accuracy": ref.accuracy(test.y), "digest": digest}
    cache.write_text(json.dumps(got, indent=1))
    return got


def _messages(graph: Any, test: Any) -> list[float]:
    """Mean number of non-zero graded spikes per sample, per sigma-delta group (reference)."""
    from toolkit import ir
    from toolkit.backends.reference import simulate

    groups = [n.name for n in graph.of_type(ir.LoihiSigmaDelta)]
    res = simulate(graph, test.x, record=groups)
    return [float(np.count_nonzero(res.traces[g]["s"])) / len(test) for g in groups]


def _sdn(net: Net, calib: Any, test_n: Any, test: Any, out: Path) -> dict[str, Any]:
    from compilers.passes import ConversionMode
    from toolkit import ir
    from toolkit.backends.reference import simulate

    graph, net_dir = _compile(net, calib, out, "sdn", mode=ConversionMode.SDN)
    row = {"net_dir": str(net_dir.relative_to(ROOT)), "lava": _lava(graph, test_n, out / f"{net.name}-sdn.json"),
           "reference_all": simulate(graph, test.x).accuracy(test.y),
           "messages_per_sample": _messages(graph, test_n),
           "neurons": [int(np.prod(n.shape)) for n in graph.of_type(ir.LoihiSigmaDelta)],
           "quantization": graph.record(ir.Quantization).to_json()["layers"]}
    sparse, _ = _compile(net, calib, out, "sdn-sparse", mode=ConversionMode.SDN, delta_threshold=0.1,
                         cum_error=True, timesteps=net.layers + 4)
    row["sparse"] = [{"timesteps": t, "accuracy": simulate(sparse, test_n.x, timesteps=t).accuracy(test_n.y)}
                     for t in (1, 2, 4, net.layers + 4)]
    row["sparse_messages_per_sample"] = _messages(sparse, test_n)
    return row


def _rate_sweep(net: Net, calib: Any, test_n: Any, out: Path, reset: Any, steps: list[int]) -> dict[str, Any]:
    from compilers.passes import ConversionMode
    from toolkit.backends.reference import simulate

    graph, _ = _compile(net, calib, out, f"rate-{reset.value}", mode=ConversionMode.RATE, reset=reset,
                        timesteps=max(steps))
    sweep = []
    for t in steps:
        acc = simulate(graph, test_n.x, timesteps=t).accuracy(test_n.y)
        sweep.append({"timesteps": t, "accuracy": acc})
        if (net.float_acc_n - acc) * 100 <= RATE_GOAL:
            return {"reset": reset.value, "sweep": sweep, "chosen": t}
    return {"reset": reset.value, "sweep": sweep, "chosen": None}


def _rate(net: Net, calib: Any, test_n: Any, test: Any, out: Path, steps: list[int]) -> list[dict[str, Any]]:
    from compilers.passes import ConversionMode
    from toolkit import ir
    from toolkit.backends.reference import simulate

    rows = []
    for reset in ir.ResetMode:
        row = _rate_sweep(net, calib, test_n, out, reset, steps)
        t = row["chosen"] or steps[-1]
        graph, net_dir = _compile(net, calib, out, f"rate-{reset.value}-T{t}", mode=ConversionMode.RATE,
                                  reset=reset, timesteps=t)
        row.update(net_dir=str(net_dir.relative_to(ROOT)),
                   lava=_lava(graph, test_n, out / f"{net.name}-rate-{reset.value}-T{t}.json"),
                   reference_all=simulate(graph, test.x).accuracy(test.y))
        rows.append(row)
    return rows


def _pts(a: float, b: float) -> str:
    return f"{(a - b) * 100:+.2f}"


def _net_section(net: Net, sdn: dict[str, Any], rate: list[dict[str, Any]], n: int) -> list[str]:
    lines = [f"### {net.name.upper()}: {_describe(net)}", "",
             f"Float accuracy: **{net.float_acc_n:.4f}** on the first {n} test images, {net.float_acc_all:.4f} on "
             "all 10,000.", "",
             f"| mode | T (steps per sample) | Lava fixed_pt accuracy ({n} images) | vs float (points) | goal | "
             "Lava = reference | reference, 10,000 images | Lava wall time |",
             "|---|---|---|---|---|---|---|---|"]
    lv = sdn["lava"]
    ok = "met" if (net.float_acc_n - lv["accuracy"]) * 100 <= SDN_GOAL and lv["timesteps"] <= net.layers + 4 \
        else "**missed**"
    lines.append(f"| sdn | {lv['timesteps']} (+{net.layers + _pool_layers(net)} pipeline latency) | "
                 f"{lv['accuracy']:.4f} | {_pts(lv['accuracy'], net.float_acc_n)} | "
                 f"≤ {SDN_GOAL} pts, T ≤ {net.layers + 4}: {ok} | {'yes' if lv['identical_to_reference'] else 'NO'} "
                 f"| {sdn['reference_all']:.4f} | {lv['wall_s']:.0f} s |")
    for row in rate:
        lv = row["lava"]
        ok = "met" if row["chosen"] is not None and (net.float_acc_n - lv["accuracy"]) * 100 <= RATE_GOAL \
            else "**missed**"
        lines.append(f"| rate, reset {row['reset']} | {lv['timesteps']} | {lv['accuracy']:.4f} | "
                     f"{_pts(lv['accuracy'], net.float_acc_n)} | ≤ {RATE_GOAL} pts at the smallest T: {ok} | "
                     f"{'yes' if lv['identical_to_reference'] else 'NO'} | {row['reference_all']:.4f} | "
                     f"{lv['wall_s']:.0f} s |")
    lines += ["", "Rate-coding sweep (reference simulator = Lava, first "
              f"{n} images; the sweep stops at the first T within {RATE_GOAL} points):", "",
              "| reset | " + " | ".join(f"T={s['timesteps']}" for s in max((r["sweep"] for r in rate), key=len)) + " |",
              "|---|" + "---|" * max(len(r["sweep"]) for r in rate)]
    for row in rate:
        lines.append(f"| {row['reset']} | " + " | ".join(f"{s['accuracy']:.4f}" for s in row["sweep"]) + " |")
    lines += ["", _sdn_detail(net, sdn, n), ""]
    return lines + _inspect_section(net, sdn, rate)


def _inspect(net_dir: str) -> str:
    """What `nfa inspect NET_DIR --format markdown --data fashion-mnist` prints (resources, modelled cost)."""
    import contextlib
    import io

    from toolkit.cli import main as nfa

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = nfa(["inspect", str(ROOT / net_dir), "--format", "markdown", "--data", "fashion-mnist"])
    if code != 0:
        raise RuntimeError(f"nfa inspect {net_dir} exited with {code}")
    return buf.getvalue().rstrip()


def _inspect_section(net: Net, sdn: dict[str, Any], rate: list[dict[str, Any]]) -> list[str]:
    lines = [f"#### `nfa inspect` of the {net.name.upper()} networks", ""]
    for title, net_dir in [("sdn", sdn["net_dir"]), *((f"rate, reset {r['reset']}", r["net_dir"]) for r in rate)]:
        lines += [f"`nfa inspect {net_dir} --format markdown --data fashion-mnist` ({title}):", "",
                  _inspect(net_dir), ""]
    return lines


def _pool_layers(net: Net) -> int:
    return len(net.arch.conv_channels) if net.arch.pool > 1 else 0


def _describe(net: Net) -> str:
    a = net.arch
    stages = ["x".join(map(str, a.in_shape))]
    stages += [f"conv{a.kernel}x{a.kernel}({c}) → avgpool{a.pool}" for c in a.conv_channels]
    stages += [str(h) for h in a.hidden]
    return " → ".join([*stages, str(a.n_classes)]) + f", rule {a.rule.value}"


def _sdn_detail(net: Net, sdn: dict[str, Any], n: int) -> str:
    msgs = ", ".join(f"{m:.0f}/{k}" for m, k in zip(sdn["messages_per_sample"], sdn["neurons"], strict=True))
    sparse = ", ".join(f"T={s['timesteps']}: {s['accuracy']:.4f}" for s in sdn["sparse"])
    sparse_msgs = ", ".join(f"{m:.0f}" for m in sdn["sparse_messages_per_sample"])
    q = "; ".join(f"{r['layer']} e={r['weight_exp']}{' (folded)' if r['weight_exp_folded'] else ''} "
                  f"state_exp={r['state_exp']} err={r['weight_rel_error']:.3f} msg bits {r['message_bits_used']}"
                  for r in sdn["quantization"])
    return (f"SDN detail: graded spikes per sample per layer (non-zero / neurons): {msgs}. Quantisation: {q}. "
            f"A sparser variant (delta threshold 0.1 of each layer's scale, cum_error, reference on {n} images): "
            f"{sparse}; graded spikes per sample per layer {sparse_msgs}.")


def _write(path: Path, nets: list[tuple[Net, dict[str, Any], list[dict[str, Any]]]], args: argparse.Namespace,
           wall: float) -> None:
    from toolkit.lavacompat import lava_version

    lines = ["# Conversion results: float vs Lava fixed_pt, sigma-delta and rate coding", "",
             f"Made by `{args.command}` on this machine ({platform.processor() or platform.machine()}, "
             f"Python {platform.python_version()}, lava-nc {lava_version()}; {wall / 60:.0f} min wall time). "
             "Dataset: Fashion-MNIST (Debian package, /usr/share/datasets/fashion-mnist); "
             "calibration: the first 2,000 training images; hardware config: hw_configs/loihi2.yaml; "
             "backend: Lava's CPU simulator, `Loihi2SimCfg(select_tag=\"fixed_pt\")`, all test images of a row "
             "in one runtime.", ""]
    for net, sdn, rate in nets:
        lines += _net_section(net, sdn, rate, args.lava_n)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    marker = "<!-- generated above; notes below are kept -->"
    if path.is_file() and marker in path.read_text():
        text += marker + path.read_text().split(marker, 1)[1]
    path.write_text(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "conversion")
    p.add_argument("--lava-n", type=int, default=1000, help="test images run in Lava (default 1000)")
    p.add_argument("--rate-steps", default="8,16,24,32,48,64,96,128,192,256")
    p.add_argument("--nets", default="mlp,cnn")
    p.add_argument("--write", type=Path, default=ROOT / "docs" / "results" / "conversion.md")
    args = p.parse_args()
    args.out = args.out.resolve()
    args.command = "python examples/conversion/conversion_results.py" + (
        f" --lava-n {args.lava_n}" if args.lava_n != 1000 else "")
    from toolkit.data import load_dataset

    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    train, test = load_dataset("fashion-mnist")
    calib, test_n = train.take(2000), test.take(args.lava_n)
    steps = [int(s) for s in args.rate_steps.split(",")]
    done = []
    for name in args.nets.split(","):
        net = _load(name, args.out, test, args.lava_n)
        print(f"{name}: float {net.float_acc_n:.4f} ({args.lava_n}) {net.float_acc_all:.4f} (10k)", flush=True)
        sdn = _sdn(net, calib, test_n, test, args.out)
        print(f"{name} sdn: {sdn['lava']}", flush=True)
        rate = _rate(net, calib, test_n, test, args.out, steps)
        print(f"{name} rate: {[(r['reset'], r['chosen'], r['lava']) for r in rate]}", flush=True)
        done.append((net, sdn, rate))
    _write(args.write, done, args, time.perf_counter() - t0)
    print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
