"""A small MLP head on cached per-protein embeddings, with every option of the imbalance toolkit.

This method exists to measure those options one at a time (``benchmarks/imbalance_ablation.py``):
each is off by default, so ``embedding_head`` with one option switched on is a single-variable
comparison against plain ``embedding_head``.

Embeddings come from :func:`biotune.embed.embed_sequences` (one layer, mean pooling, optional HDF5
cache shared across runs). Offline, the backbone is ESM-2 with **random weights**
(``random_init=True``, fixed ``backbone_seed``): numbers from it say nothing about real ESM-2.
``backbone="kmer"`` swaps in the amino-acid 1…``kmer_max``-mer composition
(:mod:`biotune.data.composition`), a fixed feature space that does carry signal offline.

Per task, one head (standardise → Linear → ReLU → Dropout → Linear) is trained with AdamW on the
records labelled for that task, early-stopped on the unweighted validation loss (best weights
restored), single-threaded by default (``num_threads``; see :mod:`biotune.threads`). Options:

- ``oversample``: ``none`` | ``smote`` | ``wgan`` — synthetic training embeddings for the rare
  classes (:mod:`biotune.imbalance.smote`, :mod:`biotune.imbalance.wgan`), fitted on the training
  fold only; a quality-control report (JSON + PNG, :mod:`biotune.imbalance.quality`) is written per
  task to ``quality_dir/train-<digest of the training ids>_seed<seed>/`` (one directory per fold and
  seed of a benchmark; if ``quality_dir`` is unset, to a temporary directory copied by :meth:`save`).
- ``sampler``: ``none`` | ``class_balanced`` | ``sqrt`` (:mod:`biotune.imbalance.samplers`).
- ``class_weights``: ``none`` | ``inverse`` | ``sqrt_inverse`` | ``effective_number`` (``cb_beta``),
  applied through the engine's cross-entropy losses (:mod:`biotune.losses`).
- ``calibration``: ``none`` | ``platt`` | ``isotonic``, fitted on the validation split.

Regression tasks train on standardised targets (mean and sd of the training fold, undone at predict)
with the engine's ``regression_loss`` (``mse`` | ``l1`` | ``huber`` with ``huber_delta``,
:class:`biotune.losses.RegressionLoss`); the class-imbalance options do not apply to them.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from biotune.data.composition import kmer_composition
from biotune.data.records import Record
from biotune.evaluate.calibration import CALIBRATION_METHODS, Calibrator
from biotune.imbalance.frequency import WEIGHT_SCHEMES, class_weights
from biotune.imbalance.samplers import SAMPLERS, build_sampler
from biotune.threads import limited_threads
from biotune.losses import REGRESSION_LOSSES, RegressionLoss, SigmoidFocalLoss, SoftmaxFocalLoss, count_classes
from biotune.methods.base import STATUS_OK, Method, Predictions, register_method
from biotune.tasks import TaskSpec

OVERSAMPLERS = ("none", "smote", "wgan")
KMER_BACKBONE = "kmer"
HEADS_FILE = "heads.joblib"
QUALITY_DIR = "quality"


def _choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"embedding_head: {name}={value!r}; expected one of {list(allowed)}")


def class_names(task: TaskSpec, targets: np.ndarray) -> np.ndarray:
    """Readable class of each row: the class name, the ``+``-joined label set, or negative/positive."""
    if task.kind == "multiclass":
        return np.asarray(task.classes, dtype=object)[targets.astype(int)]
    if task.kind == "multilabel":
        return np.array(["+".join(c for c, on in zip(task.classes, row) if on) or "none" for row in targets], dtype=object)
    return np.where(targets > 0.5, "positive", "negative").astype(object)


class MLPHead(nn.Module):
    def __init__(self, dim: int, hidden: int, n_out: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_out))
        self.n_out = n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.n_out == 1 else out


@register_method
class EmbeddingHead(Method):
    """MLP head on frozen ESM-2 embeddings with optional SMOTE/WGAN, samplers, class weights, calibration."""

    name = "embedding_head"

    def __init__(
        self,
        backbone: str = "esm2_t6_8M",
        random_init: bool = True,
        backbone_seed: int = 0,
        layer: int = -1,
        pool: str = "mean",
        cache_path: str | None = None,
        kmer_max: int = 2,
        hidden: int = 256,
        dropout: float = 0.2,
        epochs: int = 60,
        patience: int = 8,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        oversample: str = "none",
        oversample_target: float = 0.5,
        oversample_max_ratio: float = 10.0,
        smote_k: int = 5,
        wgan: dict[str, Any] | None = None,
        sampler: str = "none",
        class_weights: str = "none",
        cb_beta: float = 0.999,
        calibration: str = "none",
        regression_loss: str = "mse",
        huber_delta: float = 1.0,
        quality_dir: str | None = None,
        projection: str = "tsne",
        num_threads: int | None = 1,
        seed: int = 0,
        **params: Any,
    ):
        super().__init__(
            backbone=backbone, random_init=random_init, backbone_seed=backbone_seed, layer=layer, pool=pool,
            cache_path=cache_path, kmer_max=kmer_max, hidden=hidden, dropout=dropout, epochs=epochs, patience=patience,
            batch_size=batch_size, lr=lr, weight_decay=weight_decay, oversample=oversample,
            oversample_target=oversample_target, oversample_max_ratio=oversample_max_ratio, smote_k=smote_k,
            wgan=dict(wgan or {}), sampler=sampler, class_weights=class_weights, cb_beta=cb_beta,
            calibration=calibration, regression_loss=regression_loss, huber_delta=huber_delta, quality_dir=quality_dir, projection=projection, num_threads=num_threads,
            seed=seed, **params,
        )  # fmt: skip
        self.heads: dict[str, dict[str, Any]] = {}
        self.quality: dict[str, dict[str, Any]] = {}
        self.generation_fit_ids: dict[str, list[str]] = {}
        self._quality_path: Path | None = None

    # -- embeddings -------------------------------------------------------------------------------
    def embed(self, records: Sequence[Record]) -> np.ndarray:
        """``(n, dim)`` per-protein features: ESM-2 embeddings (one layer, pooled, read from the cache when
        present) or, for ``backbone="kmer"``, the 1…``kmer_max``-mer composition."""
        from biotune.embed import embed_sequences

        p = self.params
        if p["backbone"] == KMER_BACKBONE:
            return kmer_composition([r.sequence for r in records], 1, p["kmer_max"])
        emb = embed_sequences(
            [r.id for r in records], [r.sequence for r in records], p["backbone"], layers=(p["layer"],), pool=p["pool"],
            cache_path=p["cache_path"], random_init=p["random_init"], seed=p["backbone_seed"],
        )  # fmt: skip
        return np.asarray(emb[:, 0, :], dtype=np.float32)

    # -- fit --------------------------------------------------------------------------------------
    def _validate(self, tasks: Sequence[TaskSpec]) -> None:
        p = self.params
        _choice("oversample", p["oversample"], OVERSAMPLERS)
        _choice("sampler", p["sampler"], sorted(SAMPLERS))
        _choice("class_weights", p["class_weights"], WEIGHT_SCHEMES)
        _choice("calibration", p["calibration"], CALIBRATION_METHODS)
        _choice("regression_loss", p["regression_loss"], REGRESSION_LOSSES)
        imbalance = {k: p[k] for k in ("oversample", "sampler", "class_weights", "calibration") if p[k] != "none"}
        for t in tasks:
            if t.kind == "regression" and imbalance:
                raise ValueError(f"embedding_head: task {t.name!r} is a regression task; {imbalance} apply to classification only")

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> EmbeddingHead:
        self._validate(tasks)
        if not train:
            raise ValueError("embedding_head needs at least one training record")
        self.tasks = list(tasks)
        x_train = self.embed(train)
        x_valid = self.embed(valid) if valid else None
        train_ids = np.array([r.id for r in train], dtype=object)
        digest = hashlib.sha1("\n".join(sorted(train_ids)).encode()).hexdigest()[:10]
        self._run_tag = f"train-{digest}_seed{self.params['seed']}"
        self._quality_path = None
        self.heads, self.quality, self.generation_fit_ids = {}, {}, {}
        for task in self.tasks:
            y, mask = task.encode([r.label(task.name) for r in train])
            if mask.sum() == 0:
                raise ValueError(f"task {task.name!r}: no labelled training record")
            yv = mv = None
            if x_valid is not None:
                yv, mv = task.encode([r.label(task.name) for r in valid])
            with limited_threads(self.params["num_threads"]):
                self.heads[task.name] = self._fit_task(task, x_train[mask], y[mask], train_ids[mask], x_valid, yv, mv)
        return self

    def _fit_task(self, task, x, y, ids, x_valid, y_valid, m_valid) -> dict[str, Any]:
        p = self.params
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        x_syn, y_syn = self._oversample(task, x, y, ids)
        x_fit, y_fit = np.vstack([x, x_syn]), np.concatenate([y, y_syn.astype(y.dtype)])
        valid = None
        if x_valid is not None and m_valid.sum() > 0:
            valid = ((x_valid[m_valid] - mean) / scale, y_valid[m_valid])
        y_mean, y_scale = (float(y.mean()), float(y.std()) or 1.0) if task.kind == "regression" else (0.0, 1.0)
        if valid is not None:
            valid = (valid[0], (valid[1] - y_mean) / y_scale)
        state = self._train_head(task, (x_fit - mean) / scale, (y_fit - y_mean) / y_scale, valid)
        head = {"mean": mean, "scale": scale, "state": state, "calibrator": None, "y_mean": y_mean, "y_scale": y_scale}
        if p["calibration"] != "none" and valid is not None:
            head["calibrator"] = Calibrator(p["calibration"], task.kind).fit(valid[1], self._forward(task, head, valid[0]))
        return head

    def _oversample(self, task: TaskSpec, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Synthetic training points for ``task`` (none unless ``oversample`` is set); writes the QC report."""
        p = self.params
        if p["oversample"] == "none":
            return np.empty((0, x.shape[1]), np.float32), y[:0]
        targets = y.astype(int) if task.kind != "multilabel" else y
        n_classes = task.n_outputs if task.kind == "multiclass" else 2 if task.kind == "binary" else None
        common = {"target": p["oversample_target"], "max_ratio": p["oversample_max_ratio"], "seed": p["seed"]}
        info: dict[str, Any] = {"oversample": p["oversample"], "task": task.name, "n_training_rows": len(x)}
        if p["oversample"] == "smote":
            from biotune.imbalance.smote import smote_oversample

            x_syn, y_syn = smote_oversample(x, targets, k_neighbors=p["smote_k"], **common)
            seen = ids
        else:
            from biotune.imbalance.wgan import WGANConfig, wgan_oversample

            x_syn, y_syn, model = wgan_oversample(x, targets, config=WGANConfig(**p["wgan"]), n_classes=n_classes, num_threads=None, **common)
            seen = ids[model.seen_rows]
            info["wgan_history"] = model.history
        self.generation_fit_ids[task.name] = [str(i) for i in seen]
        self._write_quality(task, x, targets, x_syn, y_syn, info)
        return x_syn, y_syn

    def _write_quality(self, task, x, y, x_syn, y_syn, info) -> None:
        from biotune.imbalance.quality import write_quality_report

        if self._quality_path is None:
            given = self.params["quality_dir"]
            self._quality_path = Path(given) / self._run_tag if given else Path(tempfile.mkdtemp(prefix="biotune_quality_"))
        self.quality[task.name] = write_quality_report(
            self._quality_path / f"{task.name}_{self.params['oversample']}", x, class_names(task, y), x_syn,
            class_names(task, y_syn), projection=self.params["projection"], seed=self.params["seed"], extra=info,
        )  # fmt: skip

    def _loss(self, task: TaskSpec, y: np.ndarray, weighted: bool) -> nn.Module:
        """The engine's cross-entropy of this task kind (γ = 0), with class weights when asked; for regression
        the engine's ``regression_loss``."""
        if task.kind == "regression":
            return RegressionLoss(self.params["regression_loss"], delta=self.params["huber_delta"])
        weights = None
        scheme = self.params["class_weights"]
        if weighted and scheme != "none":
            counts = count_classes(task, y, np.ones(len(y), dtype=bool))
            weights = torch.as_tensor(class_weights(counts, scheme, beta=self.params["cb_beta"]), dtype=torch.float32)
        if task.kind == "multiclass":
            return SoftmaxFocalLoss(gamma=0.0, class_weights=weights)
        return SigmoidFocalLoss(gamma=0.0, class_weights=weights, multilabel=task.kind == "multilabel")

    def _train_head(self, task: TaskSpec, x: np.ndarray, y: np.ndarray, valid) -> dict[str, torch.Tensor]:
        p = self.params
        torch.manual_seed(p["seed"])
        net = MLPHead(x.shape[1], p["hidden"], task.n_outputs, p["dropout"])
        target_dtype = torch.long if task.kind == "multiclass" else torch.float32
        data = TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=target_dtype))
        sampler = build_sampler(p["sampler"], y.astype(int) if y.ndim == 1 else y, seed=p["seed"])
        loader = DataLoader(data, batch_size=p["batch_size"], sampler=sampler)
        loss_fn, valid_loss = self._loss(task, y, weighted=True), self._loss(task, y, weighted=False)
        opt = torch.optim.AdamW(net.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        if valid is not None:
            xv, yv = torch.as_tensor(valid[0], dtype=torch.float32), torch.as_tensor(valid[1], dtype=target_dtype)
        best, best_state, stale = np.inf, copy.deepcopy(net.state_dict()), 0
        for _ in range(p["epochs"]):
            net.train()
            for xb, yb in loader:
                opt.zero_grad()
                loss_fn(net(xb), yb).backward()
                opt.step()
            if valid is None:
                best_state = copy.deepcopy(net.state_dict())
                continue
            net.eval()
            with torch.no_grad():
                value = float(valid_loss(net(xv), yv))
            if value < best - 1e-5:
                best, best_state, stale = value, copy.deepcopy(net.state_dict()), 0
            else:
                stale += 1
                if stale >= p["patience"]:
                    break
        return best_state

    # -- predict ----------------------------------------------------------------------------------
    def _forward(self, task: TaskSpec, head: dict[str, Any], x_std: np.ndarray) -> np.ndarray:
        net = MLPHead(x_std.shape[1], self.params["hidden"], task.n_outputs, self.params["dropout"])
        net.load_state_dict(head["state"])
        net.eval()
        with torch.no_grad():
            logits = net(torch.as_tensor(x_std, dtype=torch.float32))
        if task.kind == "regression":
            return logits.numpy().astype(np.float64) * head.get("y_scale", 1.0) + head.get("y_mean", 0.0)
        probs = torch.softmax(logits, dim=-1) if task.kind == "multiclass" else torch.sigmoid(logits)
        return probs.numpy().astype(np.float64)

    def predict(self, records: Sequence[Record]) -> Predictions:
        if not self.heads:
            raise RuntimeError("embedding_head is not fitted: call fit() or load() first")
        x = self.embed(records) if records else np.empty((0, 1), np.float32)
        scores = {}
        for task in self.tasks:
            head = self.heads[task.name]
            s = self._forward(task, head, (x - head["mean"]) / head["scale"]) if len(x) else np.zeros((0, task.n_outputs))
            if head["calibrator"] is not None and len(s):
                s = head["calibrator"].transform(s)
            scores[task.name] = s
        return Predictions(ids=[r.id for r in records], scores=scores, status=[STATUS_OK] * len(records))

    # -- persistence ------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        random_weights = bool(self.params["random_init"]) and self.params["backbone"] != KMER_BACKBONE
        state = {"heads": self.heads, "generation_fit_ids": self.generation_fit_ids}
        directory = self._save_state(directory, HEADS_FILE, state, random_backbone_weights=random_weights)
        if self._quality_path is not None and self._quality_path.resolve() != (directory / QUALITY_DIR).resolve():
            shutil.copytree(self._quality_path, directory / QUALITY_DIR, dirs_exist_ok=True)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> EmbeddingHead:
        method, state = cls._load_state(directory, HEADS_FILE)
        method.heads, method.generation_fit_ids = state["heads"], state["generation_fit_ids"]
        return method
