"""Samplers draw classes at the rates they promise; class weights follow their formulas."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from torch.utils.data import RandomSampler, WeightedRandomSampler

from biotune.imbalance.frequency import UNLABELLED, class_counts, class_weights, record_weights
from biotune.imbalance.samplers import build_sampler

COUNTS = {"beta-lactam": 800, "tetracycline": 150, "rifampin": 50}
LABELS = [c for c, n in COUNTS.items() for _ in range(n)]


def _draw_rates(sampler, labels, epochs=20):
    drawn = Counter(labels[i] for _ in range(epochs) for i in sampler)
    total = sum(drawn.values())
    return {c: drawn[c] / total for c in COUNTS}


def test_class_balanced_sampler_draws_every_class_equally():
    sampler = build_sampler("class_balanced", LABELS, seed=1)
    assert isinstance(sampler, WeightedRandomSampler) and len(sampler) == len(LABELS)
    for rate in _draw_rates(sampler, LABELS).values():
        assert rate == pytest.approx(1 / 3, abs=0.015)


def test_sqrt_sampler_draws_classes_in_proportion_to_sqrt_count():
    rates = _draw_rates(build_sampler("sqrt", LABELS, seed=2), LABELS)
    expected = {c: np.sqrt(n) for c, n in COUNTS.items()}
    total = sum(expected.values())
    for c in COUNTS:
        assert rates[c] == pytest.approx(expected[c] / total, abs=0.015)


def test_none_sampler_is_a_seeded_permutation():
    a, b = build_sampler("none", LABELS, seed=3), build_sampler("none", LABELS, seed=3)
    assert isinstance(a, RandomSampler)
    assert list(a) == list(b) and sorted(a) == list(range(len(LABELS)))


def test_index_array_and_multi_hot_inputs_match_raw_labels():
    idx = np.array([list(COUNTS).index(c) for c in LABELS])
    np.testing.assert_allclose(record_weights(idx, "inverse"), record_weights(LABELS, "inverse"))
    np.testing.assert_allclose(record_weights(np.eye(3)[idx], "inverse"), record_weights(LABELS, "inverse"))


def test_multilabel_record_takes_its_rarest_label_weight_and_unlabelled_is_a_group():
    labels = [["a", "b"]] * 10 + [["a"]] * 30 + [None] * 20
    assert class_counts(labels) == {"a": 40, "b": 10, UNLABELLED: 20}
    w = record_weights(labels, "inverse")
    assert w[0] == pytest.approx(w[0:10].max()) and w[0] > w[10] and w[0] > w[-1]
    rates = Counter()
    for i in build_sampler("class_balanced", labels, seed=0):
        rates[labels[i] is None] += 1
    # the unlabelled group is drawn with its class-balanced share, never dropped
    assert rates[True] / sum(rates.values()) == pytest.approx(1 / 3, abs=0.15)


def test_class_weight_formulas():
    counts = np.array([1000, 100, 10])
    inv = class_weights(counts, "inverse")
    assert inv.mean() == pytest.approx(1.0) and inv[2] / inv[0] == pytest.approx(100)
    sq = class_weights(counts, "sqrt_inverse")
    assert sq[2] / sq[0] == pytest.approx(10)
    beta = 0.99
    eff = class_weights(counts, "effective_number", beta=beta)
    raw = (1 - beta) / (1 - beta ** counts)
    np.testing.assert_allclose(eff, raw / raw.mean())
    # beta -> 0 makes every class equal; beta -> 1 approaches inverse frequency
    np.testing.assert_allclose(class_weights(counts, "effective_number", beta=0.0), 1.0)
    close = class_weights(counts, "effective_number", beta=1 - 1e-9)
    np.testing.assert_allclose(close, inv, rtol=1e-3)
    assert class_weights([5, 0], "inverse").tolist() == [1.0, 1.0]  # an absent class gets the largest weight


def test_unknown_sampler_or_scheme_is_rejected():
    with pytest.raises(ValueError, match="unknown sampler"):
        build_sampler("balanced", LABELS)
    with pytest.raises(ValueError, match="unknown class-weight scheme"):
        class_weights([1, 2], "focal")
