"""Methods backed by the training engine: a Hydra experiment trained on the runner's fold, kept as a bundle.

A :class:`TrainedMethod` composes ``configs/train.yaml`` with ``experiment=<experiment>``, merges
``config`` (a nested mapping of training-config values, e.g. ``{trainer: {max_epochs: 5}}`` — the
runner's ``--set cnn.config.trainer.max_epochs=5``) and the seed, then :func:`biotune.train.fit.fit`
trains on the records it is given. The fitted state is a :class:`biotune.bundle.Bundle`; ``save``
writes the bundle plus ``method.json`` and ``load`` rebuilds it, giving identical predictions.
Frozen-backbone methods read embeddings through the embedding cache (``cache`` parameter, default
``$BIOTUNE_CACHE_DIR/embeddings.h5`` or ``~/.cache/biotune/embeddings.h5``), for training and
prediction alike, so folds and seeds never re-run the backbone on a sequence.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from omegaconf import DictConfig, OmegaConf

from biotune.bundle import Bundle, load_bundle
from biotune.data.records import Record
from biotune.methods.base import STATUS_OK, Method, Predictions
from biotune.tasks import TaskSpec


class TrainedMethod(Method):
    """Base of the engine-backed methods; subclasses set ``name`` and ``default_experiment``."""

    default_experiment: ClassVar[str]

    def __init__(self, experiment: str | None = None, config: Mapping[str, Any] | None = None, seed: int = 0, cache: str | None = None, **params: Any):
        super().__init__(experiment=experiment or self.default_experiment, config=dict(config or {}), seed=int(seed), cache=cache, **params)
        self.bundle: Bundle | None = None
        self._fit_info: dict[str, Any] = {}

    def training_config(self) -> DictConfig:
        """The resolved training config of this method (experiment + ``config`` + seed)."""
        from biotune.train.run import compose_config

        p = self.params
        cfg = compose_config([f"experiment={p['experiment']}"])
        cfg = OmegaConf.merge(cfg, OmegaConf.create(p["config"]))
        cfg.seed = p["seed"]
        if p["cache"]:
            cfg.data.embedding_cache = str(p["cache"])
        return cfg

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> TrainedMethod:
        from biotune.train.fit import fit

        if not train:
            raise ValueError(f"{self.name} needs at least one training record")
        self.tasks = list(tasks)
        cfg = self.training_config()
        with tempfile.TemporaryDirectory(prefix=f"biotune-{self.name}-") as work:
            result = fit(cfg, train, valid, self.tasks, work)
        self.bundle = Bundle(cfg, self.tasks, result.model.eval(), result.thresholds)
        self._fit_info = {"epochs_run": len(result.history), "best_epoch": result.best_epoch, "best_score": result.best_score,
                          "max_epochs": int(cfg.trainer.max_epochs)}  # fmt: skip
        return self

    def fit_info(self) -> dict[str, Any]:
        return self._fit_info

    def predict(self, records: Sequence[Record]) -> Predictions:
        from biotune.train.fit import predict_records

        if self.bundle is None:
            raise RuntimeError(f"{self.name}: call fit (or load) before predict")
        b = self.bundle
        scores = predict_records(b.cfg, b.model, b.tasks, records)
        return Predictions(ids=[r.id for r in records], scores=scores, status=[STATUS_OK] * len(records))

    def save(self, directory: str | Path) -> Path:
        if self.bundle is None:
            raise RuntimeError(f"{self.name}: nothing to save, call fit first")
        directory = self.bundle.save(directory)
        return self._write_manifest(directory, random_weights=self.bundle.random_weights)

    @classmethod
    def load(cls, directory: str | Path) -> TrainedMethod:
        manifest = json.loads((Path(directory) / "method.json").read_text())
        method = cls(**manifest["params"])
        method.bundle = load_bundle(directory)
        method.tasks = method.bundle.tasks
        return method
