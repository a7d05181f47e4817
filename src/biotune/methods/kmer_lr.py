"""k-mer composition + logistic regression: the alignment-free, non-deep reference.

A protein becomes its k-mer frequency vector (``k`` in ``[k_min, k_max]``, counted by scikit-learn's
character n-gram ``CountVectorizer`` fitted on the training fold, rows L1-normalised then scaled per
feature); one scikit-learn model per task is fitted on the records labelled for that task: logistic
regression for binary and multi-class tasks, one-vs-rest logistic regression for multi-label tasks
and ridge regression for regression tasks. A task with a single class in training predicts its
prior (``DummyClassifier``). Every record is scored (status ``ok``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler, normalize

from biotune.data.records import Record
from biotune.methods.base import STATUS_OK, Method, Predictions, register_method
from biotune.tasks import TaskSpec

MODELS_FILE = "models.joblib"


def _l1_rows(x):
    return normalize(x, norm="l1")


@register_method
class KmerLogReg(Method):
    """k-mer frequencies → one logistic-regression model per task (C, class weights, k range configurable)."""

    name = "kmer_lr"

    def __init__(
        self,
        k_min: int = 1,
        k_max: int = 3,
        C: float = 0.1,
        class_weight: str | None = "balanced",
        max_iter: int = 2000,
        seed: int = 0,
        **params: Any,
    ):
        if not 1 <= k_min <= k_max:
            raise ValueError(f"need 1 <= k_min <= k_max, got k_min={k_min}, k_max={k_max}")
        super().__init__(k_min=k_min, k_max=k_max, C=C, class_weight=class_weight, max_iter=max_iter, seed=seed, **params)
        self.features: Pipeline | None = None
        self.models: dict[str, Any] = {}

    def _featurizer(self) -> Pipeline:
        p = self.params
        return make_pipeline(
            CountVectorizer(analyzer="char", ngram_range=(p["k_min"], p["k_max"]), lowercase=False, dtype=np.float64),
            FunctionTransformer(_l1_rows, accept_sparse=True),
            StandardScaler(with_mean=False),
        )

    def _estimator(self, task: TaskSpec, y: np.ndarray) -> Any:
        p = self.params
        if task.kind == "regression":
            return Ridge(alpha=1.0 / p["C"])
        if task.kind != "multilabel" and len(np.unique(y)) < 2:
            return DummyClassifier(strategy="prior")
        lr = LogisticRegression(C=p["C"], class_weight=p["class_weight"], max_iter=p["max_iter"], random_state=p["seed"])
        return OneVsRestClassifier(lr) if task.kind == "multilabel" else lr

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> KmerLogReg:
        if not train:
            raise ValueError("kmer_lr needs at least one training record")
        self.tasks = list(tasks)
        self.features = self._featurizer().fit([r.sequence for r in train])
        x = self.features.transform([r.sequence for r in train])
        self.models = {}
        for t in self.tasks:
            y, mask = t.encode([r.label(t.name) for r in train])
            if mask.sum() == 0:
                raise ValueError(f"task {t.name!r}: no labelled training record")
            self.models[t.name] = self._estimator(t, y[mask]).fit(x[mask], y[mask])
        return self

    def predict(self, records: Sequence[Record]) -> Predictions:
        if self.features is None:
            raise RuntimeError("kmer_lr is not fitted: call fit() or load() first")
        x = self.features.transform([r.sequence for r in records])
        scores = {t.name: self._scores(t, self.models[t.name], x) for t in self.tasks}
        return Predictions(ids=[r.id for r in records], scores=scores, status=[STATUS_OK] * len(records))

    @staticmethod
    def _scores(task: TaskSpec, model: Any, x) -> np.ndarray:
        if task.kind == "regression":
            return model.predict(x).astype(float)
        proba = model.predict_proba(x)
        if task.kind == "multilabel":
            return proba
        full = np.zeros((x.shape[0], 2 if task.kind == "binary" else task.n_outputs))
        full[:, model.classes_.astype(int)] = proba
        return full[:, 1] if task.kind == "binary" else full

    def save(self, directory: str | Path) -> Path:
        return self._save_state(directory, MODELS_FILE, {"features": self.features, "models": self.models})

    @classmethod
    def load(cls, directory: str | Path) -> KmerLogReg:
        method, state = cls._load_state(directory, MODELS_FILE)
        method.features, method.models = state["features"], state["models"]
        return method
