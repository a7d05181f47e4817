"""Representations: mix the chosen layers, then pool residues into one vector per protein.

Layer mix (``none``: one layer; ``weighted``: a learned softmax-weighted sum, ELMo-style scalar mix;
``concat``: layers side by side) runs first, on residues or on cached pooled vectors. Pooling:
``mean`` / ``max`` over real residues (padding and special tokens masked), ``cls`` (the ``<cls>``
state), ``attention`` (learned masked-softmax weights over residues).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from biotune.models.encoders import Encoded

LAYER_MIXES = ("none", "weighted", "concat")
POOLS = ("mean", "max", "cls", "attention")


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` ``(B, L, D)`` over positions where ``mask`` ``(B, L)`` is True."""
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def masked_max(x: Tensor, mask: Tensor) -> Tensor:
    """Max of ``x`` ``(B, L, D)`` over positions where ``mask`` is True (0 for an empty row)."""
    filled = x.masked_fill(~mask.unsqueeze(-1), torch.finfo(x.dtype).min)
    return torch.where(mask.any(dim=1, keepdim=True), filled.max(dim=1).values, torch.zeros_like(filled[:, 0]))


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax of ``scores`` ``(B, L, H)`` over L, with zero weight on masked positions."""
    scores = scores.masked_fill(~mask.unsqueeze(-1), torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=1) * mask.unsqueeze(-1).to(scores.dtype)


class AttentionPool(nn.Module):
    """``n_heads`` learned scoring vectors; each gives a masked-softmax weighted sum of residues.

    Output ``(B, n_heads * D)``; :attr:`last_weights` keeps the ``(B, L, n_heads)`` weights for inspection.
    """

    def __init__(self, dim: int, n_heads: int = 1):
        super().__init__()
        self.score = nn.Linear(dim, n_heads)
        self.n_heads = n_heads
        self.last_weights: Tensor | None = None

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        weights = masked_softmax(self.score(x), mask)
        self.last_weights = weights.detach()
        return torch.einsum("blh,bld->bhd", weights, x).flatten(1)


class LayerMix(nn.Module):
    """Combine ``n`` layers stacked on dim 1: ``(B, n, ..., D)`` -> ``(B, ..., D)`` (``n * D`` for concat)."""

    def __init__(self, mode: str, n_layers: int):
        super().__init__()
        if mode not in LAYER_MIXES:
            raise ValueError(f"unknown representation.layer_mix {mode!r}; expected one of {LAYER_MIXES}")
        if mode == "none" and n_layers != 1:
            raise ValueError(f"layer_mix 'none' takes exactly one layer, got {n_layers}: use 'weighted' or 'concat'")
        self.mode = mode
        self.n_layers = n_layers
        self.logits = nn.Parameter(torch.zeros(n_layers)) if mode == "weighted" else None

    def weights(self) -> Tensor:
        """The mixing weights (softmax over layers; they sum to 1)."""
        if self.logits is None:
            return torch.full((self.n_layers,), 1.0 / self.n_layers)
        return torch.softmax(self.logits, dim=0)

    def out_dim(self, dim: int) -> int:
        return dim * self.n_layers if self.mode == "concat" else dim

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "none":
            return x[:, 0]
        if self.mode == "concat":
            return torch.cat(x.unbind(dim=1), dim=-1)
        shape = (1, self.n_layers) + (1,) * (x.dim() - 2)
        return (x * self.weights().to(x.dtype).view(shape)).sum(dim=1)


@dataclass
class Features:
    """What heads read: ``pooled`` ``(B, D)`` and/or ``residues`` ``(B, L, D)`` with ``mask`` ``(B, L)``."""

    pooled: Tensor | None
    residues: Tensor | None
    mask: Tensor | None


class Representation(nn.Module):
    """Layer mix + pooling; produces pooled vectors, residue vectors, or both (as the heads need)."""

    def __init__(
        self,
        *,
        hidden_size: int,
        n_layers: int,
        pool: str = "mean",
        layer_mix: str = "none",
        attention_heads: int = 1,
        need_pooled: bool = True,
        need_residues: bool = False,
    ):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"unknown representation.pool {pool!r}; expected one of {POOLS}")
        self.mix = LayerMix(layer_mix, n_layers)
        self.residue_dim = self.mix.out_dim(hidden_size)
        self.pool_name = pool
        self.attention = AttentionPool(self.residue_dim, attention_heads) if pool == "attention" and need_pooled else None
        self.pooled_dim = self.residue_dim * (attention_heads if pool == "attention" else 1)
        self.need_pooled = need_pooled
        self.need_residues = need_residues

    def forward(self, encoded: Encoded) -> Features:
        if encoded.pooled is not None:
            if self.need_residues:
                raise ValueError("a per-residue head cannot run on pooled embeddings: cache residue embeddings instead")
            if self.attention is not None:
                raise ValueError("attention pooling cannot run on pooled embeddings: cache residue embeddings instead")
            return Features(pooled=self.mix(encoded.pooled), residues=None, mask=None)
        residues = self.mix(encoded.residues)
        pooled = self._pool(residues, encoded) if self.need_pooled else None
        return Features(pooled=pooled, residues=residues if self.need_residues else None, mask=encoded.mask)

    def _pool(self, residues: Tensor, encoded: Encoded) -> Tensor:
        if self.pool_name == "mean":
            return masked_mean(residues, encoded.mask)
        if self.pool_name == "max":
            return masked_max(residues, encoded.mask)
        if self.pool_name == "attention":
            return self.attention(residues, encoded.mask)
        if encoded.cls is None:
            raise ValueError("pool 'cls' needs a backbone with a <cls> token (ESM); use mean, max or attention")
        return self.mix(encoded.cls)
