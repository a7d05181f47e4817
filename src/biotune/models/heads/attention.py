"""Attention-pooling head: learned attention over residues, then the two-layer head.

The residue weights of the last batch are kept (``pool.last_weights``) so a prediction can show
which residues it looked at.
"""

from __future__ import annotations

from torch import Tensor, nn

from biotune.models.heads.mlp import MLPHead
from biotune.models.pooling import AttentionPool


class AttentionHead(nn.Module):
    """``(B, L, D)`` + mask -> ``(B, n_outputs)``: ``n_heads`` attention pools, concatenated, then an MLP."""

    needs_residues = True

    def __init__(
        self,
        in_dim: int,
        n_outputs: int,
        n_heads: int = 4,
        hidden: int = 256,
        activation_name: str = "gelu",
        dropout: float = 0.1,
    ):
        super().__init__()
        self.pool = AttentionPool(in_dim, n_heads)
        self.mlp = MLPHead(in_dim * n_heads, n_outputs, hidden=hidden, activation_name=activation_name, dropout=dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.mlp(self.pool(x, mask))
