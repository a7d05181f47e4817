"""The naive GO baseline (CAFA's "Naive"): every protein gets each term's frequency among the training proteins.

It knows nothing about the query, so any method worth using must beat it; with true-path-propagated labels a
parent is at least as frequent as its children, so its scores already respect the hierarchy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biotune.data.records import Record
from biotune.methods.base import STATUS_OK, Method, Predictions, register_method
from biotune.tasks import TaskSpec

STATE_FILE = "frequencies.joblib"
SUPPORTED_KINDS = ("binary", "multilabel")


def check_kinds(method: str, tasks: Sequence[TaskSpec]) -> None:
    """Label-frequency methods score binary and multi-label tasks only."""
    bad = [t.name for t in tasks if t.kind not in SUPPORTED_KINDS]
    if bad:
        raise ValueError(f"{method} scores binary and multi-label tasks only, not {bad}")


@register_method
class GoNaive(Method):
    """Score = the share of labelled training records carrying each label (the same for every query)."""

    name = "go_naive"

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.frequencies: dict[str, np.ndarray] = {}

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> GoNaive:
        check_kinds(self.name, tasks)
        self.tasks, self.frequencies = list(tasks), {}
        for t in self.tasks:
            targets, mask = t.encode([r.label(t.name) for r in train])
            if not mask.any():
                raise ValueError(f"go_naive: no training record has a {t.name!r} label")
            self.frequencies[t.name] = targets[mask].mean(axis=0)
        return self

    def predict(self, records: Sequence[Record]) -> Predictions:
        if not self.frequencies:
            raise RuntimeError("go_naive is not fitted: call fit() or load() first")
        n = len(records)
        scores = {name: np.tile(f, (n, 1)) if f.ndim else np.full(n, float(f)) for name, f in self.frequencies.items()}
        return Predictions(ids=[r.id for r in records], scores=scores, status=[STATUS_OK] * n)

    def save(self, directory: str | Path) -> Path:
        return self._save_state(directory, STATE_FILE, {"frequencies": self.frequencies})

    @classmethod
    def load(cls, directory: str | Path) -> GoNaive:
        method, state = cls._load_state(directory, STATE_FILE)
        method.frequencies = state["frequencies"]
        return method
