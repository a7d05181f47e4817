"""The default ARG annotation model that ``biotune predict`` uses when no ``--model`` is given.

``biotune arg train-default`` fits the configured method (``configs/predict/arg_default.yaml``;
by default ``fusion`` on ``data/arg_v2``: alignment to ARG and non-ARG references, profile HMMs and
a k-mer model stacked by LightGBM, calibrated on the held-out ``valid_fold``; ``--method kmer_lr``
is the former, cheaper default, with DIAMOND supplying its evidence) on the folds of the benchmark
dataset (all but ``valid_fold``), and writes an annotation bundle (see
:mod:`biotune.predict.annotation_bundle`) into the user's model cache. When a benchmark results
directory for the same method is given, its cross-validated numbers go into ``bundle.json``, and
its validation-tuned thresholds (median over runs) become the bundle's decision thresholds.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from biotune.data.dataset import Dataset, load_dataset, parse_label
from biotune.errors import InputError
from biotune.predict.annotation_bundle import BUNDLE_FILE, read_manifest, write_bundle
from biotune.tasks import TaskSpec

DEFAULT_BUNDLE_NAME = "arg_default"
PROVENANCE_COLUMNS = ("gene", "mobility", "sources", "source_ids", "cluster", "fold")  # mobility: acquired / intrinsic (the card's)


def models_home() -> Path:
    """Where trained bundles live: ``$BIOTUNE_HOME/models``, else ``$XDG_CACHE_HOME/biotune/models``, else ``~/.cache/biotune/models``."""
    if os.environ.get("BIOTUNE_HOME"):
        return Path(os.environ["BIOTUNE_HOME"]).expanduser() / "models"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "biotune" / "models"


def default_bundle_dir() -> Path:
    return models_home() / DEFAULT_BUNDLE_NAME


def how_to_build_default() -> str:
    """The exact commands that make ``predict`` work without ``--model``."""
    return (
        f"no model given and the default ARG model is not built yet (looked in {default_bundle_dir()}). "
        "Build it once with `biotune data build-arg --sources ../shared/data/arg --config configs/build/arg_v2.yaml "
        "--out data/arg_v2` then `biotune arg train-default --dataset data/arg_v2` (fusion on arg_v2), "
        "or pass --model BUNDLE_DIR"
    )


def installed_default_is_current(cfg: DictConfig, directory: str | Path | None = None) -> tuple[bool, str]:
    """Whether the installed bundle was built with ``cfg``'s method, parameters and dataset, and why not.

    ``./setup.sh`` rebuilds the default model when this is false (e.g. an old ``kmer_lr``/``arg_v1``
    bundle after the default became ``fusion``/``arg_v2``, or a bundle fitted before a parameter of the
    method's config changed).
    """
    directory = Path(directory).expanduser() if directory else default_bundle_dir()
    path = directory / BUNDLE_FILE
    if not path.exists():
        return False, f"no bundle in {directory}"
    try:
        manifest = read_manifest(path)
    except InputError as exc:
        return False, str(exc)
    if manifest.get("method") != str(cfg.method):
        return False, f"installed method {manifest.get('method')!r} != configured {cfg.method!r}"
    built_from = (manifest.get("dataset") or {}).get("path")
    wanted = str(Path(cfg.dataset).expanduser().resolve())
    if built_from != wanted:
        return False, f"installed bundle built from {built_from} != configured dataset {wanted}"
    method = configured_method(cfg)
    if manifest.get("method_fit_revision", 1) != method.fit_revision:
        return False, f"installed {cfg.method} bundle was fitted by fit revision {manifest.get('method_fit_revision', 1)}, current is {method.fit_revision}"
    # the parameters the configured method would store (defaults filled in), as they read back from bundle.json
    configured = json.loads(json.dumps(method.params, default=str))
    installed = manifest.get("method_params") or {}
    changed = [f"{k}={installed.get(k)!r} (configured {v!r})" for k, v in sorted(configured.items()) if installed.get(k) != v]
    if changed:
        return False, f"installed {cfg.method} bundle has other parameters: {'; '.join(changed)}"
    return True, f"installed bundle is {cfg.method} on {wanted}"


def configured_method(cfg: DictConfig):
    """The unfitted method of ``cfg`` (its ``configs/method`` config with ``cfg.params`` over it): what
    ``train_default`` fits and what ``installed_default_is_current`` compares a bundle with."""
    from biotune.evaluate.runner import build_method, method_spec

    class_name, params = method_spec(str(cfg.method), OmegaConf.to_container(cfg.params, resolve=True))
    return build_method(class_name, params, int(cfg.get("seed", 0)))


def training_summary(dataset: Dataset, dataset_path: Path, rows: pd.Index, valid_rows: pd.Index | None) -> dict[str, Any]:
    """What the model learned from: dataset identity and label counts, for ``bundle.json`` and the report."""
    table = dataset.table.loc[rows]
    summary: dict[str, Any] = {
        "name": dataset.meta.get("name", dataset_path.name),
        "version": dataset.meta.get("version", ""),
        "path": str(dataset_path.resolve()),
        "records": int(len(table)),
        "folds": sorted(int(f) for f in table["fold"].unique()),
        "validation_records": 0 if valid_rows is None else int(len(valid_rows)),
    }
    names = {t.name for t in dataset.tasks}
    if "is_arg" in names:
        is_arg = [parse_label(dataset.task("is_arg"), v) for v in table[dataset.columns["is_arg"]]]
        summary["arg"] = sum(v == 1 for v in is_arg)
        summary["non_arg"] = sum(v == 0 for v in is_arg)
    for task in ("drug_class", "mechanism"):
        if task in names:
            counts: Counter = Counter()
            for value in table[dataset.columns[task]]:
                label = parse_label(dataset.task(task), value)
                counts.update(label if isinstance(label, list) else [label] if label else [])
            summary[f"{task}_counts"] = dict(sorted(counts.items()))
    return summary


def reference_table(dataset: Dataset, task_names: Sequence[str]) -> pd.DataFrame:
    """``id, sequence``, one label column per task (named after the task) and the provenance columns present."""
    table = dataset.table
    columns = {"id": table["id"], "sequence": table["sequence"]}
    columns.update({name: table[dataset.columns[name]] for name in task_names})
    columns.update({c: table[c] for c in PROVENANCE_COLUMNS if c in table.columns})
    return pd.DataFrame(columns).astype(str)


def cross_validated_numbers(results_dir: str | Path, method: str, *, scheme: str = "fixed") -> dict[str, Any] | None:
    """The method's pooled cross-validated metrics, overall and per identity bin, from a ``biotune
    benchmark`` results directory: ``scheme`` ``fixed`` (0.5 thresholds, as the bundle calls by
    default) or ``tuned`` (validation-tuned thresholds, with bootstrap CIs). ``None`` when the results
    hold no run of ``method``."""
    path = Path(results_dir) / "metrics.json"
    if not path.exists():
        raise InputError("benchmark results: metrics.json is missing (run `biotune benchmark` first)", path=results_dir)
    metrics = json.loads(path.read_text())
    if method not in metrics.get("pooled", {}):
        return None
    calls = metrics.get("proteome_calls") or {}
    numbers = {
        "results_dir": str(Path(results_dir).resolve()),
        "method": method,
        "split": "leave-one-proteome-out" if calls.get("protocol") == "leave_one_proteome_out" else "homology-grouped folds",
        "folds": metrics.get("folds"),
        "seeds": metrics.get("seeds"),
        "thresholds": "tuned on each fold's validation split" if scheme == "tuned" else "fixed 0.5",
        "headline": metrics.get("headline"),
        "metrics": metrics["pooled"][method][scheme],
    }
    if method in calls.get("methods", {}):
        numbers["proteome_false_calls"] = {"proteomes": calls.get("proteomes"), **calls["methods"][method][scheme]}
    return numbers


def benchmark_thresholds(results_dir: str | Path, method: str, tasks: Sequence[TaskSpec]) -> dict[str, Any] | None:
    """Median over the benchmark's runs of the validation-tuned (max-F1) thresholds: ``is_arg`` and per drug class.

    ``None`` when the results directory holds no run of ``method``.
    """
    runs = sorted((Path(results_dir) / "predictions" / method).glob("fold*_seed*.json"))
    tuned = [json.loads(p.read_text())["thresholds"]["tuned"] for p in runs]
    if not tuned:
        return None
    out: dict[str, Any] = {"source": f"median of validation-tuned (max-F1) thresholds over {len(tuned)} benchmark runs"}
    for task in tasks:
        values = np.array([t[task.name] for t in tuned if t.get(task.name)], dtype=float)
        if not len(values):
            continue
        median = np.median(values, axis=0)
        if task.kind == "binary":
            out[task.name] = round(float(median[0]), 4)
        elif task.kind == "multilabel":
            out[task.name] = {c: round(float(v), 4) for c, v in zip(task.classes, median)}
    return out


def load_default_config(overrides: Sequence[str] = ()) -> DictConfig:
    from biotune.predict.pipeline import load_predict_config

    return load_predict_config(overrides, name="arg_default", nullable=("valid_fold", "benchmark_results"))


def train_default(
    cfg: DictConfig,
    out: str | Path | None = None,
    *,
    force: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Fit ``cfg.method`` on the whole dataset ``cfg.dataset`` and write the bundle to ``out`` (default cache dir).

    The bundle is assembled in a temporary sibling directory and moved into place at the end, so an
    interrupted build never leaves a half-written default model behind.
    """
    out = Path(out).expanduser() if out else default_bundle_dir()
    if (out / BUNDLE_FILE).exists() and not force:
        raise InputError("a bundle already exists here; pass --force to replace it", path=out)
    dataset_path = Path(cfg.dataset)
    dataset = load_dataset(dataset_path)
    try:
        tasks = [dataset.task(t) for t in cfg.tasks]
    except KeyError as exc:
        raise InputError(exc.args[0], path=dataset_path) from None
    if cfg.valid_fold is None:
        train_rows, valid_rows = dataset.table.index, None
    else:
        folds = dataset.table["fold"].astype(int)
        train_rows = dataset.table.index[folds != int(cfg.valid_fold)]
        valid_rows = dataset.table.index[folds == int(cfg.valid_fold)]
    cross_validation = thresholds = None
    if cfg.benchmark_results:
        if cfg.thresholds_from_benchmark:
            thresholds = benchmark_thresholds(cfg.benchmark_results, cfg.method, tasks)
        scheme = "tuned" if thresholds else "fixed"
        cross_validation = cross_validated_numbers(cfg.benchmark_results, cfg.method, scheme=scheme)
        if cross_validation is None:
            log(f"{cfg.benchmark_results} has no runs of {cfg.method}: no cross-validated numbers recorded")
    method = configured_method(cfg)
    log(f"fitting {cfg.method} on {len(train_rows)} records of {dataset_path} ({', '.join(t.name for t in tasks)})")
    method.fit(dataset.records(train_rows), dataset.records(valid_rows) if valid_rows is not None else None, tasks)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        log(f"writing the bundle with {len(dataset.table)} reference sequences (DIAMOND database)")
        write_bundle(
            method,
            reference_table(dataset, [t.name for t in tasks]),
            staging,
            name=str(cfg.name),
            dataset=training_summary(dataset, dataset_path, train_rows, valid_rows),
            cross_validation=cross_validation,
            thresholds=thresholds,
            notes=list(cfg.get("notes") or []),
        )
        if out.exists():
            shutil.rmtree(out)
        staging.replace(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out
