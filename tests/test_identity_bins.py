"""Identity bins from real DIAMOND searches against proteins mutated to known identities."""

from __future__ import annotations

import numpy as np
import pytest

from biotune.evaluate.identity_bins import BIN_LABELS, identity_bin, max_identity
from biotune.evaluate.synthetic import mutate, random_protein


@pytest.mark.parametrize(
    ("identity", "expected"),
    [(float("nan"), "no_hit"), (0.0, "<30"), (29.99, "<30"), (30.0, "30-50"), (49.9, "30-50"), (50.0, "50-80"), (79.9, "50-80"), (80.0, ">=80"), (100.0, ">=80")],
)
def test_bin_edges(identity, expected):
    assert identity_bin(identity) == expected
    assert expected in BIN_LABELS


@pytest.fixture(scope="module")
def family():
    rng = np.random.default_rng(11)
    refs = {f"ref{i}": random_protein(250, rng) for i in range(4)}
    queries = {
        "q95": mutate(refs["ref0"], 0.95, rng),
        "q65": mutate(refs["ref1"], 0.65, rng),
        "q40": mutate(refs["ref2"], 0.42, rng),
        "qrandom": random_protein(250, rng),
        # 60 residues of ref3 inside 240 unrelated ones: identical but covers only 20 % of the query
        "qfragment": random_protein(90, rng) + refs["ref3"][100:160] + random_protein(90, rng),
    }
    return refs, queries


def test_max_identity_bins_known_homologs(diamond, family):
    refs, queries = family
    table = max_identity(queries, refs).set_index("id")
    assert list(table.index) == list(queries)
    assert table.at["q95", "bin"] == ">=80" and table.at["q95", "nearest"] == "ref0"
    assert table.at["q95", "identity"] == pytest.approx(95, abs=2)
    assert table.at["q65", "bin"] == "50-80" and table.at["q65", "nearest"] == "ref1"
    assert table.at["q40", "bin"] == "30-50" and table.at["q40", "nearest"] == "ref2"
    assert table.at["qrandom", "bin"] == "no_hit" and np.isnan(table.at["qrandom", "identity"])
    assert table.at["qfragment", "bin"] == "no_hit"


def test_coverage_cutoff_is_what_hides_the_fragment(diamond, family):
    refs, queries = family
    table = max_identity({"qfragment": queries["qfragment"]}, refs, min_query_coverage=0).set_index("id")
    assert table.at["qfragment", "nearest"] == "ref3" and table.at["qfragment", "bin"] == ">=80"


def test_empty_reference_means_no_hit():
    table = max_identity({"a": "MKVL"}, {})
    assert table["bin"].tolist() == ["no_hit"]
