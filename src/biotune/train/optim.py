"""AdamW parameter groups (head lr, backbone lr, layer-wise decay) and warm-up + decay schedules.

Layer-wise learning-rate decay (as in ELECTRA/BEiT fine-tuning): the top backbone layer trains at
``backbone_lr``, each layer below at ``layer_decay`` times the one above, and backbone parameters
outside the layer stack (token embeddings) at the rate of a layer below the bottom one. Biases and
normalisation weights (1-d tensors) get no weight decay. Schedules come from ``transformers`` and are
stepped once per *optimiser* step (Lightning ``interval="step"``, which respects gradient
accumulation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from transformers import (
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

SCHEDULES = {
    "cosine": get_cosine_schedule_with_warmup,
    "linear": get_linear_schedule_with_warmup,
    "constant": get_constant_schedule_with_warmup,
}


def layerwise_lrs(n_layers: int, backbone_lr: float, layer_decay: float) -> list[float]:
    """Learning rate of each backbone layer, bottom to top; the top layer gets ``backbone_lr``."""
    return [backbone_lr * layer_decay ** (n_layers - 1 - i) for i in range(n_layers)]


def _split_decay(name: str, params: Sequence[nn.Parameter], lr: float, weight_decay: float) -> list[dict[str, Any]]:
    """One group of matrices (with weight decay) and one of biases/norm weights (without)."""
    trainable = [p for p in params if p.requires_grad]
    matrices = [p for p in trainable if p.ndim >= 2]
    vectors = [p for p in trainable if p.ndim < 2]
    groups = []
    if matrices:
        groups.append({"name": name, "params": matrices, "lr": lr, "weight_decay": weight_decay})
    if vectors:
        groups.append({"name": f"{name}.no_decay", "params": vectors, "lr": lr, "weight_decay": 0.0})
    return groups


def param_groups(
    head: Sequence[nn.Parameter],
    backbone: Sequence[nn.Parameter],
    backbone_layers: Sequence[Sequence[nn.Parameter]],
    *,
    head_lr: float,
    backbone_lr: float,
    layer_decay: float = 1.0,
    weight_decay: float = 0.01,
) -> list[dict[str, Any]]:
    """AdamW groups for a head and a layered backbone; frozen parameters are left out.

    ``backbone_layers`` lists each layer's parameters bottom→top (a subset of ``backbone``); any
    backbone parameter not in a layer (embeddings) gets ``backbone_lr * layer_decay ** n_layers``.
    """
    groups = _split_decay("head", head, head_lr, weight_decay)
    lrs = layerwise_lrs(len(backbone_layers), backbone_lr, layer_decay)
    in_layers: set[int] = set()
    for i, (layer, lr) in enumerate(zip(backbone_layers, lrs)):
        groups += _split_decay(f"backbone.layer{i}", layer, lr, weight_decay)
        in_layers.update(id(p) for p in layer)
    rest = [p for p in backbone if id(p) not in in_layers]
    groups += _split_decay("backbone.other", rest, backbone_lr * layer_decay ** len(backbone_layers), weight_decay)
    seen: set[int] = set()
    for g in groups:
        ids = {id(p) for p in g["params"]}
        if ids & seen:
            raise ValueError(f"parameter group {g['name']!r} shares parameters with another group")
        seen |= ids
    return groups


def build_optimizer(groups: list[dict[str, Any]], *, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8):
    """AdamW over the given groups (each carries its own lr and weight decay)."""
    if not groups:
        raise ValueError("nothing to train: every parameter is frozen")
    return torch.optim.AdamW(groups, betas=tuple(betas), eps=eps)


def build_scheduler(optimizer: torch.optim.Optimizer, *, total_steps: int, warmup_ratio: float, schedule: str):
    """Warm-up over ``warmup_ratio * total_steps`` optimiser steps, then cosine/linear decay (or constant)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {sorted(SCHEDULES)}")
    if not 0.0 <= warmup_ratio < 1.0:
        raise ValueError(f"warmup_ratio must be in [0, 1), got {warmup_ratio}")
    warmup = int(round(warmup_ratio * total_steps))
    if schedule == "constant":
        return get_constant_schedule_with_warmup(optimizer, num_warmup_steps=warmup)
    return SCHEDULES[schedule](optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)
