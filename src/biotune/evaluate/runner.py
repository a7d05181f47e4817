"""The benchmark runner: every method × fold × seed fitted, predicted and written, then evaluated.

For fold ``k`` (test = fold k, validation = fold k+1, training = the rest; see
:meth:`Dataset.fold_split`) and every seed, each method is built by name from the registry
(``get_method(name)(**params)``), fitted on training (validation passed for early stopping), asked
for predictions on validation and test, and its per-label thresholds are tuned on the validation
predictions only (:mod:`.thresholds`). The test predictions — one row per test record, always —
are written with the record's identity bin (:mod:`.identity_bins`) — and, for a hierarchical (GO) task, the
information content of every term from the fold's training annotations (for Smin) — then :mod:`.aggregate`
computes every metric from the written files and :mod:`.report` renders the summary. The results
directory layout is documented in :mod:`.results`.

Split protocols (setting ``split``): ``folds`` (default, above) or ``proteome``, leave-one-proteome-out
(:meth:`Dataset.proteome_split`): "fold" ``k`` = the ``k``-th proteome in sorted order (the index ->
name map is written to ``config.yaml`` as ``proteomes``), test = every record of that proteome,
validation = the other records of dataset fold ``lopo_valid_fold``, training = all other records
not in the proteome. Identity bins, thresholds, metrics and report are computed the same way.

Methods plug in without touching this file: register a :class:`~biotune.methods.base.Method` and
(optionally) add ``configs/method/<name>.yaml`` with its constructor parameters. A config may name a
registered class under ``method:`` to define a variant (e.g. a stricter best-hit) under a new name,
or ``extends: <other method>`` to start from that method's config and change only some parameters.
Parameters are resolved as: method defaults < ``configs/method/<name>.yaml`` < ``params`` passed
to :func:`run_benchmark` < CLI ``--set <name>.<param>=value``.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from collections import Counter
from dataclasses import replace
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from biotune import __version__
from biotune.data.dataset import SPLITS, Dataset, load_dataset
from biotune.errors import InputError
from biotune.data.records import Record
from biotune.evaluate import results as R
from biotune.evaluate.cafa import information_content
from biotune.evaluate.identity_bins import max_identity
from biotune.evaluate.thresholds import fixed_thresholds, tune_thresholds
from biotune.hierarchy import consistent_scores
from biotune.methods.base import Predictions, get_method
from biotune.overrides import merge_overrides
from biotune.paths import config_dir
from biotune.tasks import TaskSpec

BENCHMARK_CONFIG = "benchmark/default.yaml"
METHOD_CONFIG_DIR = "method"


def split_overrides(overrides: Sequence[str], method_names: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Split ``key=value`` overrides into benchmark-config ones and per-method ones (``<method>.<param>=v``)."""
    bench, per_method = [], {m: [] for m in method_names}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        head = item.split("=", 1)[0].split(".", 1)[0]
        if head in per_method:
            per_method[head].append(item.split(".", 1)[1])
        else:
            bench.append(item)
    return bench, per_method


def benchmark_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """The benchmark settings (folds, seeds, identity, bootstrap…): defaults < ``path`` < ``key=value`` overrides."""
    cfg = OmegaConf.load(config_dir() / BENCHMARK_CONFIG)
    if path is not None:
        cfg = OmegaConf.merge(cfg, OmegaConf.load(path))
    return merge_overrides(cfg, overrides, path or config_dir() / BENCHMARK_CONFIG)


def method_config(name: str, _seen: tuple[str, ...] = ()) -> DictConfig:
    """``configs/method/<name>.yaml`` (empty when absent); ``extends: <other>`` in it merges it over ``<other>``'s
    config (and its registered class), so a variant states only what it changes (e.g. ``fusion_unirep``: fusion
    plus one evidence source)."""
    if name in _seen:
        raise InputError(f"method config {name}.yaml: `extends` loops through {' -> '.join((*_seen, name))}")
    path = config_dir() / METHOD_CONFIG_DIR / f"{name}.yaml"
    cfg = OmegaConf.load(path) if path.exists() else OmegaConf.create({})
    parent = cfg.pop("extends", None)
    if parent is None:
        return cfg
    if not (config_dir() / METHOD_CONFIG_DIR / f"{parent}.yaml").exists():
        raise InputError(f"method config {name}.yaml: extends {parent!r}, which has no configs/{METHOD_CONFIG_DIR}/{parent}.yaml")
    return OmegaConf.merge({"method": str(parent)}, method_config(str(parent), (*_seen, name)), cfg)


def method_spec(name: str, params: Mapping[str, Any] | None = None, overrides: Sequence[str] = ()) -> tuple[str, dict[str, Any]]:
    """``(registered class name, constructor params)`` for a method name (see module docstring)."""
    cfg = OmegaConf.merge(method_config(name), OmegaConf.create(dict(params or {})), OmegaConf.from_dotlist(list(overrides)))
    resolved = OmegaConf.to_container(cfg, resolve=True)
    return str(resolved.pop("method", name)), resolved


def build_method(class_name: str, params: Mapping[str, Any], seed: int):
    """Instantiate a registered method, passing ``seed`` when its constructor accepts it."""
    cls = get_method(class_name)
    signature = inspect.signature(cls.__init__).parameters
    accepts_seed = "seed" in signature or any(p.kind is p.VAR_KEYWORD for p in signature.values())
    return cls(**{**params, "seed": seed}) if accepts_seed and "seed" not in params else cls(**params)


def _sequences(records: Sequence[Record]) -> dict[str, str]:
    return {r.id: r.sequence for r in records}


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), disable=not enabled, transient=False)


def run_benchmark(
    dataset: Dataset | str | Path,
    methods: Sequence[str] | Mapping[str, Mapping[str, Any]],
    tasks: Sequence[str] | None,
    out: str | Path,
    *,
    folds: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    config: DictConfig | Mapping[str, Any] | None = None,
    method_overrides: Mapping[str, Sequence[str]] | None = None,
    progress: bool = True,
    render: bool = True,
) -> dict[str, Any]:
    """Run ``methods`` on ``tasks`` of ``dataset`` over ``folds`` × ``seeds``; write everything under ``out``.

    ``methods`` is a list of names or ``{name: params}``; ``config`` overrides
    ``configs/benchmark/default.yaml`` (e.g. ``{"split": "proteome"}`` for leave-one-proteome-out,
    where ``folds`` are proteome indices); ``folds``/``seeds`` override the config. Returns the
    metrics dict also written to ``out/metrics.json``.
    """
    from biotune.evaluate.aggregate import evaluate_results
    from biotune.evaluate.report import render_report

    dataset_path = None if isinstance(dataset, Dataset) else Path(dataset)
    ds = load_dataset(dataset) if dataset_path is not None else dataset
    cfg = OmegaConf.merge(benchmark_config(), OmegaConf.create(dict(config or {})))
    split, valid_fold = str(cfg.get("split", "folds")), int(cfg.get("lopo_valid_fold", 0))
    fold_column = str(cfg.get("fold_column", "fold"))
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; splits are {list(SPLITS)}")
    proteomes = ds.proteomes() if split == "proteome" else None
    n_splits = len(proteomes) if proteomes is not None else ds.n_folds
    folds = list(folds if folds is not None else (cfg.folds if cfg.folds is not None else range(n_splits)))
    if proteomes is not None:
        bad = [f for f in folds if not 0 <= int(f) < n_splits]
        if bad:
            raise InputError(f"split 'proteome': folds {bad} out of range 0..{n_splits - 1} ({n_splits} proteomes)")
        if not 0 <= valid_fold < ds.n_folds:
            raise InputError(f"lopo_valid_fold {valid_fold} out of range 0..{ds.n_folds - 1}")
    seeds = list(seeds if seeds is not None else cfg.seeds)
    specs = [ds.task(t) for t in (tasks or [t.name for t in ds.tasks])]
    named = methods if isinstance(methods, Mapping) else {m: {} for m in methods}
    resolved = {m: method_spec(m, p, (method_overrides or {}).get(m, ())) for m, p in named.items()}
    for class_name, _ in resolved.values():
        get_method(class_name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run_config = {
        "dataset": {"path": str(dataset_path.resolve()) if dataset_path else None, "name": ds.meta.get("name"), "version": ds.meta.get("version"), "n_records": len(ds.table), "n_folds": ds.n_folds},
        "tasks": [t.to_dict() for t in specs],
        "methods": {m: {"method": c, "params": p} for m, (c, p) in resolved.items()},
        "folds": folds,
        "seeds": seeds,
        "benchmark": OmegaConf.to_container(cfg, resolve=True) | {"folds": folds, "seeds": seeds},
        **({"proteomes": dict(enumerate(proteomes))} if proteomes is not None else {}),
        "versions": {"biotune": __version__},
        "command": " ".join(sys.argv) if sys.argv and sys.argv[0].endswith("biotune") else None,
    }
    OmegaConf.save(OmegaConf.create(run_config), out / R.CONFIG_FILE)

    with _progress(progress) as bar:
        job = bar.add_task("benchmark", total=len(folds) * len(seeds) * len(resolved))
        for fold in folds:
            train_idx, valid_idx, test_idx = ds.split(fold, split, valid_fold, fold_column)
            train, valid, test = ds.records(train_idx), ds.records(valid_idx), ds.records(test_idx)
            label = f"fold {fold}" if proteomes is None else f"proteome {fold} ({proteomes[fold]})"
            bar.update(job, description=f"{label}: identity to seen records (DIAMOND)")
            identity = fold_identity(test, train, valid, cfg.identity)
            R.write_table(identity, R.identity_path(out, fold))
            for seed in seeds:
                for name, (class_name, params) in resolved.items():
                    bar.update(job, description=f"{label} seed {seed}: {name}")
                    run_method(
                        name, class_name, params, specs, train, valid, test, identity, fold=fold, seed=seed, out=out,
                        fixed_threshold=float(cfg.threshold.fixed), consistent=bool(cfg.get("hierarchy_consistent", True)),
                    )
                    bar.advance(job)
    metrics = evaluate_results(out)
    if render:
        render_report(out, metrics)
    return metrics


def fold_identity(test: Sequence[Record], train: Sequence[Record], valid: Sequence[Record], settings: Mapping[str, Any]) -> pd.DataFrame:
    """Highest identity of each test record to the records the model saw (train, plus valid unless ``seen=train``).

    ``enabled: false`` skips the DIAMOND search (identity ``nan``, no bin): for variants of one protein every
    record is ~100 % identical to every other, so bins say nothing and the all-against-all search takes hours.
    """
    if not settings.get("enabled", True):
        ids = [r.id for r in test]
        return pd.DataFrame({"id": ids, "identity": np.full(len(ids), np.nan), "nearest": [""] * len(ids), "bin": [""] * len(ids)})
    seen = list(train) + (list(valid) if settings["seen"] == "train+valid" else [])
    if settings["seen"] not in ("train", "train+valid"):
        raise ValueError(f"identity.seen must be 'train' or 'train+valid', not {settings['seen']!r}")
    return max_identity(
        _sequences(test), _sequences(seen), evalue=float(settings["evalue"]),
        min_query_coverage=float(settings["min_query_coverage"]), sensitivity=str(settings["sensitivity"]),
    )


def run_method(
    name: str,
    class_name: str,
    params: Mapping[str, Any],
    tasks: Sequence[TaskSpec],
    train: Sequence[Record],
    valid: Sequence[Record],
    test: Sequence[Record],
    identity: pd.DataFrame,
    *,
    fold: int,
    seed: int,
    out: Path,
    fixed_threshold: float = 0.5,
    consistent: bool = True,
) -> pd.DataFrame:
    """Fit one method on one fold, tune thresholds on validation, write the test table and sidecar.

    With ``consistent``, the scores of a hierarchical task are first made consistent with its hierarchy
    (:func:`biotune.hierarchy.consistent_scores`: a term >= each descendant), whatever the method.
    """
    method = build_method(class_name, params, seed)
    start = time.perf_counter()
    method.fit(train, valid, tasks)
    fitted = time.perf_counter()
    valid_pred = R.align_predictions(method.validation_predictions(valid), [r.id for r in valid], tasks)
    test_pred = R.align_predictions(method.predict(test), [r.id for r in test], tasks)
    if consistent:
        valid_pred, test_pred = consistent_predictions(valid_pred, tasks), consistent_predictions(test_pred, tasks)
    predicted = time.perf_counter()
    tuned, fixed = {}, {}
    for t in tasks:
        targets, mask = t.encode([r.label(t.name) for r in valid])
        tuned[t.name] = tune_thresholds(t, targets, mask, valid_pred.scores[t.name])
        fixed[t.name] = fixed_thresholds(t, fixed_threshold)
    ic = {t.name: information_content(t.encode([r.label(t.name) for r in train])[0], t.parent_index()).tolist() for t in tasks if t.hierarchical}
    table = R.prediction_table(test, test_pred, tasks, fold=fold, seed=seed, identity=identity, tuned=tuned, fixed=fixed)
    R.write_table(table, R.prediction_path(out, name, fold, seed))
    info = {
        "method": name, "class": class_name, "params": dict(params), "fold": fold, "seed": seed,
        "n_train": len(train), "n_valid": len(valid), "n_test": len(test),
        "thresholds": {"tuned": {k: v.tolist() for k, v in tuned.items()}, "fixed": {k: v.tolist() for k, v in fixed.items()}},
        "status_counts": dict(Counter(test_pred.status)),
        "fit_seconds": round(fitted - start, 3), "predict_seconds": round(predicted - fitted, 3),
        "fit_info": method.fit_info(),
        **({"information_content": ic} if ic else {}),
    }
    R.prediction_path(out, name, fold, seed, ".json").write_text(json.dumps(info, indent=2, sort_keys=True, default=_json_default) + "\n")
    return table


def consistent_predictions(pred: Predictions, tasks: Sequence[TaskSpec]) -> Predictions:
    """``pred`` with the scores of every hierarchical task made consistent with its hierarchy."""
    hierarchical = {t.name: t for t in tasks if t.hierarchical}
    if not hierarchical:
        return pred
    scores = {name: consistent_scores(s, hierarchical[name].parent_index()) if name in hierarchical else s for name, s in pred.scores.items()}
    return replace(pred, scores=scores)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
