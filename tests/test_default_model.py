"""``biotune arg train-default``: a bundle trained on a benchmark dataset, its manifest, and its round trip."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from predict_fixtures import FAMILIES, mutate, predict_cli, save_synthetic_dataset, synthetic_arg_table, write_fasta_text

from biotune.data.dataset import load_dataset
from biotune.errors import InputError
from biotune.predict.annotation_bundle import BUNDLE_FILE, load_bundle
from biotune.predict.pipeline import PredictSettings, annotate, load_predict_config
from biotune.recipes.arg.default_model import default_bundle_dir, installed_default_is_current, load_default_config, train_default

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    return save_synthetic_dataset(tmp_path_factory.mktemp("data") / "synthetic_arg_v1")


def test_train_default_from_benchmark_then_predict_round_trip(dataset_dir, tmp_path, diamond, monkeypatch):
    """Benchmark -> bundle from the dataset's folds with its cross-validated numbers -> predict ->
    reload -> identical predictions."""
    from biotune.evaluate.runner import run_benchmark

    results = tmp_path / "results"
    run_benchmark(dataset_dir, ["kmer_lr"], None, results, folds=[0], config={"bootstrap": {"n": 20}}, progress=False, render=False)
    home = tmp_path / "home"
    monkeypatch.setenv("BIOTUNE_HOME", str(home))
    result = predict_cli("arg", "train-default", "--dataset", str(dataset_dir), "--method", "kmer_lr", "--benchmark-results", str(results), "--set", "valid_fold=1", "--set", "thresholds_from_benchmark=true")
    assert result.exit_code == 0, result.output
    bundle_dir = home / "models" / "arg_default"
    assert (bundle_dir / BUNDLE_FILE).exists() and not [p for p in (home / "models").iterdir() if p != bundle_dir]

    bundle = load_bundle(bundle_dir)
    manifest, table = bundle.manifest, load_dataset(dataset_dir).table
    assert manifest["method"] == "kmer_lr" and manifest["model_version"].startswith("arg_default-kmer_lr-")
    train = table[table["fold"] != 1]
    data = manifest["dataset"]
    assert (data["name"], data["version"], data["records"]) == ("synthetic_arg", "0.1", len(train))
    assert data["folds"] == sorted(train["fold"].unique().tolist()) and data["validation_records"] == (table["fold"] == 1).sum()
    assert (data["arg"], data["non_arg"]) == ((train["is_arg"] == "1").sum(), (train["is_arg"] == "0").sum())
    assert data["mechanism_counts"] == train[train["mechanism"] != ""]["mechanism"].value_counts().to_dict()
    assert manifest["reference"]["sequences"] == len(bundle.reference_labels) == len(table), "references: every sequence"
    assert set(bundle.reference_labels.loc["fam0_m0"][["is_arg", "drug_class", "mechanism"]]) == {"1", *FAMILIES[0]}
    cv = manifest["cross_validation"]
    assert cv["method"] == "kmer_lr" and cv["folds"] == [0]
    assert cv["metrics"] == json.loads((results / "metrics.json").read_text())["pooled"]["kmer_lr"]["tuned"]
    assert 0 <= cv["metrics"]["all"]["is_arg"]["f1"]["value"] <= 1
    assert cv["split"] == "homology-grouped folds" and "proteome_false_calls" not in cv  # the synthetic data has no proteomes
    from biotune.serve.app import model_html

    shown = model_html(manifest)
    assert f"is_arg f1 {cv['metrics']['all']['is_arg']['f1']['value']:.3f}" in shown and "homology-grouped folds [0]" in shown
    tuned = json.loads((results / "predictions" / "kmer_lr" / "fold0_seed0.json").read_text())["thresholds"]["tuned"]
    assert manifest["thresholds"]["is_arg"] == round(tuned["is_arg"][0], 4)
    classes = bundle.method.tasks[1].classes
    assert manifest["thresholds"]["drug_class"] == {c: round(v, 4) for c, v in zip(classes, tuned["drug_class"])}
    rules = bundle.call_rules(PredictSettings.from_config(load_predict_config()).rules)
    assert rules.is_arg_threshold == manifest["thresholds"]["is_arg"]
    assert rules.threshold_for("MLS") == manifest["thresholds"]["drug_class"]["MLS"]

    rng = random.Random(11)
    queries = [(f"q{i}", mutate(rng, s, 0.15)) for i, s in enumerate(synthetic_arg_table()["sequence"][::9])]
    path = write_fasta_text(tmp_path / "q.faa", queries)
    settings = PredictSettings.from_config(load_predict_config(["threads=2"]))
    _, first = annotate(path, bundle, tmp_path / "first", settings)
    _, second = annotate(path, load_bundle(bundle_dir), tmp_path / "second", settings)
    assert first["predictions.tsv"].read_text() == second["predictions.tsv"].read_text()
    assert manifest["model_version"] in first["predictions.tsv"].read_text()
    assert "Cross-validated performance" in first["report.html"].read_text()

    again = predict_cli("arg", "train-default", "--dataset", str(dataset_dir))
    assert isinstance(again.exception, InputError) and "--force" in str(again.exception)

    # ./setup.sh rebuilds an installed default built with another method, other parameters or from another dataset
    assert installed_default_is_current(load_default_config([f"dataset={dataset_dir}", "method=kmer_lr"]))[0]
    stale, why = installed_default_is_current(load_default_config([f"dataset={dataset_dir}"]))
    assert not stale and "'kmer_lr' != configured 'fusion'" in why
    stale, why = installed_default_is_current(load_default_config([f"dataset={dataset_dir}", "method=kmer_lr", "params.k_max=1"]))
    assert not stale and "k_max=3 (configured 1)" in why
    stale, why = installed_default_is_current(load_default_config([f"dataset={tmp_path}", "method=kmer_lr"]))
    assert not stale and "dataset" in why
    assert not installed_default_is_current(load_default_config(), tmp_path / "nowhere")[0]
    manifest_path = bundle_dir / BUNDLE_FILE
    manifest_path.write_text(json.dumps({**manifest, "method_fit_revision": 0}))  # fitted before a fix in fit
    stale, why = installed_default_is_current(load_default_config([f"dataset={dataset_dir}", "method=kmer_lr"]))
    assert not stale and "fit revision 0, current is 1" in why


def test_default_config_is_fusion_on_arg_v2_calibrated_on_fold_0():
    cfg = load_default_config()
    assert (cfg.method, cfg.dataset, cfg.valid_fold) == ("fusion", "data/arg_v2", 0)


def test_train_default_rejects_unknown_inputs(dataset_dir, tmp_path):
    with pytest.raises(InputError, match="not a biotune dataset"):
        train_default(load_default_config([f"dataset={tmp_path}"]), tmp_path / "b")
    with pytest.raises(InputError, match="no task 'resistome'"):
        train_default(load_default_config([f"dataset={dataset_dir}", "tasks=[resistome]"]), tmp_path / "b")
    with pytest.raises(InputError, match="unknown setting"):
        load_default_config(["methd=kmer_lr"])
    with pytest.raises(InputError, match="not an ARG annotation bundle"):
        load_bundle(dataset_dir)


def test_default_bundle_location_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BIOTUNE_HOME", str(tmp_path / "bt"))
    assert default_bundle_dir() == tmp_path / "bt" / "models" / "arg_default"
    monkeypatch.delenv("BIOTUNE_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_bundle_dir() == tmp_path / "cache" / "biotune" / "models" / "arg_default"
