"""DIAMOND best-hit label transfer on a fixture with known nearest neighbours (real DIAMOND)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biotune.data.records import Record
from biotune.evaluate.synthetic import ARG_TASKS, mutate, random_protein
from biotune.methods.alignment import close_best_hit_queries
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


def test_close_best_hit_queries_needs_identity_and_coverage_of_both_on_the_best_hit():
    hits = pd.DataFrame({
        "qseqid": ["q1", "q1", "q2", "q3", "q4"], "sseqid": ["a", "b", "a", "a", "b"],
        "pident": [95.0, 99.0, 95.0, 95.0, 89.9], "qcovhsp": [100.0, 100.0, 100.0, 85.0, 100.0],
        "scovhsp": [98.0, 100.0, 60.0, 100.0, 100.0], "bitscore": [500.0, 400.0, 300.0, 300.0, 300.0],
    })
    # q2: the reference is half covered (a fragment's hit); q3: the query is not covered; q4: below 90 %
    assert close_best_hit_queries(hits, 90.0) == {"q1"}
    assert close_best_hit_queries(hits, 85.0) == {"q1", "q3", "q4"}
    assert close_best_hit_queries(hits.iloc[:0], 90.0) == set()


def test_a_cheap_first_pass_settles_near_identical_queries_and_searches_the_rest_at_full_sensitivity(diamond, fixture):
    """near_* queries (~90 % identical) keep their fast-search hits; remote_A1 (~45 %) and unrelated go to the
    more-sensitive search; the evidence and scores are those of a more-sensitive search of everything."""
    train, queries = fixture
    queries = queries + [Record("copy_A2", train[1].sequence)]
    full = get_method("alignment")(threads=1, sensitivity="more-sensitive").fit(train, None, ARG_TASKS)
    staged = get_method("alignment")(threads=1, sensitivity="more-sensitive", first_pass="fast", first_pass_close=85.0).fit(train, None, ARG_TASKS)
    hits_full, hits_staged = full._hits(queries), staged._hits(queries)
    first = staged._search({q.id: q.sequence for q in queries}, "fast")
    settled = close_best_hit_queries(first, 85.0)
    assert {"copy_A2", "near_A1", "near_A2", "near_N1"} <= settled and "remote_A1" not in settled
    assert "remote_A1" in set(hits_staged["qseqid"])  # searched again, more-sensitive
    pd.testing.assert_frame_equal(hits_staged.reset_index(drop=True), hits_full.reset_index(drop=True))
    a, b = full.predict(queries), staged.predict(queries)
    pd.testing.assert_frame_equal(a.extra, b.extra)
    for t in ARG_TASKS:
        np.testing.assert_array_equal(a.scores[t.name], b.scores[t.name])
