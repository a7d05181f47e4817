"""Bootstrap CIs, replicate metrics (== scikit-learn on the resampled rows) and paired comparisons."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from biotune.evaluate.bootstrap import bootstrap_ci, mean_sd, percentile_ci, resample_indices
from biotune.evaluate.compare import paired_bootstrap, wilcoxon_over_folds
from biotune.evaluate.metrics import multiclass_calls
from biotune.evaluate.replicates import replicate_headline, weight_matrix
from biotune.tasks import TaskSpec


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(7)


def test_replicates_match_sklearn_binary(rng):
    task = TaskSpec("is_arg", "binary")
    y = rng.integers(0, 2, 120).astype(float)
    s = np.round(np.clip(y * 0.3 + rng.random(120) * 0.7, 0, 1), 1)  # ties on purpose
    thr = rng.choice([0.4, 0.5], 120)
    mask = rng.random(120) > 0.1
    resamples = resample_indices(120, 25, seed=1)
    values = replicate_headline(task, weight_matrix(resamples, 120), y, mask, s, thr)
    for b, idx in enumerate(resamples):
        idx = idx[mask[idx]]
        yy, ss, call = y[idx].astype(int), s[idx], (s[idx] >= thr[idx]).astype(int)
        assert values["f1"][b] == pytest.approx(skm.f1_score(yy, call, zero_division=0))
        assert values["mcc"][b] == pytest.approx(skm.matthews_corrcoef(yy, call), abs=1e-12)
        assert values["auprc"][b] == pytest.approx(skm.average_precision_score(yy, ss))


def test_replicates_match_sklearn_multiclass_with_abstentions(rng):
    task = TaskSpec("mech", "multiclass", ("a", "b", "c", "d"))
    y = rng.integers(0, 4, 150)
    proba = rng.dirichlet(np.ones(4), 150)
    proba[rng.random(150) < 0.1] = 0.0
    resamples = resample_indices(150, 25, seed=2)
    values = replicate_headline(task, weight_matrix(resamples, 150), y, np.ones(150, bool), proba)
    for b, idx in enumerate(resamples):
        pred = multiclass_calls(proba[idx])
        present = sorted(set(y[idx]) | (set(pred) - {-1}))
        assert values["macro_f1"][b] == pytest.approx(skm.f1_score(y[idx], pred, labels=present, average="macro", zero_division=0))
        assert values["accuracy"][b] == pytest.approx(skm.accuracy_score(y[idx], pred))


def test_replicates_match_sklearn_multilabel(rng):
    task = TaskSpec("drug", "multilabel", tuple("pqrs"))
    y = (rng.random((150, 4)) < np.array([0.4, 0.2, 0.05, 0.3])).astype(float)
    s = np.clip(y * 0.4 + rng.random((150, 4)) * 0.6, 0, 1)
    thr = np.array([0.5, 0.4, 0.6, 0.5])
    resamples = resample_indices(150, 25, seed=3)
    values = replicate_headline(task, weight_matrix(resamples, 150), y, np.ones(150, bool), s, thr)
    for b, idx in enumerate(resamples):
        yy, calls = y[idx].astype(int), (s[idx] >= thr).astype(int)
        present = [j for j in range(4) if yy[:, j].any() or calls[:, j].any()]
        assert values["macro_f1"][b] == pytest.approx(skm.f1_score(yy, calls, labels=present, average="macro", zero_division=0))
        assert values["micro_f1"][b] == pytest.approx(skm.f1_score(yy, calls, average="micro", zero_division=0))


def test_replicates_regression(rng):
    task = TaskSpec("mic", "regression")
    y = rng.normal(size=60)
    p = y + rng.normal(scale=0.3, size=60)
    resamples = resample_indices(60, 5, seed=4)
    values = replicate_headline(task, weight_matrix(resamples, 60), y, np.ones(60, bool), p)
    for b, idx in enumerate(resamples):
        assert values["rmse"][b] == pytest.approx(np.sqrt(skm.mean_squared_error(y[idx], p[idx])))
        assert values["spearman"][b] == pytest.approx(stats.spearmanr(y[idx], p[idx])[0])


def test_cluster_resampling_keeps_clusters_whole():
    groups = np.repeat(["c0", "c1", "c2", "c3"], [1, 2, 3, 4])
    for idx in resample_indices(10, 30, seed=0, groups=groups):
        counts = {g: int(np.sum(groups[idx] == g)) for g in set(groups)}
        size = {"c0": 1, "c1": 2, "c2": 3, "c3": 4}
        assert all(counts[g] % size[g] == 0 for g in counts)


def test_ci_covers_point_and_shrinks_with_more_data(rng):
    def width(n):
        y = rng.integers(0, 2, n)
        stat = lambda idx: float(np.mean(y[idx]))  # noqa: E731
        r = bootstrap_ci(stat, resample_indices(n, 400, seed=0), n)
        assert r["ci_low"] <= r["value"] <= r["ci_high"]
        return r["ci_high"] - r["ci_low"]

    assert width(2000) < width(50) / 3


def test_percentile_ci_and_mean_sd():
    assert percentile_ci(np.arange(101), 0.9) == pytest.approx((5.0, 95.0))
    assert np.isnan(percentile_ci(np.array([np.nan]))[0])
    r = mean_sd([0.5, 0.7, np.nan, 0.9])
    assert r == pytest.approx({"mean": 0.7, "sd": np.std([0.5, 0.7, 0.9], ddof=1), "n": 3})


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one(rng):
    n = 400
    y = rng.integers(0, 2, n)
    good = np.where(rng.random(n) < 0.9, y, 1 - y)
    bad = np.where(rng.random(n) < 0.7, y, 1 - y)
    acc = lambda pred: (lambda idx: float(np.mean(pred[idx] == y[idx])))  # noqa: E731
    resamples = resample_indices(n, 500, seed=0)
    diff = paired_bootstrap(acc(good), acc(bad), resamples, n)
    assert diff["delta"] == pytest.approx(np.mean(good == y) - np.mean(bad == y))
    assert diff["ci_low"] > 0 and diff["p_value"] < 0.01
    same = paired_bootstrap(acc(good), acc(good), resamples, n)
    assert same["delta"] == 0 and same["p_value"] == 1.0


def test_wilcoxon_matches_scipy():
    a, b = [0.81, 0.78, 0.85, 0.80, 0.83, 0.79], [0.75, 0.77, 0.80, 0.70, 0.81, 0.72]
    r = wilcoxon_over_folds(a, b)
    assert r["p_value"] == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert r["mean_delta"] == pytest.approx(np.mean(np.subtract(a, b)))
    assert wilcoxon_over_folds(a, a)["p_value"] == 1.0
