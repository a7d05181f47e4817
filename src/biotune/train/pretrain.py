"""``biotune pretrain``: continue a backbone's own language-model objective on protein sequences (evotuning).

The primary config is ``configs/pretrain.yaml``; ``backbone=`` picks the model and with it the objective
(:mod:`biotune.models.lm`: next-residue for UniRep, masked LM for ESM-2). Input is a FASTA
(``data.fasta``) or a biotune dataset (``data.dataset``) minus ``data.exclude_folds`` — inside a
benchmark the test fold, so that the backbone never sees it — optionally only its ARGs
(``data.only_args``). A seeded ``data.valid_fraction`` is held out for validation, by homology cluster
for a dataset (no validation protein shares a homology cluster with a training one), by record for a FASTA.

Training is the Lightning engine: AdamW with warm-up + cosine (:mod:`biotune.train.optim`), early
stopping on the validation loss with the best weights restored (:mod:`biotune.train.callbacks`),
``trainer.max_epochs`` / ``max_steps`` / ``max_time`` budgets. Batches are length-bucketed under a token
budget within random pools of ``data.bucket_pool`` sequences (mixed families, little padding), in a new
random order every epoch;
proteins longer than ``data.max_length`` are cut to a random window at training and to their first
``max_length`` residues at validation. Logged per validation: ``valid/loss`` (nats per predicted token)
and ``valid/perplexity``; per step and epoch ``train/loss``.

Output: the backbone directory ``out`` (default ``<job dir>/backbone``) that every command accepts as a
backbone (``backbone.weights=DIR`` / ``backbone.checkpoint=DIR``, ``biotune embed --backbone DIR``), with
``pretrain.json``: config, sizes, validation loss and perplexity before training (``valid_before``), of
the best trained weights (``valid_trained``, with their epoch and step) and of the saved ones
(``valid_best``): the starting weights are a candidate too, so when no validation beat them they are
saved unchanged (``kept_initial_weights``); epochs and steps run, seconds.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Sampler

from biotune.data.records import Record
from biotune.embed.batching import token_budget_batches
from biotune.errors import InputError
from biotune.models.lm import LanguageModel, build_lm, mean_nll
from biotune.train.callbacks import best_checkpoint, early_stopping, restore_best
from biotune.train.optim import build_optimizer, build_scheduler, param_groups

CONFIG_NAME = "pretrain"
REPORT_FILE = "pretrain.json"
MONITOR = "valid/loss"


# ----- data ------------------------------------------------------------------------------------------


def read_records(data: DictConfig) -> list[Record]:
    """The input sequences: ``data.fasta`` or ``data.dataset`` (minus ``exclude_folds``, optionally only ARGs)."""
    from biotune.embed.engine import check_inputs

    fasta, dataset = data.get("fasta"), data.get("dataset")
    if bool(fasta) == bool(dataset):
        raise InputError("give exactly one input: data.fasta=PATH or data.dataset=DIR")
    if fasta:
        from biotune.io.fasta import read_fasta

        records = [Record(r.id, r.sequence) for r in read_fasta(fasta)]
        source = fasta
    else:
        records, source = dataset_records(dataset, list(data.get("exclude_folds") or []), bool(data.get("only_args", False))), dataset
    check_inputs([r.id for r in records], [r.sequence for r in records], source=source)
    return records


def dataset_records(directory: str | Path, exclude_folds: Sequence[int], only_args: bool) -> list[Record]:
    """The records of a dataset outside ``exclude_folds`` (with ``only_args``: those whose ``is_arg`` is 1)."""
    from biotune.data.dataset import load_dataset

    ds = load_dataset(directory)
    bad = [f for f in exclude_folds if not 0 <= int(f) < ds.n_folds]
    if bad:
        raise InputError(f"data.exclude_folds {bad} out of range 0..{ds.n_folds - 1}", path=directory)
    keep = ~ds.table["fold"].isin([int(f) for f in exclude_folds])
    if only_args:
        if "is_arg" not in ds.columns:
            raise InputError("data.only_args needs an 'is_arg' task; this dataset has none", path=directory)
        keep &= ds.table[ds.columns["is_arg"]].astype(str) == "1"
    records = ds.records(ds.table.index[keep])
    if not records:
        raise InputError("no record left after data.exclude_folds / data.only_args", path=directory)
    return records


def holdout(records: Sequence[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """``(train, valid)``: whole groups (``meta["cluster"]``, else the record itself) drawn in a seeded
    random order into validation until it holds ``fraction`` of the records."""
    if not 0.0 < fraction < 1.0:
        raise InputError(f"data.valid_fraction must be in (0, 1), got {fraction}")
    group = [str(r.meta.get("cluster", "")) or f"record:{r.id}" for r in records]
    sizes: dict[str, int] = {}
    for g in group:
        sizes[g] = sizes.get(g, 0) + 1
    order = sorted(sizes)
    np.random.default_rng(seed).shuffle(order)
    chosen, n = set(), 0
    for g in order:
        if n >= fraction * len(records):
            break
        chosen.add(g)
        n += sizes[g]
    train = [r for r, g in zip(records, group) if g not in chosen]
    valid = [r for r, g in zip(records, group) if g in chosen]
    if not train or not valid:
        raise InputError(f"cannot hold out {fraction:.0%} for validation from {len(records)} sequences in {len(sizes)} group(s)")
    return train, valid


def crop(sequence: str, max_length: int, rng: np.random.Generator | None = None) -> str:
    """At most ``max_length`` residues: a random window with ``rng``, else the first ones."""
    if len(sequence) <= max_length:
        return sequence
    start = int(rng.integers(0, len(sequence) - max_length + 1)) if rng is not None else 0
    return sequence[start : start + max_length]


class TokenBudgetBatches(Sampler[list[int]]):
    """Length-bucketed batches under a token budget, visited in a new seeded order every epoch.

    The sequences are shuffled once into pools of ``pool`` sequences; each pool is sorted by length and cut
    under the budget (:func:`~biotune.embed.batching.token_budget_batches`). Sorting the whole set instead
    would fill each batch with one protein family (its members have near-identical lengths), and every
    step would pull the model towards one family.
    """

    def __init__(self, lengths: Sequence[int], token_budget: int, extra_tokens: int, seed: int, pool: int = 256):
        self.rng = np.random.default_rng(seed)
        order = self.rng.permutation(len(lengths))
        self.batches = [
            [int(chunk[i]) for i in batch]
            for chunk in (order[start : start + pool] for start in range(0, len(order), pool))
            for batch in token_budget_batches([lengths[i] for i in chunk], token_budget, extra_tokens=extra_tokens)
        ]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        for i in self.rng.permutation(len(self.batches)):
            yield self.batches[i]


def train_loader(lm: LanguageModel, sequences: Sequence[str], data: DictConfig, seed: int) -> DataLoader:
    """Training batches: random crops of long proteins, length-bucketed within pools, shuffled batch order."""
    max_length, rng = int(data.max_length), np.random.default_rng(seed)
    lengths = [min(len(s), max_length) for s in sequences]
    sampler = TokenBudgetBatches(lengths, int(data.token_budget), lm.extra_tokens, seed, int(data.get("bucket_pool", 256)))
    collate = lambda items: lm.collate([crop(s, max_length, rng) for s in items], train=True)  # noqa: E731
    return DataLoader(list(sequences), batch_sampler=sampler, collate_fn=collate)


def valid_batches(lm: LanguageModel, sequences: Sequence[str], data: DictConfig) -> list[dict[str, torch.Tensor]]:
    """Validation batches built once (fixed crops and, for masked LM, fixed masks): every evaluation sees the same."""
    cut = [crop(s, int(data.max_length)) for s in sequences]
    batches = token_budget_batches([len(s) for s in cut], int(data.token_budget), extra_tokens=lm.extra_tokens)
    return [lm.collate([cut[i] for i in batch], train=False) for batch in batches]


# ----- the Lightning module --------------------------------------------------------------------------


class LanguageModelModule(L.LightningModule):
    """Trains a :class:`~biotune.models.lm.LanguageModel` on its own objective; validation loss is the
    per-token mean over the whole validation set (summed over batches, not a mean of batch means)."""

    def __init__(self, lm: LanguageModel, optim: DictConfig | dict):
        super().__init__()
        self.lm = lm
        self.optim = dict(optim)
        self.history: list[dict[str, float]] = []
        self._sum, self._count = 0.0, 0

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        total, n = self.lm.nll(batch)
        loss = total / n.clamp(min=1)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=int(n))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._sum, self._count = 0.0, 0

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        total, n = self.lm.nll(batch)
        self._sum, self._count = self._sum + float(total), self._count + int(n)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or not self._count:
            return
        loss = self._sum / self._count
        self.log(MONITOR, loss, prog_bar=True)
        self.log("valid/perplexity", math.exp(loss))
        self.history.append({"epoch": self.current_epoch, "step": self.global_step, "loss": loss, "perplexity": math.exp(loss)})

    def configure_optimizers(self):
        o = self.optim
        groups = param_groups([], list(self.lm.parameters()), [], head_lr=o["lr"], backbone_lr=o["lr"], weight_decay=o.get("weight_decay", 0.0))
        optimizer = build_optimizer(groups, betas=o.get("betas", (0.9, 0.999)), eps=o.get("eps", 1e-8))
        scheduler = build_scheduler(
            optimizer, total_steps=int(self.trainer.estimated_stepping_batches), warmup_ratio=o.get("warmup_ratio", 0.0), schedule=o.get("schedule", "cosine")
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}


# ----- the job ---------------------------------------------------------------------------------------


def perplexity(loss: float) -> dict[str, float]:
    return {"loss": loss, "perplexity": math.exp(loss)}


def pretrain(cfg: DictConfig, output_dir: str | Path) -> float:
    """One Hydra job: :func:`run_pretraining`; returns the validation loss of the saved weights (the objective of a sweep)."""
    return run_pretraining(cfg, output_dir)[1]["valid_best"]["loss"]


def run_pretraining(cfg: DictConfig, output_dir: str | Path) -> tuple[LanguageModel, dict[str, Any]]:
    """Continue the backbone's language-model training, save it to ``cfg.out`` (default
    ``<output_dir>/backbone``) with ``pretrain.json``; returns the trained model (best weights) and the report."""
    from biotune.train import tracking
    from biotune.train.fit import trainer_kwargs
    from biotune.train.run import _run_name

    started = time.perf_counter()
    output_dir = Path(output_dir)
    out = Path(cfg.out) if cfg.get("out") else output_dir / "backbone"
    if cfg.get("num_threads"):
        torch.set_num_threads(int(cfg.num_threads))
    seed = int(cfg.seed)
    L.seed_everything(seed, workers=True, verbose=False)
    train, valid = holdout(read_records(cfg.data), float(cfg.data.valid_fraction), seed)
    lm = build_lm(cfg.backbone, mlm_probability=float(cfg.data.mlm_probability), seed=seed)
    valid_data = valid_batches(lm, [r.sequence for r in valid], cfg.data)
    before = mean_nll(lm, valid_data)
    module = LanguageModelModule(lm, cfg.optim)
    es = cfg.early_stopping
    stopper = early_stopping(MONITOR, "min", int(es.patience), float(es.min_delta)) if es.patience is not None else None
    callbacks = [best_checkpoint(str(output_dir / "checkpoints"), MONITOR, "min"), *([stopper] if stopper else [])]
    logger = tracking.mlflow_logger(cfg, run_name=_run_name(cfg)) if cfg.tracking.get("enabled", True) else False
    trainer = L.Trainer(**trainer_kwargs(cfg.trainer), callbacks=callbacks, logger=logger, default_root_dir=str(output_dir))
    trainer.fit(
        module,
        train_dataloaders=train_loader(lm, [r.sequence for r in train], cfg.data, seed),
        val_dataloaders=DataLoader(valid_data, batch_size=None),
    )
    restore_best(trainer, module)
    after = mean_nll(lm, valid_data)
    best = min(module.history, key=lambda h: h["loss"], default=None)
    trained = perplexity(after)
    if after > before:  # the starting weights are a candidate too: never save a backbone worse than its input
        lm = build_lm(cfg.backbone, mlm_probability=float(cfg.data.mlm_probability), seed=seed)
        after = before
    lm.save(out)
    report: dict[str, Any] = {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "seed": seed,
        "random_weights": bool(cfg.backbone.get("random_init", False)),
        "objective": type(lm).__name__,
        "n_train": len(train),
        "n_valid": len(valid),
        "residues": {"train": sum(len(r.sequence) for r in train), "valid": sum(len(r.sequence) for r in valid)},
        "valid_before": perplexity(before),
        "valid_trained": trained | {"epoch": None if best is None else best["epoch"], "step": None if best is None else best["step"]},
        "valid_best": perplexity(after),
        "kept_initial_weights": after == before,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "stopped_early": bool(stopper and stopper.wait_count >= stopper.patience),
        "history": module.history,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    if logger:
        tracking.log_config(logger, cfg)
        tracking.log_metrics(logger, perplexity(before), "valid_before")
        tracking.log_metrics(logger, trained, "valid_trained")
        tracking.log_metrics(logger, perplexity(after), "valid_best")
        tracking.log_artifact(logger, out / REPORT_FILE)
        logger.finalize("success")
    return lm, report


def main(args: Sequence[str] | None = None) -> Any:
    """``biotune pretrain``: the Hydra app of ``configs/pretrain.yaml``."""
    from biotune.train.run import one_line_errors, run_app

    return run_app(one_line_errors(pretrain), CONFIG_NAME, __file__, args)


if __name__ == "__main__":
    main()
