"""DRSN-1d: a deep residual shrinkage network over per-residue features (Zhao et al. 2020).

Each residual shrinkage block with channel-wise thresholds (RSBU-CW) is
BN → ReLU → Conv(stride) → BN → ReLU → Conv, then soft thresholding with one threshold per channel:
``τ_c = α_c · mean|x_c|``, where ``α = sigmoid(FC(ReLU(Norm(FC(mean|x|)))))`` is learned from the
absolute global-average-pooled features, so the block learns how much small-amplitude "noise" to
zero out. The identity path is a strided 1×1 convolution whenever the block downsamples or widens.
Optional transformer self-attention layers follow the blocks; a masked global average pool and a
two-layer MLP give the outputs. Padded residues are masked at every stage, batch-norm statistics included.

Deviation from the paper, on purpose: the threshold sub-network normalises with LayerNorm instead of
BatchNorm so that a batch of one protein trains.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from biotune.models.masked_norm import MaskedBatchNorm1d
from biotune.models.pooling import masked_mean


def soft_threshold(x: Tensor, tau: Tensor) -> Tensor:
    """``sign(x) · max(|x| − τ, 0)``: zero inside ``[−τ, τ]``, shrunk by τ outside."""
    return torch.sign(x) * torch.relu(x.abs() - tau)


class ChannelThreshold(nn.Module):
    """Per-channel thresholds ``(B, C, 1)`` from the masked mean of ``|x|`` ``(B, C, L)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Sequential(
            nn.Linear(channels, channels),
            nn.LayerNorm(channels),
            nn.ReLU(),
            nn.Linear(channels, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        abs_mean = masked_mean(x.abs().transpose(1, 2), mask)
        return (self.scale(abs_mean) * abs_mean).unsqueeze(-1)


class ResidualShrinkageBlock(nn.Module):
    """RSBU-CW over ``(B, C, L)``; ``stride > 1`` downsamples the length (and the mask)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"DRSN kernel_size must be odd, got {kernel_size}")
        padding = kernel_size // 2
        self.stride = stride
        self.norm1 = MaskedBatchNorm1d(in_channels)
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.norm2 = MaskedBatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, padding=padding)
        self.threshold = ChannelThreshold(out_channels)
        self.shortcut = (
            nn.Conv1d(in_channels, out_channels, 1, stride=stride)
            if stride > 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` ``(B, C_in, L)`` zero on padding -> ``(B, C_out, ⌈L/stride⌉)`` and the downsampled mask.

        Padding is re-zeroed after every normalisation so it never leaks into a convolution.
        """
        keep_in = mask.unsqueeze(1).to(x.dtype)
        out_mask = mask[:, :: self.stride]
        keep = out_mask.unsqueeze(1).to(x.dtype)
        h = self.conv1(torch.relu(self.norm1(x, mask)) * keep_in)
        h = self.conv2(torch.relu(self.norm2(h, out_mask)) * keep) * keep
        mask = out_mask
        h = soft_threshold(h, self.threshold(h, mask))
        return (h + self.shortcut(x)) * keep, mask


def shrinkage_stack(channels: int, blocks: int, kernel_size: int, stride: int, downsample_every: int) -> tuple[nn.ModuleList, int]:
    """``blocks`` residual shrinkage blocks from ``channels`` wide; every ``downsample_every``-th one uses
    ``stride`` and doubles the channels. Returns the blocks and their output width."""
    stack = nn.ModuleList()
    for i in range(blocks):
        downsample = stride > 1 and downsample_every > 0 and (i + 1) % downsample_every == 0
        out_channels = channels * 2 if downsample else channels
        stack.append(ResidualShrinkageBlock(channels, out_channels, kernel_size, stride if downsample else 1))
        channels = out_channels
    return stack, channels


class DRSNHead(nn.Module):
    """``(B, L, D)`` + mask -> ``(B, n_outputs)``.

    ``blocks`` residual shrinkage blocks of ``kernel_size``; every ``downsample_every``-th block
    uses ``stride`` and doubles the channels (from ``base_channels``); then ``attention_layers``
    transformer layers (``attention_heads`` heads), masked average pooling and an MLP of ``hidden``.
    """

    needs_residues = True

    def __init__(
        self,
        in_dim: int,
        n_outputs: int,
        base_channels: int = 64,
        blocks: int = 4,
        kernel_size: int = 3,
        stride: int = 2,
        downsample_every: int = 2,
        attention_layers: int = 0,
        attention_heads: int = 4,
        hidden: int = 128,
        dropout: float = 0.1,
    ):
        super().__init__()
        if blocks < 1:
            raise ValueError(f"DRSN needs at least one block, got {blocks}")
        self.project = nn.Conv1d(in_dim, base_channels, 1)
        self.blocks, channels = shrinkage_stack(base_channels, blocks, kernel_size, stride, downsample_every)
        if attention_layers and channels % attention_heads:
            raise ValueError(f"DRSN: {channels} channels are not divisible by attention_heads={attention_heads}")
        self.attention = nn.ModuleList(
            nn.TransformerEncoderLayer(
                channels, attention_heads, dim_feedforward=2 * channels, dropout=dropout, batch_first=True, norm_first=True
            )
            for _ in range(attention_layers)
        )
        self.norm = MaskedBatchNorm1d(channels)
        self.out = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_outputs)
        )
        self.out_channels = channels

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.project(x.transpose(1, 2)) * mask.unsqueeze(1).to(x.dtype)
        for block in self.blocks:
            h, mask = block(h, mask)
        h = torch.relu(self.norm(h, mask)) * mask.unsqueeze(1).to(h.dtype)
        h = h.transpose(1, 2)
        for layer in self.attention:
            h = layer(h, src_key_padding_mask=~mask)
        return self.out(masked_mean(h, mask))
