"""Bundles and engine-backed methods: save → load gives identical predictions; frozen heads use the cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from biotune.bundle import load_bundle
from biotune.errors import InputError
from biotune.methods.base import get_method, load_method

from train_toy import TASKS, one_thread, toy_split  # noqa: F401 (one_thread: autouse fixture)

QUIET = {"num_threads": 1, "tracking": {"enabled": False}, "trainer": {"enable_progress_bar": False, "enable_model_summary": False, "precision": "32-true"}}
TINY_ESM = {"backbone": {"checkpoint": "esm2_tiny", "random_init": True}}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_split(tmp_path_factory.mktemp("toy") / "toy", n=60)


def _merge(*configs: dict) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.merge(*configs))


def _round_trip(name: str, config: dict, toy, tmp_path, **params):
    train, valid, test = toy
    method = get_method(name)(config=config, **params).fit(train, valid, TASKS)
    before = method.predict(test)
    method.save(tmp_path / "bundle")
    loaded = load_method(tmp_path / "bundle")
    after = loaded.predict(test)
    assert type(loaded) is type(method) and after.ids == [r.id for r in test]
    for task in TASKS:
        assert before.scores[task.name].shape[0] == len(test)
        assert np.array_equal(before.scores[task.name], after.scores[task.name]), task.name
    return method, loaded, before


def test_cnn_method_round_trip(toy, tmp_path):
    config = _merge(QUIET, {"backbone": {"channels": 8, "kernel_sizes": [5], "n_layers": 1}, "head": {"hidden": 16}, "trainer": {"max_epochs": 2}})
    method, _, preds = _round_trip("cnn", config, toy, tmp_path)
    info = method.fit_info()
    assert info["epochs_run"] == info["max_epochs"] == 2 and info["best_epoch"] in (0, 1)
    manifest = json.loads((tmp_path / "bundle" / "method.json").read_text())
    assert manifest["method"] == "cnn" and manifest["random_weights"] is False
    for name in ("config.yaml", "tasks.json", "thresholds.json", "versions.json", "model/heads.safetensors", "model/backbone.safetensors"):
        assert (tmp_path / "bundle" / name).exists(), name
    assert np.allclose(preds.scores["mechanism"].sum(axis=1), 1.0, atol=1e-5)
    assert json.loads((tmp_path / "bundle" / "tasks.json").read_text())[1]["classes"] == list(TASKS[1].classes)


def test_lora_method_saves_only_the_adapter_and_round_trips(toy, tmp_path):
    config = _merge(QUIET, TINY_ESM, {"head": {"base_channels": 8, "blocks": 2, "hidden": 16}, "finetune": {"lora": {"r": 2}}, "trainer": {"max_epochs": 1}, "data": {"batch_size": 16}})
    _round_trip("plm_lora", config, toy, tmp_path)
    model_dir = tmp_path / "bundle" / "model"
    assert (model_dir / "adapter" / "adapter_model.safetensors").exists()
    assert not (model_dir / "backbone.safetensors").exists()  # the backbone is a reference, not a copy
    assert json.loads((tmp_path / "bundle" / "method.json").read_text())["random_weights"] is True


def test_frozen_method_trains_on_cached_embeddings_and_matches_raw_sequences(toy, tmp_path):
    cache = tmp_path / "cache.h5"
    config = _merge(QUIET, TINY_ESM, {"head": {"hidden": 16}, "trainer": {"max_epochs": 2}})
    method, _, cached = _round_trip("plm_frozen", config, toy, tmp_path, cache=str(cache))
    assert cache.exists()
    raw = load_bundle(tmp_path / "bundle").predict_scores(toy[2])  # backbone run on the sequences
    for task in TASKS:
        assert np.allclose(cached.scores[task.name], raw[task.name], atol=1e-4), task.name


def test_load_bundle_rejects_a_directory_that_is_not_one(tmp_path):
    with pytest.raises(InputError, match="not a biotune bundle"):
        load_bundle(tmp_path)
