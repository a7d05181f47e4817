"""DIAMOND best-hit label transfer on a fixture with known nearest neighbours (real DIAMOND)."""

from __future__ import annotations

import numpy as np
import pytest

from biotune.data.records import Record
from biotune.evaluate.synthetic import ARG_TASKS, mutate, random_protein
from biotune.methods.base import get_method, load_method
from biotune.methods.besthit import STATUS_NO_HIT, BestHit

IS_ARG, DRUG, MECH = ARG_TASKS


@pytest.fixture(scope="module")
def fixture():
    rng = np.random.default_rng(5)
    a1 = random_protein(260, rng)
    a2 = mutate(a1, 0.70, rng)  # a paralog of a1 with other labels
    neg = random_protein(240, rng)
    train = [
        Record("A1", a1, {"is_arg": 1, "drug_class": ["beta_lactam"], "mechanism": "inactivation"}),
        Record("A2", a2, {"is_arg": 1, "drug_class": ["tetracycline", "MLS"], "mechanism": "efflux"}),
        Record("N1", neg, {"is_arg": 0, "drug_class": None, "mechanism": None}),
    ]
    queries = [
        Record("near_A1", mutate(a1, 0.92, rng)),
        Record("near_A2", mutate(a2, 0.90, rng)),
        Record("near_N1", mutate(neg, 0.90, rng)),
        Record("remote_A1", mutate(a1, 0.45, rng)),
        Record("unrelated", random_protein(200, rng)),
    ]
    return train, queries


def test_transfers_labels_of_the_nearest_neighbour(diamond, fixture):
    train, queries = fixture
    pred = BestHit().fit(train, None, ARG_TASKS).predict(queries)
    assert pred.ids == [q.id for q in queries]
    extra = pred.extra.set_index(pred.extra.index)
    assert extra["best_hit"].tolist()[:3] == ["A1", "A2", "N1"]
    assert pred.scores["is_arg"].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert pred.scores["drug_class"][0].tolist() == [1, 0, 0, 0]
    assert pred.scores["drug_class"][1].tolist() == [0, 0, 1, 1]
    assert pred.scores["mechanism"][1].tolist() == [0, 1, 0]
    assert pred.scores["mechanism"][2].tolist() == [0, 0, 0]  # a negative has no mechanism to transfer
    assert pred.status == ["ok", "ok", "ok", STATUS_NO_HIT, STATUS_NO_HIT]
    assert pred.extra["hit_identity"][0] == pytest.approx(92, abs=3)


def test_identity_cutoff_is_configurable(diamond, fixture):
    train, queries = fixture
    lenient = BestHit(min_identity=30, min_query_coverage=50, evalue=1e-5).fit(train, None, ARG_TASKS).predict(queries)
    assert lenient.status[3] == "ok" and lenient.extra["best_hit"][3] == "A1"
    assert lenient.status[4] == STATUS_NO_HIT
    strict = BestHit(min_identity=95).fit(train, None, ARG_TASKS).predict(queries)
    assert strict.status == [STATUS_NO_HIT] * 5
    assert np.all(strict.scores["drug_class"] == 0)


def test_validation_records_are_references_but_validation_predictions_come_from_training_only(diamond, fixture):
    train, queries = fixture
    valid = [Record("V1", queries[3].sequence, {"is_arg": 1, "drug_class": ["aminoglycoside"], "mechanism": "inactivation"})]
    copy = Record("copy_of_V1", queries[3].sequence)
    method = BestHit().fit(train, valid, ARG_TASKS)
    assert method.predict([copy]).extra["best_hit"].tolist() == ["V1"]
    held_out = method.validation_predictions(valid)
    assert held_out.status == [STATUS_NO_HIT] and held_out.scores["is_arg"].tolist() == [0.0]  # remote_A1 is below 50 %
    training_only = BestHit(references_with_valid=False).fit(train, valid, ARG_TASKS)
    assert training_only.predict([copy]).status == [STATUS_NO_HIT]


def test_save_load_round_trip(diamond, fixture, tmp_path):
    train, queries = fixture
    method = get_method("besthit")(min_identity=40).fit(train, None, ARG_TASKS)
    method.save(tmp_path / "bh")
    again = load_method(tmp_path / "bh")
    a, b = method.predict(queries), again.predict(queries)
    assert a.status == b.status and again.params == method.params
    for t in ARG_TASKS:
        np.testing.assert_array_equal(a.scores[t.name], b.scores[t.name])


def test_alignment_class_votes_come_from_the_nearest_arg_even_when_non_args_are_closer(diamond):
    """A sul-like query: two non-ARG paralogs (~90 %) far closer than the one ARG (~45 %). class_votes_near=arg
    names that ARG's class; 'any' (votes only near the overall best hit) names none; is_arg is the same."""
    rng = np.random.default_rng(11)
    ancestor = random_protein(280, rng)
    train = [
        Record("N1", mutate(ancestor, 0.92, rng), {"is_arg": 0, "drug_class": None, "mechanism": None}),
        Record("N2", mutate(ancestor, 0.92, rng), {"is_arg": 0, "drug_class": None, "mechanism": None}),
        Record("A1", mutate(ancestor, 0.45, rng), {"is_arg": 1, "drug_class": ["aminoglycoside"], "mechanism": "target_alteration"}),
        Record("A2", random_protein(250, rng), {"is_arg": 1, "drug_class": ["tetracycline"], "mechanism": "efflux"}),
    ]
    query = [Record("q", mutate(ancestor, 0.95, rng))]
    near_arg = get_method("alignment")(threads=1, sensitivity="more-sensitive").fit(train, None, ARG_TASKS).predict(query)
    near_any = get_method("alignment")(threads=1, sensitivity="more-sensitive", class_votes_near="any").fit(train, None, ARG_TASKS).predict(query)
    assert near_arg.extra.loc[0, "arg_reference"] == "A1" and near_arg.extra.loc[0, "neg_bitscore"] > 2 * near_arg.extra.loc[0, "arg_bitscore"]
    drug = list(DRUG.classes)
    assert near_arg.scores["drug_class"][0, drug.index("aminoglycoside")] == pytest.approx(1.0)
    assert near_arg.scores["drug_class"][0].sum() == pytest.approx(1.0)
    assert not near_any.scores["drug_class"][0].any()
    assert near_arg.scores["is_arg"][0] == near_any.scores["is_arg"][0] == 0.0
    with pytest.raises(ValueError, match="class_votes_near"):
        get_method("alignment")(class_votes_near="best")
