"""Whole proteomes and hard negatives in the benchmark: leave-one-proteome-out split, false ARG calls
per 1,000 proteins per proteome, hard-negative FPR (hand-computed tables and a real end-to-end run)."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from typer.testing import CliRunner

from biotune.cli import _register, app
from biotune.data.dataset import Dataset, load_dataset, save_dataset
from biotune.evaluate import results as R
from biotune.evaluate.aggregate import evaluate_results
from biotune.evaluate.report import render_report
from biotune.evaluate.runner import run_benchmark
from biotune.evaluate.synthetic import synthetic_arg_dataset
from biotune.tasks import TaskSpec

IS_ARG = TaskSpec("is_arg", "binary")
BOOT = {"n": 20, "unit": "record", "level": 0.95, "seed": 0}


def proteome_dataset() -> Dataset:
    """40 records of 8 families: three proteomes (one protein in two), curated records without one."""
    ds = synthetic_arg_dataset(8, 5, grouped_folds=False, seed=4)
    table = ds.table
    family = table["id"].str[3:6].astype(int)
    member = table["id"].str[-1].astype(int)
    table["proteome"] = [["pA", "pB", "pC", ""][(f + m) % 4] for f, m in zip(family, member)]
    table.loc[0, "proteome"] = "pA;pB"
    cycle = ["", "0.25", "0.35", "0.45", "0.6"]
    table["nearest_arg_identity"] = ["0.95" if arg == "1" else cycle[i % len(cycle)] for i, arg in enumerate(table["is_arg"])]
    return ds


# ---------------------------------------------------------------- hand-made prediction tables

HAND = [  # id, proteome, is_arg, score, nearest_arg_identity   (tuned threshold 0.7, fixed 0.5)
    ("a1", "pA", 0, 0.90, None), ("a2", "pA", 0, 0.60, 0.35), ("a3", "pA", 0, 0.10, 0.45), ("a4", "pA", 1, 0.95, 1.0),
    ("a5", "pA;pB", 0, 0.80, 0.50), ("b1", "pB", 0, 0.20, 0.79), ("b2", "pB", 1, 0.30, 0.9), ("b3", "pB", 0, 0.55, 0.30),
    ("c1", "", 0, 0.90, 0.40), ("c2", "", 1, 0.90, 1.0), ("c3", "", 0, 0.40, 0.20), ("c4", "", 0, 0.75, 0.80),
]


def write_results(out: Path, runs: dict[int, list[tuple]], *, lopo: dict[int, str] | None = None) -> Path:
    """A results directory written by hand: one method ``m``, task is_arg, seed 0."""
    bench = {"bootstrap": BOOT, "split": "proteome" if lopo else "folds", "lopo_valid_fold": 0}
    cfg = {"dataset": {"path": None, "name": "hand", "version": "0", "n_records": 12, "n_folds": 2}, "tasks": [IS_ARG.to_dict()],
           "methods": {"m": {"method": "m", "params": {}}}, "folds": sorted(runs), "seeds": [0], "benchmark": bench}
    if lopo:
        cfg["proteomes"] = lopo
    out.mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(cfg), out / R.CONFIG_FILE)
    for fold, rows in runs.items():
        table = pd.DataFrame({
            "id": [r[0] for r in rows], "fold": fold, "seed": 0, "cluster": [r[0] for r in rows], "status": "ok",
            "identity": np.nan, "identity_bin": "no_hit", "proteome": [r[1] for r in rows],
            "nearest_arg_identity": [np.nan if r[4] is None else r[4] for r in rows],
            "true:is_arg": [str(r[2]) for r in rows], "is_arg": [r[3] for r in rows],
            "call:is_arg": [str(int(r[3] >= 0.7)) for r in rows], "call@0.5:is_arg": [str(int(r[3] >= 0.5)) for r in rows],
        })
        R.write_table(table, R.prediction_path(out, "m", fold, 0))
        info = {"fold": fold, "seed": 0, "thresholds": {"tuned": {"is_arg": [0.7]}, "fixed": {"is_arg": [0.5]}}, "status_counts": {"ok": len(rows)}}
        R.prediction_path(out, "m", fold, 0, ".json").write_text(json.dumps(info))
    return out


def test_false_calls_per_1000_within_cv_on_a_hand_made_table(tmp_path):
    res = write_results(tmp_path / "res", {0: HAND[:6], 1: HAND[6:]})
    metrics = evaluate_results(res)
    sec = metrics["proteome_calls"]
    assert sec["protocol"] == "within_cv" and sec["proteomes"] == ["pA", "pB"]
    tuned, fixed = sec["methods"]["m"]["tuned"], sec["methods"]["m"]["fixed"]
    # pA negatives a1 a2 a3 a5 (a4 is a rule ARG; curated c* never count): tuned calls a1 a5, fixed a1 a2 a5
    assert tuned["per_proteome"]["pA"] == {"n_negative": 4, "false_calls": 2, "false_calls_per_1000": 500.0, "n_arg": 1, "arg_found": 1, "arg_recall": 1.0}
    assert fixed["per_proteome"]["pA"]["false_calls_per_1000"] == 750.0
    # pB negatives a5 (shared with pA) b1 b3: tuned a5, fixed a5 b3; its ARG b2 (0.30) is missed
    assert tuned["per_proteome"]["pB"] == {"n_negative": 3, "false_calls": 1, "false_calls_per_1000": pytest.approx(1000 / 3), "n_arg": 1, "arg_found": 0, "arg_recall": 0.0}
    assert fixed["per_proteome"]["pB"]["false_calls_per_1000"] == pytest.approx(2000 / 3)
    # pooled over the 6 distinct proteome negatives / 2 proteome ARGs; mean over the 2 proteomes
    assert tuned["pooled"]["n_negative"] == 6 and tuned["pooled"]["false_calls"] == 2
    assert tuned["pooled"]["false_calls_per_1000"]["value"] == pytest.approx(1000 / 3)
    lo, hi = tuned["pooled"]["false_calls_per_1000"]["ci_low"], tuned["pooled"]["false_calls_per_1000"]["ci_high"]
    assert 0 <= lo <= 1000 / 3 <= hi <= 1000
    assert fixed["pooled"]["false_calls_per_1000"]["value"] == pytest.approx(4000 / 6)
    assert tuned["pooled"]["arg_recall"] == 0.5 and tuned["pooled"]["n_arg"] == 2
    assert tuned["mean_over_proteomes"]["false_calls_per_1000"] == pytest.approx((500 + 1000 / 3) / 2)
    assert fixed["mean_over_proteomes"]["false_calls_per_1000"] == pytest.approx((750 + 2000 / 3) / 2)
    summary = render_report(res, metrics).read_text()
    assert "within-CV, not leave-one-proteome-out" in summary
    assert "| pA | 4 | 1 | 500.0 (2) | 1.000 (1/1) |" in summary and "| pB | 3 | 1 | 333.3 (1) | 0.000 (0/1) |" in summary


def test_hard_negative_fpr_bins_on_a_hand_made_table(tmp_path):
    res = write_results(tmp_path / "res", {0: HAND[:6], 1: HAND[6:]})
    sec = evaluate_results(res)["hard_negatives"]
    assert sec["bins"]["0.3-0.4"] == [0.3, 0.4] and sec["bins"]["easy"] == [None, 0.3]
    got = {scheme: {b: (v["n"], v["fpr"]["value"]) for b, v in sec["methods"]["m"][scheme].items()} for scheme in ("tuned", "fixed")}
    # is_arg-0 records by nearest_arg_identity: a2 .35 b3 .30 | a3 .45 c1 .40 | a5 .50 b1 .79 | easy a1 (none) c3 .20 | c4 .80
    assert got["tuned"] == {"0.3-0.4": (2, 0.0), "0.4-0.5": (2, 0.5), "0.5-0.8": (2, 0.5), "hard_0.3-0.8": (6, pytest.approx(2 / 6)), "easy": (2, 0.5), ">=0.8": (1, 1.0)}
    assert got["fixed"] == {"0.3-0.4": (2, 1.0), "0.4-0.5": (2, 0.5), "0.5-0.8": (2, 0.5), "hard_0.3-0.8": (6, pytest.approx(4 / 6)), "easy": (2, 0.5), ">=0.8": (1, 1.0)}
    hard = sec["methods"]["m"]["tuned"]["hard_0.3-0.8"]["fpr"]
    assert hard["ci_low"] <= hard["value"] <= hard["ci_high"]


def test_lopo_false_calls_group_by_held_out_proteome(tmp_path):
    shared_in_b = ("a5", "pA;pB", 0, 0.40, 0.50)  # the protein shared by pA and pB, re-predicted when pB is held out
    runs = {0: HAND[:5], 1: [shared_in_b, *HAND[5:8]]}
    res = write_results(tmp_path / "res", runs, lopo={0: "pA", 1: "pB"})
    metrics = evaluate_results(res)
    sec = metrics["proteome_calls"]
    assert sec["protocol"] == "leave_one_proteome_out" and sec["proteomes"] == ["pA", "pB"]
    tuned, fixed = sec["methods"]["m"]["tuned"], sec["methods"]["m"]["fixed"]
    assert tuned["per_proteome"]["pA"]["false_calls_per_1000"] == 500.0
    assert tuned["per_proteome"]["pB"]["false_calls"] == 0 and fixed["per_proteome"]["pB"]["false_calls_per_1000"] == pytest.approx(1000 / 3)
    assert tuned["pooled"]["n_negative"] == 7 and tuned["pooled"]["false_calls_per_1000"]["value"] == pytest.approx(2000 / 7)
    assert fixed["pooled"]["false_calls_per_1000"]["value"] == pytest.approx(4000 / 7)
    summary = render_report(res, metrics).read_text()
    assert "held-out proteome (leave-one-proteome-out)" in summary and "Leave-one-proteome-out: proteomes [0, 1]" in summary


# ---------------------------------------------------------------- the real runner, end to end


def test_records_carry_proteome_and_nearest_arg_identity():
    records = proteome_dataset().records()
    assert records[0].meta["proteome"] == "pA;pB"
    values = {r.meta["nearest_arg_identity"] for r in records}
    assert None in values and 0.95 in values and all(v is None or isinstance(v, float) for v in values)
    assert "proteome" not in synthetic_arg_dataset(2, 2).records()[0].meta


@pytest.fixture(scope="module")
def lopo_run(tmp_path_factory):
    if shutil.which("diamond") is None:
        pytest.fail("diamond is not on PATH: ./setup.sh installs it")
    root = tmp_path_factory.mktemp("lopo")
    save_dataset(proteome_dataset(), root / "data")
    metrics = run_benchmark(
        root / "data", {"kmer_lr": {"k_max": 2}}, ["is_arg", "mechanism"], root / "res", seeds=[0],
        config={"split": "proteome", "lopo_valid_fold": 1, "bootstrap": {"n": 50}}, progress=False,
    )
    return root / "data", root / "res", metrics


def test_lopo_test_sets_are_exactly_each_proteome_and_never_seen(lopo_run):
    data, res, metrics = lopo_run
    ds = load_dataset(data)
    config = OmegaConf.to_container(OmegaConf.load(res / "config.yaml"))
    assert config["proteomes"] == {0: "pA", 1: "pB", 2: "pC"} and config["folds"] == [0, 1, 2]
    assert config["benchmark"]["split"] == "proteome"
    for run in R.load_runs(res)["kmer_lr"]:
        name = config["proteomes"][run.fold]
        members = ds.table.loc[ds.table["proteome"].str.split(";").map(lambda p: name in p), "id"].tolist()
        assert run.table["id"].tolist() == members and set(run.table["proteome"]) <= {name, "pA;pB"}
        train, valid, test = ds.proteome_split(run.fold, 1)
        assert ds.table.loc[test, "id"].tolist() == members
        assert not (set(train) | set(valid)) & set(test) and not set(train) & set(valid)
        assert len(train) + len(valid) + len(test) == len(ds.table) and (ds.table.loc[valid, "fold"] == 1).all()
        assert (run.info["n_train"], run.info["n_valid"], run.info["n_test"]) == (len(train), len(valid), len(test))
        identity = pd.read_csv(R.identity_path(res, run.fold), sep="\t")
        assert identity["id"].tolist() == members
    sec = metrics["proteome_calls"]
    assert sec["protocol"] == "leave_one_proteome_out" and sec["proteomes"] == ["pA", "pB", "pC"]
    per = sec["methods"]["kmer_lr"]["tuned"]["per_proteome"]
    for name, cell in per.items():
        n_neg = int(((ds.table["proteome"].str.split(";").map(lambda p: name in p)) & (ds.table["is_arg"] == "0")).sum())
        assert cell["n_negative"] == n_neg and 0 <= cell["false_calls"] <= n_neg
        assert math.isclose(cell["false_calls_per_1000"], 1000 * cell["false_calls"] / n_neg)
    hard = metrics["hard_negatives"]["methods"]["kmer_lr"]["fixed"]
    assert hard["0.3-0.4"]["n"] > 0 and hard["easy"]["n"] > 0
    summary = (res / "summary.md").read_text()
    assert "held-out proteome (leave-one-proteome-out)" in summary and "False-positive rate on hard negatives" in summary


def test_lopo_report_recompute_reproduces_metrics(lopo_run):
    _, res, _ = lopo_run
    before = (res / "metrics.json").read_text()
    _register()
    result = CliRunner().invoke(app, ["report", str(res), "--recompute"])
    assert result.exit_code == 0, result.output
    assert (res / "metrics.json").read_text() == before


def test_split_proteome_without_the_column_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from biotune.cli import main

    _register()
    save_dataset(synthetic_arg_dataset(3, 5, seed=1), tmp_path / "data")
    for extra, message in ((["--split", "proteome"], "needs a 'proteome' column"), (["--split", "genome"], "unknown split 'genome'")):
        monkeypatch.setattr(sys, "argv", ["biotune", "benchmark", "--dataset", str(tmp_path / "data"), "--methods", "kmer_lr", "--out", str(tmp_path / "r"), *extra])
        with pytest.raises(SystemExit) as exit_info:
            main()
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
