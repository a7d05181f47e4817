"""Fine-tune modes on a tiny random ESM-2 loaded like a real checkpoint: which parameters train."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from biotune.models.model import build_model
from biotune.tasks import TaskSpec

TASKS = [TaskSpec("is_arg", "binary"), TaskSpec("mechanism", "multiclass", ("efflux", "inactivation", "target"))]
SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "MSLEQKKGADIISKILQIQNSIGKTTSPSTLKTKLS", "MNIKKLVAG"]


def esm_cfg(tiny_esm_dir, **finetune):
    return OmegaConf.create({
        "backbone": {"name": "esm", "checkpoint": str(tiny_esm_dir), "random_init": False, "max_length": 64},
        "finetune": finetune,
        "representation": {"pool": "mean", "layers": [-1], "layer_mix": "none"},
        "head": {"name": "linear"},
    })


def train_step(model):
    """One AdamW step on a loss that touches every task."""
    optimizer = torch.optim.AdamW([p for group in model.param_groups().values() for p in group], lr=1e-2)
    logits = model(model.tokenize(SEQUENCES))
    loss = logits["is_arg"].pow(2).mean() + logits["mechanism"].logsumexp(-1).mean()
    loss.backward()
    optimizer.step()


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.encoder.named_parameters()}


def lora_parameter_count(hidden, intermediate, r, targets, n_layers):
    """r × (in + out) for every targeted Linear of an ESM layer."""
    shapes = {
        "query": (hidden, hidden), "key": (hidden, hidden), "value": (hidden, hidden),
        "dense": [(hidden, hidden), (hidden, intermediate), (intermediate, hidden)],
    }
    per_layer = 0
    for target in targets:
        for fan_in, fan_out in shapes[target] if target == "dense" else [shapes[target]]:
            per_layer += r * (fan_in + fan_out)
    return per_layer * n_layers


@pytest.mark.parametrize(
    "targets,layers,r",
    [(["query", "key", "value", "dense"], None, 4), (["query", "value"], [-1], 2)],
)
def test_lora_trains_exactly_the_adapters(tiny_esm_dir, targets, layers, r):
    lora = {"r": r, "alpha": 2 * r, "dropout": 0.0, "target_modules": targets, "layers": layers}
    model = build_model(esm_cfg(tiny_esm_dir, mode="lora", lora=lora), TASKS)
    config = model.encoder.base_model.config
    n_layers = config.num_hidden_layers if layers is None else len(layers)
    expected = lora_parameter_count(config.hidden_size, config.intermediate_size, r, targets, n_layers)
    assert model.parameter_counts()["trainable_backbone"] == expected
    names = [n for n, p in model.encoder.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    if layers == [-1]:
        assert all(f"layer.{config.num_hidden_layers - 1}." in n for n in names)

    before = snapshot(model)
    head_before = model.heads["is_arg"].linear.weight.detach().clone()
    train_step(model)
    after = snapshot(model)
    for name in before:
        if "lora_" in name:
            continue
        assert torch.equal(before[name], after[name]), f"frozen weight {name} changed"
    assert any(not torch.equal(before[n], after[n]) for n in names if "lora_B" in n)
    assert not torch.equal(head_before, model.heads["is_arg"].linear.weight)


def test_partial_trains_only_the_top_layers(tiny_esm_dir):
    model = build_model(esm_cfg(tiny_esm_dir, mode="partial", top_n_layers=1), TASKS)
    top = model.encoder.base_model.config.num_hidden_layers - 1
    trainable = {n for n, p in model.encoder.named_parameters() if p.requires_grad}
    assert trainable and all(f"encoder.layer.{top}." in n or "emb_layer_norm_after" in n for n in trainable)
    before = snapshot(model)
    train_step(model)
    after = snapshot(model)
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and changed <= trainable
    layers = model.backbone_layers()
    assert [len(group) > 0 for group in layers] == [False] * (len(layers) - 1) + [True]


def test_frozen_and_full_modes(tiny_esm_dir):
    frozen = build_model(esm_cfg(tiny_esm_dir, mode="frozen"), TASKS)
    assert frozen.param_groups()["backbone"] == []
    frozen.train()
    assert not frozen.encoder.training and frozen.heads.training

    full = build_model(esm_cfg(tiny_esm_dir, mode="full"), TASKS)
    trainable = {n for n, p in full.encoder.named_parameters() if p.requires_grad}
    everything = {n for n, _ in full.encoder.named_parameters() if "contact_head" not in n}
    assert trainable == everything
    per_layer = full.backbone_layers()
    assert len(per_layer) == full.encoder.n_states
    assert sum(len(g) for g in per_layer) == len(full.param_groups()["backbone"])


def test_bad_finetune_settings_are_clear_errors(tiny_esm_dir):
    with pytest.raises(ValueError, match="top_n_layers"):
        build_model(esm_cfg(tiny_esm_dir, mode="partial", top_n_layers=5), TASKS)
    with pytest.raises(ValueError, match="finetune.mode"):
        build_model(esm_cfg(tiny_esm_dir, mode="adapters"), TASKS)
    cnn = OmegaConf.create({
        "backbone": {"name": "cnn", "channels": 8, "n_layers": 2, "kernel_sizes": [3]},
        "finetune": {"mode": "lora", "lora": {"r": 2, "alpha": 4, "target_modules": ["query"]}},
        "head": {"name": "linear"},
    })
    with pytest.raises(ValueError, match="LoRA needs a transformer"):
        build_model(cnn, TASKS)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_esm_dir):
    grads = []
    for checkpointing in (False, True):
        cfg = esm_cfg(tiny_esm_dir, mode="full")
        cfg.backbone.gradient_checkpointing = checkpointing
        torch.manual_seed(0)
        model = build_model(cfg, TASKS).train()
        assert model.encoder.base_model.is_activation_checkpointing == checkpointing
        logits = model(model.tokenize(SEQUENCES))
        (logits["is_arg"].sum() + logits["mechanism"].sum()).backward()
        grads.append([p.grad.clone() for p in model.param_groups()["backbone"] if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads))


def test_dora_adds_one_magnitude_vector_per_targeted_linear(tiny_esm_dir):
    lora = {"r": 2, "alpha": 4, "dropout": 0.0, "target_modules": ["query", "value"], "layers": None, "use_dora": True}
    model = build_model(esm_cfg(tiny_esm_dir, mode="lora", lora=lora), TASKS)
    config = model.encoder.base_model.config
    expected = lora_parameter_count(config.hidden_size, config.intermediate_size, 2, ["query", "value"], config.num_hidden_layers)
    magnitudes = 2 * config.num_hidden_layers * config.hidden_size
    assert model.parameter_counts()["trainable_backbone"] == expected + magnitudes
