"""Uncertainty: bootstrap confidence intervals over records or clusters, and mean ± sd over runs.

A statistic is any function ``stat(index) -> float`` evaluated on the rows ``index`` of a fixed
evaluated set; the same resamples are reused for every method so that intervals and paired
comparisons (:mod:`.compare`) see identical data. Resampling clusters (homology groups) instead of
records gives wider, more honest intervals when near-duplicates share a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Statistic = Callable[[np.ndarray], float]


def resample_indices(n: int, n_boot: int, *, seed: int = 0, groups: Sequence[Any] | None = None) -> list[np.ndarray]:
    """``n_boot`` bootstrap resamples of ``range(n)``: records with replacement, or whole groups when given."""
    rng = np.random.default_rng(seed)
    if groups is None:
        return [rng.integers(0, n, n) for _ in range(n_boot)]
    if len(groups) != n:
        raise ValueError(f"{len(groups)} group labels for {n} records")
    _, inverse = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)] if n else []
    return [np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))]) if members else np.zeros(0, int) for _ in range(n_boot)]


def bootstrap_values(stat: Statistic, resamples: Sequence[np.ndarray]) -> np.ndarray:
    """The statistic on every resample (``nan`` where it is undefined on that resample)."""
    return np.array([stat(idx) for idx in resamples], dtype=float)


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap values, ignoring undefined (``nan``) resamples."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    return float(np.quantile(v, alpha)), float(np.quantile(v, 1 - alpha))


def bootstrap_ci(stat: Statistic, resamples: Sequence[np.ndarray], n: int, level: float = 0.95) -> dict[str, float]:
    """Point estimate on all ``n`` rows plus the percentile CI over ``resamples``."""
    lo, hi = percentile_ci(bootstrap_values(stat, resamples), level)
    return {"value": float(stat(np.arange(n))), "ci_low": lo, "ci_high": hi}


def mean_sd(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof=1) over runs (folds × seeds), ignoring ``nan``."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return {
        "mean": float(v.mean()) if len(v) else float("nan"),
        "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
        "n": int(len(v)),
    }
