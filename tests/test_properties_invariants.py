"""Property-based tests of the evaluation protocol's invariants (tracker issue 17).

* folds (:func:`biotune.splits.grouped_stratified_folds`, :meth:`biotune.data.dataset.Dataset.fold_split`):
  every record in exactly one test fold, train/valid/test disjoint, clusters never split across folds;
* metrics (:mod:`biotune.evaluate.metrics`): unchanged under a permutation of the rows, blind to unlabelled rows;
* thresholds (:mod:`biotune.evaluate.thresholds`): tuned from validation arrays only — the runner's tuned
  thresholds do not change whatever the test set holds.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from biotune.data.dataset import Dataset
from biotune.data.records import Record
from biotune.errors import InputError
from biotune.evaluate.identity_bins import assign_bins
from biotune.evaluate.metrics import binary_metrics, multiclass_metrics, multilabel_metrics, regression_metrics, task_metrics
from biotune.evaluate.runner import run_method
from biotune.evaluate.thresholds import DEFAULT_THRESHOLD, max_f1_threshold, tune_thresholds
from biotune.methods.base import METHODS, STATUS_OK, Method, Predictions, register_method
from biotune.splits import grouped_stratified_folds
from biotune.tasks import TaskSpec

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------------------- folds


@st.composite
def grouped_rows(draw, min_groups: int = 0):
    """``(groups, labels, n_folds, seed)``: up to 60 rows in up to 15 groups, 1-4 multi-hot label columns."""
    n_folds = draw(st.integers(2, 5))
    n = draw(st.integers(1, 60))
    n_group_ids = draw(st.integers(1, 15))
    groups = draw(st.lists(st.integers(0, n_group_ids - 1).map(lambda g: f"c{g}"), min_size=n, max_size=n))
    assume(len(set(groups)) >= min_groups)
    n_labels = draw(st.integers(1, 4))
    labels = np.array(draw(st.lists(st.lists(st.integers(0, 1), min_size=n_labels, max_size=n_labels), min_size=n, max_size=n)))
    return groups, labels, n_folds, draw(st.integers(0, 2**32 - 1))


@FAST
@given(grouped_rows())
def test_grouped_folds_keep_groups_whole_and_use_every_fold(case):
    groups, labels, n_folds, seed = case
    if len(set(groups)) < n_folds:
        with pytest.raises(ValueError, match="groups cannot fill"):
            grouped_stratified_folds(groups, labels, n_folds=n_folds, seed=seed)
        return
    folds = grouped_stratified_folds(groups, labels, n_folds=n_folds, seed=seed)
    assert folds.shape == (len(groups),)
    assert set(folds.tolist()) == set(range(n_folds))  # every record in exactly one fold, no fold empty
    fold_of: dict[str, int] = {}
    for g, f in zip(groups, folds.tolist()):
        assert fold_of.setdefault(g, f) == f, f"cluster {g} split across folds"
    np.testing.assert_array_equal(folds, grouped_stratified_folds(groups, labels, n_folds=n_folds, seed=seed))


def fold_dataset(groups, folds, n_folds: int, index) -> Dataset:
    table = pd.DataFrame(
        {"id": [f"r{i}" for i in range(len(groups))], "sequence": "MKT", "is_arg": "1", "cluster": groups, "fold": folds},
        index=index,
    )
    return Dataset(table=table, tasks=[TaskSpec("is_arg", "binary")], columns={"is_arg": "is_arg"}, meta={"n_folds": n_folds})


def assert_k_fold_protocol(ds: Dataset) -> None:
    n = ds.n_folds
    tested: Counter = Counter()
    for k in range(n):
        train, valid, test = ds.fold_split(k)
        parts = [set(train), set(valid), set(test)]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2]), f"fold {k}: overlap"
        assert parts[0] | parts[1] | parts[2] == set(ds.table.index), f"fold {k}: a record is in no split"
        assert list(valid) == list(ds.fold_split((k + 1) % n)[2])  # validation = the next fold's test set
        clusters = [set(ds.table.loc[list(p), "cluster"]) for p in parts]
        assert not (clusters[2] & (clusters[0] | clusters[1])), f"fold {k}: a test cluster is also in train/valid"
        assert not (clusters[0] & clusters[1]), f"fold {k}: a validation cluster is also in train"
        tested.update(test)
    assert tested == Counter(ds.table.index.tolist()), "every record is tested exactly once"


@FAST
@given(grouped_rows(min_groups=5), st.randoms(use_true_random=False))
def test_fold_split_of_grouped_folds_is_a_k_fold_protocol(case, rnd):
    """On folds from grouped_stratified_folds, with any row index (a filtered table keeps its labels)."""
    groups, labels, n_folds, seed = case
    folds = grouped_stratified_folds(groups, labels, n_folds=n_folds, seed=seed)
    index = rnd.sample(range(10 * len(groups)), len(groups))
    assert_k_fold_protocol(fold_dataset(groups, folds, n_folds, index))


@FAST
@given(st.lists(st.integers(-1, 6), min_size=1, max_size=30), st.one_of(st.none(), st.integers(1, 6)))
def test_fold_split_of_any_fold_column_is_a_protocol_or_a_clear_error(folds, n_folds):
    """A hand-edited ``fold`` column (ids out of range, ``n_folds`` too small or missing) either splits into a
    k-fold protocol or fails with an InputError naming the record; a record must never be silently untested."""
    groups = [f"c{f}" for f in folds]  # clusters follow folds: only the fold ids are under test
    ds = fold_dataset(groups, folds, 0, None)
    if n_folds is None:
        ds.meta.pop("n_folds")
    else:
        ds.meta["n_folds"] = n_folds
    try:
        assert_k_fold_protocol(ds)
    except InputError as exc:
        assert str(exc).splitlines() == [str(exc)]  # one line
        assert exc.record is None or exc.record in set(ds.table["id"])
        assert ds.n_folds < 2 or any(not 0 <= f < ds.n_folds for f in folds)
        return
    assert ds.n_folds >= 2 and all(0 <= f < ds.n_folds for f in folds)


def test_fold_id_outside_n_folds_is_an_error_naming_the_record():
    """Regression: fold 7 with n_folds = 5 was silently in every training set and never tested."""
    ds = fold_dataset(["a", "b", "c", "d"], [0, 1, 7, 0], 2, None)
    with pytest.raises(InputError, match=r"record 'r2'.*fold 7 .*outside 0\.\.1"):
        ds.fold_split(0)
    with pytest.raises(InputError, match="at least 2 folds"):
        fold_dataset(["a"], [0], 1, None).fold_split(0)


# --------------------------------------------------------------------------------------- metrics


def same(a, b, path="") -> None:
    """Recursive equality of metric dicts: floats equal up to rounding, nan equal to nan."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


# Scores on a coarse grid: ties, zeros (unscored / abstaining rows) and ones are common.
SCORE = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0]) | st.floats(0, 1)


@st.composite
def binary_case(draw):
    n = draw(st.integers(0, 40))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=int)
    s = np.array(draw(st.lists(SCORE, min_size=n, max_size=n)), dtype=float)
    per_row = draw(st.booleans())
    thr = np.array(draw(st.lists(SCORE, min_size=n, max_size=n))) if per_row else draw(SCORE)
    return y, s, thr, draw(st.permutations(range(n)))


@FAST
@given(binary_case())
def test_binary_metrics_unchanged_under_row_permutation(case):
    y, s, thr, perm = case
    p = np.array(perm, dtype=int)
    thr_p = thr[p] if isinstance(thr, np.ndarray) else thr
    same(binary_metrics(y, s, thr), binary_metrics(y[p], s[p], thr_p))


@st.composite
def matrix_case(draw, integer_targets: bool):
    n = draw(st.integers(0, 30))
    k = draw(st.integers(2, 4))
    if integer_targets:
        y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=int)
    else:
        y = np.array(draw(st.lists(st.lists(st.integers(0, 1), min_size=k, max_size=k), min_size=n, max_size=n)), dtype=int).reshape(n, k)
    s = np.array(draw(st.lists(st.lists(SCORE, min_size=k, max_size=k), min_size=n, max_size=n)), dtype=float).reshape(n, k)
    return y, s, [f"class{j}" for j in range(k)], draw(st.permutations(range(n)))


@FAST
@given(matrix_case(integer_targets=True))
def test_multiclass_metrics_unchanged_under_row_permutation(case):
    y, s, classes, perm = case
    p = np.array(perm, dtype=int)
    same(multiclass_metrics(y, s, classes), multiclass_metrics(y[p], s[p], classes))


@FAST
@given(matrix_case(integer_targets=False), st.sampled_from(["scalar", "label", "row"]), st.data())
def test_multilabel_metrics_unchanged_under_row_permutation(case, kind, data):
    y, s, classes, perm = case
    p = np.array(perm, dtype=int)
    n, k = s.shape
    if kind == "scalar":
        thr, thr_p = 0.5, 0.5
    elif kind == "label":
        thr = thr_p = np.array(data.draw(st.lists(SCORE, min_size=k, max_size=k)))
    else:
        thr = np.array(data.draw(st.lists(st.lists(SCORE, min_size=k, max_size=k), min_size=n, max_size=n))).reshape(n, k)
        thr_p = thr[p]
    same(multilabel_metrics(y, s, classes, thr), multilabel_metrics(y[p], s[p], classes, thr_p))


VALUE = st.integers(-400, 400).map(lambda v: v / 4)  # exact in binary: sums do not depend on the order


@FAST
@given(st.lists(st.tuples(VALUE, VALUE), max_size=40), st.randoms(use_true_random=False))
def test_regression_metrics_unchanged_under_row_permutation(pairs, rnd):
    y, pred = (np.array(v, dtype=float) for v in zip(*pairs)) if pairs else (np.zeros(0), np.zeros(0))
    p = np.array(rnd.sample(range(len(pairs)), len(pairs)), dtype=int)
    same(regression_metrics(y, pred), regression_metrics(y[p], pred[p]))


TASKS = [
    TaskSpec("b", "binary"),
    TaskSpec("mc", "multiclass", ("x", "y", "z")),
    TaskSpec("ml", "multilabel", ("x", "y", "z")),
    TaskSpec("r", "regression"),
]


def random_labels(task: TaskSpec, data, n: int) -> list:
    """``n`` labels of ``task``, about a third missing (``None``)."""
    value = {
        "binary": st.integers(0, 1),
        "multiclass": st.sampled_from(task.classes),
        "multilabel": st.lists(st.sampled_from(task.classes), unique=True),
        "regression": VALUE,
    }[task.kind]
    return data.draw(st.lists(st.one_of(st.none(), value, value), min_size=n, max_size=n))


def random_scores(task: TaskSpec, data, n: int) -> np.ndarray:
    shape = (n,) if task.n_outputs == 1 else (n, task.n_outputs)
    return np.array(data.draw(st.lists(SCORE, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))), dtype=float).reshape(shape)


@FAST
@given(st.sampled_from(TASKS), st.integers(0, 30), st.data())
def test_task_metrics_ignore_unlabelled_rows_and_row_order(task, n, data):
    """Unlabelled rows (mask False) never count, whatever their scores; the row order never matters."""
    targets, mask = task.encode(random_labels(task, data, n))
    scores = random_scores(task, data, n)
    base = task_metrics(task, targets, mask, scores)
    other = random_scores(task, data, n)
    scores2 = np.where(mask.reshape((n,) + (1,) * (scores.ndim - 1)), scores, other)
    same(base, task_metrics(task, targets, mask, scores2))
    p = np.array(data.draw(st.permutations(range(n))), dtype=int)
    same(base, task_metrics(task, targets[p], mask[p], scores[p]))
    same(base, task_metrics(task, targets[mask], np.ones(int(mask.sum()), bool), scores[mask]))


# --------------------------------------------------------------------------------------- thresholds


@FAST
@given(st.sampled_from([t for t in TASKS if t.kind in ("binary", "multilabel")]), st.integers(0, 30), st.data())
def test_tuned_thresholds_depend_only_on_labelled_validation_rows(task, n, data):
    targets, mask = task.encode(random_labels(task, data, n))
    scores = random_scores(task, data, n)
    tuned = tune_thresholds(task, targets, mask, scores)
    assert tuned.shape == ((1,) if task.kind == "binary" else (task.n_outputs,))
    scores2 = np.where(mask.reshape((n,) + (1,) * (scores.ndim - 1)), scores, random_scores(task, data, n))
    np.testing.assert_array_equal(tuned, tune_thresholds(task, targets, mask, scores2))
    p = np.array(data.draw(st.permutations(range(n))), dtype=int)
    np.testing.assert_array_equal(tuned, tune_thresholds(task, targets[p], mask[p], scores[p]))


@FAST
@given(st.lists(st.tuples(st.integers(0, 1), SCORE), max_size=40))
def test_tuned_threshold_maximises_validation_f1_and_never_calls_zero(rows):
    y = np.array([r[0] for r in rows], dtype=int)
    s = np.array([r[1] for r in rows], dtype=float)
    t = max_f1_threshold(y, s)
    candidates = sorted({c for c in s.tolist() if c > 0})
    if y.sum() == 0 or not candidates:
        assert t == DEFAULT_THRESHOLD
        return
    assert t > 0 and t in candidates
    best = max(f1_score(y, (s >= c).astype(int), zero_division=0) for c in candidates)
    assert f1_score(y, (s >= t).astype(int), zero_division=0) == pytest.approx(best)


class FixedScores(Method):
    """A stand-in method: the score of a record is ``scores[id]`` (given at construction); fit learns nothing."""

    name = "_property_fixed_scores"

    def __init__(self, scores: dict[str, float] | None = None, **params):
        super().__init__(scores=scores, **params)
        self.scores = dict(scores or {})

    def fit(self, train, valid, tasks):
        self.tasks = list(tasks)
        return self

    def predict(self, records):
        ids = [r.id for r in records]
        return Predictions(ids=ids, scores={"is_arg": np.array([self.scores[i] for i in ids])}, status=[STATUS_OK] * len(ids))

    def save(self, directory):
        raise NotImplementedError

    @classmethod
    def load(cls, directory):
        raise NotImplementedError


if FixedScores.name not in METHODS:
    register_method(FixedScores)

RUNNER_TASKS = [TaskSpec("is_arg", "binary")]


def labelled(prefix: str, rows) -> tuple[list[Record], dict[str, float]]:
    records = [Record(f"{prefix}{i}", "MKT", {"is_arg": y}) for i, (y, _) in enumerate(rows)]
    return records, {r.id: s for r, (_, s) in zip(records, rows)}


ROWS = st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 1)), SCORE), min_size=1, max_size=12)


@SLOW
@given(ROWS, ROWS, ROWS)
def test_runner_tunes_thresholds_from_validation_only(valid_rows, test_a, test_b):
    """Two benchmark runs with the same validation predictions and any two test sets store the same tuned
    thresholds — those of the validation arrays — and call each test record at ``score >= threshold``."""
    valid, valid_scores = labelled("v", valid_rows)
    targets, mask = RUNNER_TASKS[0].encode([r.label("is_arg") for r in valid])
    expected = tune_thresholds(RUNNER_TASKS[0], targets, mask, np.array([valid_scores[r.id] for r in valid]))
    stored = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, rows in (("a", test_a), ("b", test_b)):
            test, test_scores = labelled("t", rows)
            identity = pd.DataFrame({"id": [r.id for r in test], "identity": np.nan, "nearest": "", "bin": assign_bins([np.nan] * len(test))})
            table = run_method(
                name, FixedScores.name, {"scores": valid_scores | test_scores}, RUNNER_TASKS, [], valid, test, identity,
                fold=0, seed=0, out=Path(tmp),
            )
            info = json.loads((Path(tmp) / "predictions" / name / "fold0_seed0.json").read_text())
            stored.append(info["thresholds"]["tuned"]["is_arg"])
            calls = [int(test_scores[r.id] >= expected[0]) for r in test]
            assert [int(c) for c in table["call:is_arg"]] == calls
    assert stored[0] == stored[1] == pytest.approx(expected.tolist())
