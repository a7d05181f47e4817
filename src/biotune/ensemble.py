"""Seed ensembles: ``k`` copies of any method, each trained with its own seed, probabilities averaged.

The wrapped method must accept a ``seed`` parameter (every built-in method does). A record's
ensemble score is the mean over the members that scored it (status ``ok``); a record no member
could score keeps the first member's scores and status. Saved as one sub-directory per member.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biotune.data.records import Record
from biotune.methods.base import STATUS_OK, Method, Predictions, get_method, load_method, register_method
from biotune.tasks import TaskSpec


def average_predictions(members: Sequence[Predictions]) -> Predictions:
    """Mean of the members' scores over the members that scored each record ``ok``."""
    first = members[0]
    for m in members[1:]:
        if m.ids != first.ids:
            raise ValueError("ensemble members returned different ids or orders")
    ok = np.array([[s == STATUS_OK for s in m.status] for m in members])  # (k, n)
    n_ok = ok.sum(axis=0)
    scores = {}
    for task in first.scores:
        stack = np.stack([np.asarray(m.scores[task], dtype=float) for m in members])  # (k, n[, c])
        w = ok.reshape(ok.shape + (1,) * (stack.ndim - 2)).astype(float)
        mean = (stack * w).sum(axis=0) / np.maximum(n_ok, 1).reshape((-1,) + (1,) * (stack.ndim - 2))
        scores[task] = np.where((n_ok > 0).reshape((-1,) + (1,) * (stack.ndim - 2)), mean, stack[0])
    status = [STATUS_OK if c > 0 else s for c, s in zip(n_ok, first.status)]
    return Predictions(ids=list(first.ids), scores=scores, status=status, extra=first.extra)


@register_method
class SeedEnsemble(Method):
    """``k`` runs of method ``base`` (with ``base_params``) at seeds ``seed, seed + 1, …``."""

    name = "ensemble"

    def __init__(self, base: str = "kmer_lr", k: int = 5, seed: int = 0, base_params: dict[str, Any] | None = None, **params: Any):
        if k < 1:
            raise ValueError(f"an ensemble needs k >= 1 members, got {k}")
        super().__init__(base=base, k=k, seed=seed, base_params=dict(base_params or {}), **params)
        self.members: list[Method] = []

    def _member(self, i: int) -> Method:
        params = dict(self.params["base_params"], seed=self.params["seed"] + i)
        return get_method(self.params["base"])(**params)

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> SeedEnsemble:
        self.tasks = list(tasks)
        self.members = [self._member(i).fit(train, valid, tasks) for i in range(self.params["k"])]
        return self

    def predict(self, records: Sequence[Record]) -> Predictions:
        if not self.members:
            raise RuntimeError("ensemble is not fitted: call fit() or load() first")
        return average_predictions([m.predict(records) for m in self.members])

    def save(self, directory: str | Path) -> Path:
        directory = self._write_manifest(directory)
        for i, m in enumerate(self.members):
            m.save(directory / f"member_{i}")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> SeedEnsemble:
        method = cls._from_manifest(directory)
        method.members = [load_method(Path(directory) / f"member_{i}") for i in range(method.params["k"])]
        return method
