"""Heads: output shapes per task kind, DRSN soft thresholding, padding invariance of residue heads."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from biotune.models.heads import HEADS, build_head
from biotune.models.heads.drsn import DRSNHead, ResidualShrinkageBlock, soft_threshold
from biotune.models.masked_norm import MaskedBatchNorm1d
from biotune.models.model import build_model
from biotune.tasks import TaskSpec

TASKS = [
    TaskSpec("is_arg", "binary"),
    TaskSpec("drug_class", "multilabel", ("beta-lactam", "tetracycline", "glycopeptide")),
    TaskSpec("mechanism", "multiclass", ("efflux", "inactivation", "target alteration", "target protection")),
    TaskSpec("identity", "regression"),
]
EXPECTED_SHAPE = {"is_arg": (5,), "drug_class": (5, 3), "mechanism": (5, 4), "identity": (5,)}

SMALL_HEADS = {
    "linear": {"name": "linear"},
    "mlp": {"name": "mlp", "hidden": 8, "activation": "relu", "dropout": 0.0},
    "drsn": {"name": "drsn", "base_channels": 8, "blocks": 3, "kernel_size": 3, "stride": 2,
             "downsample_every": 1, "attention_layers": 1, "attention_heads": 2, "hidden": 8, "dropout": 0.0},
    "attention": {"name": "attention", "n_heads": 2, "hidden": 8, "dropout": 0.0},
}


def residue_batch(lengths, dim=16, seed=0):
    """Random per-residue embeddings ``(B, L, D)`` with a mask, padded positions filled with garbage."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    x = torch.randn(len(lengths), width, dim, generator=generator)
    mask = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    return x, mask


def test_every_registered_head_is_covered():
    assert set(SMALL_HEADS) == set(HEADS)


@pytest.mark.parametrize("head", sorted(SMALL_HEADS))
def test_head_output_shape_for_each_task_kind(head):
    cfg = OmegaConf.create({
        "backbone": {"name": "precomputed", "hidden_size": 16, "n_layers": 1},
        "finetune": {"mode": "frozen"},
        "representation": {"pool": "mean", "layers": [-1], "layer_mix": "none"},
        "head": SMALL_HEADS[head],
    })
    model = build_model(cfg, TASKS).eval()
    x, mask = residue_batch([7, 3, 12, 1, 9])
    logits = model({"residue_embeddings": x, "attention_mask": mask})
    assert {name: tuple(v.shape) for name, v in logits.items()} == EXPECTED_SHAPE
    assert all(torch.isfinite(v).all() for v in logits.values())


def test_soft_threshold_is_zero_inside_and_shrinks_outside():
    x = torch.linspace(-3, 3, 61)
    tau = torch.tensor(1.25)
    y = soft_threshold(x, tau)
    inside = x.abs() <= tau
    assert torch.all(y[inside] == 0)
    assert torch.allclose(y[~inside], x[~inside] - torch.sign(x[~inside]) * tau)


def test_drsn_block_zeroes_small_features_per_channel():
    """The learned threshold is α·mean|x| with α in (0, 1): after the shrinkage, every non-zero value of
    a channel is at least that channel's threshold away from zero before shrinkage, and some are cut."""
    torch.manual_seed(0)
    block = ResidualShrinkageBlock(4, 4, kernel_size=3).eval()
    x = torch.randn(2, 4, 50)
    mask = torch.ones(2, 50, dtype=torch.bool)
    h = block.conv2(torch.relu(block.norm2(block.conv1(torch.relu(block.norm1(x))))))
    tau = block.threshold(h, mask)
    abs_mean = h.abs().mean(dim=-1, keepdim=True)
    assert torch.all(tau > 0) and torch.all(tau < abs_mean)
    shrunk = soft_threshold(h, tau)
    assert torch.equal(shrunk == 0, h.abs() <= tau)
    assert (shrunk == 0).any()


@pytest.mark.parametrize("head", ["drsn", "attention"])
def test_residue_heads_ignore_padding(head):
    """In eval mode a protein scores the same alone or padded inside a longer batch."""
    torch.manual_seed(0)
    module = build_head(OmegaConf.create(SMALL_HEADS[head]), 16, 3).eval()
    x, mask = residue_batch([9, 23])
    alone = module(x[:1, :9], mask[:1, :9])
    padded = module(x, mask)
    assert torch.allclose(alone, padded[:1], atol=1e-5)


def test_drsn_downsamples_and_widens():
    head = DRSNHead(16, 2, base_channels=8, blocks=4, stride=2, downsample_every=2)
    assert [b.stride for b in head.blocks] == [1, 2, 1, 2]
    assert head.out_channels == 32


def test_attention_head_weights_sum_to_one_over_residues_only():
    head = build_head(OmegaConf.create(SMALL_HEADS["attention"]), 16, 2).eval()
    x, mask = residue_batch([4, 10])
    head(x, mask)
    weights = head.pool.last_weights
    assert torch.allclose(weights.sum(dim=1), torch.ones(2, 2))
    assert torch.all(weights[0, 4:] == 0)


def test_unknown_head_and_bad_parameter_are_clear_errors():
    with pytest.raises(ValueError, match="unknown head"):
        build_head(OmegaConf.create({"name": "transformer"}), 16, 2)
    with pytest.raises(ValueError, match="mlp"):
        build_head(OmegaConf.create({"name": "mlp", "hiden": 8}), 16, 2)


def test_masked_batch_norm_matches_batch_norm_without_padding_and_ignores_padding():
    torch.manual_seed(0)
    plain, masked = torch.nn.BatchNorm1d(4), MaskedBatchNorm1d(4)
    x = torch.randn(3, 4, 10) * 2 + 1
    full = torch.ones(3, 10, dtype=torch.bool)
    assert torch.allclose(masked(x, full), plain(x), atol=1e-5)
    assert torch.allclose(masked.running_mean, plain.running_mean) and torch.allclose(masked.running_var, plain.running_var)
    padded = torch.cat([x, torch.zeros(3, 4, 7)], dim=2)
    mask = torch.cat([full, torch.zeros(3, 7, dtype=torch.bool)], dim=1)
    assert torch.allclose(masked(padded, mask)[:, :, :10], masked(x, full), atol=1e-5)


@pytest.mark.parametrize("head", ["drsn", "attention"])
def test_residue_heads_in_training_mode_do_not_see_padding(head):
    """Batch statistics come from real residues only: extra padding leaves training outputs unchanged."""
    torch.manual_seed(0)
    module = build_head(OmegaConf.create(SMALL_HEADS[head]), 16, 3).train()
    x, mask = residue_batch([9, 15])
    garbage = torch.randn(2, 8, 16)
    padded_x = torch.cat([x, garbage], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(2, 8, dtype=torch.bool)], dim=1)
    assert torch.allclose(module(x, mask), module(padded_x, padded_mask), atol=1e-5)
