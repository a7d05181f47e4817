"""Records → batches: task targets with masks, tokenised sequences or cached embeddings.

A batch is ``{"index", "inputs", "targets": {task}, "masks": {task}}``; ``inputs`` is whatever the
model's ``forward`` takes — the tokeniser output for sequence models, ``{"embeddings": (B, L, D)}``
for heads trained on frozen-backbone embeddings read from the embedding cache. ``index`` is the row
of each example in its split, so validation metrics can be gathered across processes and
de-duplicated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from biotune.data.records import Record
from biotune.tasks import TaskSpec

Tokenize = Callable[[list[str]], dict[str, torch.Tensor]]


def encode_targets(records: Sequence[Record], tasks: Sequence[TaskSpec]) -> tuple[dict, dict]:
    """``(targets, masks)`` per task for the records (missing labels masked)."""
    targets, masks = {}, {}
    for t in tasks:
        targets[t.name], masks[t.name] = t.encode([r.label(t.name) for r in records])
    return targets, masks


class SequenceExamples(Dataset):
    """Examples of one split: sequences (optionally augmented) or precomputed embeddings, with targets."""

    def __init__(
        self,
        records: Sequence[Record],
        tasks: Sequence[TaskSpec],
        *,
        embeddings: np.ndarray | None = None,
        augment: Callable[[str, np.random.Generator], str] | None = None,
        seed: int = 0,
    ):
        self.sequences = [r.sequence for r in records]
        self.targets, self.masks = encode_targets(records, tasks)
        self.embeddings = embeddings
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        if embeddings is not None and len(embeddings) != len(records):
            raise ValueError(f"{len(embeddings)} embeddings for {len(records)} records")

    def __len__(self) -> int:
        return len(self.sequences)

    def _rng(self) -> np.random.Generator:
        """The augmentation RNG; each DataLoader worker re-seeds its copy from its own (seeded) torch seed."""
        worker = get_worker_info()
        if worker is not None and getattr(self, "_worker_id", None) != worker.id:
            self.rng, self._worker_id = np.random.default_rng(worker.seed), worker.id
        return self.rng

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"index": i}
        if self.embeddings is not None:
            item["embeddings"] = self.embeddings[i]
        else:
            seq = self.sequences[i]
            item["sequence"] = self.augment(seq, self._rng()) if self.augment is not None else seq
        return item


class Collate:
    """Stack items into a batch; tokenises sequences with the model's tokeniser."""

    def __init__(self, examples: SequenceExamples, tokenize: Tokenize | None):
        self.examples = examples
        self.tokenize = tokenize

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        index = np.array([it["index"] for it in items])
        if "embeddings" in items[0]:
            inputs = {"embeddings": torch.as_tensor(np.stack([it["embeddings"] for it in items]), dtype=torch.float32)}
        else:
            inputs = self.tokenize([it["sequence"] for it in items])
        ex = self.examples
        return {
            "index": torch.as_tensor(index),
            "inputs": inputs,
            "targets": {t: torch.as_tensor(v[index]) for t, v in ex.targets.items()},
            "masks": {t: torch.as_tensor(v[index]) for t, v in ex.masks.items()},
        }


class SequenceDataModule(L.LightningDataModule):
    """Train/valid(/test) loaders over in-memory records.

    ``sampler`` (a name for ``biotune.imbalance.samplers.build_sampler``, fed the labels of
    ``sampler_task``) and ``augment`` (a config for ``biotune.data.augment.build_augmenter``) are
    optional and only imported when set.
    """

    def __init__(
        self,
        train: SequenceExamples,
        valid: SequenceExamples | None,
        *,
        tokenize: Tokenize | None,
        batch_size: int = 16,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        sampler: str | None = None,
        sampler_labels: Sequence[Any] | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.train, self.valid = train, valid
        self.tokenize = tokenize
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers = num_workers
        self.sampler, self.sampler_labels, self.seed = sampler, sampler_labels, seed

    def _loader(self, examples: SequenceExamples, batch_size: int, shuffle: bool, sampler=None) -> DataLoader:
        return DataLoader(
            examples,
            batch_size=batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=Collate(examples, self.tokenize),
        )

    def train_dataloader(self) -> DataLoader:
        sampler = None
        if self.sampler:
            from biotune.imbalance.samplers import build_sampler

            sampler = build_sampler(self.sampler, self.sampler_labels, self.seed)
        return self._loader(self.train, self.batch_size, shuffle=True, sampler=sampler)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.valid is None else self._loader(self.valid, self.eval_batch_size, shuffle=False)


def prediction_loader(examples: SequenceExamples, tokenize: Tokenize | None, batch_size: int) -> DataLoader:
    """An ordered loader for inference."""
    return DataLoader(examples, batch_size=batch_size, shuffle=False, collate_fn=Collate(examples, tokenize))


def build_augmenter(cfg) -> Callable[[str, np.random.Generator], str] | None:
    """The sequence augmenter configured under ``data.augment`` (``None`` when unset)."""
    if not cfg:
        return None
    from biotune.data.augment import build_augmenter as build

    return build(cfg)
