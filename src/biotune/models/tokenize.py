"""Turn protein sequences into padded model inputs (``input_ids`` + ``attention_mask``).

Two tokenizers, one contract: :class:`EsmBatchTokenizer` wraps the Hugging Face ESM tokenizer
(``<cls> residues <eos>``, truncated to ``max_length`` residues); :class:`ResidueTokenizer` maps
residues to indices for models trained from scratch (no special tokens). Both return a dict of
tensors with padding to the longest sequence of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

#: Residue alphabet of :class:`ResidueTokenizer`: the 20 standard amino acids, then X for anything else.
RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


class EsmBatchTokenizer:
    """ESM tokenization of a batch: ``<cls>`` + up to ``max_length`` residues + ``<eos>``, padded."""

    def __init__(self, tokenizer, max_length: int):
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, sequences: Sequence[str]) -> dict[str, Tensor]:
        encoded = self.tokenizer(
            [s.upper() for s in sequences],
            padding=True,
            truncation=True,
            max_length=self.max_length + 2,
            return_tensors="pt",
        )
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


class ResidueTokenizer:
    """Residue -> index for from-scratch models: 0 is padding, 1..20 the standard residues, 21 is X."""

    pad_id = 0

    def __init__(self, max_length: int):
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.max_length = max_length
        self._unknown = len(RESIDUES) + 1
        self._table = torch.full((128,), self._unknown, dtype=torch.long)
        for i, residue in enumerate(RESIDUES):
            self._table[ord(residue)] = i + 1
            self._table[ord(residue.lower())] = i + 1

    @property
    def vocab_size(self) -> int:
        return len(RESIDUES) + 2

    def __call__(self, sequences: Sequence[str]) -> dict[str, Tensor]:
        lengths = [min(len(s), self.max_length) for s in sequences]
        width = max(lengths, default=0)
        input_ids = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, (sequence, length) in enumerate(zip(sequences, lengths)):
            if length == 0:
                continue
            codes = torch.frombuffer(bytearray(sequence[:length].encode("ascii", "replace")), dtype=torch.uint8)
            input_ids[row, :length] = self._table[codes.long().clamp(max=127)]
        attention_mask = (input_ids != self.pad_id).long()
        return {"input_ids": input_ids, "attention_mask": attention_mask}
