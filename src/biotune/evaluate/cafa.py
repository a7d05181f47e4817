"""CAFA metrics for hierarchical multi-label (GO) predictions (Radivojac et al. 2013; Zhou et al. 2019).

With ``T_i`` the true terms of protein ``i`` and ``P_i(t)`` the terms scored ``>= t``:

* **Fmax** (protein-centric): precision(t) = mean over the proteins with at least one prediction of
  ``|P∩T|/|P|``; recall(t) = mean over all proteins of ``|P∩T|/|T|``; Fmax = max over ``t`` of their
  harmonic mean. **coverage** = the share of proteins with at least one prediction at the best ``t``.
* **Smin**: ru(t) = mean over proteins of the information content (IC) of the missed true terms, mi(t) =
  mean IC of the predicted false terms; Smin = min over ``t`` of ``sqrt(ru² + mi²)``. IC comes from the
  *training* annotations of the fold (:func:`information_content`), never from the evaluated proteins.
* **macro_aupr** (term-centric): average precision (scikit-learn's, step-wise) of each term with at least
  one positive among the evaluated proteins, averaged over terms.

In a bootstrap replicate a rare term can lose all its positives and drop out of the macro AUPR mean, so that
interval can sit beside the point value (the naive method's AP of a term is about its prevalence, and the rare,
low-AP terms are the ones that drop out). Proteins without a true term are not evaluated (CAFA's convention). Thresholds are 0.01 … 1.00 in steps of
0.01 (CAFA's grid). Every per-protein quantity is kept per threshold, so a bootstrap replicate (a weight per
protein) is a matrix product (:func:`cafa_curves` + :func:`summarise`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

THRESHOLDS = np.round(np.arange(1, 101) / 100, 2)
#: Headline metrics of a hierarchical task (summary tables, bootstrap CIs, comparisons).
CAFA_HEADLINE = ("fmax", "coverage", "smin", "macro_aupr")


def information_content(labels: np.ndarray, parents: Sequence[Sequence[int]]) -> np.ndarray:
    """IC of every term from training ``labels`` ``(n, k)`` (propagated, 0/1): ``-log2 P(term | all its parents)``.

    P(term | parents) = (proteins with the term) / (proteins with every parent); a term without parents (the
    children of the excluded root) is conditioned on the proteins with any term. A term never seen in
    training gets 0: it cannot be weighed from these annotations.
    """
    y = np.asarray(labels, dtype=bool)
    y = y[y.any(axis=1)]
    ic = np.zeros(y.shape[1])
    for j, ps in enumerate(parents):
        n_term = y[:, j].sum()
        n_parents = y[:, list(ps)].all(axis=1).sum() if len(ps) else len(y)
        if n_term > 0:
            ic[j] = -np.log2(n_term / n_parents)
    return ic


@dataclass
class Curves:
    """Per protein (rows, annotated proteins only) and threshold (columns): the counts the CAFA metrics need."""

    thresholds: np.ndarray
    true_positive: np.ndarray
    predicted: np.ndarray
    n_true: np.ndarray
    missed_ic: np.ndarray
    extra_ic: np.ndarray


def cafa_curves(y_true: np.ndarray, scores: np.ndarray, ic: np.ndarray | None = None, thresholds: np.ndarray = THRESHOLDS) -> Curves:
    """:class:`Curves` of the proteins with at least one true term; ``ic`` is ``(k,)`` or one row per protein."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=float)
    w = np.broadcast_to(np.zeros(y.shape[1]) if ic is None else np.asarray(ic, dtype=float), y.shape)
    keep = y.any(axis=1)
    y, s, w = y[keep], s[keep], w[keep]
    shape = (len(y), len(thresholds))
    tp, pred, missed, extra = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for c, t in enumerate(thresholds):
        call = s >= t
        tp[:, c] = (call & y).sum(axis=1)
        pred[:, c] = call.sum(axis=1)
        missed[:, c] = (w * (y & ~call)).sum(axis=1)
        extra[:, c] = (w * (call & ~y)).sum(axis=1)
    return Curves(np.asarray(thresholds), tp, pred, y.sum(axis=1).astype(float), missed, extra)


def summarise(curves: Curves, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Fmax, its threshold and coverage, Smin, for every row of ``weights`` ``(B, n)`` (default: one row of ones)."""
    c = curves
    W = np.ones((1, len(c.n_true))) if weights is None else np.asarray(weights, dtype=float)
    n = W.sum(axis=1, keepdims=True)
    has_pred = (c.predicted > 0).astype(float)
    precision_i = np.divide(c.true_positive, c.predicted, out=np.zeros_like(c.true_positive), where=c.predicted > 0)
    m = W @ has_pred
    precision = np.divide(W @ precision_i, m, out=np.zeros_like(m), where=m > 0)
    recall = np.divide(W @ (c.true_positive / np.maximum(c.n_true, 1)[:, None]), n, out=np.zeros_like(m), where=n > 0)
    f = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(m), where=(precision + recall) > 0)
    best = f.argmax(axis=1)
    rows = np.arange(len(W))
    ru = np.divide(W @ c.missed_ic, n, out=np.zeros_like(m), where=n > 0)
    mi = np.divide(W @ c.extra_ic, n, out=np.zeros_like(m), where=n > 0)
    values = {
        "fmax": f[rows, best],
        "fmax_threshold": c.thresholds[best],
        "coverage": np.divide(m[rows, best], n[:, 0], out=np.zeros(len(W)), where=n[:, 0] > 0),
        "fmax_precision": precision[rows, best],
        "fmax_recall": recall[rows, best],
        "smin": np.sqrt(ru**2 + mi**2).min(axis=1),
    }
    return {k: np.where(n[:, 0] == 0, np.nan, v) for k, v in values.items()}


def macro_aupr(y_true: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """Mean average precision over the terms with a positive, and how many terms that is."""
    y = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=float)
    terms = np.flatnonzero(y.sum(axis=0) > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = [average_precision_score(y[:, j], s[:, j]) for j in terms]
    return (float(np.mean(values)) if values else float("nan")), len(values)


def cafa_metrics(y_true: np.ndarray, scores: np.ndarray, ic: np.ndarray | None = None, thresholds: np.ndarray = THRESHOLDS) -> dict[str, Any]:
    """Fmax (with threshold, precision, recall, coverage), Smin (``nan`` without ``ic``) and macro AUPR."""
    y = np.asarray(y_true)
    summary = {k: float(v[0]) for k, v in summarise(cafa_curves(y, scores, ic, thresholds)).items()}
    if ic is None:
        summary["smin"] = float("nan")
    aupr, n_terms = macro_aupr(y, scores)
    return summary | {"macro_aupr": aupr, "n_aupr_terms": n_terms, "n_annotated": int(np.asarray(y, bool).any(axis=1).sum())}
