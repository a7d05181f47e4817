"""SMOTE in embedding space (imbalanced-learn), for heads trained on cached embeddings.

Multi-label rule: records are grouped by their exact label set (label powerset) and SMOTE
interpolates only between members of the same group, so every synthetic point has the label set of
both of its parents. How many points each group gets is :func:`~biotune.imbalance.frequency.oversampling_plan`.
Groups with a single member cannot be interpolated and are left alone. Only the arrays passed in
(the training fold) are ever seen.
"""

from __future__ import annotations

import numpy as np
from imblearn.over_sampling import SMOTE

from biotune.imbalance.frequency import label_groups, oversampling_plan


def smote_oversample(
    X: np.ndarray,
    targets: np.ndarray,
    *,
    target: float = 1.0,
    max_ratio: float = 10.0,
    k_neighbors: int = 5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic ``(X_new, targets_new)`` only (the caller appends them to the real training data).

    ``targets`` is a 1-d class-index array or a 2-d multi-hot matrix; the output has the same form.
    Each group uses ``min(k_neighbors, n_group - 1)`` neighbours.
    """
    X = np.asarray(X, dtype=np.float32)
    groups, rows = label_groups(targets)
    if len(X) != len(groups):
        raise ValueError(f"{len(X)} embeddings for {len(groups)} targets")
    new_x, new_g = [], []
    for g, n_new in sorted(oversampling_plan(groups, target, max_ratio=max_ratio, min_count=2).items()):
        members = X[groups == g]
        # SMOTE searches neighbours within the resampled class only; one placeholder row of the
        # other class satisfies imbalanced-learn's two-class requirement and is never used.
        X_in = np.vstack([members, np.zeros((1, X.shape[1]), dtype=X.dtype)])
        y_in = np.r_[np.ones(len(members), dtype=int), 0]
        smote = SMOTE(sampling_strategy={1: len(members) + n_new}, k_neighbors=min(k_neighbors, len(members) - 1), random_state=seed + g)
        X_res, _ = smote.fit_resample(X_in, y_in)
        X_res = X_res[len(X_in) :]
        new_x.append(X_res)
        new_g.append(np.full(len(X_res), g))
    if not new_x:
        return np.empty((0, X.shape[1]), dtype=np.float32), rows[:0]
    return np.concatenate(new_x).astype(np.float32), rows[np.concatenate(new_g)]
