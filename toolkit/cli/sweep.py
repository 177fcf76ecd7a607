"""``nfa sweep SWEEP.yaml``: a grid or random search over experiment keys, each trial train → compile → evaluate."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HELP = ("grid or random search over experiment keys (rule, noise, lr, compile mode, timesteps ...), each trial "
        "train -> compile -> evaluate, on local Ray workers, a Ray cluster or sequentially; resumable")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", type=Path, help="sweep file (YAML; see examples/sweeps/digits.yaml and docs/sweep.md)")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="output folder (default runs/sweep-<sweep file name without .yaml>); rerunning into the "
                        "same folder runs only the trials that did not finish")
    p.add_argument("--workers", type=int, default=None,
                   help="trials at once on local Ray workers (default: one per CPU); 0: one after another in this "
                        "process, without Ray")
    p.add_argument("--address", default=None,
                   help="run on the existing Ray cluster at this address (e.g. auto or HOST:6379) instead of a local "
                        "one; the output folder must be on a filesystem every node shares")
    p.add_argument("--max-retries", type=int, default=3, help="Ray: times a trial is retried when its worker dies")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _command(a: argparse.Namespace) -> str:
    """The command line as typed (for results.json), or rebuilt from the arguments when called from Python."""
    if sys.argv and Path(sys.argv[0]).name == "nfa":
        return "nfa " + " ".join(sys.argv[1:])
    given = [f"-o {a.out}" if a.out else "", f"--workers {a.workers}" if a.workers is not None else "",
             f"--address {a.address}" if a.address else ""]
    return " ".join(["nfa sweep", str(a.sweep), *filter(None, given)])


def run(a: argparse.Namespace) -> int:
    from toolkit.sweep import load_sweep, make_executor, run_sweep, summary_lines, write_results

    plan = load_sweep(a.sweep)
    out = a.out if a.out is not None else Path("runs") / f"sweep-{a.sweep.stem}"
    workers = a.workers if a.workers is not None else (None if a.address is not None else _cpus())
    executor = make_executor(workers, address=a.address, max_retries=a.max_retries, threads=plan.config.threads)
    dropped = f"; {plan.repeated_draws} repeated random draws dropped" if plan.repeated_draws else ""
    print(f"{a.sweep}: {len(plan.trials)} trials ({plan.points} points x {len(plan.config.seeds)} seeds{dropped}) "
          f"{executor.description}, into {out}/", flush=True)
    try:
        r = run_sweep(plan, out, executor, progress=not a.no_progress, command=_command(a))
    finally:
        executor.close()
    written = write_results(r, out)
    print("\n".join(summary_lines(r)))
    reused = f", {r['n_reused']} finished before" if r["n_reused"] else ""
    print(f"{r['n_trials']} trials{reused}, {r['n_failed']} failed; {r['wall_s']:.0f} s; wrote "
          + ", ".join(str(p) for p in written))
    return 1 if r["n_failed"] else 0
