"""SMOTE in embedding space: shapes, labels, and only training points ever used as parents."""

from __future__ import annotations

import numpy as np
import pytest

from biotune.imbalance.frequency import label_groups, oversampling_plan
from biotune.imbalance.smote import smote_oversample


def blobs(counts, dim=16, seed=0, spread=0.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (len(counts), dim))
    X = np.vstack([rng.normal(c, spread, (n, dim)) for c, n in zip(centres, counts)]).astype(np.float32)
    y = np.concatenate([np.full(n, i) for i, n in enumerate(counts)])
    return X, y


def on_a_segment(x, parents, tol=1e-4):
    """True when ``x = a + t (b - a)`` for some parents a, b and t in [0, 1]."""
    for a in parents:
        d = parents - a
        norm2 = (d**2).sum(axis=1)
        norm2[norm2 == 0] = np.inf
        t = np.clip(((x - a) * d).sum(axis=1) / norm2, 0, 1)
        if np.min(np.linalg.norm(a + t[:, None] * d - x, axis=1)) < tol:
            return True
    return False


def test_multiclass_smote_fills_rare_classes_per_plan_from_training_parents_only():
    X, y = blobs([200, 30, 8])
    X_out, y_out = blobs([20, 20, 20], seed=1)  # a held-out fold: other points of the same classes
    X_new, y_new = smote_oversample(X, y, target=0.5, k_neighbors=5, seed=0)
    assert X_new.shape[1] == X.shape[1] and len(X_new) == len(y_new)
    assert dict(zip(*np.unique(y_new, return_counts=True))) == {1: 70, 2: 72}  # 100-30 and min(100, 10*8)-8
    for x, c in zip(X_new, y_new):
        assert on_a_segment(x, X[y == c])
        # no held-out point is a parent: generated points coincide with none of them
        assert np.min(np.linalg.norm(X_out - x, axis=1)) > 1e-3
    again = smote_oversample(X, y, target=0.5, seed=0)
    np.testing.assert_array_equal(again[0], X_new)


def test_multilabel_smote_interpolates_within_identical_label_sets():
    rng = np.random.default_rng(3)
    sets = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1]], dtype=np.float32)
    counts = [120, 12, 6]
    X, _ = blobs(counts, seed=3)
    Y = np.vstack([np.repeat(s[None], n, axis=0) for s, n in zip(sets, counts)])
    perm = rng.permutation(len(Y))
    X, Y = X[perm], Y[perm]
    X_new, Y_new = smote_oversample(X, Y, target=1.0, max_ratio=5, seed=1)
    assert Y_new.shape == (len(X_new), 3) and len(X_new) == (60 - 12) + (30 - 6)
    for x, row in zip(X_new, Y_new):
        same = (Y == row).all(axis=1)
        assert same.sum() in (12, 6)
        assert on_a_segment(x, X[same])


def test_singletons_are_left_alone_and_balanced_data_gets_nothing():
    X, y = blobs([50, 1])
    X_new, y_new = smote_oversample(X, y)
    assert len(X_new) == 0 and len(y_new) == 0
    X, y = blobs([40, 40])
    assert len(smote_oversample(X, y)[0]) == 0


def test_plan_targets_and_caps():
    groups = np.repeat([0, 1, 2], [1000, 100, 10])
    assert oversampling_plan(groups, 0.5) == {1: 400, 2: 90}
    assert oversampling_plan(groups, 300) == {1: 200, 2: 90}
    assert oversampling_plan(groups, 300, max_ratio=1) == {}
    with pytest.raises(ValueError):
        oversampling_plan(groups, 0)
    g, rows = label_groups(np.array([[1, 0], [0, 1], [1, 0]]))
    assert g.tolist() == [1, 0, 1] and rows.tolist() == [[0, 1], [1, 0]]


def toy_records(counts=(60, 15, 6), seed=0, prefix="r"):
    """Records whose mechanism (and drug classes) set the amino-acid composition; negatives have none."""
    from biotune.data.records import Record

    rng = np.random.default_rng(seed)
    alphabet = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    enriched = ["KR", "WF", "DE"]
    drugs = [["beta-lactam"], ["tetracycline"], ["beta-lactam", "rifampin"]]
    records = []
    for c, n in enumerate(counts):
        for i in range(n):
            p = np.ones(20)
            p[[list(alphabet).index(a) for a in enriched[c]]] = 8
            seq = "".join(rng.choice(alphabet, int(rng.integers(30, 60)), p=p / p.sum()))
            labels = {"is_arg": 1, "mechanism": ["inactivation", "efflux", "target_alteration"][c], "drug_class": drugs[c]}
            records.append(Record(f"{prefix}{c}_{i}", seq, labels))
    for i in range(counts[0] // 2):
        seq = "".join(rng.choice(alphabet, int(rng.integers(30, 60))))
        records.append(Record(f"{prefix}neg_{i}", seq, {"is_arg": 0, "mechanism": None, "drug_class": None}))
    return records


def toy_tasks():
    from biotune.tasks import TaskSpec

    return [
        TaskSpec("is_arg", "binary"),
        TaskSpec("mechanism", "multiclass", ("efflux", "inactivation", "target_alteration")),
        TaskSpec("drug_class", "multilabel", ("beta-lactam", "rifampin", "tetracycline")),
    ]
