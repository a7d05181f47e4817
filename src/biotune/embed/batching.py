"""Cutting sequences into model-sized fragments and grouping fragments into padded batches.

Pure functions, no torch: the engine turns their output into tensors. Two ideas make CPU inference
fast here: (1) batches are formed from length-sorted fragments, so a batch is padded only to the
length of similar sequences, not to the longest one in a random group; (2) a batch holds as many
fragments as fit a *token budget* (rows x padded length), so short proteins are batched wide and
long ones narrow, keeping the matrix sizes — and the memory — roughly constant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LONG_POLICIES = ("window", "truncate")


@dataclass(frozen=True)
class Fragment:
    """Residues ``[start, end)`` of input sequence number ``seq``: what one model row sees."""

    seq: int
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def default_overlap(max_length: int) -> int:
    """Residues shared by consecutive windows when none is given: a quarter of the window."""
    return max_length // 4


def window_starts(length: int, max_length: int, overlap: int) -> list[int]:
    """Start offsets of windows of ``max_length`` residues covering ``length`` residues.

    Consecutive windows share at least ``overlap`` residues; starts are spread evenly so that the
    first window begins at 0 and the last one ends exactly at the sequence end.
    """
    if length <= max_length:
        return [0]
    if not 0 <= overlap < max_length:
        raise ValueError(f"window overlap must be in [0, {max_length}), got {overlap}")
    stride = max_length - overlap
    n_windows = math.ceil((length - overlap) / stride)
    last = length - max_length
    return sorted({round(i * last / (n_windows - 1)) for i in range(n_windows)})


def fragments(
    lengths: Sequence[int], *, max_length: int, long_policy: str = "window", overlap: int | None = None
) -> list[Fragment]:
    """The fragments to run for sequences of the given lengths (one per sequence unless it is too long).

    ``long_policy="window"`` covers a long sequence with overlapping windows (see :func:`window_starts`);
    ``"truncate"`` keeps only its first ``max_length`` residues.
    """
    if long_policy not in LONG_POLICIES:
        raise ValueError(f"long_policy must be one of {LONG_POLICIES}, got {long_policy!r}")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    overlap = default_overlap(max_length) if overlap is None else overlap
    out: list[Fragment] = []
    for i, n in enumerate(lengths):
        if n <= max_length or long_policy == "truncate":
            out.append(Fragment(i, 0, min(n, max_length)))
        else:
            out.extend(Fragment(i, s, s + max_length) for s in window_starts(n, max_length, overlap))
    return out


def token_budget_batches(lengths: Sequence[int], token_budget: int, *, extra_tokens: int = 2) -> list[list[int]]:
    """Group item indices into batches whose padded size ``rows * (max_len + extra_tokens)`` fits the budget.

    Items are visited longest first, so each batch holds items of similar length (little padding) and
    the largest — most memory-hungry — batch runs first. An item larger than the budget on its own
    gets a batch to itself. ``extra_tokens`` counts the special tokens (``<cls>``, ``<eos>``) per row.
    """
    if token_budget < 1:
        raise ValueError(f"token_budget must be >= 1, got {token_budget}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i in order:
        row = lengths[i] + extra_tokens
        new_width = max(width, row)
        if current and new_width * (len(current) + 1) > token_budget:
            batches.append(current)
            current, new_width = [], row
        current.append(i)
        width = new_width
    if current:
        batches.append(current)
    return batches
