"""Metrics by task kind, always over the whole evaluated set (never a mean of per-batch values).

Every function is pure: arrays in, a flat ``{metric: value}`` dict out (per-class values under
``per_class``). Records whose label is missing for a task are masked out by :func:`task_metrics`
before any metric sees them. Undefined values (AUROC with one class present, Pearson r of a
constant) are ``nan``, never an exception.

Conventions, chosen to match what a reader of a paper expects:

* binary and multi-label calls are ``score >= threshold`` (thresholds from :mod:`.thresholds`);
* a multi-class call is the arg-max class; a row whose scores are all zero is an abstention
  (the method could not score it) and counts as wrong, it is never dropped;
* macro averages run over the classes present in the truth or the calls of the evaluated set
  (scikit-learn's convention), so a class absent from a test fold neither helps nor hurts, while a
  class predicted but absent counts as F1 = 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from biotune.evaluate.cafa import CAFA_HEADLINE, cafa_metrics
from biotune.tasks import TaskSpec

#: Label index of an abstaining multi-class call.
ABSTAIN = -1

#: Metrics each task kind reports first (summary tables, bootstrap CIs, comparisons).
HEADLINE: dict[str, tuple[str, ...]] = {
    "binary": ("f1", "auprc", "mcc"),
    "multiclass": ("macro_f1", "accuracy"),
    "multilabel": ("macro_f1", "micro_f1"),
    "regression": ("spearman", "pearson", "mae", "rmse"),
}


def headline(task: TaskSpec) -> tuple[str, ...]:
    """The headline metrics of ``task``: the CAFA ones for a hierarchical (GO) task, else those of its kind."""
    return CAFA_HEADLINE if task.hierarchical else HEADLINE[task.kind]


def _quiet(fn, *args, **kwargs) -> float:
    """Call a scikit-learn/scipy metric, returning ``nan`` where it is undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = fn(*args, **kwargs)
        except ValueError:
            return float("nan")
    return float(value)


def binary_metrics(y_true: np.ndarray, score: np.ndarray, threshold: float | np.ndarray = 0.5) -> dict[str, Any]:
    """Precision, recall, F1, MCC (calls at ``score >= threshold``), AUROC and AUPRC (threshold-free).

    ``threshold`` is one value or one per row (pooled folds, each with its own tuned threshold).
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(score, dtype=float)
    call = (s >= threshold).astype(int)
    one_class = len(np.unique(y)) < 2
    return {
        "n": int(len(y)),
        "n_pos": int(y.sum()),
        "precision": _quiet(skm.precision_score, y, call, zero_division=0),
        "recall": _quiet(skm.recall_score, y, call, zero_division=0),
        "f1": _quiet(skm.f1_score, y, call, zero_division=0),
        "mcc": _quiet(skm.matthews_corrcoef, y, call),
        "auroc": float("nan") if one_class else _quiet(skm.roc_auc_score, y, s),
        "auprc": float("nan") if y.sum() == 0 else _quiet(skm.average_precision_score, y, s),
    }


def multiclass_calls(proba: np.ndarray) -> np.ndarray:
    """Arg-max class index per row; :data:`ABSTAIN` where a row has no positive score."""
    p = np.asarray(proba, dtype=float)
    calls = p.argmax(axis=1)
    calls[~(p > 0).any(axis=1)] = ABSTAIN
    return calls


def multiclass_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro/micro/weighted F1, per-class P/R/F1 and the confusion matrix.

    The confusion matrix has one row per class (truth) and one column per class plus a last
    ``(abstain)`` column for rows the method could not score.
    """
    y = np.asarray(y_true).astype(int)
    pred = multiclass_calls(proba)
    k = len(classes)
    out: dict[str, Any] = {
        "n": int(len(y)),
        "accuracy": _quiet(skm.accuracy_score, y, pred),
        "balanced_accuracy": _quiet(skm.balanced_accuracy_score, y, pred) if len(y) else float("nan"),
    }
    for avg in ("macro", "micro", "weighted"):
        out[f"{avg}_f1"] = multiclass_f1(y, pred, avg)
    p, r, f, sup = skm.precision_recall_fscore_support(y, pred, labels=list(range(k)), zero_division=0) if len(y) else [np.zeros(k)] * 4
    out["per_class"] = {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(sup[i])} for i, c in enumerate(classes)}
    cm = skm.confusion_matrix(y, pred, labels=[*range(k), ABSTAIN]) if len(y) else np.zeros((k + 1, k + 1), int)
    out["confusion_matrix"] = {"labels": [*classes, "(abstain)"], "matrix": cm[:k].tolist()}
    return out


def multiclass_f1(y_true: np.ndarray, calls: np.ndarray, average: str) -> float:
    """F1 over the classes present in truth or calls (abstentions are wrong, never a class)."""
    present = sorted(set(np.asarray(y_true).tolist()) | (set(np.asarray(calls).tolist()) - {ABSTAIN}))
    return _quiet(skm.f1_score, y_true, calls, labels=present, average=average, zero_division=0) if present else float("nan")


def multilabel_calls(scores: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """0/1 calls ``scores >= thresholds``; thresholds are one value, one per label ``(k,)`` or per row ``(n, k)``."""
    s = np.asarray(scores, dtype=float)
    return (s >= np.broadcast_to(np.asarray(thresholds, dtype=float), s.shape)).astype(int)


def multilabel_f1(y_true: np.ndarray, calls: np.ndarray, average: str) -> float:
    """F1 over the labels present in truth or calls."""
    present = [j for j in range(y_true.shape[1]) if y_true[:, j].any() or calls[:, j].any()]
    return _quiet(skm.f1_score, y_true, calls, labels=present, average=average, zero_division=0) if present else float("nan")


def multilabel_metrics(y_true: np.ndarray, scores: np.ndarray, classes: Sequence[str], thresholds: np.ndarray | float = 0.5) -> dict[str, Any]:
    """Macro/micro F1, subset accuracy, Hamming loss, per-label P/R/F1/AUROC/AUPRC and their macro means."""
    y = np.asarray(y_true).astype(int).reshape(-1, len(classes))
    s = np.asarray(scores, dtype=float).reshape(-1, len(classes))
    calls = multilabel_calls(s, thresholds)
    out: dict[str, Any] = {"n": int(len(y))}
    for avg in ("macro", "micro"):
        out[f"{avg}_f1"] = multilabel_f1(y, calls, avg)
    out["subset_accuracy"] = _quiet(skm.accuracy_score, y, calls) if len(y) else float("nan")
    out["hamming_loss"] = _quiet(skm.hamming_loss, y, calls) if len(y) else float("nan")
    p, r, f, _ = skm.precision_recall_fscore_support(y, calls, average=None, zero_division=0) if len(y) else [np.zeros(len(classes))] * 4
    per: dict[str, dict[str, float]] = {}
    for j, c in enumerate(classes):
        n_pos = int(y[:, j].sum())
        per[c] = {
            "precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": n_pos,
            "auroc": float("nan") if n_pos in (0, len(y)) else _quiet(skm.roc_auc_score, y[:, j], s[:, j]),
            "auprc": float("nan") if n_pos == 0 else _quiet(skm.average_precision_score, y[:, j], s[:, j]),
        }
    out["per_class"] = per
    for m in ("auroc", "auprc"):
        vals = [v[m] for v in per.values() if not np.isnan(v[m])]
        out[f"macro_{m}"] = float(np.mean(vals)) if vals else float("nan")
    return out


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """MAE, RMSE, R², Pearson r and Spearman ρ."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    constant = len(y) < 2 or np.ptp(y) == 0 or np.ptp(p) == 0
    return {
        "n": int(len(y)),
        "mae": _quiet(skm.mean_absolute_error, y, p) if len(y) else float("nan"),
        "rmse": float(np.sqrt(skm.mean_squared_error(y, p))) if len(y) else float("nan"),
        "r2": _quiet(skm.r2_score, y, p) if len(y) > 1 else float("nan"),
        "pearson": float("nan") if constant else float(stats.pearsonr(y, p)[0]),
        "spearman": float("nan") if constant else float(stats.spearmanr(y, p)[0]),
    }


def _masked(task: TaskSpec, targets, mask, scores, thresholds):
    """Labelled rows only; per-row thresholds are masked with them, per-label ones kept."""
    m = np.asarray(mask, dtype=bool)
    thr = np.asarray(thresholds, dtype=float)
    if task.kind == "binary":
        thr = thr[m] if thr.ndim == 1 and thr.size == len(m) and thr.size > 1 else float(thr.reshape(-1)[0]) if thr.size else 0.5
    elif task.kind == "multilabel" and thr.ndim == 2:
        thr = thr[m]
    return np.asarray(targets)[m], np.asarray(scores)[m], thr


def task_metrics(
    task: TaskSpec, targets: np.ndarray, mask: np.ndarray, scores: np.ndarray, thresholds: np.ndarray | float = 0.5, ic: np.ndarray | None = None
) -> dict[str, Any]:
    """All metrics of ``task`` over the labelled rows (``mask``) of one evaluated set.

    ``targets, mask`` come from :meth:`TaskSpec.encode`; ``scores`` from a method's predictions.
    ``thresholds``: binary — one value or one per row ``(n,)``; multi-label — one value, one per
    label ``(k,)`` or per row ``(n, k)``; ignored for multi-class (arg-max) and regression.
    A hierarchical task also gets the CAFA metrics (:mod:`.cafa`), Smin from ``ic`` (information content
    per label ``(k,)`` or per row ``(n, k)``, from the training annotations; ``nan`` without it).
    """
    t, s, thr = _masked(task, targets, mask, scores, thresholds)
    if task.kind == "binary":
        return binary_metrics(t, s, thr)
    if task.kind == "multiclass":
        return multiclass_metrics(t, s, task.classes)
    if task.kind == "multilabel" and task.hierarchical:
        ic_rows = None if ic is None or np.ndim(ic) == 1 else np.asarray(ic)[np.asarray(mask, dtype=bool)]
        return multilabel_metrics(t, s, task.classes, thr) | cafa_metrics(t, s, ic if ic_rows is None else ic_rows)
    if task.kind == "multilabel":
        return multilabel_metrics(t, s, task.classes, thr)
    return regression_metrics(t, s)
