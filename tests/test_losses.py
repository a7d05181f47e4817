"""Losses: focal reduces to BCE/CE, focal formula, class-balanced weights, masked multi-task loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from torch.nn import functional as F

from biotune.losses import MultiTaskLoss, build_loss, build_multitask_loss, count_classes, effective_number_weights
from biotune.tasks import TaskSpec

BINARY = TaskSpec("is_arg", "binary")
MULTILABEL = TaskSpec("drug_class", "multilabel", ("a", "b", "c", "d"))
MULTICLASS = TaskSpec("mechanism", "multiclass", ("x", "y", "z"))
REGRESSION = TaskSpec("score", "regression")


def loss(task, counts=None, **cfg):
    return build_loss(OmegaConf.create(cfg), task, counts)


def toy(task, n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    if task.kind == "binary":
        return torch.randn(n, generator=g) * 3, torch.randint(0, 2, (n,), generator=g).float()
    if task.kind == "multilabel":
        return torch.randn(n, 4, generator=g) * 3, torch.randint(0, 2, (n, 4), generator=g).float()
    if task.kind == "multiclass":
        return torch.randn(n, 3, generator=g) * 3, torch.randint(0, 3, (n,), generator=g)
    return torch.randn(n, generator=g), torch.randn(n, generator=g)


@pytest.mark.parametrize("task", [BINARY, MULTILABEL])
def test_focal_with_gamma_0_and_no_alpha_is_bce(task):
    logits, targets = toy(task)
    expected = F.binary_cross_entropy_with_logits(logits, targets)
    assert torch.allclose(loss(task, name="focal", gamma=0.0, alpha=None)(logits, targets), expected)
    assert torch.allclose(loss(task, name="bce")(logits, targets), expected)


def test_focal_with_gamma_0_and_no_alpha_is_ce():
    logits, targets = toy(MULTICLASS)
    expected = F.cross_entropy(logits, targets)
    assert torch.allclose(loss(MULTICLASS, name="focal", gamma=0.0, alpha=None)(logits, targets), expected)
    assert torch.allclose(loss(MULTICLASS, name="ce")(logits, targets), expected)


def test_binary_focal_matches_lin_et_al_formula():
    logits, targets = toy(BINARY)
    p = torch.sigmoid(logits)
    p_t = torch.where(targets == 1, p, 1 - p)
    alpha_t = torch.where(targets == 1, 0.25, 0.75)
    expected = (-alpha_t * (1 - p_t) ** 2 * torch.log(p_t)).mean()
    assert torch.allclose(loss(BINARY, name="focal", gamma=2.0, alpha=0.25)(logits, targets), expected, atol=1e-6)


def test_multiclass_focal_matches_formula_with_per_class_alpha():
    logits, targets = toy(MULTICLASS)
    p_t = torch.softmax(logits, -1).gather(1, targets[:, None])[:, 0]
    alpha = torch.tensor([0.2, 0.3, 0.5])
    expected = (-alpha[targets] * (1 - p_t) ** 2 * torch.log(p_t)).mean()
    got = loss(MULTICLASS, name="focal", gamma=2.0, alpha=[0.2, 0.3, 0.5])(logits, targets)
    assert torch.allclose(got, expected, atol=1e-6)


def test_multiclass_label_smoothing_matches_torch():
    logits, targets = toy(MULTICLASS)
    expected = F.cross_entropy(logits, targets, label_smoothing=0.1)
    assert torch.allclose(loss(MULTICLASS, name="ce", label_smoothing=0.1)(logits, targets), expected)


def test_binary_label_smoothing_pulls_targets_to_half():
    logits, targets = toy(BINARY)
    expected = F.binary_cross_entropy_with_logits(logits, targets * 0.8 + 0.1)
    assert torch.allclose(loss(BINARY, name="bce", label_smoothing=0.2)(logits, targets), expected)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-20, 20), min_size=1, max_size=20), st.floats(0.5, 5.0))
def test_focal_never_exceeds_bce(values, gamma):
    logits = torch.tensor(values)
    targets = (torch.arange(len(values)) % 2).float()
    focal = loss(BINARY, name="focal", gamma=gamma, alpha=None)(logits, targets)
    bce = F.binary_cross_entropy_with_logits(logits, targets)
    assert focal <= bce + 1e-6


def test_effective_number_weights_match_cui_et_al():
    counts = np.array([1000.0, 100.0, 10.0, 1.0])
    beta = 0.99
    raw = (1 - beta) / (1 - beta**counts)
    expected = raw / raw.sum() * len(counts)
    assert np.allclose(effective_number_weights(counts, beta), expected)
    assert np.allclose(effective_number_weights(counts, 0.0), 1.0)
    assert np.all(np.diff(effective_number_weights(counts, 0.9999)) > 0)


def test_class_balanced_ce_weights_each_example_by_its_class():
    logits, targets = toy(MULTICLASS)
    counts = np.array([50.0, 5.0, 1.0])
    weights = torch.tensor(effective_number_weights(counts, 0.9), dtype=torch.float32)
    expected = (F.cross_entropy(logits, targets, reduction="none") * weights[targets]).mean()
    got = loss(MULTICLASS, counts, name="class_balanced", base="ce", beta=0.9)(logits, targets)
    assert torch.allclose(got, expected)


def test_class_balanced_binary_and_multilabel_weights():
    logits, targets = toy(BINARY)
    w = torch.tensor(effective_number_weights([90, 10], 0.99), dtype=torch.float32)
    expected = (F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * w[targets.long()]).mean()
    got = loss(BINARY, np.array([90, 10]), name="class_balanced", base="bce", beta=0.99)(logits, targets)
    assert torch.allclose(got, expected)
    logits, targets = toy(MULTILABEL)
    counts = np.array([40, 8, 2, 1])
    w = torch.tensor(effective_number_weights(counts, 0.99), dtype=torch.float32)
    expected = (F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * w).mean()
    got = loss(MULTILABEL, counts, name="class_balanced", base="bce", beta=0.99)(logits, targets)
    assert torch.allclose(got, expected)


def test_count_classes_from_encoded_targets():
    targets, mask = BINARY.encode([1, 0, None, 0, 1, 0])
    assert count_classes(BINARY, targets, mask).tolist() == [3, 2]
    targets, mask = MULTICLASS.encode(["x", None, "z", "z"])
    assert count_classes(MULTICLASS, targets, mask).tolist() == [1, 0, 2]
    targets, mask = MULTILABEL.encode([["a", "b"], None, ["b"]])
    assert count_classes(MULTILABEL, targets, mask).tolist() == [1, 2, 0, 0]


@pytest.mark.parametrize("name,reference", [("mse", F.mse_loss), ("l1", F.l1_loss), ("huber", F.huber_loss)])
def test_regression_losses(name, reference):
    predictions, targets = toy(REGRESSION)
    assert torch.allclose(loss(REGRESSION, name=name)(predictions, targets), reference(predictions, targets))


def test_regression_task_under_classification_loss_uses_regression_key():
    predictions, targets = toy(REGRESSION)
    got = loss(REGRESSION, name="focal", regression="l1")(predictions, targets)
    assert torch.allclose(got, F.l1_loss(predictions, targets))


def test_per_task_override():
    cfg = OmegaConf.create({"name": "focal", "gamma": 2.0, "per_task": {"mechanism": {"name": "ce"}}})
    logits, targets = toy(MULTICLASS)
    assert torch.allclose(build_loss(cfg, MULTICLASS)(logits, targets), F.cross_entropy(logits, targets))


def test_loss_errors_are_clear():
    with pytest.raises(ValueError, match="regression loss"):
        loss(BINARY, name="mse")
    with pytest.raises(ValueError, match="class counts"):
        loss(MULTICLASS, name="class_balanced")
    with pytest.raises(ValueError, match="unknown loss"):
        loss(BINARY, name="hinge")


def multitask_batch():
    tasks = [BINARY, MULTILABEL, MULTICLASS]
    logits, targets = {}, {}
    for task in tasks:
        logits[task.name], targets[task.name] = toy(task, n=6, seed=len(task.name))
    masks = {
        "is_arg": torch.ones(6, dtype=torch.bool),
        "drug_class": torch.tensor([1, 1, 0, 0, 1, 0], dtype=torch.bool),
        "mechanism": torch.tensor([0, 1, 0, 1, 1, 0], dtype=torch.bool),
    }
    return tasks, logits, targets, masks


def test_masked_multitask_loss_ignores_missing_labels():
    tasks, logits, targets, masks = multitask_batch()
    mtl = build_multitask_loss(OmegaConf.create({"name": "focal", "gamma": 2.0}), tasks, weights={"mechanism": 0.5})
    total, per_task = mtl(logits, targets, masks)
    changed = {k: v.clone() for k, v in targets.items()}
    changed["drug_class"][~masks["drug_class"]] = 1 - changed["drug_class"][~masks["drug_class"]]
    changed["mechanism"][~masks["mechanism"]] = (changed["mechanism"][~masks["mechanism"]] + 1) % 3
    assert torch.equal(mtl(logits, changed, masks)[0], total)
    flipped = {k: v.clone() for k, v in targets.items()}
    flipped["mechanism"][masks["mechanism"]] = (flipped["mechanism"][masks["mechanism"]] + 1) % 3
    assert not torch.equal(mtl(logits, flipped, masks)[0], total)
    expected = sum(w * mtl.losses[t.name](logits[t.name][masks[t.name]], targets[t.name][masks[t.name]])
                   for t, w in zip(tasks, (1.0, 1.0, 0.5)))
    assert torch.allclose(total, expected)
    assert set(per_task) == {"is_arg", "drug_class", "mechanism"}


def test_task_without_labelled_rows_contributes_zero_and_no_nan():
    tasks, logits, targets, masks = multitask_batch()
    masks["drug_class"] = torch.zeros(6, dtype=torch.bool)
    logits = {k: v.clone().requires_grad_(True) for k, v in logits.items()}
    mtl = MultiTaskLoss({t.name: build_loss(OmegaConf.create({"name": "bce"}), t) for t in tasks})
    total, per_task = mtl(logits, targets, masks)
    assert per_task["drug_class"].item() == 0.0
    total.backward()
    assert torch.all(logits["drug_class"].grad == 0)
    assert all(torch.isfinite(v.grad).all() for v in logits.values())
    with pytest.raises(ValueError, match="unknown tasks"):
        MultiTaskLoss({"is_arg": mtl.losses["is_arg"]}, {"mechanism": 2.0})


def test_per_task_override_of_an_unknown_task_is_an_error():
    cfg = OmegaConf.create({"name": "bce", "per_task": {"drug_classes": {"name": "focal"}}})
    with pytest.raises(ValueError, match="unknown tasks"):
        build_multitask_loss(cfg, [BINARY, MULTILABEL])
