"""Probability calibration fitted on the validation split: Platt scaling and isotonic regression,
with expected calibration error (ECE) and reliability diagrams.

- Binary: one calibrator on P(positive).
- Multi-label: one calibrator per label.
- Multi-class: one one-vs-rest calibrator per class, rows renormalised to sum to 1
  (Zadrozny & Elkan, 2002); ECE is then the top-label ECE (confidence = max probability).

Platt scaling is a logistic regression on the logit of the score (scikit-learn); isotonic is
:class:`sklearn.isotonic.IsotonicRegression` clipped to [0, 1]. A label whose validation targets hold
a single value cannot be calibrated and is passed through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

CALIBRATION_METHODS: tuple[str, ...] = ("none", "platt", "isotonic")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def reliability_curve(y: np.ndarray, p: np.ndarray, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Equal-width bins of confidence ``p``: per bin count, mean confidence and observed frequency of ``y``."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(bins, weights=p, minlength=n_bins) / count
        freq = np.bincount(bins, weights=y, minlength=n_bins) / count
    return {"count": count, "confidence": conf, "frequency": freq, "edges": np.linspace(0, 1, n_bins + 1)}


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 15) -> float:
    """ECE = Σ_b (n_b / n) · |freq_b − conf_b| for binary outcomes ``y`` with predicted probabilities ``p``."""
    curve = reliability_curve(y, p, n_bins)
    filled = curve["count"] > 0
    gap = np.abs(curve["frequency"][filled] - curve["confidence"][filled])
    return float((curve["count"][filled] * gap).sum() / max(1, curve["count"].sum()))


def confidence_outcomes(kind: str, targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (outcome, confidence) pairs ECE is computed on for a task kind.

    Binary: (label, P(positive)); multi-label: every (record, label) pair flattened; multi-class:
    (top class is correct, top probability).
    """
    targets, scores = np.asarray(targets), np.asarray(scores, dtype=float)
    if kind == "multiclass":
        return (scores.argmax(axis=1) == targets).astype(float), scores.max(axis=1)
    return targets.reshape(-1).astype(float), scores.reshape(-1)


def task_ece(kind: str, targets: np.ndarray, scores: np.ndarray, n_bins: int = 15) -> float:
    return expected_calibration_error(*confidence_outcomes(kind, targets, scores), n_bins=n_bins)


def _fit_one(method: str, y: np.ndarray, p: np.ndarray):
    if len(np.unique(y)) < 2:
        return None
    if method == "platt":
        return LogisticRegression(C=1e4, max_iter=1000).fit(_logit(p)[:, None], y.astype(int))
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)


def _apply_one(model, p: np.ndarray) -> np.ndarray:
    if model is None:
        return p
    if isinstance(model, LogisticRegression):
        return model.predict_proba(_logit(p)[:, None])[:, 1]
    return model.predict(p)


@dataclass
class Calibrator:
    """Per-column calibrators of one task; fit on validation scores, then applied to any scores."""

    method: str = "platt"
    kind: str = "binary"
    models: list = field(default_factory=list)

    def __post_init__(self):
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"unknown calibration {self.method!r}; expected one of {CALIBRATION_METHODS}")
        if self.kind not in ("binary", "multiclass", "multilabel"):
            raise ValueError(f"calibration applies to probability tasks, not {self.kind!r}")

    def fit(self, targets: np.ndarray, scores: np.ndarray) -> Calibrator:
        """``targets`` as from :meth:`TaskSpec.encode` (labelled rows only); ``scores`` the method's probabilities."""
        scores = np.asarray(scores, dtype=float)
        if self.method == "none":
            self.models = []
            return self
        if self.kind == "binary":
            self.models = [_fit_one(self.method, np.asarray(targets), scores)]
        else:
            onehot = np.eye(scores.shape[1])[np.asarray(targets, dtype=int)] if self.kind == "multiclass" else np.asarray(targets)
            self.models = [_fit_one(self.method, onehot[:, j], scores[:, j]) for j in range(scores.shape[1])]
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=float)
        if self.method == "none":
            return scores
        if self.kind == "binary":
            return _apply_one(self.models[0], scores)
        out = np.column_stack([_apply_one(m, scores[:, j]) for j, m in enumerate(self.models)])
        if self.kind == "multiclass":
            total = out.sum(axis=1, keepdims=True)
            out = np.where(total > 0, out / np.where(total > 0, total, 1), scores)
        return out


def plot_reliability(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, *, n_bins: int = 15, title: str = "") -> Path:
    """Reliability diagram of several ``{name: (outcome, confidence)}`` series, ECE in the legend."""
    import matplotlib.pyplot as plt

    from biotune.evaluate.plots import _save

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
    for name, (y, p) in curves.items():
        c = reliability_curve(y, p, n_bins)
        filled = c["count"] > 0
        ax.plot(c["confidence"][filled], c["frequency"][filled], marker="o", ms=3, label=f"{name} (ECE {expected_calibration_error(y, p, n_bins):.3f})")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title or "reliability diagram", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _save(fig, Path(path))
