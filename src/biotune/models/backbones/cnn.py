"""A 1-D CNN over residues trained from scratch (in the spirit of HMD-ARG / DeepARG-style CNNs).

Residues are embedded one-hot (fixed) or with a learned embedding, then pass through ``n_layers``
convolution blocks (Conv1d → BatchNorm → ReLU → Dropout, "same" padding). Every block's output is a
hidden state, so layer selection and layer mixing work as for a transformer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from biotune.models.masked_norm import MaskedBatchNorm1d
from biotune.models.tokenize import ResidueTokenizer


class ConvBlock(nn.Module):
    """Conv1d → BatchNorm (over real residues) → ReLU → Dropout over ``(B, C, L)``, zeroing padded positions."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dropout: float):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"CNN kernel sizes must be odd (same padding), got {kernel_size}")
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = MaskedBatchNorm1d(out_channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.dropout(torch.relu(self.norm(self.conv(x), mask.bool())))
        return x * mask.unsqueeze(1)


class OneHot(nn.Module):
    """Fixed one-hot residue encoding (no parameters); index 0 (padding) maps to the zero vector."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size

    def forward(self, input_ids: Tensor) -> Tensor:
        return F.one_hot(input_ids, self.vocab_size)[..., 1:].float()


class ResidueCNN(nn.Module):
    """Residue embedding + stacked convolutions; returns one ``(B, L, C)`` hidden state per block."""

    def __init__(
        self,
        *,
        embedding: str = "onehot",
        embed_dim: int = 32,
        channels: int = 128,
        kernel_sizes: Sequence[int] = (9,),
        n_layers: int = 3,
        dropout: float = 0.1,
        max_length: int = 1024,
    ):
        super().__init__()
        kernel_sizes = list(kernel_sizes)
        if len(kernel_sizes) == 1:
            kernel_sizes = kernel_sizes * n_layers
        if len(kernel_sizes) != n_layers or n_layers < 1:
            raise ValueError(f"CNN: give one kernel size or one per layer (n_layers={n_layers}, got {kernel_sizes})")
        self.tokenizer = ResidueTokenizer(max_length)
        vocab = self.tokenizer.vocab_size
        if embedding == "onehot":
            self.embed = OneHot(vocab)
            in_channels = vocab - 1
        elif embedding == "learned":
            self.embed = nn.Embedding(vocab, embed_dim, padding_idx=0)
            in_channels = embed_dim
        else:
            raise ValueError(f"CNN embedding must be 'onehot' or 'learned', got {embedding!r}")
        self.blocks = nn.ModuleList()
        for kernel_size in kernel_sizes:
            self.blocks.append(ConvBlock(in_channels, channels, kernel_size, dropout))
            in_channels = channels
        self.hidden_size = channels

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> list[Tensor]:
        mask = attention_mask.to(torch.float32)
        x = self.embed(input_ids).transpose(1, 2) * mask.unsqueeze(1)
        states = []
        for block in self.blocks:
            x = block(x, mask)
            states.append(x.transpose(1, 2))
        return states
