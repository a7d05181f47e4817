"""k-mer composition + logistic regression: learns protein families, masks missing labels, round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from biotune.data.records import Record
from biotune.evaluate.synthetic import ARG_TASKS, synthetic_arg_dataset
from biotune.methods.base import load_method
from biotune.methods.kmer_lr import KmerLogReg


@pytest.fixture(scope="module")
def split():
    ds = synthetic_arg_dataset(10, 6, identity_range=(0.6, 0.9), grouped_folds=False, seed=2)
    train_idx, valid_idx, test_idx = ds.fold_split(0)
    return ds.records(train_idx), ds.records(valid_idx), ds.records(test_idx)


@pytest.fixture(scope="module")
def fitted(split):
    train, valid, _ = split
    return KmerLogReg(k_max=2, C=1.0).fit(train, valid, ARG_TASKS)


def test_learns_families_on_held_out_members(fitted, split):
    _, _, test = split
    pred = fitted.predict(test)
    assert pred.status == ["ok"] * len(test)
    y = np.array([r.label("is_arg") for r in test])
    assert np.mean((pred.scores["is_arg"] >= 0.5) == y) >= 0.8
    mech = [(r.label("mechanism"), i) for i, r in enumerate(test) if r.label("mechanism")]
    hits = [ARG_TASKS[2].classes[int(np.argmax(pred.scores["mechanism"][i]))] == m for m, i in mech]
    assert np.mean(hits) >= 0.7
    assert pred.scores["mechanism"].sum(axis=1) == pytest.approx(np.ones(len(test)))
    assert pred.scores["drug_class"].shape == (len(test), 4)


def test_a_task_without_any_label_is_an_error_naming_it(split):
    train, _, _ = split
    negatives = [r for r in train if r.label("is_arg") == 0]
    assert negatives
    with pytest.raises(ValueError, match="drug_class.*no labelled training record"):
        KmerLogReg(k_max=1).fit(negatives, None, ARG_TASKS)


def test_single_class_task_predicts_its_prior():
    train = [Record(f"r{i}", "MKV" * (i + 5), {"is_arg": 1}) for i in range(6)]
    model = KmerLogReg(k_max=1).fit(train, None, ARG_TASKS[:1])
    assert model.predict(train).scores["is_arg"] == pytest.approx(np.ones(6))


def test_save_load_gives_identical_predictions(fitted, split, tmp_path):
    _, _, test = split
    fitted.save(tmp_path / "km")
    again = load_method(tmp_path / "km")
    for t in ARG_TASKS:
        np.testing.assert_array_equal(fitted.predict(test).scores[t.name], again.predict(test).scores[t.name])


def test_bad_k_range_is_rejected():
    with pytest.raises(ValueError, match="k_min"):
        KmerLogReg(k_min=3, k_max=2)
