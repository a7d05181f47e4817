"""Train one model on in-memory records: the core shared by ``biotune train`` and the PLM/CNN methods.

:func:`fit` builds the model and the masked multi-task loss from a resolved config, runs the
Lightning loop (whole-set validation metrics, early stopping, best checkpoint), restores the best
weights and tunes per-label decision thresholds on the validation split. :func:`predict_scores`
turns records into per-task probabilities. Heads over a frozen backbone with a fixed pooling train
on embeddings read from the embedding cache, so a sweep never runs the backbone twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from biotune.data.records import Record
from biotune.embed.cache import default_cache_path
from biotune.evaluate.thresholds import tune_thresholds
from biotune.tasks import TaskSpec
from biotune.train.callbacks import ValidationMetrics, best_checkpoint, early_stopping, restore_best
from biotune.train.datamodule import (
    SequenceDataModule,
    SequenceExamples,
    build_augmenter,
    prediction_loader,
)
from biotune.train.module import TaskModule, scores_from_logits


@dataclass
class FitResult:
    """A trained model with what training learned about it."""

    model: torch.nn.Module
    tasks: list[TaskSpec]
    thresholds: dict[str, list[float]]
    best_score: float | None
    best_epoch: int | None
    history: list[dict[str, float]] = field(default_factory=list)
    trainer: L.Trainer | None = None


def resolve_precision(precision: Any) -> Any:
    """``auto`` → ``bf16-mixed`` where the accelerator supports bf16 (CUDA, or a CPU with AVX512-BF16/AMX), else ``32-true``."""
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    cpu_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return "bf16-mixed" if cpu_bf16 else "32-true"


def trainer_kwargs(cfg: DictConfig) -> dict[str, Any]:
    kwargs = OmegaConf.to_container(cfg, resolve=True)
    kwargs["precision"] = resolve_precision(kwargs.get("precision", "auto"))
    return kwargs


#: Backbones whose frozen, pooled embeddings the head can train on from the cache, and the poolings.
CACHEABLE_POOLS = {"esm": ("mean", "cls"), "unirep": ("mean",)}


def uses_embedding_cache(cfg: DictConfig, tasks: Sequence[TaskSpec]) -> bool:
    """True when the head can train on cached embeddings: a frozen ESM backbone pooled by ``mean`` or
    ``cls``, or a frozen UniRep pooled by ``mean`` (= h_avg) — these commute with the linear layer
    mixes — and no head reading per-residue states."""
    from biotune.models.heads import head_class
    from biotune.models.model import head_config

    if cfg.backbone.name not in CACHEABLE_POOLS or cfg.finetune.get("mode", "frozen") != "frozen":
        return False
    rep = cfg.get("representation") or {}
    if rep.get("pool", "mean") not in CACHEABLE_POOLS[cfg.backbone.name] or rep.get("per_residue", False):
        return False
    return not any(head_class(head_config(cfg, t).name).needs_residues for t in tasks)


def cached_embeddings(cfg: DictConfig, records: Sequence[Record], cache_path: str | Path) -> np.ndarray:
    """Pooled embeddings ``(n, n_layers, D)`` of the records through the embedding cache (each sequence
    embedded once across runs), truncated like the model's own tokeniser so both paths agree."""
    from biotune.embed import embed_sequences

    b, r = cfg.backbone, cfg.representation
    unirep = b.name == "unirep"
    max_length = b.get("max_length", None if unirep else 1022)
    return embed_sequences(
        [x.id for x in records],
        [x.sequence for x in records],
        str(b.weights if unirep else b.checkpoint),
        layers=tuple(r.get("layers", (-1,))),
        pool=r.get("pool", "mean"),
        cache_path=str(cache_path),
        random_init=bool(b.get("random_init", False)),
        seed=int(b.get("seed", 0)),
        max_length=None if max_length is None else int(max_length),
        long_policy="truncate",
    )


def examples(cfg: DictConfig, records: Sequence[Record], tasks: Sequence[TaskSpec], *, train: bool, cache_path: Path | None) -> SequenceExamples:
    embeddings = cached_embeddings(cfg, records, cache_path) if cache_path is not None else None
    augment = build_augmenter(cfg.data.get("augment")) if train and embeddings is None else None
    return SequenceExamples(records, tasks, embeddings=embeddings, augment=augment, seed=int(cfg.seed))


def multitask_loss(cfg: DictConfig, tasks: Sequence[TaskSpec], train: SequenceExamples):
    """The configured loss per task (class counts from the training split, for classification tasks), weighted by
    ``loss.weights`` overridden by ``task.weights``, restricted to the trained tasks."""
    from biotune.losses import build_multitask_loss, count_classes

    names = {t.name for t in tasks}
    weights = {**(cfg.loss.get("weights") or {}), **(cfg.task.get("weights") or {})}
    loss_cfg = OmegaConf.to_container(cfg.loss, resolve=True)
    loss_cfg["weights"] = {k: float(v) for k, v in weights.items() if k in names}
    counts = {t.name: count_classes(t, train.targets[t.name], train.masks[t.name]) for t in tasks if t.kind != "regression"}
    return build_multitask_loss(OmegaConf.create(loss_cfg), tasks, counts)


def fit(
    cfg: DictConfig,
    train: Sequence[Record],
    valid: Sequence[Record] | None,
    tasks: Sequence[TaskSpec],
    output_dir: str | Path,
    *,
    logger: Any = False,
    callbacks: Sequence[L.Callback] = (),
) -> FitResult:
    """Train on ``train`` (early stopping and thresholds on ``valid``) and return the best model.

    ``callbacks`` are added to the trainer's (after the metric, checkpoint and early-stopping ones).
    """
    from biotune.models.model import build_model

    output_dir = Path(output_dir)
    tasks = list(tasks)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    if cfg.get("num_threads"):
        torch.set_num_threads(int(cfg.num_threads))
    model = build_model(cfg, tasks)
    cache = Path(cfg.data.get("embedding_cache") or default_cache_path()) if uses_embedding_cache(cfg, tasks) else None
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
    train_ex = examples(cfg, train, tasks, train=True, cache_path=cache)
    valid_ex = examples(cfg, valid, tasks, train=False, cache_path=cache) if valid else None
    module = TaskModule(model, multitask_loss(cfg, tasks, train_ex), tasks, cfg.optim)
    sampler_task = cfg.data.get("sampler_task") or tasks[-1].name
    datamodule = SequenceDataModule(
        train_ex,
        valid_ex,
        tokenize=model.tokenize,
        batch_size=int(cfg.data.batch_size),
        eval_batch_size=int(cfg.data.eval_batch_size),
        num_workers=int(cfg.data.num_workers),
        sampler=cfg.data.get("sampler"),
        sampler_labels=[r.label(sampler_task) for r in train],
        seed=int(cfg.seed),
    )
    extra, callbacks = list(callbacks), []
    metrics = None
    if valid_ex is not None:
        es = cfg.early_stopping
        metrics = ValidationMetrics(tasks, valid_ex.targets, valid_ex.masks, lambda logits: scores_from_logits(tasks, logits))
        callbacks = [metrics, best_checkpoint(str(output_dir / "checkpoints"), es.monitor, es.mode)]
        if es.patience is not None:
            callbacks.append(early_stopping(es.monitor, es.mode, int(es.patience), float(es.min_delta)))
    if logger:
        from lightning.pytorch.callbacks import LearningRateMonitor

        callbacks.append(LearningRateMonitor(logging_interval="step"))
    trainer = L.Trainer(
        **trainer_kwargs(cfg.trainer),
        callbacks=callbacks + extra,
        logger=logger,
        default_root_dir=str(output_dir),
        enable_checkpointing=valid_ex is not None,
        limit_val_batches=1.0 if valid_ex is not None else 0,
    )
    trainer.fit(module, datamodule=datamodule)
    best = restore_best(trainer, module)
    history = metrics.history if metrics is not None else []
    thresholds: dict[str, list[float]] = {}
    if valid_ex is not None:
        scores = predict_examples(model, tasks, valid_ex, int(cfg.data.eval_batch_size))
        thresholds = {t.name: tune_thresholds(t, valid_ex.targets[t.name], valid_ex.masks[t.name], scores[t.name]).tolist() for t in tasks}
    best_epoch = _best_epoch(history, cfg.early_stopping.monitor, best["score"])
    return FitResult(model, tasks, thresholds, best["score"], best_epoch, history, trainer)


def _best_epoch(history: list[dict[str, float]], monitor: str, score: float | None) -> int | None:
    if score is None:
        return None
    for row in history:
        if monitor in row and np.isclose(row[monitor], score):
            return int(row["epoch"])
    return None


@torch.no_grad()
def predict_examples(model: torch.nn.Module, tasks: Sequence[TaskSpec], ex: SequenceExamples, batch_size: int) -> dict[str, np.ndarray]:
    """Per-task probabilities for every example, in order (fp32, eval mode, on the model's device)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: dict[str, list[np.ndarray]] = {t.name: [] for t in tasks}
    tokenize = None if ex.embeddings is not None else model.tokenize
    for batch in prediction_loader(ex, tokenize, batch_size):
        inputs = {k: v.to(device) for k, v in batch["inputs"].items()}
        for name, s in scores_from_logits(tasks, model(inputs)).items():
            out[name].append(s.float().cpu().numpy())
    model.train(was_training)
    return {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in out.items()}


def predict_scores(model: torch.nn.Module, tasks: Sequence[TaskSpec], records: Sequence[Record], batch_size: int = 64) -> dict[str, np.ndarray]:
    """Per-task probabilities for raw records (the backbone runs on the sequences)."""
    return predict_examples(model, tasks, SequenceExamples(records, []), batch_size)


def predict_records(cfg: DictConfig, model: torch.nn.Module, tasks: Sequence[TaskSpec], records: Sequence[Record]) -> dict[str, np.ndarray]:
    """Per-task probabilities, through the embedding cache when the model trained on it (else raw sequences)."""
    embeddings = None
    if records and uses_embedding_cache(cfg, tasks):
        embeddings = cached_embeddings(cfg, records, cfg.data.get("embedding_cache") or default_cache_path())
    return predict_examples(model, tasks, SequenceExamples(records, [], embeddings=embeddings), int(cfg.data.eval_batch_size))
