"""UniRep behind the methods: frozen probe (``embedding_head``, ``plm_frozen`` on cached h_avg), full
fine-tuning through the training engine, saved and reloaded. Tiny toy data, UniRep-64 (pretrained)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from biotune.models.backbones.unirep import INSTALL_HINT, package_weights_dir

from train_toy import TASKS, one_thread, toy_split  # noqa: F401 (one_thread: autouse fixture)

pytestmark = [
    pytest.mark.skipif(package_weights_dir(64) is None, reason=f"UniRep weights not installed ({INSTALL_HINT})"),
    pytest.mark.usefixtures("embed_one_thread"),
]
QUIET = {"trainer": {"max_epochs": 2, "enable_progress_bar": False, "enable_model_summary": False, "precision": "32-true"},
         "tracking": {"enabled": False}, "num_threads": 1}  # fmt: skip


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_split(tmp_path_factory.mktemp("toy") / "toy", n=60)


def test_embedding_head_probe_on_pretrained_unirep(tmp_path):
    from test_smote import toy_records, toy_tasks

    from biotune.methods.base import load_method
    from biotune.methods.embedding_head import EmbeddingHead

    train, valid, test = toy_records(seed=0, prefix="t"), toy_records((20, 6, 4), seed=1, prefix="v"), toy_records((30, 10, 10), seed=2, prefix="x")
    method = EmbeddingHead(backbone="unirep64", random_init=False, epochs=30, cache_path=str(tmp_path / "c.h5"))
    pred = method.fit(train, valid, toy_tasks()).predict(test)
    rows = [i for i, r in enumerate(test) if r.label("mechanism") is not None]
    called = np.asarray(toy_tasks()[1].classes)[pred.scores["mechanism"][rows].argmax(axis=1)]
    assert (called == np.asarray([test[i].label("mechanism") for i in rows])).mean() > 0.8
    saved = method.save(tmp_path / "saved")
    assert json.loads((saved / "method.json").read_text())["random_backbone_weights"] is False
    np.testing.assert_allclose(load_method(saved).predict(test).scores["mechanism"], pred.scores["mechanism"])


def test_plm_frozen_with_the_unirep_experiment_saves_and_reloads(toy, tmp_path):
    from biotune.methods.base import load_method
    from biotune.methods.plm import FrozenPLM
    from biotune.train.fit import uses_embedding_cache

    train, valid, test = toy
    method = FrozenPLM(experiment="arg_unirep_frozen_mlp", config={"backbone": {"weights": "unirep64"}, **QUIET}, cache=str(tmp_path / "c.h5"))
    assert uses_embedding_cache(method.training_config(), TASKS)
    pred = method.fit(train, valid, TASKS).predict(test)
    again = load_method(method.save(tmp_path / "saved")).predict(test)
    for task in pred.scores:
        np.testing.assert_allclose(again.scores[task], pred.scores[task], atol=1e-6)


def test_full_finetuning_trains_the_mlstm(toy, tmp_path):
    from biotune.train.fit import fit, uses_embedding_cache
    from biotune.train.run import compose_config

    train, valid, _ = toy
    overrides = ["experiment=arg_unirep_frozen_mlp", "backbone=unirep64", "finetune=full", "num_threads=1", "tracking.enabled=false",
                 "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "trainer.precision=32-true",
                 "trainer.max_epochs=1", "data.batch_size=16"]  # fmt: skip
    cfg = compose_config(overrides)
    assert not uses_embedding_cache(cfg, TASKS)
    from biotune.models.backbones.unirep import load_unirep

    before = load_unirep("unirep64").layers[0].mz.weight.clone()
    model = fit(cfg, train, valid, TASKS, tmp_path / "run").model
    after = model.encoder.model.layers[0].mz.weight.detach()
    assert not torch.allclose(before, after), "the bottom mLSTM layer was trained"


def test_lora_on_the_mlstm_trains_only_adapters_and_round_trips(tmp_path):
    from biotune.models.model import build_model
    from biotune.train.run import compose_config

    cfg = compose_config(["experiment=arg_unirep_frozen_mlp", "backbone=unirep64", "finetune=lora", "finetune.lora.layers=[-1]", "finetune.lora.r=2"])
    model = build_model(cfg, TASKS)
    trainable = [name for name, p in model.encoder.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name and ".layers.3." in name for name in trainable)
    assert {name.split(".layers.3.")[1].split(".")[0] for name in trainable} == {"input_proj", "mh", "mz"}
    batch = model.tokenize(["MKTAYIAKQRQISFVKSHF", "MKV"])
    model.train()
    sum(out.sum() for out in model(batch).values()).backward()
    assert all(p.grad is not None for name, p in model.encoder.named_parameters() if p.requires_grad and "lora_A" in name)
    with torch.no_grad():
        for name, p in model.encoder.named_parameters():
            if "lora_B" in name:
                p.normal_()  # make the adapter non-trivial before saving
    model.eval()
    with torch.no_grad():
        expected = model(batch)
    model.save_trainable(tmp_path / "saved")
    again = build_model(cfg, TASKS).load_trainable(tmp_path / "saved").eval()
    with torch.no_grad():
        got = again(batch)
    for task in expected:
        torch.testing.assert_close(got[task], expected[task])
