"""Seed ensembles average their members; records no member scores keep their status."""

from __future__ import annotations

import numpy as np
from test_smote import toy_records, toy_tasks

from biotune.ensemble import SeedEnsemble, average_predictions
from biotune.methods.base import Predictions, get_method, load_method


def test_seed_ensemble_is_the_mean_of_differently_seeded_members(tiny_esm_dir, tmp_path):
    train, valid, test = toy_records(seed=0, prefix="t"), toy_records((20, 6, 4), seed=1, prefix="v"), toy_records((10, 3, 2), seed=2, prefix="x")
    base = {"backbone": str(tiny_esm_dir), "random_init": False, "epochs": 3}
    ensemble = get_method("ensemble")(base="embedding_head", k=2, seed=5, base_params=base).fit(train, valid, toy_tasks())
    assert isinstance(ensemble, SeedEnsemble) and [m.params["seed"] for m in ensemble.members] == [5, 6]
    members = [m.predict(test) for m in ensemble.members]
    assert not np.allclose(members[0].scores["mechanism"], members[1].scores["mechanism"])
    pred = ensemble.predict(test)
    for task in pred.scores:
        np.testing.assert_allclose(pred.scores[task], np.mean([m.scores[task] for m in members], axis=0))
    again = load_method(ensemble.save(tmp_path / "ens")).predict(test)
    np.testing.assert_allclose(again.scores["drug_class"], pred.scores["drug_class"])


def test_average_skips_members_that_could_not_score_a_record():
    a = Predictions(["r1", "r2"], {"is_arg": np.array([0.2, 0.0])}, ["ok", "no_hit"])
    b = Predictions(["r1", "r2"], {"is_arg": np.array([0.6, 0.0])}, ["ok", "no_hit"])
    c = Predictions(["r1", "r2"], {"is_arg": np.array([0.4, 0.9])}, ["ok", "ok"])
    assert average_predictions([a, b]).status == ["ok", "no_hit"]
    mean = average_predictions([a, b, c])
    np.testing.assert_allclose(mean.scores["is_arg"], [0.4, 0.9])
    assert mean.status == ["ok", "ok"]
