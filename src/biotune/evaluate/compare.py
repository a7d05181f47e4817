"""Paired comparison of two methods on the same records: paired bootstrap and Wilcoxon over folds.

Both functions are pure, so ``biotune compare`` and notebooks can reuse them on saved results.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from biotune.evaluate.bootstrap import Statistic, bootstrap_values, percentile_ci


def paired_bootstrap(stat_a: Statistic, stat_b: Statistic, resamples: Sequence[np.ndarray], n: int, level: float = 0.95) -> dict[str, float]:
    """Δ = stat_a − stat_b on all ``n`` rows, its percentile CI, and a two-sided bootstrap p-value.

    Both statistics are evaluated on the *same* resampled rows, so record-level difficulty cancels.
    """
    everything = np.arange(n)
    return paired_bootstrap_from_values(
        stat_a(everything), stat_b(everything), bootstrap_values(stat_a, resamples), bootstrap_values(stat_b, resamples), level
    )


def paired_bootstrap_from_values(point_a: float, point_b: float, values_a: np.ndarray, values_b: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """:func:`paired_bootstrap` from already computed values on shared resamples (``values_a[i]`` and
    ``values_b[i]`` from the same resample). The p-value is ``2 · min(P(Δ* ≤ 0), P(Δ* ≥ 0))``, clipped to 1."""
    deltas = np.asarray(values_a, dtype=float) - np.asarray(values_b, dtype=float)
    deltas = deltas[~np.isnan(deltas)]
    lo, hi = percentile_ci(deltas, level)
    p = float(min(1.0, 2 * min(np.mean(deltas <= 0), np.mean(deltas >= 0)))) if len(deltas) else float("nan")
    return {"delta": float(point_a - point_b), "ci_low": lo, "ci_high": hi, "p_value": p, "n_boot": int(len(deltas))}


def wilcoxon_over_folds(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Wilcoxon signed-rank test on paired per-fold (per-run) values of two methods.

    With 5 folds the smallest attainable two-sided p is 0.0625: read it together with the bootstrap.
    Identical values in every pair give p = 1.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired values differ in length: {len(x)} vs {len(y)}")
    keep = ~(np.isnan(x) | np.isnan(y))
    d = x[keep] - y[keep]
    if len(d) == 0:
        return {"mean_delta": float("nan"), "statistic": float("nan"), "p_value": float("nan"), "n": 0}
    if np.all(d == 0):
        return {"mean_delta": 0.0, "statistic": float("nan"), "p_value": 1.0, "n": int(len(d))}
    res = stats.wilcoxon(x[keep], y[keep])
    return {"mean_delta": float(d.mean()), "statistic": float(res.statistic), "p_value": float(res.pvalue), "n": int(len(d))}
