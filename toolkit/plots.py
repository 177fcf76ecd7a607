"""PNG plots, written atomically, with matplotlib's non-interactive backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from toolkit.fsutil import atomic_path

__all__ = ["plot_curves"]


def plot_curves(path: str | Path, curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
                title: str, xlabel: str, ylabel: str, ylim: tuple[float, float] | None = None,
                spread: Mapping[str, Sequence[float]] | None = None) -> Path:
    """One line per entry of ``curves`` (label -> (x values, y values)); saved as PNG. ``spread`` (label -> one
    value per point, e.g. the standard deviation over seeds) draws a shaded band y ± spread around that line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, (xs, ys) in curves.items():
        (line,) = ax.plot(list(xs), list(ys), marker="o", markersize=3, label=label)
        if spread is not None and label in spread:
            ax.fill_between(list(xs), [y - d for y, d in zip(ys, spread[label], strict=True)],
                            [y + d for y, d in zip(ys, spread[label], strict=True)], color=line.get_color(), alpha=0.2)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
