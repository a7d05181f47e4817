"""Augmentation keeps length bounds and alphabet, and substitutions follow BLOSUM62."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biotune.data.augment import STANDARD_AA, build_augmenter, substitution_probabilities

protein = st.text(alphabet=STANDARD_AA + "XBZUO", min_size=1, max_size=300)


@settings(max_examples=150, deadline=None)
@given(seq=protein, p=st.floats(0, 1), lo=st.floats(0.05, 1), span=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_augmented_sequence_respects_length_bounds_and_alphabet(seq, p, lo, span, seed):
    hi = lo + (1 - lo) * span
    augment = build_augmenter({"substitution_p": p, "truncate_p": 1.0, "truncate_fraction": [lo, hi]})
    out = augment(seq, np.random.default_rng(seed))
    assert max(1, int(np.floor(lo * len(seq)))) <= len(out) <= int(np.ceil(hi * len(seq)))
    assert set(out) <= set(seq) | set(STANDARD_AA)
    # non-standard letters are never introduced
    assert sum(out.count(c) for c in "XBZUO") <= sum(seq.count(c) for c in "XBZUO")


@settings(max_examples=50, deadline=None)
@given(seq=protein, seed=st.integers(0, 2**32 - 1))
def test_substitution_only_keeps_length_and_positions(seq, seed):
    out = build_augmenter({"substitution_p": 0.5})(seq, np.random.default_rng(seed))
    assert len(out) == len(seq)
    for a, b in zip(seq, out):
        assert a == b or (a in STANDARD_AA and b in STANDARD_AA)


def test_empty_config_is_identity_and_truncation_is_a_window():
    rng = np.random.default_rng(0)
    seq = "".join(np.random.default_rng(1).choice(list(STANDARD_AA), 200))
    assert build_augmenter(None)(seq, rng) == seq
    out = build_augmenter({"truncate_p": 1.0, "truncate_fraction": [0.5, 0.5]})(seq, rng)
    assert len(out) == 100 and out in seq


def test_substitution_rates_follow_blosum62():
    p = substitution_probabilities()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all(np.diag(p) == 0)
    i, v, w = STANDARD_AA.index("I"), STANDARD_AA.index("V"), STANDARD_AA.index("W")
    assert p[i, v] == p[i].max() and p[i, v] / p[i, w] == pytest.approx(np.exp(3 - (-3)))
    rng = np.random.default_rng(0)
    out = build_augmenter({"substitution_p": 1.0})("I" * 20000, rng)
    assert "I" not in out
    assert out.count("V") / len(out) == pytest.approx(p[i, v], abs=0.02)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="unknown augmentation"):
        build_augmenter({"mask_p": 0.1})
    with pytest.raises(ValueError, match="truncate_fraction"):
        build_augmenter({"truncate_fraction": [0.9, 0.5]})
    with pytest.raises(ValueError, match="substitution_p"):
        build_augmenter({"substitution_p": 1.5})
