"""The training engine end to end on tiny real models: learning, schedules, early stopping, param groups."""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import pytest
import torch

from biotune.train.callbacks import scalar_metrics
from biotune.train.fit import fit, predict_scores
from biotune.train.optim import param_groups
from biotune.train.run import compose_config

from train_toy import TASKS, one_thread, toy_split  # noqa: F401 (one_thread: autouse fixture)

TINY_CNN = ["experiment=arg_cnn", "backbone.channels=16", "backbone.kernel_sizes=[5]", "backbone.n_layers=1", "head.hidden=32", "num_threads=1", "tracking.enabled=false", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "trainer.precision=32-true"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_split(tmp_path_factory.mktemp("toy") / "toy", n=120)


def test_loss_decreases_and_metrics_are_learned(toy, tmp_path):
    train, valid, test = toy
    cfg = compose_config([*TINY_CNN, "trainer.max_epochs=12", "early_stopping.patience=null", "optim.warmup_ratio=0.1", "data.batch_size=8"])
    result = fit(cfg, train, valid, TASKS, tmp_path)
    losses = [h["train/loss_epoch"] for h in result.history]
    assert len(losses) == 12
    assert losses[-1] < 0.7 * losses[0]
    scores = predict_scores(result.model, TASKS, test)
    from biotune.train.datamodule import encode_targets

    targets, masks = encode_targets(test, TASKS)
    metrics = scalar_metrics(TASKS, targets, masks, scores)
    assert metrics["is_arg/auroc"] > 0.9  # W-enrichment is easy to learn from composition
    assert (tmp_path / "checkpoints" / "best.ckpt").exists()
    assert set(result.thresholds) == {"is_arg", "drug_class", "mechanism"}
    assert len(result.thresholds["drug_class"]) == 3 and result.thresholds["mechanism"] == []


class LrTrace(L.Callback):
    """The lr of every parameter group at each optimiser step."""

    def __init__(self):
        self.lrs: list[dict[str, float]] = []
        self.total = None

    def on_train_start(self, trainer, pl_module):
        self.total = trainer.estimated_stepping_batches

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.lrs.append({g["name"]: g["lr"] for g in optimizer.param_groups})


def test_schedule_is_stepped_per_optimizer_step_with_accumulation(toy, tmp_path):
    train, valid, _ = toy
    trace = LrTrace()
    cfg = compose_config([*TINY_CNN, "trainer.max_epochs=3", "early_stopping.patience=null", "data.batch_size=8", "trainer.accumulate_grad_batches=2", "optim.warmup_ratio=0.2", "optim.schedule=cosine", "optim.head_lr=1e-2", "optim.backbone_lr=4e-3", "optim.layer_decay=0.5"])
    fit(cfg, train, valid, TASKS, tmp_path, callbacks=[trace])
    batches_per_epoch = math.ceil(len(train) / 8)
    steps = 3 * math.ceil(batches_per_epoch / 2)
    assert trace.total == steps and len(trace.lrs) == steps  # one scheduler step per optimiser step
    warmup = round(0.2 * steps)
    for step, lrs in enumerate(trace.lrs):
        factor = step / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))
        assert lrs["head"] == pytest.approx(1e-2 * factor, abs=1e-12)
        # the backbone layers keep their layer-wise decayed ratios all along the schedule
        top = max(int(k.split(".")[1][5:]) for k in lrs if k.startswith("backbone.layer"))
        for name, lr in lrs.items():
            if name.startswith("backbone.layer"):
                depth = int(name.split(".")[1][5:])
                assert lr == pytest.approx(4e-3 * 0.5 ** (top - depth) * factor, abs=1e-12)


class WeightSnapshots(L.Callback):
    """A copy of the weights and the monitored value after each validation."""

    def __init__(self, monitor: str):
        self.monitor = monitor
        self.snapshots: list[tuple[float, dict[str, torch.Tensor]]] = []

    def on_validation_end(self, trainer, pl_module):
        value = float(trainer.callback_metrics[self.monitor])
        self.snapshots.append((value, {k: v.detach().clone() for k, v in pl_module.model.state_dict().items()}))


def test_early_stopping_restores_the_best_weights(toy, tmp_path):
    train, valid, _ = toy
    # Monitoring the validation loss in "max" mode makes an early epoch the best: the loss falls.
    cfg = compose_config([*TINY_CNN, "trainer.max_epochs=10", "early_stopping.monitor=valid/loss", "early_stopping.mode=max", "early_stopping.patience=2", "optim.warmup_ratio=0.0"])
    snaps = WeightSnapshots("valid/loss")
    result = fit(cfg, train, valid, TASKS, tmp_path, callbacks=[snaps])
    values = [v for v, _ in snaps.snapshots]
    best = int(np.argmax(values))
    assert len(values) == best + 3  # stopped after `patience` epochs without improvement
    assert result.best_score == pytest.approx(values[best])
    final = result.model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in snaps.snapshots[best][1].items())
    assert not all(torch.equal(final[k], v) for k, v in snaps.snapshots[-1][1].items())


def test_real_model_param_groups_get_head_and_layerwise_lrs(tiny_esm_dir):
    from biotune.models.model import build_model

    cfg = compose_config(["backbone=esm2_tiny", f"backbone.checkpoint={tiny_esm_dir}", "backbone.random_init=false", "finetune=full", "task=all"])
    model = build_model(cfg, TASKS)
    groups = model.param_groups()
    out = param_groups(groups["head"], groups["backbone"], model.backbone_layers(), head_lr=1e-3, backbone_lr=1e-4, layer_decay=0.5)
    lr = {id(p): g["lr"] for g in out for p in g["params"]}
    assert {lr[id(p)] for p in groups["head"]} == {1e-3}
    esm = model.encoder.base_model
    assert lr[id(esm.encoder.layer[1].attention.self.query.weight)] == pytest.approx(1e-4)
    assert lr[id(esm.encoder.layer[0].attention.self.query.weight)] == pytest.approx(5e-5)
    assert lr[id(esm.embeddings.word_embeddings.weight)] == pytest.approx(2.5e-5)
    assert len(lr) == sum(p.requires_grad for p in model.parameters())


class LoaderProbe(L.Callback):
    def on_train_start(self, trainer, pl_module):
        self.sampler = trainer.train_dataloader.sampler
        self.examples = trainer.datamodule.train


def test_sampler_and_augmentation_hooks_are_used_when_configured(toy, tmp_path):
    from torch.utils.data import WeightedRandomSampler

    train, valid, _ = toy
    probe = LoaderProbe()
    cfg = compose_config([*TINY_CNN, "trainer.max_epochs=1", "data.sampler=class_balanced", "data.sampler_task=mechanism", "data.augment={substitution_p: 0.2, truncate_p: 0.5}"])
    fit(cfg, train, valid, TASKS, tmp_path, callbacks=[probe])
    assert isinstance(probe.sampler, WeightedRandomSampler)
    drawn = [probe.examples[i]["sequence"] for i in range(len(train))]
    assert any(d != r.sequence for d, r in zip(drawn, train))
    assert all(set(d) <= set(r.sequence) | set("ACDEFGHIKLMNPQRSTVWY") and len(d) <= len(r.sequence) for d, r in zip(drawn, train))


def test_same_seed_same_model(toy, tmp_path):
    train, valid, test = toy
    cfg = compose_config([*TINY_CNN, "trainer.max_epochs=2", "seed=7"])
    a = predict_scores(fit(cfg, train, valid, TASKS, tmp_path / "a").model, TASKS, test)
    b = predict_scores(fit(cfg, train, valid, TASKS, tmp_path / "b").model, TASKS, test)
    c = predict_scores(fit(compose_config([*TINY_CNN, "trainer.max_epochs=2", "seed=8"]), train, valid, TASKS, tmp_path / "c").model, TASKS, test)
    assert all(np.array_equal(a[t.name], b[t.name]) for t in TASKS)
    assert not np.array_equal(a["is_arg"], c["is_arg"])
