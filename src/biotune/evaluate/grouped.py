"""Regression metrics per group (subject, proteome) and over all groups, with group-bootstrap CIs.

Two summaries answer two questions. ``pooled``: the metric over every row, each row weighing the
same. ``group_mean``: the mean of the per-group values, each group weighing the same — the number
papers report when they average per-recording errors (e.g. heart-rate MAE over 12 subjects). Both
intervals resample whole groups, because rows of one group (windows of one subject) are not
independent: a record bootstrap would give intervals that are too narrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from biotune.evaluate.bootstrap import bootstrap_ci, percentile_ci, resample_indices
from biotune.evaluate.metrics import regression_metrics

#: Metrics summarised with intervals (every per-group entry has all of ``regression_metrics``).
GROUPED_METRICS = ("mae", "rmse", "pearson")


def grouped_regression_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: Sequence[Any],
    *,
    metrics: Sequence[str] = GROUPED_METRICS,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """``{n, n_groups, pooled, group_mean, per_group}``; ``pooled``/``group_mean`` map each metric to
    ``{value, ci_low, ci_high}`` (percentile CI over ``n_boot`` resamples of whole groups)."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    g = np.asarray([str(x) for x in groups])
    if not len(y) == len(p) == len(g):
        raise ValueError(f"{len(y)} targets, {len(p)} predictions and {len(g)} groups must be as many")
    names = sorted(set(g.tolist()))
    per_group = {name: regression_metrics(y[g == name], p[g == name]) for name in names}
    pooled_boot = [regression_metrics(y[idx], p[idx]) for idx in resample_indices(len(y), n_boot, seed=seed, groups=g)]
    pooled_all = regression_metrics(y, p)
    group_resamples = resample_indices(len(names), n_boot, seed=seed)
    out: dict[str, Any] = {"n": int(len(y)), "n_groups": len(names), "pooled": {}, "group_mean": {}, "per_group": per_group}
    for m in metrics:
        lo, hi = percentile_ci(np.array([b[m] for b in pooled_boot]), level)
        out["pooled"][m] = {"value": pooled_all[m], "ci_low": lo, "ci_high": hi}
        values = np.array([per_group[name][m] for name in names])
        out["group_mean"][m] = bootstrap_ci(lambda idx, v=values: _defined_mean(v[idx]), group_resamples, len(names), level)
    return out


def _defined_mean(values: np.ndarray) -> float:
    """Mean of the defined (non-``nan``) values; ``nan`` when there are none."""
    v = values[~np.isnan(values)]
    return float(v.mean()) if len(v) else float("nan")
