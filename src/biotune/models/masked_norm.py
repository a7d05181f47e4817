"""Batch normalisation over real residues only.

A plain ``BatchNorm1d`` over padded protein batches counts padding in its batch statistics, so the
statistics — and every prediction made in training mode, and the running estimates used at eval —
depend on how much padding the batch happened to have. :class:`MaskedBatchNorm1d` computes them
over the positions a mask marks as real; in eval mode it is exactly ``BatchNorm1d``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` over ``(B, C, L)`` whose training statistics use only ``mask`` ``(B, L)`` positions."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None or not self.training:
            return super().forward(x)
        keep = mask.unsqueeze(1).to(x.dtype)
        count = keep.sum()
        if count < 2:
            return super().forward(x)
        mean = (x * keep).sum(dim=(0, 2)) / count
        centred = x - mean[None, :, None]
        var = (centred.pow(2) * keep).sum(dim=(0, 2)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * count / (count - 1)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        out = centred * torch.rsqrt(var + self.eps)[None, :, None]
        if self.affine:
            out = out * self.weight[None, :, None] + self.bias[None, :, None]
        return out
