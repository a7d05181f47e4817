"""Grouped multi-label stratified folds: groups never split, labels balanced, rare labels spread."""

from __future__ import annotations

import numpy as np
import pytest

from biotune.splits import grouped_stratified_folds


def synthetic_groups(seed: int = 0, n_groups: int = 400):
    """Groups of skewed sizes; label 0 common, label 3 rare (present in 7 small groups only)."""
    rng = np.random.default_rng(seed)
    sizes = rng.geometric(0.3, size=n_groups)
    groups, labels = [], []
    for g, size in enumerate(sizes):
        row = np.zeros(4)
        row[0] = 1
        row[1] = rng.random() < 0.3
        row[2] = rng.random() < 0.1
        row[3] = g < 7
        for _ in range(size):
            groups.append(f"g{g}")
            labels.append(row)
    return groups, np.array(labels)


def test_groups_never_span_folds_and_all_folds_used():
    groups, labels = synthetic_groups()
    folds = grouped_stratified_folds(groups, labels, n_folds=5, seed=1)
    by_group = {}
    for g, f in zip(groups, folds):
        assert by_group.setdefault(g, f) == f
    assert sorted(set(folds.tolist())) == [0, 1, 2, 3, 4]


def test_label_proportions_are_close_across_folds():
    groups, labels = synthetic_groups()
    folds = grouped_stratified_folds(groups, labels, n_folds=5, seed=0)
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= 0.1 * sizes.mean()
    for col in (1, 2):
        share = np.array([labels[folds == k, col].sum() for k in range(5)]) / labels[:, col].sum()
        assert np.all(np.abs(share - 0.2) < 0.05), share


def test_rare_label_is_spread_over_as_many_folds_as_its_groups_allow():
    groups, labels = synthetic_groups()
    folds = grouped_stratified_folds(groups, labels, n_folds=5, seed=0)
    assert len(set(folds[labels[:, 3] == 1].tolist())) == 5  # 7 groups carry it: all 5 folds get one
    two = [f"g{i}" for i in (0, 1)]
    rare2 = np.array([g in two for g in groups])
    labels2 = labels.copy()
    labels2[:, 3] = rare2
    folds2 = grouped_stratified_folds(groups, labels2, n_folds=5, seed=0)
    assert len(set(folds2[rare2].tolist())) == 2


def test_beats_random_group_assignment_on_balance():
    groups, labels = synthetic_groups(seed=3)
    folds = grouped_stratified_folds(groups, labels, n_folds=5, seed=0)
    rng = np.random.default_rng(0)
    keys = sorted(set(groups))
    random_fold = dict(zip(keys, rng.integers(0, 5, len(keys))))
    rand = np.array([random_fold[g] for g in groups])

    def spread(f):
        counts = np.array([labels[f == k].sum(axis=0) for k in range(5)])
        return (counts.std(axis=0) / counts.mean(axis=0)).mean()

    assert spread(folds) < spread(rand) / 2


def test_deterministic_for_a_seed_and_seed_matters():
    groups, labels = synthetic_groups()
    a = grouped_stratified_folds(groups, labels, n_folds=5, seed=7)
    b = grouped_stratified_folds(groups, labels, n_folds=5, seed=7)
    c = grouped_stratified_folds(groups, labels, n_folds=5, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match="groups cannot fill"):
        grouped_stratified_folds(["a", "a", "b"], np.ones((3, 1)), n_folds=5)
    with pytest.raises(ValueError, match="labels must be"):
        grouped_stratified_folds(["a", "b"], np.ones((3, 1)), n_folds=2)
