"""Parameter groups (head/backbone lrs, layer-wise decay, no decay on biases) and warm-up schedules."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from biotune.train.optim import build_optimizer, build_scheduler, layerwise_lrs, param_groups


class Layered(nn.Module):
    """A small real network shaped like a backbone: embeddings, a stack of layers, a head."""

    def __init__(self, n_layers: int = 4, d: int = 8):
        super().__init__()
        self.embed = nn.Embedding(20, d)
        self.layers = nn.ModuleList(nn.Sequential(nn.Linear(d, d), nn.LayerNorm(d)) for _ in range(n_layers))
        self.head = nn.Linear(d, 3)

    def backbone(self) -> list[nn.Parameter]:
        return list(self.embed.parameters()) + [p for layer in self.layers for p in layer.parameters()]


def _lr_of(groups, param) -> float:
    (lr,) = [g["lr"] for g in groups if any(p is param for p in g["params"])]
    return lr


def test_layerwise_lrs_decay_from_the_top():
    assert layerwise_lrs(3, 1e-4, 0.5) == pytest.approx([2.5e-5, 5e-5, 1e-4])
    assert layerwise_lrs(4, 3e-5, 1.0) == pytest.approx([3e-5] * 4)


def test_param_groups_assign_head_layer_and_embedding_lrs():
    net = Layered(n_layers=4)
    layers = [list(layer.parameters()) for layer in net.layers]
    groups = param_groups(list(net.head.parameters()), net.backbone(), layers, head_lr=1e-3, backbone_lr=1e-4, layer_decay=0.5, weight_decay=0.05)
    assert _lr_of(groups, net.head.weight) == pytest.approx(1e-3)
    for i, layer in enumerate(net.layers):
        expected = 1e-4 * 0.5 ** (3 - i)
        assert _lr_of(groups, layer[0].weight) == pytest.approx(expected)
        assert _lr_of(groups, layer[1].bias) == pytest.approx(expected)
    assert _lr_of(groups, net.embed.weight) == pytest.approx(1e-4 * 0.5**4)
    by_param = {id(p): g for g in groups for p in g["params"]}
    assert by_param[id(net.layers[0][0].weight)]["weight_decay"] == 0.05
    assert by_param[id(net.layers[0][0].bias)]["weight_decay"] == 0.0  # biases and norms are not decayed
    assert by_param[id(net.layers[2][1].weight)]["weight_decay"] == 0.0
    assert len(by_param) == sum(1 for _ in net.parameters())  # every parameter in exactly one group


def test_frozen_parameters_are_left_out_and_overlaps_rejected():
    net = Layered(n_layers=2)
    net.embed.requires_grad_(False)
    net.layers[0].requires_grad_(False)
    layers = [list(layer.parameters()) for layer in net.layers]
    groups = param_groups(list(net.head.parameters()), net.backbone(), layers, head_lr=1e-3, backbone_lr=1e-4)
    in_groups = {id(p) for g in groups for p in g["params"]}
    assert in_groups == {id(p) for p in net.parameters() if p.requires_grad}
    with pytest.raises(ValueError, match="shares parameters"):
        param_groups(list(net.layers[1].parameters()), net.backbone(), layers, head_lr=1e-3, backbone_lr=1e-4)
    with pytest.raises(ValueError, match="nothing to train"):
        build_optimizer([])


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_scheduler_warms_up_then_decays(schedule):
    p = nn.Parameter(torch.zeros(2))
    opt = build_optimizer([{"params": [p], "lr": 0.1, "weight_decay": 0.0}])
    sched = build_scheduler(opt, total_steps=20, warmup_ratio=0.25, schedule=schedule)
    trace = []
    for _ in range(20):
        trace.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    for step, lr in enumerate(trace):
        if step < 5:
            expected = 0.1 * step / 5
        elif schedule == "cosine":
            expected = 0.1 * 0.5 * (1 + math.cos(math.pi * (step - 5) / 15))
        else:
            expected = 0.1 * (20 - step) / 15
        assert lr == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="unknown schedule"):
        build_scheduler(opt, total_steps=10, warmup_ratio=0.1, schedule="step")
