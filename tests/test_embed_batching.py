"""Fragments and batches: windows cover every residue with the promised overlap; batches respect the token budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from biotune.embed.batching import fragments, token_budget_batches, window_starts


@given(length=st.integers(1, 5000), max_length=st.integers(2, 1022), data=st.data())
def test_windows_cover_the_sequence_with_the_overlap(length, max_length, data):
    overlap = data.draw(st.integers(0, max_length - 1))
    starts = window_starts(length, max_length, overlap)
    if length <= max_length:
        assert starts == [0]
        return
    assert starts[0] == 0 and starts[-1] + max_length == length
    for a, b in zip(starts, starts[1:]):
        assert a < b and a + max_length - b >= overlap


@given(lengths=st.lists(st.integers(1, 3000), max_size=60), budget=st.integers(1, 20_000))
def test_batches_hold_every_item_once_within_budget(lengths, budget):
    batches = token_budget_batches(lengths, budget)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        width = max(lengths[i] for i in batch) + 2
        assert len(batch) == 1 or width * len(batch) <= budget
    for longer, shorter in zip(batches, batches[1:]):  # length-sorted: no batch mixes across another's range
        assert min(lengths[i] for i in longer) >= max(lengths[i] for i in shorter)


def test_length_sorting_limits_padding():
    lengths = [50, 900, 60, 880, 55, 910, 52, 870]
    batches = token_budget_batches(lengths, 2000)
    assert [sorted(lengths[i] for i in b) for b in batches] == [[900, 910], [870, 880], [50, 52, 55, 60]]


def test_long_policies():
    assert [(f.start, f.end) for f in fragments([30, 10], max_length=20, long_policy="truncate")] == [(0, 20), (0, 10)]
    windows = fragments([30], max_length=20, long_policy="window", overlap=5)
    assert [(f.start, f.end) for f in windows] == [(0, 20), (10, 30)]
    with pytest.raises(ValueError):
        fragments([30], max_length=20, long_policy="drop")
