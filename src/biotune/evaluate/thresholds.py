"""Decision thresholds tuned on the validation split (max F1 per label), applied unchanged to test.

Tuning on the test fold would report an optimistic F1; the runner therefore calls
:func:`tune_thresholds` with validation predictions only and stores the result next to the test
predictions. Labels without a positive in the validation split keep :data:`DEFAULT_THRESHOLD`.
Multi-class calls are the arg-max class and regression has no calls: neither has thresholds.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve

from biotune.tasks import TaskSpec

DEFAULT_THRESHOLD = 0.5


def max_f1_threshold(y_true: np.ndarray, score: np.ndarray, default: float = DEFAULT_THRESHOLD) -> float:
    """The score cut-off (call = ``score >= t``) with the highest F1; ``default`` without positives.

    Only cut-offs above 0 are candidates: a record scored 0 (e.g. unscored by the method) is never
    called positive, whatever the validation split rewards.
    """
    y = np.asarray(y_true).astype(int)
    if len(y) == 0 or y.sum() == 0:
        return default
    precision, recall, cutoffs = precision_recall_curve(y, np.asarray(score, dtype=float))
    usable = cutoffs > 0
    if not usable.any():
        return default
    precision, recall, cutoffs = precision[:-1][usable], recall[:-1][usable], cutoffs[usable]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(cutoffs[int(np.argmax(f1))])


def has_thresholds(task: TaskSpec) -> bool:
    return task.kind in ("binary", "multilabel")


def tune_thresholds(task: TaskSpec, targets: np.ndarray, mask: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-label max-F1 thresholds from the labelled rows of a validation set.

    Returns shape ``(1,)`` for binary, ``(k,)`` for multi-label, ``(0,)`` for kinds without calls.
    """
    if not has_thresholds(task):
        return np.zeros(0)
    m = np.asarray(mask, dtype=bool)
    t, s = np.asarray(targets)[m], np.asarray(scores)[m]
    if task.kind == "binary":
        return np.array([max_f1_threshold(t, s)])
    return np.array([max_f1_threshold(t[:, j], s[:, j]) for j in range(t.shape[1])])


def fixed_thresholds(task: TaskSpec, value: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """The untuned thresholds (same shape as :func:`tune_thresholds`)."""
    if not has_thresholds(task):
        return np.zeros(0)
    return np.full(1 if task.kind == "binary" else task.n_outputs, float(value))
