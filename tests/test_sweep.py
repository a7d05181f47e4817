"""`biotune train --multirun` (grid) and `sweep=optuna` through the real CLI: one tracked MLflow run per job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from train_toy import toy_dataset

TINY = ["experiment=arg_cnn", "trainer.max_epochs=1", "backbone.channels=8", "backbone.n_layers=1", "backbone.kernel_sizes=[5]", "head.hidden=16", "num_threads=1", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return toy_dataset(tmp_path_factory.mktemp("toy") / "toy", n=60)


def _biotune_train(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-c", "from biotune.cli import main; main()", "train", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _runs(store: Path, experiment: str):
    import mlflow

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(tracking_uri=f"file:{store}")
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r} in {store}"
    return client, client.search_runs([exp.experiment_id])


def test_grid_multirun_tracks_one_run_per_config(toy, tmp_path):
    _biotune_train(["--multirun", *TINY, f"data.path={toy}", "optim.head_lr=1e-3,3e-4", f"tracking.uri={tmp_path}/mlruns", f"hydra.sweep.dir={tmp_path}/multirun"], tmp_path)
    client, runs = _runs(tmp_path / "mlruns", "arg_cnn")
    assert len(runs) == 2
    assert sorted(float(r.data.params["optim/head_lr"]) for r in runs) == [3e-4, 1e-3]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["random_weights"] == "false"
        assert "valid/mean_f1" in run.data.metrics and "test/is_arg/auprc" in run.data.metrics
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)} | {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert {"config.yaml", "metrics.json", "plots/curves.png"} <= artifacts
    for job in ("0", "1"):
        assert (tmp_path / "multirun" / job / "bundle" / "config.yaml").exists()


def test_optuna_sweep_runs_trials_and_reports_the_best(toy, tmp_path):
    _biotune_train([*TINY, "sweep=optuna", "hydra.sweeper.n_trials=2", f"data.path={toy}", f"tracking.uri={tmp_path}/mlruns", f"hydra.sweep.dir={tmp_path}/optuna"], tmp_path)
    _, runs = _runs(tmp_path / "mlruns", "arg_cnn")
    assert len(runs) == 2
    result = yaml.safe_load((tmp_path / "optuna" / "optimization_results.yaml").read_text())
    assert set(result["best_params"]) == {"optim.head_lr", "optim.weight_decay", "head.dropout"}
    assert result["best_value"] == pytest.approx(max(r.data.metrics["valid/best_score"] for r in runs))
