"""``biotune compare``: paired comparison of two real benchmark runs on a small synthetic dataset."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from test_smote import toy_records, toy_tasks

from biotune.data.dataset import Dataset, format_label, save_dataset
from biotune.evaluate import results as R
from biotune.evaluate.identity_bins import BIN_LABELS
from biotune.evaluate.compare_results import compare_results, comparison_markdown, write_comparison
from biotune.evaluate.runner import run_benchmark

BENCH = {"bootstrap": {"n": 200, "unit": "record", "level": 0.95, "seed": 0}}
FOLDS = [0, 1]


@pytest.fixture(scope="module")
def toy_dataset(tmp_path_factory):
    records = toy_records((60, 15, 8), seed=4)
    tasks = toy_tasks()
    rng = np.random.default_rng(0)
    table = pd.DataFrame({
        "id": [r.id for r in records],
        "sequence": [r.sequence for r in records],
        **{t.name: [format_label(t, r.label(t.name)) for r in records] for t in tasks},
        "sources": "toy", "source_ids": [r.id for r in records],
        "cluster": [f"c{i}" for i in range(len(records))],
        "fold": rng.permutation(len(records)) % 5,
    })  # fmt: skip
    ds = Dataset(table, tasks, {t.name: t.name for t in tasks}, {"name": "toy", "version": "1", "n_folds": 5})
    return save_dataset(ds, tmp_path_factory.mktemp("toy_ds"))


@pytest.fixture(scope="module")
def two_runs(toy_dataset, tmp_path_factory, diamond):
    """kmer_lr at two regularisation strengths, each in its own results directory."""
    out = tmp_path_factory.mktemp("runs")
    for name, C in (("a", 10.0), ("b", 0.001)):
        run_benchmark(toy_dataset, {"kmer_lr": {"C": C, "class_weight": None}}, None, out / name, folds=FOLDS, seeds=[0], config=BENCH, progress=False, render=False)
    return out / "a", out / "b"


def test_compare_reports_overall_rare_and_identity_bins(two_runs, tmp_path):
    a, b = two_runs
    result = compare_results(a, b, rare_max=20)
    assert result["differences"] == {"C": [10.0, 0.001]}
    assert result["rare_classes"] == {"mechanism": ["efflux", "target_alteration"], "drug_class": ["rifampin", "tetracycline"]}
    subsets = {r["subset"] for r in result["rows"]}
    assert {"all", "rare"} <= subsets and subsets - {"all", "rare"} <= set(BIN_LABELS)
    binned = sum(r["n"] for r in result["rows"] if r["subset"] in BIN_LABELS and r["task"] == "is_arg" and r["metric"] == "f1")
    assert binned == next(r["n"] for r in result["rows"] if r["subset"] == "all" and r["task"] == "is_arg" and r["metric"] == "f1")
    for row in result["rows"]:
        assert row["delta"] == pytest.approx(row["a"] - row["b"])
        if row["ci_low"] is not None:
            assert row["ci_low"] <= row["ci_high"] and 0.0 <= row["p_value"] <= 1.0

    # overall values agree with the runner's own pooled metrics
    metrics = json.loads((a / R.METRICS_FILE).read_text())
    overall = {(r["task"], r["metric"]): r for r in result["rows"] if r["subset"] == "all"}
    assert overall[("mechanism", "macro_f1")]["a"] == pytest.approx(metrics["pooled"]["kmer_lr"]["tuned"]["all"]["mechanism"]["macro_f1"]["value"])
    assert overall[("mechanism", "macro_f1")]["wilcoxon"]["n"] == len(FOLDS)

    # rare-class macro-F1 recomputed independently with scikit-learn from the saved tables
    tables = pd.concat([R.read_table(p) for p in sorted((a / "predictions" / "kmer_lr").glob("*.tsv"))])
    labelled = tables[tables["true:mechanism"] != ""]
    rare = ["efflux", "target_alteration"]
    present = [c for c in rare if (labelled["true:mechanism"] == c).any() or (labelled["call:mechanism"] == c).any()]
    expected = f1_score(labelled["true:mechanism"], labelled["call:mechanism"], labels=present, average="macro", zero_division=0)
    rare_row = next(r for r in result["rows"] if r["subset"] == "rare" and r["task"] == "mechanism")
    assert rare_row["a"] == pytest.approx(expected)

    write_comparison(result, tmp_path)
    assert json.loads((tmp_path / "compare.json").read_text())["rows"] == result["rows"]
    md = comparison_markdown(result)
    assert "| rare | mechanism | macro_f1 |" in md and "`C` A=10.0 B=0.001" in md


def test_compare_refuses_what_is_not_a_paired_comparison(two_runs, toy_dataset, tmp_path):
    a, b = two_runs
    with pytest.raises(ValueError, match="with itself"):
        compare_results(a, a, method_a="kmer_lr", method_b="kmer_lr")
    with pytest.raises(ValueError, match="say which one"):
        compare_results(a, a)
    run_benchmark(toy_dataset, ["kmer_lr"], ["mechanism"], tmp_path / "c", folds=[0], seeds=[0], config=BENCH, progress=False, render=False)
    with pytest.raises(ValueError, match="differ in folds"):
        compare_results(a, tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="not a benchmark results directory"):
        compare_results(a, tmp_path)
