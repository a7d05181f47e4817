"""Class hierarchies (GO's true-path rule) on score and label matrices: a class implies its ancestors.

``parents[j]`` lists the column indices of the direct parents of column ``j`` (:meth:`TaskSpec.parent_index`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def children_first(parents: Sequence[Sequence[int]]) -> list[int]:
    """The columns ordered so that every column comes before all of its ancestors (Kahn's algorithm)."""
    k = len(parents)
    pending = np.zeros(k, dtype=int)
    for j in range(k):
        for p in parents[j]:
            pending[p] += 1
    ready = [j for j in range(k) if pending[j] == 0]
    order = []
    while ready:
        j = ready.pop()
        order.append(j)
        for p in parents[j]:
            pending[p] -= 1
            if pending[p] == 0:
                ready.append(p)
    if len(order) != k:
        raise ValueError("the class hierarchy has a cycle")
    return order


def consistent_scores(scores: np.ndarray, parents: Sequence[Sequence[int]]) -> np.ndarray:
    """Scores where each class is at least the maximum over its descendants (and unchanged otherwise).

    A protein predicted to bind ATP must be predicted to bind nucleotides at least as confidently; taking the
    maximum over descendants is the smallest such correction (DeepGOPlus's and CAFA's convention).
    """
    out = np.array(scores, dtype=float, copy=True)
    for j in children_first(parents):
        for p in parents[j]:
            np.maximum(out[:, p], out[:, j], out=out[:, p])
    return out
