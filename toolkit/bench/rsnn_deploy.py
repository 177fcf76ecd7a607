"""Trained recurrent spiking networks deployed: float accuracy against the reference and Lava fixed_pt.

For each recurrent-network checkpoint (``nfa bench eprop`` writes them; ``toolkit.training.eprop``) the network is
compiled for the chip (``compilers.rsnn.compile_rsnn``: 8-bit weight mantissas, integer thresholds and decays, the
read-out as a never-firing LIF whose voltage is the score) and run three ways on the same test samples of the
dataset it was trained on:

* **float**: ``RSNNSpec.simulate`` (float64), the trained network as trained;
* **reference**: our bit-exact simulator of the compiled network (``toolkit.backends.reference``), the whole test
  set (or ``--limit``);
* **Lava**: Lava's CPU simulator, ``Loihi2SimCfg(select_tag="fixed_pt")``, on the first ``--lava-samples`` (Lava
  takes milliseconds per step, so a whole test set takes minutes per thousand samples).

Reported per checkpoint: the accuracies, the loss of each deployed form against float on the same samples (in
points), how many predictions float and the reference share, and whether Lava's scores equal the reference's on
every Lava sample (``lava_scores_equal``; a mismatch is a bug in one of them and fails the command).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.argtypes import at_least

__all__ = ["add_arguments", "deploy_checkpoint", "run", "table"]


def deploy_checkpoint(checkpoint: str | Path, *, hw: str = "loihi2", data: str | None = None,
                      data_dir: str | Path | None = None, lava_samples: int = 500, limit: int | None = None,
                      progress: bool = False) -> dict[str, Any]:
    """The figures of one checkpoint (module doc); ``lava_samples`` = 0 skips Lava."""
    from compilers.rsnn import compile_rsnn
    from toolkit.backends.reference import simulate
    from toolkit.data import DataSource
    from toolkit.training.eprop import load_rsnn_checkpoint

    spec, ckpt = load_rsnn_checkpoint(checkpoint)
    name = ckpt.get("dataset") if isinstance(ckpt.get("dataset"), str) else None
    saved_dir = ckpt.get("data_dir") if isinstance(ckpt.get("data_dir"), str) else None
    src = DataSource.chosen(data, data_dir, False, name, saved_dir)
    test = src.load()[1].take(limit)
    x, y = test.x.reshape(len(test), spec.steps, spec.features), np.asarray(test.y)
    t0 = time.perf_counter()
    net = compile_rsnn(spec, hw)
    compile_s = time.perf_counter() - t0
    float_pred = spec.simulate(x).argmax(1)
    t0 = time.perf_counter()
    ref = simulate(net, x)
    ref_s = time.perf_counter() - t0
    r: dict[str, Any] = {
        "checkpoint": str(checkpoint), "arm": ckpt.get("arm"), "dataset": src.dataset, "hw": hw,
        "neuron": spec.neuron.value, "hidden": spec.hidden, "n_test": len(test),
        "trained_test_acc": ckpt.get("test_acc"), "compile_s": compile_s,
        "float_acc": float(np.mean(float_pred == y)), "reference_acc": float(np.mean(ref.predictions == y)),
        "reference_float_agreement": float(np.mean(ref.predictions == float_pred)), "reference_s": ref_s}
    r["reference_loss_points"] = 100.0 * (r["float_acc"] - r["reference_acc"])
    n = min(lava_samples, len(test))
    if n:
        from toolkit.backends.lava_sim import run_lava

        t0 = time.perf_counter()
        lava = run_lava(net, x[:n], progress=progress)
        lava_float = float(np.mean(float_pred[:n] == y[:n]))
        r.update({
            "lava_samples": n, "lava_s": time.perf_counter() - t0,
            "lava_acc": float(np.mean(lava.predictions == y[:n])),
            "float_acc_on_lava_samples": lava_float,
            "reference_acc_on_lava_samples": float(np.mean(ref.predictions[:n] == y[:n])),
            "lava_scores_equal": bool(np.array_equal(np.asarray(lava.scores), np.asarray(ref.scores)[:n])),
            "lava_reference_prediction_agreement": float(np.mean(lava.predictions == ref.predictions[:n]))})
        r["lava_loss_points"] = 100.0 * (lava_float - r["lava_acc"])
    return r


def table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'checkpoint':28s} {'float':>7s} {'ref':>7s} {'loss':>6s} {'ref=float':>9s}   "
            f"{'Lava n':>6s} {'float':>7s} {'Lava':>7s} {'loss':>6s} {'Lava=ref':>8s}")
    lines = [head]
    for r in rows:
        line = (f"{Path(r['checkpoint']).name:28s} {r['float_acc']:7.4f} {r['reference_acc']:7.4f} "
                f"{r['reference_loss_points']:+6.2f} {r['reference_float_agreement']:9.4f}   ")
        if "lava_acc" in r:
            line += (f"{r['lava_samples']:6d} {r['float_acc_on_lava_samples']:7.4f} {r['lava_acc']:7.4f} "
                     f"{r['lava_loss_points']:+6.2f} {'scores' if r['lava_scores_equal'] else 'DIFFER':>8s}")
        lines.append(line)
    return "\n".join(lines) + "\n(loss: points of accuracy lost against float on the same samples; Lava=ref: " \
                              "'scores' when every Lava score equals the reference's)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoints", type=Path, nargs="+",
                   help="recurrent-network checkpoints (`nfa bench eprop` writes <arm>-seed<k>.pt)")
    p.add_argument("--hw", default="loihi2", help="hardware config name or YAML path (default loihi2)")
    p.add_argument("--data", default=None, help="dataset (default: the one each checkpoint was trained on)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset's files")
    p.add_argument("--lava-samples", type=at_least(0), default=500,
                   help="test samples run through Lava fixed_pt (default 500; 0 skips Lava)")
    p.add_argument("--limit", type=at_least(1), default=None, help="test samples for float and reference (default all)")
    p.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(a: argparse.Namespace) -> int:
    from toolkit.fsutil import write_json

    rows: list[dict[str, Any]] = []
    head, *_, note = table([]).splitlines()
    print(head, flush=True)
    for ckpt in a.checkpoints:   # a line as each checkpoint is done (Lava takes minutes)
        rows.append(deploy_checkpoint(ckpt, hw=a.hw, data=a.data, data_dir=a.data_dir, lava_samples=a.lava_samples,
                                      limit=a.limit, progress=not a.no_progress))
        print(table(rows[-1:]).splitlines()[1], flush=True)
    print(note)
    if a.json is not None:
        write_json(a.json, {"benchmark": "rsnn-deploy", "checkpoints": rows})
        print(f"wrote {a.json}")
    if any(r.get("lava_scores_equal") is False for r in rows):
        print("Lava's scores differ from the reference's: a bug in the Lava lowering or the reference; report it")
        return 1
    return 0
