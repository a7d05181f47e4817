"""End to end: `biotune benchmark` on small synthetic datasets, plug-in methods, `biotune report`."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biotune.cli import _register, app
from biotune.data.dataset import Dataset, load_dataset, save_dataset
from biotune.data.records import Record
from biotune.evaluate.results import load_runs
from biotune.evaluate.runner import run_benchmark
from biotune.evaluate.synthetic import ARG_TASKS, random_protein, synthetic_arg_dataset
from biotune.methods.base import Method, Predictions, register_method
from biotune.tasks import TaskSpec


@register_method
class Majority(Method):
    """Predicts the training prior: the most frequent class, label frequencies, P(positive)."""

    name = "test_majority"

    def fit(self, train: Sequence[Record], valid, tasks: Sequence[TaskSpec]):
        self.tasks = list(tasks)
        self.prior = {}
        for t in self.tasks:
            y, mask = t.encode([r.label(t.name) for r in train])
            self.prior[t.name] = np.eye(t.n_outputs)[np.bincount(y[mask]).argmax()] if t.kind == "multiclass" else y[mask].mean(axis=0)
        return self

    def predict(self, records):
        scores = {t: np.tile(p, (len(records), 1)) if np.ndim(p) else np.full(len(records), p) for t, p in self.prior.items()}
        return Predictions([r.id for r in records], scores, ["ok"] * len(records))

    def save(self, directory):
        return self._write_manifest(directory)

    @classmethod
    def load(cls, directory):
        raise NotImplementedError


@register_method
class Abstain(Majority):
    """Scores nothing at all: returns no row. The runner must still write one row per test record."""

    name = "test_abstain"

    def predict(self, records):
        return Predictions([], {}, [])


def test_majority_class_gets_the_expected_low_macro_f1(diamond, tmp_path):
    rng = np.random.default_rng(0)
    mech = ["inactivation"] * 6 + ["efflux"] * 2 + ["target_alteration"] * 2
    rows = [{
        "id": f"r{i:02d}", "sequence": random_protein(80, rng), "is_arg": "1", "drug_classes": "beta_lactam",
        "mechanism": mech[i // 5], "cluster": f"c{i}", "fold": i % 5,
    } for i in range(50)]
    ds = Dataset(pd.DataFrame(rows), list(ARG_TASKS), {"is_arg": "is_arg", "drug_class": "drug_classes", "mechanism": "mechanism"}, {"n_folds": 5})
    metrics = run_benchmark(ds, ["test_majority"], ["mechanism"], tmp_path / "res", seeds=[0, 1], config={"bootstrap": {"n": 50}}, progress=False, render=False)
    assert len(metrics["runs"]["test_majority"]) == 10  # 5 folds × 2 seeds, pooled as stacked seed blocks
    p = 0.6  # every fold: 6 of 10 records are the training majority class
    pooled = metrics["pooled"]["test_majority"]["tuned"]["all"]["mechanism"]
    assert pooled["macro_f1"]["value"] == pytest.approx((2 * p / (1 + p)) / 3)
    assert pooled["accuracy"]["value"] == pytest.approx(p)
    assert metrics["over_runs"]["test_majority"]["tuned"]["mechanism"]["macro_f1"]["mean"] == pytest.approx(0.25)


@pytest.fixture(scope="module")
def benchmark_dir(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("diamond") is None:
        pytest.fail("diamond is not on PATH: ./setup.sh installs it")
    root = tmp_path_factory.mktemp("bench")
    save_dataset(synthetic_arg_dataset(8, 5, grouped_folds=False, seed=4), root / "data")
    _register()
    result = CliRunner().invoke(app, [
        "benchmark", "--dataset", str(root / "data"), "--methods", "besthit,kmer_lr,test_abstain",
        "--tasks", "is_arg,drug_class,mechanism", "--out", str(root / "res"),
        "--set", "kmer_lr.k_max=2", "--set", "besthit.min_identity=40", "--set", "bootstrap.n=200", "--no-progress",
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return root / "data", root / "res"


def test_results_directory_layout(benchmark_dir):
    _, res = benchmark_dir
    for name in ("config.yaml", "metrics.json", "summary.md", "summary.html", "plots/f1_heatmap_drug_class.png", "plots/pr_is_arg.png",
                 "plots/confusion_mechanism_kmer_lr.png", "identity/fold0.tsv", "predictions/besthit/fold4_seed0.tsv", "predictions/kmer_lr/fold0_seed0.json"):
        assert (res / name).exists(), name
    config = (res / "config.yaml").read_text()
    assert "k_max: 2" in config and "min_identity: 40" in config
    summary = (res / "summary.md").read_text()
    assert "besthit − kmer_lr" in summary and "| >=80 | besthit |" in summary and "| no_hit | kmer_lr |" in summary


def test_every_test_record_has_exactly_one_row_per_method(benchmark_dir):
    data, res = benchmark_dir
    ds = load_dataset(data)
    runs = load_runs(res)
    assert sorted(runs) == ["besthit", "kmer_lr", "test_abstain"]
    for method, method_runs in runs.items():
        seen = []
        for run in method_runs:
            expected = ds.table.loc[ds.fold_split(run.fold)[2], "id"].tolist()
            assert run.table["id"].tolist() == expected, method
            seen += expected
        assert sorted(seen) == sorted(ds.table["id"]), method


def test_a_record_no_method_scores_still_appears_and_counts_negative(benchmark_dir):
    _, res = benchmark_dir
    metrics = json.loads((res / "metrics.json").read_text())
    for run in load_runs(res)["test_abstain"]:
        assert set(run.table["status"]) == {"unscored"}
        assert set(run.table["call:is_arg"]) == {"0"} and set(run.table["call:mechanism"]) == {""}
    abstain = metrics["pooled"]["test_abstain"]["tuned"]["all"]
    assert abstain["is_arg"]["f1"]["value"] == 0.0 and abstain["mechanism"]["accuracy"]["value"] == 0.0
    assert abstain["is_arg"]["n"] == 40


def test_identity_bins_and_comparisons_in_metrics(benchmark_dir):
    _, res = benchmark_dir
    metrics = json.loads((res / "metrics.json").read_text())
    bins = metrics["pooled"]["kmer_lr"]["tuned"]
    assert sum(bins[b]["is_arg"]["n"] for b in metrics["bins"]) == bins["all"]["is_arg"]["n"] == 40
    kinds = {(c["a"], c["b"], c["subset"]) for c in metrics["comparisons"]}
    assert ("besthit", "kmer_lr", "all") in kinds and ("besthit", "kmer_lr", ">=80") in kinds
    cell = bins["all"]["drug_class"]["macro_f1"]
    assert cell["ci_low"] <= cell["value"] <= cell["ci_high"]
    assert len(metrics["runs"]["kmer_lr"]) == 5
    for method in ("besthit", "kmer_lr"):  # the fast replicate path agrees with scikit-learn, overall and per bin
        for subset in ("all", *metrics["bins"]):
            for task, names in metrics["headline"].items():
                for name in names:
                    fast = metrics["pooled"][method]["tuned"][subset][task][name]["value"]
                    full = metrics["pooled_full"][method]["tuned"][subset][task].get(name)
                    assert fast == pytest.approx(full, nan_ok=True) or (fast is None and full is None), (method, subset, task, name)


def test_report_re_renders_without_touching_predictions(benchmark_dir):
    _, res = benchmark_dir
    before = (res / "summary.md").read_text()
    stamps = {p: p.stat().st_mtime_ns for p in (res / "predictions").rglob("*")}
    metrics_before = (res / "metrics.json").read_text()
    (res / "summary.md").unlink()
    (res / "plots" / "pr_is_arg.png").unlink()
    result = CliRunner().invoke(app, ["report", str(res)])
    assert result.exit_code == 0, result.output
    assert (res / "summary.md").read_text() == before
    assert (res / "plots" / "pr_is_arg.png").exists()
    result = CliRunner().invoke(app, ["report", str(res), "--recompute"])
    assert result.exit_code == 0, result.output
    assert (res / "metrics.json").read_text() == metrics_before
    assert stamps == {p: p.stat().st_mtime_ns for p in (res / "predictions").rglob("*")}


def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys):
    from biotune.cli import main

    save_dataset(synthetic_arg_dataset(3, 5, seed=1), tmp_path / "data")
    for argv, message in (
        (["benchmark", "--dataset", str(tmp_path / "data"), "--methods", "nope", "--out", str(tmp_path / "r")], "unknown method 'nope'"),
        (["report", str(tmp_path)], "config.yaml is missing"),
        (["benchmark", "--dataset", str(tmp_path / "missing"), "--methods", "kmer_lr", "--out", str(tmp_path / "r")], "not a biotune dataset"),
    ):
        monkeypatch.setattr(sys, "argv", ["biotune", *argv])
        with pytest.raises(SystemExit) as exit_info:
            main()
        err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
        assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_method_params_resolution_order_and_variants():
    from biotune.evaluate.runner import build_method, method_spec, split_overrides

    assert method_spec("kmer_lr")[1]["C"] == 0.1  # configs/method/kmer_lr.yaml
    assert method_spec("kmer_lr", {"C": 2.0})[1]["C"] == 2.0
    assert method_spec("kmer_lr", {"C": 2.0}, ["C=0.5"])[1]["C"] == 0.5
    cls, params = method_spec("besthit_any", {"method": "besthit", "min_identity": 0})
    assert cls == "besthit" and params == {"min_identity": 0}
    assert build_method(cls, params, seed=3).params["min_identity"] == 0
    cls, params = method_spec("fusion_unirep", overrides=["inner_folds=2"])  # extends: fusion
    assert cls == "fusion" and list(params["bases"]) == [*method_spec("fusion")[1]["bases"], "unirep"]
    assert params["targets"] == method_spec("fusion")[1]["targets"] and params["inner_folds"] == 2
    assert build_method("kmer_lr", {}, seed=3).params["seed"] == 3
    bench, per_method = split_overrides(["kmer_lr.C=0.5", "bootstrap.n=10"], ["kmer_lr", "besthit"])
    assert bench == ["bootstrap.n=10"] and per_method == {"kmer_lr": ["C=0.5"], "besthit": []}
    with pytest.raises(ValueError, match="key=value"):
        split_overrides(["kmer_lr.C"], ["kmer_lr"])


def test_datasets_without_proteome_columns_keep_the_old_metrics_and_tables(benchmark_dir):
    _, res = benchmark_dir
    metrics = json.loads((res / "metrics.json").read_text())
    assert set(metrics) == {"methods", "tasks", "folds", "seeds", "bins", "bootstrap", "headline", "runs", "over_runs", "pooled", "pooled_full", "comparisons"}
    table = load_runs(res)["kmer_lr"][0].table
    assert "proteome" not in table.columns and "nearest_arg_identity" not in table.columns
    summary = (res / "summary.md").read_text()
    assert "per 1,000" not in summary and "hard negatives" not in summary and "Folds [0, 1, 2, 3, 4]" in summary
