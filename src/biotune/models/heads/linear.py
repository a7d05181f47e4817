"""Linear head: one affine map from the pooled representation (the classic linear probe)."""

from __future__ import annotations

from torch import Tensor, nn


class LinearHead(nn.Module):
    """``(B, D)`` -> ``(B, n_outputs)``."""

    needs_residues = False

    def __init__(self, in_dim: int, n_outputs: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, n_outputs)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.linear(self.dropout(x))
