"""Per-group and pooled regression metrics with group-bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from biotune.evaluate.grouped import grouped_regression_metrics
from biotune.evaluate.metrics import regression_metrics


def _data():
    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b", "c", "d"], [10, 20, 30, 40])
    y = rng.uniform(60, 160, len(groups))
    offset = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 8.0}
    p = y + np.array([offset[x] for x in groups]) * rng.choice([-1, 1], len(groups))
    return y, p, groups


def test_per_group_pooled_and_group_mean_values():
    y, p, groups = _data()
    out = grouped_regression_metrics(y, p, groups, n_boot=200)
    assert out["n"] == 100 and out["n_groups"] == 4
    assert [round(out["per_group"][g]["mae"], 9) for g in "abcd"] == [1.0, 2.0, 4.0, 8.0]
    assert out["pooled"]["mae"]["value"] == pytest.approx((10 * 1 + 20 * 2 + 30 * 4 + 40 * 8) / 100)
    assert out["group_mean"]["mae"]["value"] == pytest.approx(3.75)
    assert out["pooled"]["rmse"]["value"] == pytest.approx(regression_metrics(y, p)["rmse"])
    assert out["pooled"]["pearson"]["value"] == pytest.approx(regression_metrics(y, p)["pearson"])


def test_intervals_resample_whole_groups():
    y, p, groups = _data()
    out = grouped_regression_metrics(y, p, groups, n_boot=500, seed=1)
    for summary in ("pooled", "group_mean"):
        ci = out[summary]["mae"]
        assert 1.0 <= ci["ci_low"] < ci["value"] < ci["ci_high"] <= 8.0  # within the per-group extremes
    single = grouped_regression_metrics(y[:10], p[:10], groups[:10], n_boot=50)
    assert single["pooled"]["mae"]["ci_low"] == single["pooled"]["mae"]["ci_high"] == pytest.approx(1.0)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="must be as many"):
        grouped_regression_metrics(np.ones(3), np.ones(3), ["a", "b"])
