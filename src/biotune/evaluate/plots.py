"""Benchmark figures with matplotlib (Agg backend, files only): F1 heatmap, PR curves, confusion matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import PrecisionRecallDisplay  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _annotated_grid(grid: np.ndarray, rows: Sequence[str], cols: Sequence[str], title: str, label: str, fmt: str, vmax: float):
    """An annotated heatmap figure (blank where ``nan``)."""
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(cols) + 2), 0.5 * len(rows) + 1.8))
    im = ax.imshow(grid, vmin=0, vmax=vmax, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i, j in np.ndindex(grid.shape):
        if not np.isnan(grid[i, j]):
            ax.text(j, i, format(grid[i, j], fmt), ha="center", va="center", fontsize=7, color="white" if grid[i, j] < 0.6 * vmax else "black")
    fig.colorbar(im, ax=ax, label=label)
    ax.set_title(title)
    return fig


def f1_heatmap(f1: Mapping[str, Mapping[str, float | None]], classes: Sequence[str], title: str, path: Path) -> Path:
    """Per-class F1, one row per method and one column per class (missing = blank)."""
    methods = list(f1)
    grid = np.array([[np.nan if f1[m].get(c) is None else f1[m][c] for c in classes] for m in methods], dtype=float)
    return _save(_annotated_grid(grid, methods, classes, title, "F1", ".2f", 1.0), path)


def pr_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, path: Path) -> Path:
    """Precision-recall curves of several methods on the same records: ``{method: (y_true, score)}``."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for method, (y, s) in curves.items():
        if np.asarray(y).sum() > 0:
            PrecisionRecallDisplay.from_predictions(y, s, name=method, ax=ax)
    ax.set_title(title)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    return _save(fig, path)


def confusion_plot(matrix: Sequence[Sequence[int]], row_labels: Sequence[str], col_labels: Sequence[str], title: str, path: Path) -> Path:
    """Confusion counts (rows = truth, columns = call; an extra abstain column is allowed), colour = row fraction."""
    cm = np.asarray(matrix, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = cm / cm.sum(axis=1, keepdims=True)
    fig = _annotated_grid(np.where(np.isnan(frac), 0, frac), row_labels, col_labels, title, "fraction of true class", ".2f", 1.0)
    fig.axes[0].set_xlabel("call")
    fig.axes[0].set_ylabel("truth")
    return _save(fig, path)
