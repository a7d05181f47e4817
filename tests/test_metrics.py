"""Metrics by task kind agree with scikit-learn / scipy on random data, and mask unlabelled records."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from biotune.evaluate.metrics import binary_metrics, multiclass_metrics, multilabel_metrics, regression_metrics, task_metrics
from biotune.tasks import TaskSpec


@pytest.mark.parametrize("seed", range(3))
def test_binary_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    s = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    m = binary_metrics(y, s, threshold=0.4)
    call = (s >= 0.4).astype(int)
    assert m["precision"] == pytest.approx(skm.precision_score(y, call))
    assert m["recall"] == pytest.approx(skm.recall_score(y, call))
    assert m["f1"] == pytest.approx(skm.f1_score(y, call))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, call))
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert m["auprc"] == pytest.approx(skm.average_precision_score(y, s))
    assert m["n"] == 300 and m["n_pos"] == y.sum()


def test_binary_single_class_is_nan_not_error():
    m = binary_metrics(np.zeros(5), np.linspace(0, 1, 5))
    assert np.isnan(m["auroc"]) and np.isnan(m["auprc"])


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    classes = ("a", "b", "c", "d")
    y = rng.integers(0, 4, 400)
    proba = rng.dirichlet(np.ones(4), 400)
    proba[np.arange(400), y] += rng.random(400)
    pred = proba.argmax(1)
    m = multiclass_metrics(y, proba, classes)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    for avg in ("macro", "micro", "weighted"):
        assert m[f"{avg}_f1"] == pytest.approx(skm.f1_score(y, pred, average=avg))
    p, r, f, sup = skm.precision_recall_fscore_support(y, pred)
    for i, c in enumerate(classes):
        assert m["per_class"][c] == pytest.approx({"precision": p[i], "recall": r[i], "f1": f[i], "support": sup[i]})
    assert np.array(m["confusion_matrix"]["matrix"])[:, :4].tolist() == skm.confusion_matrix(y, pred).tolist()


def test_multiclass_abstention_counts_wrong_and_is_shown():
    y = np.array([0, 1, 1, 2])
    proba = np.eye(3)[[0, 1, 1, 2]]
    proba[1] = 0.0
    m = multiclass_metrics(y, proba, ("a", "b", "c"))
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["confusion_matrix"]["labels"][-1] == "(abstain)"
    assert m["confusion_matrix"]["matrix"][1] == [0, 1, 0, 1]
    assert m["per_class"]["b"]["recall"] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(3))
def test_multilabel_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    classes = tuple("pqrst")
    y = (rng.random((300, 5)) < 0.3).astype(int)
    s = np.clip(y * 0.4 + rng.random((300, 5)) * 0.6, 0, 1)
    thr = np.array([0.3, 0.4, 0.5, 0.6, 0.45])
    calls = (s >= thr).astype(int)
    m = multilabel_metrics(y, s, classes, thr)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, calls, average="macro"))
    assert m["micro_f1"] == pytest.approx(skm.f1_score(y, calls, average="micro"))
    assert m["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, calls))
    assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(y, calls))
    for j, c in enumerate(classes):
        assert m["per_class"][c]["auroc"] == pytest.approx(skm.roc_auc_score(y[:, j], s[:, j]))
        assert m["per_class"][c]["auprc"] == pytest.approx(skm.average_precision_score(y[:, j], s[:, j]))
        assert m["per_class"][c]["f1"] == pytest.approx(skm.f1_score(y[:, j], calls[:, j]))
    assert m["macro_auroc"] == pytest.approx(skm.roc_auc_score(y, s, average="macro"))


def test_multilabel_macro_ignores_labels_absent_from_truth_and_calls():
    y = np.array([[1, 0, 0], [0, 1, 0]])
    s = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    assert multilabel_metrics(y, s, ("a", "b", "c"))["macro_f1"] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(3))
def test_regression_matches_sklearn_scipy(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=200)
    p = y + rng.normal(scale=0.5, size=200)
    m = regression_metrics(y, p)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert m["r2"] == pytest.approx(skm.r2_score(y, p))
    assert m["pearson"] == pytest.approx(stats.pearsonr(y, p)[0])
    assert m["spearman"] == pytest.approx(stats.spearmanr(y, p)[0])


def test_task_metrics_masks_unlabelled_records():
    task = TaskSpec("mech", "multiclass", ("x", "y", "z"))
    labels = ["x", None, "y", "z", None, "x"]
    targets, mask = task.encode(labels)
    rng = np.random.default_rng(0)
    scores = rng.dirichlet(np.ones(3), len(labels))
    base = task_metrics(task, targets, mask, scores)
    scores[[1, 4]] = np.eye(3)[[2, 2]] * 7
    assert task_metrics(task, targets, mask, scores) == base
    assert base["n"] == 4
    assert base["accuracy"] == pytest.approx(skm.accuracy_score(targets[mask], scores[mask].argmax(1)))


def test_task_metrics_per_row_thresholds():
    task = TaskSpec("is_arg", "binary")
    y = np.array([1, 1, 0, 0], dtype=float)
    s = np.array([0.6, 0.3, 0.4, 0.1])
    per_row = np.array([0.5, 0.2, 0.5, 0.5])
    assert task_metrics(task, y, np.ones(4, bool), s, per_row)["recall"] == pytest.approx(1.0)
    assert task_metrics(task, y, np.ones(4, bool), s, 0.5)["recall"] == pytest.approx(0.5)


@pytest.mark.parametrize("task", [TaskSpec("b", "binary"), TaskSpec("m", "multiclass", ("x", "y")), TaskSpec("l", "multilabel", ("x", "y")), TaskSpec("r", "regression")])
def test_empty_evaluated_set_gives_nan_not_an_error(task):
    targets, mask = task.encode([None, None])
    scores = np.zeros((2, task.n_outputs)) if task.n_outputs > 1 else np.zeros(2)
    m = task_metrics(task, targets, mask, scores)
    assert m["n"] == 0
    assert all(np.isnan(v) for k, v in m.items() if isinstance(v, float))
