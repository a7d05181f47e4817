"""Max-F1 thresholds: optimal on the given data, never call a zero score, tuned from validation only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from biotune.data.dataset import Dataset
from biotune.data.records import Record
from biotune.evaluate.identity_bins import assign_bins
from biotune.evaluate.results import read_table
from biotune.evaluate.runner import run_method
from biotune.evaluate.synthetic import synthetic_arg_dataset
from biotune.evaluate.thresholds import DEFAULT_THRESHOLD, max_f1_threshold, tune_thresholds
from biotune.methods.kmer_lr import KmerLogReg
from biotune.tasks import TaskSpec


@pytest.mark.parametrize("seed", range(3))
def test_max_f1_threshold_is_optimal(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    s = np.clip(y * 0.25 + rng.random(200) * 0.75, 0, 1)
    t = max_f1_threshold(y, s)
    best = max(f1_score(y, (s >= c).astype(int)) for c in np.unique(s))
    assert f1_score(y, (s >= t).astype(int)) == pytest.approx(best)


def test_no_positive_keeps_default_and_zero_scores_never_called():
    assert max_f1_threshold(np.zeros(10), np.linspace(0, 1, 10)) == DEFAULT_THRESHOLD
    y = np.array([1, 1, 1, 0])
    s = np.array([1.0, 0.0, 0.0, 0.0])  # calling everything would maximise F1 here
    assert max_f1_threshold(y, s) == 1.0


def test_multilabel_thresholds_one_per_label_and_masked():
    task = TaskSpec("drug", "multilabel", ("a", "b"))
    targets, mask = task.encode([["a"], ["b"], None, ["a", "b"]])
    scores = np.array([[0.7, 0.2], [0.1, 0.6], [0.99, 0.99], [0.8, 0.65]])
    thr = tune_thresholds(task, targets, mask, scores)
    assert thr.shape == (2,) and thr[0] == pytest.approx(0.7) and thr[1] == pytest.approx(0.6)
    assert tune_thresholds(TaskSpec("m", "multiclass", ("a", "b")), np.zeros(2), np.ones(2, bool), np.eye(2)).shape == (0,)


def _flip(records: list[Record]) -> list[Record]:
    return [Record(r.id, r.sequence, {"is_arg": 1 - r.labels["is_arg"], "drug_class": None, "mechanism": None}, r.meta) for r in records]


def test_runner_tunes_on_validation_only(tmp_path):
    ds: Dataset = synthetic_arg_dataset(8, 5, grouped_folds=False, seed=3)
    train_idx, valid_idx, test_idx = ds.fold_split(0)
    train, valid, test = ds.records(train_idx), ds.records(valid_idx), ds.records(test_idx)
    tasks = ds.tasks
    params = {"k_max": 2, "C": 1.0}
    identity = pd.DataFrame({"id": [r.id for r in test], "identity": np.nan, "nearest": "", "bin": assign_bins([np.nan] * len(test))})
    expected_model = KmerLogReg(**params).fit(train, valid, tasks)
    valid_scores = expected_model.predict(valid).scores
    t = tasks[0]
    expected = tune_thresholds(t, *t.encode([r.label("is_arg") for r in valid]), valid_scores["is_arg"])

    for name, test_set in (("as_is", test), ("flipped", _flip(test))):
        table = run_method(name, "kmer_lr", params, tasks, train, valid, test_set, identity, fold=0, seed=0, out=tmp_path)
        info = json.loads((tmp_path / "predictions" / name / "fold0_seed0.json").read_text())
        assert info["thresholds"]["tuned"]["is_arg"] == pytest.approx(expected.tolist())
        assert len(table) == len(test)
    a = read_table(tmp_path / "predictions" / "as_is" / "fold0_seed0.tsv")
    b = read_table(tmp_path / "predictions" / "flipped" / "fold0_seed0.tsv")
    assert a["call:is_arg"].tolist() == b["call:is_arg"].tolist()
    assert a["true:is_arg"].tolist() != b["true:is_arg"].tolist()
