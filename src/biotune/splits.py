"""Grouped, multi-label stratified k-fold assignment.

:func:`grouped_stratified_folds` puts whole groups (homology clusters) into folds so that every
label's share, and the fold sizes, are as even as the groups allow. It is a greedy minimisation of
``sum over labels of (fold count / target count)^2`` summed over folds: groups are placed largest
first (as in LPT scheduling: big clusters are hard to place late), rarer labels first among equal
sizes, each into the fold where it raises that sum least. Because the cost of a label is scaled by
its own per-fold target, a rare label dominates the decision for the groups that carry it, so it is
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
    every target to balance, e.g. ARG and non-ARG plus each drug class). Fold sizes are balanced
    too. Deterministic for a given ``seed``; the seed only breaks ties.
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

    with_size = np.column_stack([labels, np.ones(n)])
    group_labels = np.zeros((n_groups, with_size.shape[1]))
    np.add.at(group_labels, group_index, with_size)
    totals = group_labels.sum(axis=0)
    target = totals / n_folds
    inv_target_sq = np.divide(1.0, target**2, out=np.zeros_like(target), where=target > 0)

    rng = np.random.default_rng(seed)
    rarity = np.where(group_labels[:, :-1] > 0, totals[None, :-1], np.inf).min(axis=1)
    order = np.lexsort((rng.permutation(n_groups), rarity, -group_labels[:, -1]))
    fold_tiebreak = rng.permutation(n_folds)

    fill = np.zeros((n_folds, with_size.shape[1]))
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    for g in order:
        counts = group_labels[g]
        increase = (counts * (2 * fill + counts) * inv_target_sq).sum(axis=1)
        best = np.lexsort((fold_tiebreak, increase))[0]
        fold_of_group[g] = best
        fill[best] += counts
    return fold_of_group[group_index]
