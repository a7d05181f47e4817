"""CAFA metrics and hierarchy consistency against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biotune.evaluate.cafa import cafa_curves, cafa_metrics, information_content, summarise
from biotune.hierarchy import children_first, consistent_scores
from biotune.tasks import TaskSpec

# Terms a (no parent), b and c (children of a). Truth: P1 {a, b}, P2 {a, c}, P3 {a}.
TRUTH = np.array([[1, 1, 0], [1, 0, 1], [1, 0, 0]])
SCORES = np.array([[0.9, 0.6, 0.3], [0.8, 0.5, 0.1], [0.2, 0.1, 0.0]])
GRID = np.array([0.3, 0.6, 0.9])
IC = np.array([0.0, 1.0, 2.0])


def test_fmax_coverage_smin_by_hand():
    # t=0.3: P1 calls {a,b,c} (p 2/3, r 1), P2 {a,b} (p 1/2, r 1/2), P3 nothing -> precision 7/12, recall 1/2, F 7/13
    # t=0.6: P1 {a,b} (p 1, r 1), P2 {a} (p 1, r 1/2)                          -> precision 1, recall 1/2, F 2/3
    # t=0.9: P1 {a} (p 1, r 1/2)                                                -> precision 1, recall 1/6, F 2/7
    # Smin: t=0.3 ru 2/3 (P2 misses c), mi 1 (P1 extra c = 2, P2 extra b = 1) -> sqrt(13)/3; t=0.6 ru 2/3, mi 0 -> 2/3;
    #       t=0.9 ru 1 (P1 misses b, P2 misses c), mi 0 -> 1
    m = cafa_metrics(TRUTH, SCORES, IC, GRID)
    assert m["fmax"] == pytest.approx(2 / 3)
    assert m["fmax_threshold"] == pytest.approx(0.6)
    assert m["fmax_precision"] == pytest.approx(1.0) and m["fmax_recall"] == pytest.approx(0.5)
    assert m["coverage"] == pytest.approx(2 / 3)
    assert m["smin"] == pytest.approx(2 / 3)
    # AP per term: a = 1 (all positive), b = 1 (P1 ranked first), c = 1/2 (P2 ranked second behind P1) -> 5/6
    assert m["macro_aupr"] == pytest.approx(5 / 6) and m["n_aupr_terms"] == 3


def test_f_at_a_threshold_where_it_is_not_the_max():
    curves = cafa_curves(TRUTH, SCORES, IC, np.array([0.3]))
    out = summarise(curves)
    assert out["fmax"][0] == pytest.approx(7 / 13)
    assert out["smin"][0] == pytest.approx(np.sqrt(13) / 3)
    assert out["coverage"][0] == pytest.approx(2 / 3)


def test_unannotated_proteins_are_not_evaluated_and_weights_act_like_copies():
    truth = np.vstack([TRUTH, [0, 0, 0]])
    scores = np.vstack([SCORES, [1.0, 1.0, 1.0]])
    assert cafa_metrics(truth, scores, IC, GRID)["fmax"] == pytest.approx(2 / 3)
    doubled = cafa_metrics(np.vstack([TRUTH, TRUTH[:1]]), np.vstack([SCORES, SCORES[:1]]), IC, GRID)
    weighted = summarise(cafa_curves(TRUTH, SCORES, IC, GRID), np.array([[2.0, 1.0, 1.0]]))
    assert weighted["fmax"][0] == pytest.approx(doubled["fmax"]) and weighted["smin"][0] == pytest.approx(doubled["smin"])


def test_smin_is_nan_without_information_content():
    assert np.isnan(cafa_metrics(TRUTH, SCORES, None, GRID)["smin"])


def test_information_content_from_training_annotations():
    # terms a; b, c children of a; d child of b; e child of b and c. Five annotated proteins, one without terms.
    parents = [[], [0], [0], [1], [1, 2]]
    train = np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 0, 1], [0, 0, 0, 0, 0]])
    ic = information_content(train, parents)
    # a: 5/5 -> 0; b: 3 of 5 -> log2(5/3); c: 2 of 5 -> log2(5/2); d never seen -> 0; e: 1 of the 1 with b and c -> 0
    assert ic == pytest.approx([0.0, 0.7369655941662062, 1.3219280948873624, 0.0, 0.0])


def test_consistent_scores_by_hand():
    parents = [[], [0], [0], [1, 2]]  # d has two parents
    scores = np.array([[0.1, 0.2, 0.05, 0.7], [0.9, 0.3, 0.4, 0.0]])
    assert consistent_scores(scores, parents) == pytest.approx(np.array([[0.7, 0.7, 0.7, 0.7], [0.9, 0.3, 0.4, 0.0]]))


def test_a_cyclic_hierarchy_is_an_error():
    with pytest.raises(ValueError, match="cycle"):
        children_first([[1], [0]])


@st.composite
def dags(draw):
    k = draw(st.integers(1, 8))
    parents = [sorted(draw(st.sets(st.integers(0, j - 1), max_size=3))) if j else [] for j in range(k)]
    perm = draw(st.permutations(range(k)))
    relabel = {old: new for new, old in enumerate(perm)}
    shuffled = [None] * k
    for j in range(k):
        shuffled[relabel[j]] = [relabel[p] for p in parents[j]]
    scores = draw(st.lists(st.lists(st.floats(0, 1), min_size=k, max_size=k), min_size=1, max_size=4))
    return shuffled, np.array(scores)


@settings(max_examples=200, deadline=None)
@given(dags())
def test_consistent_scores_is_the_max_over_descendants(case):
    parents, scores = case
    out = consistent_scores(scores, parents)
    k = len(parents)
    below = {j: {j} for j in range(k)}  # descendants-or-self, by brute-force closure
    changed = True
    while changed:
        changed = False
        for j in range(k):
            for p in parents[j]:
                if not below[j] <= below[p]:
                    below[p] |= below[j]
                    changed = True
    for j in range(k):
        assert np.array_equal(out[:, j], scores[:, sorted(below[j])].max(axis=1))
        for p in parents[j]:
            assert (out[:, p] >= out[:, j]).all()
    assert np.array_equal(consistent_scores(out, parents), out)


def test_taskspec_hierarchy_round_trip_and_validation():
    task = TaskSpec("mf", "multilabel", ("a", "b", "c"), ((), ("a",), ("a",)))
    assert task.hierarchical and task.parent_index() == [[], [0], [0]]
    assert TaskSpec.from_dict(task.to_dict()) == task
    assert "hierarchy" not in TaskSpec("x", "multilabel", ("a", "b")).to_dict()
    with pytest.raises(ValueError, match="not classes"):
        TaskSpec("mf", "multilabel", ("a", "b"), ((), ("z",)))


def test_bootstrap_replicates_equal_the_metrics_of_the_resampled_proteins():
    """A replicate (a weight per protein) gives what the metrics give on the proteins copied that many times."""
    from biotune.evaluate.replicates import replicate_headline, weight_matrix

    rng = np.random.default_rng(0)
    task = TaskSpec("go", "multilabel", ("a", "b", "c", "d"), ((), ("a",), ("a",), ("b",)))
    y = (rng.random((40, 4)) < [0.9, 0.5, 0.4, 0.2]).astype(float)
    y[:, 0] = np.maximum(y[:, 0], y[:, 1:].max(axis=1))
    y[:, 1] = np.maximum(y[:, 1], y[:, 3])
    y[y.sum(axis=1) == 0, 0] = 1
    s = np.round(np.clip(y * 0.5 + rng.random((40, 4)) * 0.6, 0, 1), 2)
    ic = np.array([0.0, 1.0, 1.3, 2.0])
    resamples = [rng.integers(0, 40, 40) for _ in range(5)]
    values = replicate_headline(task, weight_matrix(resamples, 40), y, np.ones(40, bool), s, 0.5, ic)
    for b, idx in enumerate(resamples):
        direct = cafa_metrics(y[idx], s[idx], ic)
        for k in ("fmax", "coverage", "smin", "macro_aupr"):
            assert values[k][b] == pytest.approx(direct[k]), k
