"""Class frequencies and the weights derived from them (for samplers and for loss re-weighting).

Labels come in three shapes and are all handled the same way:

- a 1-d array of class indices (multi-class / binary),
- a 2-d multi-hot array ``(n, k)`` (multi-label),
- a sequence of raw per-record labels: a class name, a list of class names, or ``None``.

Weight schemes (``w_c`` for a class with ``n_c`` training examples):

- ``inverse``           ``w_c ∝ 1 / n_c``
- ``sqrt_inverse``      ``w_c ∝ 1 / sqrt(n_c)``
- ``effective_number``  ``w_c ∝ (1 - β) / (1 - β^n_c)`` (Cui et al., CVPR 2019)

Weights average 1 over the classes (the loss keeps its scale).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from biotune.losses import effective_number_weights

WEIGHT_SCHEMES: tuple[str, ...] = ("none", "inverse", "sqrt_inverse", "effective_number")

#: The group a record with no label for the task falls into (e.g. negatives for drug classes).
UNLABELLED = "<unlabelled>"


def label_matrix(labels: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Multi-hot membership ``(n, k)`` (bool) and the ``k`` group names for any supported label shape.

    Records without a label form their own group :data:`UNLABELLED`, so that samplers keep drawing them.
    """
    arr = labels if isinstance(labels, np.ndarray) else None
    if arr is not None and arr.ndim == 2:
        member = arr.astype(bool)
        names: list[Any] = list(range(member.shape[1]))
        empty = ~member.any(axis=1)
        if empty.any():
            member = np.column_stack([member, empty])
            names.append(UNLABELLED)
        return member, names
    if arr is not None and arr.ndim == 1 and arr.dtype.kind in "iub":
        names = sorted(np.unique(arr).tolist())
        return arr[:, None] == np.array(names)[None, :], names
    sets = [_as_set(v) for v in labels]
    names = sorted({c for s in sets for c in s}, key=str)
    index = {c: j for j, c in enumerate(names)}
    member = np.zeros((len(sets), len(names)), dtype=bool)
    for i, s in enumerate(sets):
        member[i, [index[c] for c in s]] = True
    return member, names


def _as_set(value: Any) -> set[Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {UNLABELLED}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return set(value) if len(value) else {UNLABELLED}
    return {value.item() if isinstance(value, np.generic) else value}


def class_counts(labels: Sequence[Any] | np.ndarray) -> dict[Any, int]:
    """Number of records carrying each class (a multi-label record counts once for each of its labels)."""
    member, names = label_matrix(labels)
    return {name: int(n) for name, n in zip(names, member.sum(axis=0))}


def class_weights(counts: Sequence[int] | np.ndarray, scheme: str = "inverse", *, beta: float = 0.999) -> np.ndarray:
    """Per-class loss weights from class counts (see the module docstring).

    Same convention as the engine's :func:`biotune.losses.effective_number_weights` (which computes
    the ``effective_number`` scheme): weights sum to the number of classes, and a class with no
    examples gets the largest weight of the others.
    """
    if scheme not in WEIGHT_SCHEMES:
        raise ValueError(f"unknown class-weight scheme {scheme!r}; expected one of {WEIGHT_SCHEMES}")
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or (n < 0).any() or not (n > 0).any():
        raise ValueError(f"counts must be a 1-d array of non-negative numbers with one > 0, got {n.tolist()}")
    if scheme == "effective_number":
        return effective_number_weights(n, beta)
    power = {"none": 0.0, "inverse": 1.0, "sqrt_inverse": 0.5}[scheme]
    present = n > 0
    w = np.empty_like(n)
    w[present] = n[present] ** -power
    w[~present] = w[present].max()
    return w * len(n) / w.sum()


def record_weights(labels: Sequence[Any] | np.ndarray, scheme: str) -> np.ndarray:
    """Per-record weights: the class weight of the record's class.

    Multi-label rule: a record takes the **largest** weight among its labels (its rarest label),
    as in repeat-factor sampling (Gupta et al., LVIS 2019) — a rare label is never diluted by the
    common labels it co-occurs with.
    """
    member, _ = label_matrix(labels)
    w = class_weights(member.sum(axis=0), scheme)
    return np.where(member, w[None, :], 0.0).max(axis=1)


def label_groups(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group records by their exact label: ``(group id per record, one label row per group)``.

    ``targets`` is a 1-d class-index array or a 2-d multi-hot matrix. For multi-label data a group is
    a distinct label *set* (label powerset), so that anything synthesised inside a group carries an
    unambiguous label.
    """
    targets = np.asarray(targets)
    rows, groups = np.unique(targets if targets.ndim == 2 else targets[:, None], axis=0, return_inverse=True)
    return groups.reshape(-1), rows if targets.ndim == 2 else rows[:, 0]


def oversampling_plan(groups: np.ndarray, target: float = 1.0, *, max_ratio: float = 10.0, min_count: int = 1) -> dict[int, int]:
    """How many synthetic points to add to each group: ``{group: n_new}`` (groups needing none omitted).

    ``target`` ≤ 1 is a fraction of the largest group's size, > 1 an absolute count; every group
    smaller than the target is raised towards it, but never beyond ``max_ratio`` times its own size
    (ten synthetic copies of three real points teach nothing new). Groups with fewer than
    ``min_count`` members are left alone.
    """
    if target <= 0 or max_ratio < 1:
        raise ValueError(f"need target > 0 and max_ratio >= 1, got target={target}, max_ratio={max_ratio}")
    ids, counts = np.unique(groups, return_counts=True)
    goal = target * counts.max() if target <= 1 else target
    plan = {}
    for g, n in zip(ids.tolist(), counts.tolist()):
        new = int(min(round(goal), int(max_ratio * n))) - n
        if n >= min_count and new > 0:
            plan[g] = new
    return plan
