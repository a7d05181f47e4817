"""A 1-D residual CNN over multichannel biosignal windows (PPG + accelerometer), trained from scratch.

A strided stem convolution, then residual shrinkage blocks (the DRSN-1d blocks of
:mod:`biotune.models.heads.drsn`: soft thresholding with learned per-channel thresholds suits
motion-corrupted signals), every ``downsample_every``-th block halving the time axis and doubling the
channels. The output is one state per remaining time step, so pooling and every head work on it as
on residues. Batches come from :class:`SignalBatcher`: windows ``(channels, samples)`` of one length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from biotune.models.heads.drsn import shrinkage_stack
from biotune.models.masked_norm import MaskedBatchNorm1d


class SignalBatcher:
    """Stack windows ``(channels, samples)`` into ``{"signal": (B, C, T) float32, "attention_mask": (B, T)}``."""

    def __init__(self, in_channels: int, length: int):
        self.in_channels, self.length = in_channels, length

    def __call__(self, windows: Sequence[np.ndarray]) -> dict[str, Tensor]:
        if len(windows) == 0:
            raise ValueError("a signal batch needs at least one window")
        shapes = sorted({tuple(np.shape(w)) for w in windows})
        if shapes != [(self.in_channels, self.length)]:
            raise ValueError(f"signal windows must all be ({self.in_channels} channels, {self.length} samples), got shapes {shapes[:3]}")
        signal = torch.as_tensor(np.stack(windows), dtype=torch.float32)
        return {"signal": signal, "attention_mask": torch.ones(signal.shape[0], self.length, dtype=torch.long)}


class SignalResNet(nn.Module):
    """``(B, C, T)`` windows -> states ``(B, T', D)`` with mask ``(B, T')``; see the module docstring."""

    def __init__(
        self,
        *,
        in_channels: int = 5,
        length: int = 1000,
        channels: int = 32,
        blocks: int = 4,
        kernel_size: int = 7,
        stem_kernel: int = 7,
        stem_stride: int = 2,
        stride: int = 2,
        downsample_every: int = 2,
    ):
        super().__init__()
        if blocks < 1 or stem_kernel % 2 != 1:
            raise ValueError(f"signal CNN needs at least one block and an odd stem kernel (blocks={blocks}, stem_kernel={stem_kernel})")
        self.batcher = SignalBatcher(in_channels, length)
        self.stem = nn.Conv1d(in_channels, channels, stem_kernel, stride=stem_stride, padding=stem_kernel // 2)
        self.stem_stride = stem_stride
        self.blocks, channels = shrinkage_stack(channels, blocks, kernel_size, stride, downsample_every)
        self.norm = MaskedBatchNorm1d(channels)
        self.hidden_size = channels

    def forward(self, signal: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        mask = mask.bool()[:, :: self.stem_stride]
        h = self.stem(signal)
        for block in self.blocks:
            h, mask = block(h, mask)
        h = torch.relu(self.norm(h, mask))
        return h.transpose(1, 2), mask
