"""The LightningModule: one multi-task model, one masked multi-task loss, AdamW with a per-step schedule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig

from biotune.tasks import TaskSpec
from biotune.train.optim import build_optimizer, build_scheduler, param_groups


def scores_from_logits(tasks: Sequence[TaskSpec], logits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Probabilities per task: sigmoid (binary, multi-label), softmax (multi-class), identity (regression)."""
    out = {}
    for t in tasks:
        z = logits[t.name].float()
        if t.kind in ("binary", "multilabel"):
            out[t.name] = torch.sigmoid(z)
        elif t.kind == "multiclass":
            out[t.name] = torch.softmax(z, dim=-1)
        else:
            out[t.name] = z
    return out


class TaskModule(L.LightningModule):
    """Trains ``model`` (a ``SequenceModel``) on ``loss`` (a ``MultiTaskLoss``).

    ``optim`` holds ``head_lr, backbone_lr, layer_decay, weight_decay, betas, eps, warmup_ratio,
    schedule``. The scheduler is stepped every optimiser step; Lightning's ``estimated_stepping_batches``
    already divides by gradient accumulation.
    """

    def __init__(self, model: torch.nn.Module, loss: torch.nn.Module, tasks: Sequence[TaskSpec], optim: DictConfig | dict):
        super().__init__()
        self.model = model
        self.loss = loss
        self.tasks = list(tasks)
        self.optim = dict(optim)

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model(inputs)

    def _step(self, batch: dict[str, Any], stage: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.model(batch["inputs"])
        total, per_task = self.loss(logits, batch["targets"], batch["masks"])
        n = len(batch["index"])
        self.log(f"{stage}/loss", total, on_step=stage == "train", on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        for name, value in per_task.items():
            self.log(f"{stage}/{name}/loss", value, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        return total, logits

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[0]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        total, logits = self._step(batch, "valid")
        return {"loss": total, "logits": logits}

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        return scores_from_logits(self.tasks, self.model(batch["inputs"]))

    def configure_optimizers(self):
        o = self.optim
        groups = self.model.param_groups()
        optimizer = build_optimizer(
            param_groups(
                groups["head"],
                groups["backbone"],
                self.model.backbone_layers(),
                head_lr=o["head_lr"],
                backbone_lr=o["backbone_lr"],
                layer_decay=o.get("layer_decay", 1.0),
                weight_decay=o.get("weight_decay", 0.01),
            ),
            betas=o.get("betas", (0.9, 0.999)),
            eps=o.get("eps", 1e-8),
        )
        scheduler = build_scheduler(
            optimizer,
            total_steps=int(self.trainer.estimated_stepping_batches),
            warmup_ratio=o.get("warmup_ratio", 0.0),
            schedule=o.get("schedule", "cosine"),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}
