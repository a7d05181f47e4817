"""Grouped, multi-label stratified k-fold assignment.

:func:`grouped_stratified_folds` puts whole groups (homology clusters) into folds so that every
label's share is as even as the groups allow. It is a grouped variant of iterative stratification
(Sechidis et al. 2011, "On the stratification of multi-label data"): groups carrying the rarest
labels are placed first, each into the fold that still needs its labels most, so a rare label is
spread over as many folds as it has groups. scikit-learn's ``StratifiedGroupKFold`` handles only
one single-label target, which cannot balance drug classes (multi-label) and ARG/non-ARG together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def grouped_stratified_folds(
    groups: Sequence[object],
    labels: np.ndarray,
    n_folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Assign a fold id in ``0..n_folds-1`` to every row; rows of one group share a fold.

    ``labels`` is an ``(n_rows, n_labels)`` 0/1 matrix (multi-hot; include one column per class of
    every target to balance, e.g. ARG and non-ARG plus each drug class). Deterministic for a given
    ``seed`` and input order-independent up to ties broken by the seed.
    """
    labels = np.asarray(labels, dtype=np.float64)
    n = len(groups)
    if labels.ndim != 2 or labels.shape[0] != n:
        raise ValueError(f"labels must be (n_rows={n}, n_labels), got {labels.shape}")
    if n_folds < 2:
        raise ValueError("n_folds must be at least 2")
    keys, group_index = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    n_groups = len(keys)
    if n_groups < n_folds:
        raise ValueError(f"{n_groups} groups cannot fill {n_folds} folds")

    group_labels = np.zeros((n_groups, labels.shape[1]))
    np.add.at(group_labels, group_index, labels)
    group_sizes = np.bincount(group_index, minlength=n_groups).astype(np.float64)

    totals = group_labels.sum(axis=0)
    need = np.tile(totals / n_folds, (n_folds, 1))
    size_need = np.full(n_folds, n / n_folds)
    weight = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)

    rng = np.random.default_rng(seed)
    tiebreak = rng.permutation(n_groups)
    present = group_labels > 0
    rarity = np.where(present, totals[None, :], np.inf).min(axis=1)
    order = np.lexsort((tiebreak, -group_sizes, rarity))

    fold_of_group = np.empty(n_groups, dtype=np.int64)
    fold_tiebreak = rng.permutation(n_folds)
    for g in order:
        # How much each fold still wants this group's labels (relative to each label's total),
        # then how much room it has overall; the seeded permutation breaks exact ties.
        room = np.maximum(need, 0)
        want = ((np.minimum(room, group_labels[g]) - np.maximum(group_labels[g] - room, 0)) * weight).sum(axis=1)
        candidates = np.lexsort((fold_tiebreak, -size_need, -want))
        best = candidates[0]
        fold_of_group[g] = best
        need[best] -= group_labels[g]
        size_need[best] -= group_sizes[g]
    return fold_of_group[group_index]
