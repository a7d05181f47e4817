"""Lightning callbacks: whole-validation-set metrics at epoch end, and early stopping/checkpointing on them.

Metrics such as macro-F1 and AUROC are not averages of per-batch values: :class:`ValidationMetrics`
keeps every validation score of the epoch, gathers them across processes (de-duplicating the rows
that a distributed sampler repeats), and computes the metrics once over the whole validation set
with :func:`biotune.evaluate.metrics.task_metrics`. Logged names are ``valid/<task>/<metric>``,
plus ``valid/mean_f1`` (mean of each classification task's F1 / macro-F1) for multi-task runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from biotune.evaluate.metrics import task_metrics
from biotune.tasks import TaskSpec

#: Metrics for which smaller is better (early-stopping mode ``auto``).
MINIMISED = ("loss", "mae", "rmse", "hamming_loss")
F1_OF_KIND = {"binary": "f1", "multiclass": "macro_f1", "multilabel": "macro_f1"}


def scalar_metrics(tasks: Sequence[TaskSpec], targets: dict, masks: dict, scores: dict[str, np.ndarray]) -> dict[str, float]:
    """Flat ``{<task>/<metric>: value}`` of the scalar metrics of every task, plus ``mean_f1``."""
    out: dict[str, float] = {}
    f1s = []
    for t in tasks:
        if not masks[t.name].any():
            continue
        metrics = task_metrics(t, targets[t.name], masks[t.name], scores[t.name])
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and k not in ("n", "n_pos"):
                out[f"{t.name}/{k}"] = float(v)
        if t.kind in F1_OF_KIND:
            f1s.append(metrics[F1_OF_KIND[t.kind]])
    if f1s:
        out["mean_f1"] = float(np.nanmean(f1s)) if not all(math.isnan(f) for f in f1s) else float("nan")
    return out


def monitor_mode(monitor: str, mode: str = "auto") -> str:
    """``min`` for losses and errors, ``max`` otherwise (unless ``mode`` says)."""
    if mode != "auto":
        return mode
    return "min" if monitor.rsplit("/", 1)[-1] in MINIMISED else "max"


class ValidationMetrics(Callback):
    """Collects validation scores over the epoch and logs whole-set metrics at its end.

    ``to_scores(logits) -> {task: np.ndarray}`` turns a batch's model output into probabilities;
    ``targets``/``masks`` are those of the validation split, indexed by the batch ``index``.
    ``history`` keeps one dict of logged values per epoch (for plots).
    """

    def __init__(self, tasks: Sequence[TaskSpec], targets: dict, masks: dict, to_scores):
        self.tasks = list(tasks)
        self.targets, self.masks = targets, masks
        self.to_scores = to_scores
        self.history: list[dict[str, float]] = []
        self._index: list[torch.Tensor] = []
        self._scores: list[dict[str, torch.Tensor]] = []

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._index, self._scores = [], []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._index.append(batch["index"].detach())
        self._scores.append({k: v.detach().float() for k, v in outputs["logits"].items()})

    def on_validation_epoch_end(self, trainer, pl_module: L.LightningModule) -> None:
        if not self._index:
            return
        index = self._gather(pl_module, torch.cat(self._index)).cpu().numpy()
        logits = {t.name: self._gather(pl_module, torch.cat([s[t.name] for s in self._scores])) for t in self.tasks}
        index, first = np.unique(index, return_index=True)
        scores = {k: v.numpy()[first] for k, v in self.to_scores(logits).items()}
        targets = {k: v[index] for k, v in self.targets.items()}
        masks = {k: v[index] for k, v in self.masks.items()}
        values = {f"valid/{k}": v for k, v in scalar_metrics(self.tasks, targets, masks, scores).items()}
        for name, value in values.items():
            pl_module.log(name, value, prog_bar=name == "valid/mean_f1", sync_dist=True)  # same value on every rank

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        logged = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("train/", "valid/"))}
        self.history.append({"epoch": trainer.current_epoch, **logged})

    @staticmethod
    def _gather(pl_module: L.LightningModule, x: torch.Tensor) -> torch.Tensor:
        if pl_module.trainer.world_size > 1:
            x = pl_module.all_gather(x)
            x = x.reshape(-1, *x.shape[2:])
        return x.cpu()


def early_stopping(monitor: str, mode: str, patience: int, min_delta: float = 0.0) -> EarlyStopping:
    return EarlyStopping(monitor=monitor, mode=monitor_mode(monitor, mode), patience=patience, min_delta=min_delta, check_finite=False)


def best_checkpoint(dirpath: str, monitor: str, mode: str) -> ModelCheckpoint:
    """Keeps the best epoch's weights (by ``monitor``) as ``best.ckpt`` for restoring after training."""
    return ModelCheckpoint(
        dirpath=dirpath,
        filename="best",
        monitor=monitor,
        mode=monitor_mode(monitor, mode),
        save_top_k=1,
        save_weights_only=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )


def restore_best(trainer: L.Trainer, module: L.LightningModule) -> dict[str, Any]:
    """Load the best checkpoint's weights back into ``module``; returns ``{path, score}``."""
    ckpt = trainer.checkpoint_callback
    if ckpt is None or not ckpt.best_model_path:
        return {"path": None, "score": None}
    state = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=False)
    module.load_state_dict(state["state_dict"])
    score = ckpt.best_model_score
    return {"path": ckpt.best_model_path, "score": None if score is None else float(score)}
