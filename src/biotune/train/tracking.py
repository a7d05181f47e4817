"""MLflow tracking in a local store: parameters, per-epoch metrics, plots and the resolved config.

The default store is the MLflow file store under ``./mlruns`` (``tracking.uri``; any MLflow URI such
as ``sqlite:///mlflow.db`` works). MLflow 3 keeps the file store in maintenance mode behind an
opt-in flag, which :func:`mlflow_logger` sets for ``file:`` URIs. Runs whose ESM-2 backbone has
random weights are tagged ``random_weights=true`` so their numbers are never mistaken for ESM-2's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig, OmegaConf

from biotune.tasks import TaskSpec


def tracking_uri(uri: str) -> str:
    """Absolute form of a local store URI (a bare path or ``file:`` URI becomes ``file:<abs path>``)."""
    if "://" in uri and not uri.startswith("file:"):
        return uri
    path = uri[len("file:"):] if uri.startswith("file:") else uri
    return "file:" + str(Path(path).expanduser().resolve())


def mlflow_logger(cfg: DictConfig, run_name: str | None = None) -> MLFlowLogger:
    """An MLflow logger for one training or pretraining run (tags: random weights, backbone, fine-tune mode)."""
    uri = tracking_uri(str(cfg.tracking.uri))
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    backbone = cfg.backbone
    tags = {
        "backbone": str(backbone.get("checkpoint") or backbone.get("weights") or backbone.name),
        "finetune": str(OmegaConf.select(cfg, "finetune.mode", default="" if "finetune" in cfg else "pretrain")),
        "random_weights": str(bool(backbone.get("random_init", False))).lower(),
    }
    return MLFlowLogger(
        experiment_name=str(cfg.tracking.experiment),
        run_name=run_name or cfg.tracking.get("run_name"),
        tracking_uri=uri,
        tags=tags,
    )


def log_config(logger: MLFlowLogger, cfg: DictConfig) -> None:
    """Every resolved config value as a parameter, and the resolved config as ``config.yaml``."""
    logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    logger.experiment.log_text(logger.run_id, OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")


def log_metrics(logger: MLFlowLogger, metrics: dict[str, float], prefix: str) -> None:
    finite = {f"{prefix}/{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and np.isfinite(v)}
    logger.log_metrics(finite)


def log_artifact(logger: MLFlowLogger, path: str | Path, artifact_dir: str | None = None) -> None:
    path = Path(path)
    client, run = logger.experiment, logger.run_id
    if path.is_dir():
        client.log_artifacts(run, str(path), artifact_dir)
    else:
        client.log_artifact(run, str(path), artifact_dir)


def plot_history(history: Sequence[dict[str, float]], path: str | Path) -> Path | None:
    """Per-epoch curves: training/validation loss on the left, headline validation metrics on the right
    (F1 / macro-F1 per task, AUPRC of binary tasks, the multi-task mean F1)."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    keys = sorted({k for h in history for k in h if k != "epoch"})
    losses = [k for k in keys if k in ("train/loss_epoch", "valid/loss")]
    scores = [k for k in keys if k.startswith("valid/") and k.endswith(("/f1", "/macro_f1", "/auprc", "mean_f1"))]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, group, title in ((axes[0], losses, "loss"), (axes[1], scores, "validation metrics")):
        for k in group:
            ax.plot(epochs, [h.get(k, np.nan) for h in history], marker="o", label=k)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        if group:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_pr_curves(tasks: Sequence[TaskSpec], targets: dict, masks: dict, scores: dict, path: str | Path) -> Path | None:
    """Precision-recall curves of the binary tasks and each multi-label label with positives."""
    from sklearn.metrics import PrecisionRecallDisplay

    curves = []
    for t in tasks:
        m = masks[t.name]
        if t.kind == "binary" and targets[t.name][m].sum() > 0:
            curves.append((t.name, targets[t.name][m], scores[t.name][m]))
        elif t.kind == "multilabel":
            for j, c in enumerate(t.classes):
                y = targets[t.name][m][:, j]
                if y.sum() > 0:
                    curves.append((f"{t.name}:{c}", y, scores[t.name][m][:, j]))
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, y, s in curves:
        PrecisionRecallDisplay.from_predictions(y, s, name=name, ax=ax)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def flat_metrics(metrics: dict[str, dict[str, Any]]) -> dict[str, float]:
    """``{task: {metric: value}}`` → ``{task/metric: value}`` keeping scalars only."""
    return {f"{t}/{k}": float(v) for t, m in metrics.items() for k, v in m.items() if isinstance(v, (int, float))}
