"""Task specifications: what a task predicts and how its labels become targets with a mask.

Kinds: ``binary`` (0/1), ``multiclass`` (one class name), ``multilabel`` (a list of class names),
``regression`` (a float). A missing label (``None``) is masked out of losses and metrics.

A multi-label task may carry a ``hierarchy`` (GO terms): the direct parents of each class among the
classes (is_a / part_of). Labels then follow the true-path rule (a class implies its parents), methods
may make scores consistent with it, and the benchmark reports the CAFA metrics (:mod:`biotune.evaluate.cafa`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

TaskKind = Literal["binary", "multiclass", "multilabel", "regression"]
TASK_KINDS: tuple[str, ...] = ("binary", "multiclass", "multilabel", "regression")


@dataclass(frozen=True)
class TaskSpec:
    """One prediction task. ``classes`` is empty for binary and regression tasks; ``hierarchy[j]`` lists the
    parent classes of ``classes[j]`` (multi-label only; empty = flat)."""

    name: str
    kind: TaskKind
    classes: tuple[str, ...] = field(default_factory=tuple)
    hierarchy: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    def __post_init__(self):
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task {self.name!r}: unknown kind {self.kind!r}; expected one of {TASK_KINDS}")
        if self.kind in ("multiclass", "multilabel") and len(self.classes) < 2:
            raise ValueError(f"task {self.name!r}: a {self.kind} task needs at least two classes")
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "hierarchy", tuple(tuple(p) for p in self.hierarchy))
        if self.hierarchy:
            known = set(self.classes)
            if self.kind != "multilabel" or len(self.hierarchy) != len(self.classes):
                raise ValueError(f"task {self.name!r}: a hierarchy needs a multilabel task and one parent list per class")
            unknown = sorted({p for parents in self.hierarchy for p in parents} - known)
            if unknown:
                raise ValueError(f"task {self.name!r}: hierarchy parents {unknown[:5]} are not classes")

    @property
    def hierarchical(self) -> bool:
        """True for a multi-label task with a class hierarchy (CAFA metrics, consistent scores)."""
        return bool(self.hierarchy)

    def parent_index(self) -> list[list[int]]:
        """``parent_index()[j]``: the class indices of the parents of class ``j``."""
        index = {c: i for i, c in enumerate(self.classes)}
        return [[index[p] for p in parents] for parents in self.hierarchy]

    @property
    def n_outputs(self) -> int:
        """Width of the model output for this task (1 for binary and regression)."""
        return len(self.classes) if self.kind in ("multiclass", "multilabel") else 1

    def encode(self, values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Turn raw labels into ``(targets, mask)``; ``mask[i]`` is False where ``values[i]`` is missing.

        binary/regression -> float32 ``(n,)``; multiclass -> int64 class index ``(n,)``;
        multilabel -> float32 multi-hot ``(n, k)``. Unknown class names raise ``ValueError``.
        """
        n = len(values)
        mask = np.array([not _missing(v) for v in values], dtype=bool)
        if self.kind in ("binary", "regression"):
            targets = np.array([float(v) if m else 0.0 for v, m in zip(values, mask)], dtype=np.float32)
            return targets, mask
        index = {c: i for i, c in enumerate(self.classes)}
        if self.kind == "multiclass":
            targets = np.zeros(n, dtype=np.int64)
            for i, (v, m) in enumerate(zip(values, mask)):
                if m:
                    targets[i] = self._index(index, v)
            return targets, mask
        targets = np.zeros((n, len(self.classes)), dtype=np.float32)
        for i, (v, m) in enumerate(zip(values, mask)):
            if m:
                for c in v:
                    targets[i, self._index(index, c)] = 1.0
        return targets, mask

    def _index(self, index: dict[str, int], value: Any) -> int:
        try:
            return index[value]
        except KeyError:
            raise ValueError(f"task {self.name!r}: label {value!r} is not one of {list(self.classes)}") from None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "kind": self.kind, "classes": list(self.classes)}
        return out | ({"hierarchy": [list(p) for p in self.hierarchy]} if self.hierarchy else {})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskSpec:
        return cls(name=d["name"], kind=d["kind"], classes=tuple(d.get("classes", ())), hierarchy=tuple(tuple(p) for p in d.get("hierarchy", ())))


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    if isinstance(value, (list, tuple)) and len(value) == 0:
        return True
    return False
