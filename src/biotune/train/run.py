"""``biotune train``: one Hydra job = one fold of a dataset trained, evaluated, tracked and bundled.

The primary config is ``configs/train.yaml``; any value can be overridden on the command line
(``loss=focal loss.gamma=2``), ``--multirun`` sweeps a grid, ``sweep=optuna`` switches to the Optuna
sweeper. Each job writes into its Hydra output directory: ``checkpoints/best.ckpt``, ``bundle/``
(see :mod:`biotune.bundle`), ``metrics.json`` (best validation score, tuned thresholds, test metrics
at 0.5 and at the tuned thresholds) and one MLflow run. The job returns the best validation value of
``early_stopping.monitor`` — the objective the Optuna sweeper optimises.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from biotune.errors import InputError
from biotune.paths import config_dir
from biotune.tasks import TaskSpec

CONFIG_NAME = "train"


def train_config_dir(config_name: str = CONFIG_NAME) -> Path:
    """The Hydra config directory (:func:`biotune.paths.config_dir`), checked to hold ``<config_name>.yaml``."""
    path = config_dir()
    if not (path / f"{config_name}.yaml").exists():
        raise FileNotFoundError(f"no {config_name}.yaml in {path}; set BIOTUNE_CONFIG_DIR to the biotune configs directory")
    return path


def compose_config(overrides: Sequence[str] = (), config_name: str = CONFIG_NAME) -> DictConfig:
    """The training (or ``pretrain``) config composed outside a Hydra app (methods, tests), with command-line style overrides."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    hydra = GlobalHydra.instance()
    if hydra.is_initialized():
        return compose(config_name=config_name, overrides=list(overrides))
    with initialize_config_dir(config_dir=str(train_config_dir(config_name)), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))


def select_tasks(all_tasks: Sequence[TaskSpec], names: Sequence[str] | None) -> list[TaskSpec]:
    if not names:
        return list(all_tasks)
    by_name = {t.name: t for t in all_tasks}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InputError(f"task(s) {missing} not in the dataset; it has {sorted(by_name)}")
    return [by_name[n] for n in names]


def evaluate_split(tasks, targets, masks, scores, thresholds: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Metrics per task at the fixed 0.5 threshold and (``tuned_*``) at the validation-tuned thresholds."""
    from biotune.evaluate.metrics import task_metrics

    out = {}
    for t in tasks:
        if not masks[t.name].any():
            continue
        fixed = task_metrics(t, targets[t.name], masks[t.name], scores[t.name])
        row = {k: v for k, v in fixed.items() if isinstance(v, (int, float))}
        if thresholds.get(t.name):
            tuned = task_metrics(t, targets[t.name], masks[t.name], scores[t.name], np.asarray(thresholds[t.name]))
            row.update({f"tuned_{k}": v for k, v in tuned.items() if isinstance(v, (int, float)) and k not in ("n", "n_pos", "auroc", "auprc", "macro_auroc", "macro_auprc")})
        out[t.name] = row
    return out


def train(cfg: DictConfig, output_dir: str | Path) -> float:
    """Train one fold of ``cfg.data.path``; returns the best validation ``early_stopping.monitor``."""
    from biotune.bundle import save_bundle
    from biotune.data.dataset import load_dataset
    from biotune.train.datamodule import encode_targets
    from biotune.train.fit import fit, predict_records
    from biotune.train import tracking

    output_dir = Path(output_dir)
    dataset = load_dataset(cfg.data.path)
    tasks = select_tasks(dataset.tasks, cfg.task.get("names"))
    train_idx, valid_idx, test_idx = dataset.fold_split(int(cfg.data.fold), str(cfg.data.get("fold_column", "fold")))
    if cfg.data.get("limit"):
        train_idx = train_idx[: int(cfg.data.limit)]
    train_records, valid_records, test_records = (dataset.records(i) for i in (train_idx, valid_idx, test_idx))
    logger = tracking.mlflow_logger(cfg, run_name=_run_name(cfg)) if cfg.tracking.get("enabled", True) else False
    result = fit(cfg, train_records, valid_records, tasks, output_dir, logger=logger)
    objective = float("nan") if result.best_score is None else result.best_score
    if result.trainer is not None and not result.trainer.is_global_zero:
        return objective
    targets, masks = encode_targets(test_records, tasks)
    scores = predict_records(cfg, result.model, tasks, test_records)
    test = evaluate_split(tasks, targets, masks, scores, result.thresholds)
    report = {
        "objective": {"monitor": cfg.early_stopping.monitor, "best": result.best_score, "best_epoch": result.best_epoch},
        "random_weights": bool(cfg.backbone.get("random_init", False)),
        "sizes": {"train": len(train_records), "valid": len(valid_records), "test": len(test_records)},
        "thresholds": result.thresholds,
        "test": test,
    }
    (output_dir / "metrics.json").write_text(json.dumps(report, indent=2, default=_json_float) + "\n")
    if cfg.get("save_bundle", True):
        save_bundle(output_dir / "bundle", cfg, tasks, result.model, result.thresholds)
    if logger:
        tracking.log_config(logger, cfg)
        tracking.log_metrics(logger, tracking.flat_metrics(test), "test")
        tracking.log_metrics(logger, {"best_score": objective}, "valid")
        for plot in (
            tracking.plot_history(result.history, output_dir / "curves.png"),
            tracking.plot_pr_curves(tasks, targets, masks, scores, output_dir / "test_pr_curves.png"),
        ):
            if plot is not None:
                tracking.log_artifact(logger, plot, "plots")
        tracking.log_artifact(logger, output_dir / "metrics.json")
        logger.finalize("success")
    return objective


def _json_float(x: Any) -> Any:
    return float(x) if isinstance(x, np.floating) else str(x)


def _run_name(cfg: DictConfig) -> str | None:
    """``<job overrides>`` inside a Hydra multirun (so sweep runs are told apart), else the configured name."""
    if cfg.tracking.get("run_name"):
        return str(cfg.tracking.run_name)
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().job.override_dirname or None
    except ValueError:
        return None


def one_line_errors(run: Callable[[DictConfig, str], Any]) -> Callable[[DictConfig], Any]:
    """A Hydra task calling ``run(cfg, <job output dir>)``; bad input ends the run with the one-line error
    of the CLI (exit code 2). Shared by ``biotune train`` and ``biotune pretrain``."""

    def task(cfg: DictConfig) -> Any:
        from hydra.core.hydra_config import HydraConfig

        from biotune.errors import BiotuneError, report_error

        try:
            return run(cfg, HydraConfig.get().runtime.output_dir)
        except BiotuneError as exc:
            report_error(exc)
            sys.exit(2)

    return task


hydra_task = one_line_errors(train)


def register_resolvers() -> None:
    """``${objective_direction:<monitor>,<mode>}``: ``maximize``/``minimize`` for the Optuna sweeper."""
    from omegaconf import OmegaConf

    from biotune.train.callbacks import monitor_mode

    if not OmegaConf.has_resolver("objective_direction"):
        OmegaConf.register_new_resolver(
            "objective_direction", lambda monitor, mode="auto": "maximize" if monitor_mode(monitor, mode) == "max" else "minimize"
        )


def run_app(task: Callable[[DictConfig], Any], config_name: str, script: str, args: Sequence[str] | None = None) -> Any:
    """Run ``task`` as the Hydra app of primary config ``config_name`` on ``args`` (default: the command line
    after the program name). ``sys.argv[0]`` becomes ``script``, so that Lightning's DDP launcher re-runs
    ``python <script> <overrides>`` for the other ranks."""
    import hydra

    register_resolvers()
    args = list(sys.argv[1:] if args is None else args)
    sys.argv = [str(Path(script).resolve()), *args]
    app = hydra.main(config_path=str(train_config_dir(config_name)), config_name=config_name, version_base="1.3")(task)
    return app()


def main(args: Sequence[str] | None = None) -> Any:
    """``biotune train``: :func:`run_app` of :func:`hydra_task` on ``train.yaml``."""
    return run_app(hydra_task, CONFIG_NAME, __file__, args)


if __name__ == "__main__":
    main()
