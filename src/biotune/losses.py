"""Losses per task kind, class balancing, and the masked multi-task loss.

Classification losses share one form: a per-element cross-entropy (sigmoid for binary and
multilabel, softmax for multiclass), optionally modulated by the focal factor ``(1 − p_t)^γ``
(Lin et al. 2017), weighted by ``α`` and/or per-class weights, with label smoothing. ``γ = 0`` and
``α = None`` give plain BCE / CE. Class-balanced weights use the effective number of samples:
``w_c ∝ (1 − β) / (1 − β^n_c)`` (Cui et al. 2019), normalised to sum to the number of classes.
Regression: MSE, L1, Huber.

Losses compute in float32 whatever the autocast dtype of the logits. Every loss is called on
already-masked rows (``loss(logits, targets)``); :class:`MultiTaskLoss` applies the masks and
weights the tasks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from torch.nn import functional as F

from biotune.tasks import TaskSpec

CLASSIFICATION_LOSSES = ("bce", "ce", "focal", "class_balanced")
REGRESSION_LOSSES = ("mse", "l1", "huber")


def effective_number_weights(counts: Sequence[float] | np.ndarray, beta: float) -> np.ndarray:
    """Class weights ``(1 − β) / (1 − β^n_c)``, normalised to sum to the number of classes.

    ``β = 0`` gives equal weights; ``β → 1`` approaches inverse frequency. A class with no samples
    gets the largest weight of the others (it cannot be balanced from data).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"class-balanced beta must be in [0, 1), got {beta}")
    if counts.ndim != 1 or np.any(counts < 0):
        raise ValueError(f"class counts must be a 1-d array of numbers >= 0, got {counts.tolist()}")
    present = counts > 0
    if not present.any():
        raise ValueError("class-balanced loss needs at least one labelled example")
    weights = np.empty_like(counts)
    weights[present] = (1.0 - beta) / (1.0 - np.power(beta, counts[present]))
    weights[~present] = weights[present].max()
    return weights * len(counts) / weights.sum()


def count_classes(task: TaskSpec, targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Counts a class-balanced loss needs, from :meth:`TaskSpec.encode` output.

    binary: ``[n_negative, n_positive]``; multiclass: examples per class; multilabel: positives per class.
    """
    targets = np.asarray(targets)[np.asarray(mask, dtype=bool)]
    if task.kind == "binary":
        positives = float((targets > 0.5).sum())
        return np.array([len(targets) - positives, positives])
    if task.kind == "multiclass":
        return np.bincount(targets.astype(np.int64), minlength=len(task.classes)).astype(np.float64)
    if task.kind == "multilabel":
        return targets.sum(axis=0).astype(np.float64)
    raise ValueError(f"task {task.name!r}: class counts make no sense for a {task.kind} task")


def _alpha_tensor(alpha) -> Tensor | None:
    if alpha is None:
        return None
    return torch.as_tensor(alpha, dtype=torch.float32)


class SigmoidFocalLoss(nn.Module):
    """Binary / multilabel focal loss on logits ``(B,)`` or ``(B, k)`` with 0/1 targets.

    ``alpha`` weights positives (``1 − alpha`` the negatives); ``class_weights`` (binary: ``[neg, pos]``;
    multilabel: one per label, applied to that label's terms); ``label_smoothing`` pulls targets to 0.5.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = None,
        label_smoothing: float = 0.0,
        class_weights: Tensor | None = None,
        multilabel: bool = False,
    ):
        super().__init__()
        self.gamma = float(gamma)
        self.alpha = None if alpha is None else float(alpha)
        self.label_smoothing = float(label_smoothing)
        self.multilabel = multilabel
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        logits = logits.float()
        targets = targets.to(logits.dtype)
        smoothed = targets * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        loss = F.binary_cross_entropy_with_logits(logits, smoothed, reduction="none")
        if self.gamma:
            p = torch.sigmoid(logits)
            p_t = p * targets + (1.0 - p) * (1.0 - targets)
            loss = loss * (1.0 - p_t).pow(self.gamma)
        if self.alpha is not None:
            loss = loss * (self.alpha * targets + (1.0 - self.alpha) * (1.0 - targets))
        if self.class_weights is not None:
            weights = self.class_weights.to(logits.dtype)
            loss = loss * (weights if self.multilabel else weights[targets.round().long()])
        return loss.mean()


class SoftmaxFocalLoss(nn.Module):
    """Multiclass focal loss on logits ``(B, k)`` with class-index targets ``(B,)``.

    ``−Σ_c q_c · α_c · (1 − p_c)^γ · log p_c`` with ``q`` the (label-smoothed) one-hot target;
    ``alpha`` is a scalar or one value per class; ``class_weights`` weight each example by its class.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        class_weights: Tensor | None = None,
    ):
        super().__init__()
        self.gamma = float(gamma)
        self.label_smoothing = float(label_smoothing)
        self.register_buffer("alpha", _alpha_tensor(alpha), persistent=False)
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        targets = targets.long()
        n_classes = logits.shape[-1]
        log_p = torch.log_softmax(logits.float(), dim=-1)
        q = F.one_hot(targets, n_classes).to(log_p.dtype)
        q = q * (1.0 - self.label_smoothing) + self.label_smoothing / n_classes
        terms = -q * log_p
        if self.gamma:
            terms = terms * (1.0 - log_p.exp()).pow(self.gamma)
        if self.alpha is not None:
            terms = terms * self.alpha.to(log_p.dtype)
        loss = terms.sum(dim=-1)
        if self.class_weights is not None:
            loss = loss * self.class_weights.to(log_p.dtype)[targets]
        return loss.mean()


class RegressionLoss(nn.Module):
    """MSE, L1 or Huber (``delta``) on ``(B,)`` predictions."""

    def __init__(self, name: str = "mse", delta: float = 1.0):
        super().__init__()
        if name not in REGRESSION_LOSSES:
            raise ValueError(f"unknown regression loss {name!r}; expected one of {REGRESSION_LOSSES}")
        self.name = name
        self.delta = float(delta)

    def forward(self, predictions: Tensor, targets: Tensor) -> Tensor:
        predictions = predictions.float()
        targets = targets.to(predictions.dtype)
        if self.name == "mse":
            return F.mse_loss(predictions, targets)
        if self.name == "l1":
            return F.l1_loss(predictions, targets)
        return F.huber_loss(predictions, targets, delta=self.delta)


def task_loss_config(cfg: DictConfig, task: TaskSpec) -> DictConfig:
    """``cfg`` merged with its per-task override ``cfg.per_task.<task>`` when there is one."""
    override = OmegaConf.select(cfg, f"per_task.{task.name}", default=None)
    return OmegaConf.merge(cfg, override) if override is not None else cfg


def build_loss(cfg: DictConfig, task: TaskSpec, class_counts: np.ndarray | None = None) -> nn.Module:
    """The loss ``cfg.name`` for ``task`` (see ``configs/loss/``); called as ``loss(logits, targets)``.

    ``bce`` and ``ce`` both mean "the plain cross-entropy of this task kind" (sigmoid for binary and
    multilabel, softmax for multiclass). A regression task under a classification loss uses
    ``cfg.regression`` (default ``mse``). ``class_balanced`` needs ``class_counts`` (see
    :func:`count_classes`) and applies its effective-number weights (``cfg.beta``) to ``cfg.base``
    (``focal``, ``bce`` or ``ce``).
    """
    cfg = task_loss_config(cfg, task)
    name = cfg.get("name", "bce")
    if task.kind == "regression":
        if name in CLASSIFICATION_LOSSES:
            name = cfg.get("regression", "mse")
        return RegressionLoss(name, delta=cfg.get("delta", 1.0))
    if name in REGRESSION_LOSSES:
        raise ValueError(f"task {task.name!r} ({task.kind}) cannot use the regression loss {name!r}")
    if name not in CLASSIFICATION_LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {CLASSIFICATION_LOSSES + REGRESSION_LOSSES}")
    weights = None
    if name == "class_balanced":
        if class_counts is None:
            raise ValueError(f"task {task.name!r}: the class_balanced loss needs the training class counts")
        weights = torch.as_tensor(effective_number_weights(class_counts, float(cfg.get("beta", 0.999))), dtype=torch.float32)
        name = cfg.get("base", "focal")
    gamma = float(cfg.get("gamma", 2.0)) if name == "focal" else 0.0
    alpha = cfg.get("alpha") if name == "focal" else None
    if isinstance(alpha, (list, tuple)) or OmegaConf.is_list(alpha):
        alpha = list(alpha)
    smoothing = float(cfg.get("label_smoothing", 0.0))
    if task.kind == "multiclass":
        return SoftmaxFocalLoss(gamma=gamma, alpha=alpha, label_smoothing=smoothing, class_weights=weights)
    if isinstance(alpha, list):
        raise ValueError(f"task {task.name!r}: a {task.kind} focal alpha is one number (weight of positives)")
    return SigmoidFocalLoss(
        gamma=gamma, alpha=alpha, label_smoothing=smoothing, class_weights=weights, multilabel=task.kind == "multilabel"
    )


class MultiTaskLoss(nn.Module):
    """Weighted sum of per-task losses over the rows labelled for each task.

    ``forward(logits, targets, masks)`` -> ``(total, {task: loss})``. A task with no labelled row
    in the batch contributes an exact 0 (still attached to the graph, never NaN).
    """

    def __init__(self, losses: dict[str, nn.Module], weights: dict[str, float] | None = None):
        super().__init__()
        self.losses = nn.ModuleDict(losses)
        weights = dict(weights or {})
        unknown = set(weights) - set(losses)
        if unknown:
            raise ValueError(f"loss weights for unknown tasks: {sorted(unknown)}")
        self.weights = {name: float(weights.get(name, 1.0)) for name in losses}

    def forward(
        self, logits: dict[str, Tensor], targets: dict[str, Tensor], masks: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        per_task = {}
        total = None
        for name, loss_fn in self.losses.items():
            mask = masks[name].bool()
            if mask.any():
                value = loss_fn(logits[name][mask], targets[name][mask])
            else:
                value = logits[name].sum() * 0.0
            per_task[name] = value
            weighted = self.weights[name] * value
            total = weighted if total is None else total + weighted
        return total, per_task


def build_multitask_loss(
    cfg: DictConfig,
    tasks: Sequence[TaskSpec],
    class_counts: dict[str, np.ndarray] | None = None,
    weights: dict[str, float] | None = None,
) -> MultiTaskLoss:
    """One loss per task from the loss config (``class_counts`` per task for class_balanced).

    Task weights: ``weights`` when given, else ``cfg.weights`` (task -> weight), else 1 for every task.
    """
    unknown = sorted(set(cfg.get("per_task") or {}) - {t.name for t in tasks})
    if unknown:
        raise ValueError(f"loss.per_task names unknown tasks {unknown}; tasks are {[t.name for t in tasks]}")
    counts = class_counts or {}
    losses = {task.name: build_loss(cfg, task, counts.get(task.name)) for task in tasks}
    if weights is None and cfg.get("weights"):
        weights = OmegaConf.to_container(cfg.weights, resolve=True)
    return MultiTaskLoss(losses, weights)
