"""DeepGOPlus's combination (Kulmanov & Hoehndorf 2020): ``alpha · DiamondScore + (1 − alpha) · model``.

DiamondScore is precise where a query has homologs in training and silent elsewhere; a sequence model
(``model``, any registered method, k-mer logistic regression by default) scores every protein. Both are fitted
on the training records; ``alpha`` is chosen per task from ``alphas`` as the one with the highest protein-centric
Fmax on the validation records (DeepGOPlus tuned it per ontology the same way), so the test fold never
influences it. Without validation records ``alpha`` is 0.5.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biotune.data.records import Record
from biotune.evaluate.cafa import cafa_metrics
from biotune.hierarchy import consistent_scores
from biotune.methods.base import STATUS_OK, Method, Predictions, get_method, load_method, register_method
from biotune.methods.diamond_score import DiamondScore
from biotune.methods.go_naive import check_kinds
from biotune.tasks import TaskSpec

DEFAULT_ALPHAS = tuple(np.round(np.arange(0, 11) / 10, 1).tolist())


@register_method
class GoBlend(Method):
    """``alpha`` · DiamondScore + (1 − ``alpha``) · ``model``, ``alpha`` per task by validation Fmax."""

    name = "go_blend"

    def __init__(self, model: str = "kmer_lr", model_params: Mapping[str, Any] | None = None, diamond_params: Mapping[str, Any] | None = None,
                 alphas: Sequence[float] = DEFAULT_ALPHAS, **params: Any):
        super().__init__(model=model, model_params=dict(model_params or {}), diamond_params=dict(diamond_params or {}), alphas=list(alphas), **params)
        self.diamond: DiamondScore | None = None
        self.model: Method | None = None
        self.alpha: dict[str, float] = {}

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> GoBlend:
        check_kinds(self.name, tasks)
        self.tasks = list(tasks)
        p = self.params
        self.diamond = DiamondScore(**p["diamond_params"]).fit(train, None, tasks)
        self.model = get_method(p["model"])(**p["model_params"]).fit(train, None, tasks)
        self.alpha = {t.name: 0.5 for t in self.tasks}
        if valid:
            ds, model = self.diamond.predict(valid), self.model.predict(valid)
            for t in self.tasks:
                y, mask = t.encode([r.label(t.name) for r in valid])
                if mask.any():
                    fmax = [cafa_metrics(y[mask].reshape(mask.sum(), -1), self._blend(t, a, ds, model)[mask].reshape(mask.sum(), -1))["fmax"] for a in p["alphas"]]
                    self.alpha[t.name] = float(p["alphas"][int(np.nanargmax(fmax))])
        return self

    def _blend(self, task: TaskSpec, alpha: float, ds: Predictions, model: Predictions) -> np.ndarray:
        s = alpha * np.asarray(ds.scores[task.name], dtype=float) + (1 - alpha) * np.asarray(model.scores[task.name], dtype=float)
        return consistent_scores(s, task.parent_index()) if task.hierarchical else s

    def predict(self, records: Sequence[Record]) -> Predictions:
        if self.diamond is None or self.model is None:
            raise RuntimeError("go_blend is not fitted: call fit() or load() first")
        ds, model = self.diamond.predict(records), self.model.predict(records)
        scores = {t.name: self._blend(t, self.alpha[t.name], ds, model) for t in self.tasks}
        return Predictions(ids=[r.id for r in records], scores=scores, status=[STATUS_OK] * len(records), extra=ds.extra)

    def fit_info(self) -> dict[str, Any]:
        return {"alpha": dict(self.alpha)}

    def save(self, directory: str | Path) -> Path:
        directory = self._write_manifest(directory, alpha=self.alpha)
        self.diamond.save(directory / "diamond")
        self.model.save(directory / "model")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> GoBlend:
        directory = Path(directory)
        method = cls._from_manifest(directory)
        method.alpha = json.loads((directory / "method.json").read_text())["alpha"]
        method.diamond, method.model = DiamondScore.load(directory / "diamond"), load_method(directory / "model")
        return method
