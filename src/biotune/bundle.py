"""A trained model as a directory that is enough to predict (after HF's ``save_pretrained``).

Layout::

    config.yaml      the resolved training config (backbone by reference: hub id / directory / preset
                     + random_init + seed; never the backbone weights unless they were trained)
    tasks.json       task names, kinds and class vocabularies, in output order
    thresholds.json  per-task decision thresholds tuned on the validation split
    model/           SequenceModel.save_trainable: head weights + LoRA adapter, or full weights
    versions.json    biotune, torch, transformers, peft, lightning versions at save time

:func:`load_bundle` rebuilds the model from the config and loads the trainable weights, so it gives
the same predictions as the model that was saved.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from biotune.data.records import Record
from biotune.errors import InputError
from biotune.tasks import TaskSpec

CONFIG_FILE = "config.yaml"
TASKS_FILE = "tasks.json"
THRESHOLDS_FILE = "thresholds.json"
MODEL_DIR = "model"
VERSIONS_FILE = "versions.json"
VERSIONED = ("biotune", "torch", "transformers", "peft", "lightning")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


@dataclass
class Bundle:
    """A loaded bundle: config, tasks, model (eval mode) and tuned thresholds."""

    cfg: DictConfig
    tasks: list[TaskSpec]
    model: torch.nn.Module
    thresholds: dict[str, list[float]] = field(default_factory=dict)

    @property
    def random_weights(self) -> bool:
        return bool(self.cfg.backbone.get("random_init", False))

    def predict_scores(self, records: Sequence[Record], batch_size: int = 64) -> dict[str, np.ndarray]:
        from biotune.train.fit import predict_scores

        return predict_scores(self.model, self.tasks, records, batch_size)

    def save(self, directory: str | Path) -> Path:
        return save_bundle(directory, self.cfg, self.tasks, self.model, self.thresholds)


def save_bundle(directory: str | Path, cfg: DictConfig, tasks: Sequence[TaskSpec], model, thresholds: dict[str, list[float]]) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(OmegaConf.to_yaml(cfg, resolve=True))
    (directory / TASKS_FILE).write_text(json.dumps([t.to_dict() for t in tasks], indent=2) + "\n")
    (directory / THRESHOLDS_FILE).write_text(json.dumps(thresholds, indent=2, sort_keys=True) + "\n")
    (directory / VERSIONS_FILE).write_text(json.dumps(package_versions(), indent=2, sort_keys=True) + "\n")
    model.save_trainable(directory / MODEL_DIR)
    return directory


def load_bundle(directory: str | Path) -> Bundle:
    """Rebuild the model of a bundle (the backbone from its reference, then the saved trainable weights)."""
    from biotune.models.model import build_model

    directory = Path(directory)
    for name in (CONFIG_FILE, TASKS_FILE, MODEL_DIR):
        if not (directory / name).exists():
            raise InputError(f"not a biotune bundle: {name} is missing", path=directory)
    cfg = OmegaConf.load(directory / CONFIG_FILE)
    tasks = [TaskSpec.from_dict(t) for t in json.loads((directory / TASKS_FILE).read_text())]
    thresholds_path = directory / THRESHOLDS_FILE
    thresholds = json.loads(thresholds_path.read_text()) if thresholds_path.exists() else {}
    model = build_model(cfg, tasks)
    model.load_trainable(directory / MODEL_DIR)
    return Bundle(cfg, tasks, model.eval(), thresholds)
