"""Fitness recipe: assay parsing (separator / decimal mark), position-block folds, one-hot ridge, a benchmark run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from biotune.data.dataset import load_dataset, save_dataset
from biotune.data.records import Record
from biotune.errors import InputError
from biotune.evaluate.runner import run_benchmark
from biotune.methods.onehot_ridge import OneHotRidge
from biotune.recipes.fitness.build import build_fitness_dataset, position_block_folds, random_folds
from biotune.recipes.fitness.importer import read_dms
from biotune.tasks import TaskSpec

SHARED_FITNESS = Path(os.environ.get("BIOTUNE_FITNESS_SOURCES", Path(__file__).resolve().parents[2] / "shared" / "data" / "fitness_tem1"))
WT = "MKTAYIAK"
CONFIG = {
    "name": "toy", "version": "1", "folds": {"n_folds": 4, "seed": 0},
    "tasks": {"fitness": {"kind": "regression", "label": "score"}, "fitness_bin": {"kind": "binary", "label": "score_bin"}},
}


def mutate(position: int, alt: str) -> str:
    return WT[: position - 1] + alt + WT[position:]


def write_assay(path: Path, sep: str, decimal: str, rows: list[tuple[str, str, float, int]] | None = None) -> Path:
    rows = rows or [(f"{WT[p - 1]}{p}{a}", mutate(p, a), p * 0.5 - 1.25, int(p > 3)) for p in range(1, 9) for a in "GW"]
    lines = [sep.join(("mutant", "mutated_sequence", "DMS_score", "DMS_score_bin"))]
    lines += [sep.join((m, s, f"{v:.3f}".replace(".", decimal), str(b))) for m, s, v, b in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("sep, decimal", [(";", ","), (",", "."), ("\t", "."), (";", ".")])
def test_reads_every_separator_and_decimal_mark(tmp_path, sep, decimal):
    variants = read_dms(write_assay(tmp_path / "a.csv", sep, decimal))
    assert len(variants) == 16
    first = variants[0]
    assert (first.mutant, first.wt, first.position, first.alt, first.score, first.score_bin) == ("M1G", "M", 1, "G", -0.75, 0)
    assert variants[-1].score == pytest.approx(2.75)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("mutant;", "variant;"), "line 1: header"),
    (lambda t: t.replace("-0,750", "-0.750", 1), "line 3: mixed decimal marks"),
    (lambda t: t.replace("-0,250", "n/a"), "line 4: DMS_score 'n/a' is not a number"),
    (lambda t: t.replace("M1W;", "M1Y;"), "line 3: mutated_sequence has no 'Y' at position 1"),
    (lambda t: t.replace(";0\n", ";2\n", 1), "line 2: DMS_score_bin '2' is not 0 or 1"),
    (lambda t: t.replace(";-0,250;", ";x;-0,250;", 1), "line 4: 5 fields, expected 4"),
])
def test_bad_file_is_one_line_error_naming_file_and_line(tmp_path, edit, message):
    path = write_assay(tmp_path / "a.csv", ";", ",")
    path.write_text(edit(path.read_text()))
    with pytest.raises(InputError) as info:
        read_dms(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path)) and message in text


def test_position_blocks_never_share_a_site_and_stay_contiguous():
    rng = np.random.default_rng(0)
    positions = np.repeat(np.arange(20, 120), rng.integers(1, 30, size=100))
    folds = position_block_folds(positions, 5)
    assert set(folds) == set(range(5))
    per_site = {p: set(folds[positions == p]) for p in np.unique(positions)}
    assert all(len(f) == 1 for f in per_site.values())
    order = [next(iter(per_site[p])) for p in sorted(per_site)]
    assert order == sorted(order)
    assert np.bincount(folds).min() >= 0.5 * len(positions) / 5


def test_position_blocks_fill_every_fold_around_a_dominant_site():
    assert position_block_folds([1, 2] + [3] * 100 + [4, 5, 6, 7], 5).tolist() == [0, 0] + [1] * 100 + [2, 3, 4, 4]
    with pytest.raises(InputError, match="3 mutated positions cannot fill 5"):
        position_block_folds([1, 2, 3], 5)


def test_random_folds_are_balanced_and_seeded():
    folds = random_folds(103, 5, seed=1)
    assert np.ptp(np.bincount(folds)) <= 1
    assert (random_folds(103, 5, seed=1) == folds).all() and not (random_folds(103, 5, seed=2) == folds).all()


def additive_records(n: int, seed: int) -> list[Record]:
    """Variants with 1-3 substitutions whose fitness is the sum of per-(site, residue) effects."""
    effects = np.random.default_rng(99).normal(size=(len(WT), 4))
    effect = {(p, a): effects[p, j] for p in range(len(WT)) for j, a in enumerate("GWDE")}
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        seq, score = list(WT), 0.0
        for p in rng.choice(len(WT), size=rng.integers(1, 4), replace=False):
            a = "GWDE"[rng.integers(4)]
            seq[p], score = a, score + effect[(p, a)]
        records.append(Record(id=f"v{i}", sequence="".join(seq), labels={"fitness": score, "fitness_bin": int(score > 0)}))
    return records


def test_onehot_ridge_learns_additive_effects_and_round_trips(tmp_path):
    tasks = [TaskSpec("fitness", "regression"), TaskSpec("fitness_bin", "binary")]
    train, test = additive_records(300, 0), additive_records(100, 1)
    method = OneHotRidge(C=10.0).fit(train, None, tasks)
    pred = method.predict(test)
    y = np.array([r.label("fitness") for r in test])
    assert np.corrcoef(pred.scores["fitness"], y)[0, 1] > 0.9
    assert np.mean((pred.scores["fitness_bin"] >= 0.5) == (y > 0)) > 0.8
    loaded = OneHotRidge.load(method.save(tmp_path / "m"))
    assert np.allclose(loaded.predict(test).scores["fitness"], pred.scores["fitness"])


def test_onehot_ridge_rejects_sequences_of_different_lengths():
    records = [Record(id="a", sequence="MKT", labels={"f": 1.0}), Record(id="b", sequence="MK", labels={"f": 0.0})]
    with pytest.raises(ValueError, match="one length"):
        OneHotRidge().fit(records, None, [TaskSpec("f", "regression")])


def test_toy_study_benchmarks_on_position_folds(tmp_path):
    path = write_assay(tmp_path / "toy.csv", ";", ",")
    directory = save_dataset(build_fitness_dataset(path, "toy", CONFIG), tmp_path / "ds")
    ds = load_dataset(directory)
    for fold in range(4):
        train, valid, test = ds.fold_split(fold, "position_fold")
        sites = [set(ds.table.loc[i, "position"]) for i in (train, valid, test)]
        assert not sites[0] & sites[2] and not sites[1] & sites[2]
    config = {"fold_column": "position_fold", "identity": {"enabled": False}, "bootstrap": {"n": 20}}
    metrics = run_benchmark(directory, ["onehot_ridge"], ["fitness"], tmp_path / "run", config=config, progress=False, render=False)
    assert (tmp_path / "run" / "metrics.json").exists()
    assert "onehot_ridge" in str(metrics)


@pytest.fixture(scope="module")
def tem1() -> Path:
    if not (SHARED_FITNESS / "README.md").exists():
        pytest.skip(f"real TEM-1 data not found at {SHARED_FITNESS} (set BIOTUNE_FITNESS_SOURCES)")
    return SHARED_FITNESS


@pytest.mark.parametrize("study, n", [("Deng_2012", 4996), ("Firnberg_2014", 4783), ("Stiffler_2015", 4996)])
def test_real_tem1_studies_parse_and_split_by_site(tem1, study, n):
    config = dict(CONFIG, folds={"n_folds": 5, "seed": 0})
    ds = build_fitness_dataset(tem1 / f"BLAT_ECOLX_{study}.csv", study, config)
    t = ds.table
    assert len(t) == n and t["position"].between(24, 286).all() and t["DMS_score_bin"].isin(["0", "1"]).all()
    assert (t.groupby("position")["position_fold"].nunique() == 1).all()
    assert np.ptp(np.bincount(t["position_fold"])) < 0.1 * n
    assert np.ptp(np.bincount(t["fold"])) <= 1


@pytest.mark.parametrize("loss", ["mse", "l1", "huber"])
def test_embedding_head_regresses_with_each_engine_loss(loss):
    from biotune.methods.embedding_head import EmbeddingHead

    tasks = [TaskSpec("fitness", "regression")]
    train, valid, test = additive_records(300, 0), additive_records(60, 2), additive_records(100, 1)
    method = EmbeddingHead(backbone="kmer", kmer_max=1, hidden=32, epochs=40, regression_loss=loss).fit(train, valid, tasks)
    pred = method.predict(test).scores["fitness"]
    y = np.array([r.label("fitness") for r in test])
    assert pred.shape == (100,) and abs(pred.mean() - y.mean()) < 1.0
    assert np.corrcoef(pred, y)[0, 1] > 0.3


def test_embedding_head_rejects_imbalance_options_on_regression():
    from biotune.methods.embedding_head import EmbeddingHead

    with pytest.raises(ValueError, match="classification only"):
        EmbeddingHead(backbone="kmer", sampler="sqrt").fit(additive_records(20, 0), None, [TaskSpec("fitness", "regression")])


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_train_app_fits_a_regression_task_on_position_folds(tmp_path, loss):
    import json

    from biotune.train.run import compose_config, train

    directory = save_dataset(build_fitness_dataset(write_assay(tmp_path / "toy.csv", ";", ","), "toy", CONFIG), tmp_path / "ds")
    cfg = compose_config([
        "experiment=fitness_unirep_frozen", "backbone=cnn", "finetune=full", "backbone.channels=8", "backbone.kernel_sizes=[3]",
        "backbone.n_layers=1", "head.hidden=8", f"loss={loss}", f"data.path={directory}", "data.fold=1", "trainer.max_epochs=2",
        "num_threads=1", "tracking.enabled=false", "save_bundle=false", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", "trainer.precision=32-true",
    ])
    assert cfg.data.fold_column == "position_fold"
    train(cfg, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["sizes"] == {"train": 8, "valid": 4, "test": 4}
    assert {"spearman", "pearson", "mae", "rmse"} <= set(metrics["test"]["fitness"])


def test_a_malformed_config_override_is_a_one_line_input_error_naming_the_config(tmp_path):
    from biotune.errors import InputError
    from biotune.recipes.config import load_recipe_config

    config = tmp_path / "build.yaml"
    config.write_text("folds: {n_folds: 5}\n")
    assert load_recipe_config(config, ["folds.n_folds=3"]).folds.n_folds == 3
    with pytest.raises(InputError) as err:
        load_recipe_config(config, ["folds=["])
    assert "\n" not in str(err.value) and str(config) in str(err.value) and "bad config override" in str(err.value)
    with pytest.raises(InputError, match="config not found"):
        load_recipe_config(tmp_path / "missing.yaml")
