"""The results directory a benchmark writes and ``biotune report`` / ``biotune compare`` read.

Layout (``<out>/``)::

    config.yaml                         resolved run config: dataset (path, name, version), tasks
                                        (TaskSpec dicts), methods with their params, folds, seeds,
                                        identity and bootstrap settings, versions, command line
    identity/fold<k>.tsv                id, identity (% to the closest seen record, empty = no hit),
                                        nearest, bin — one row per test record of fold k
    predictions/<method>/fold<k>_seed<s>.tsv
                                        ONE ROW PER TEST RECORD: id, fold, seed, cluster, status,
                                        identity, identity_bin, [proteome, nearest_arg_identity: only
                                        when the dataset has these columns], true:<task> (label as in records.tsv),
                                        scores (<task> for binary/regression, <task>:<class> for
                                        multi-class/multi-label), call:<task> (tuned thresholds),
                                        call@0.5:<task> (fixed thresholds), extra:<col> (method extras)
    predictions/<method>/fold<k>_seed<s>.json
                                        thresholds tuned on that fold's validation split
                                        ({task: [per-label]}), fixed threshold, status counts,
                                        fit/predict seconds, method params; for hierarchical (GO)
                                        tasks the information content per label from that fold's
                                        training annotations (``information_content``, for Smin)
    metrics.json                        every metric (see :mod:`biotune.evaluate.aggregate`)
    summary.md, summary.html            the tables a reader wants (see :mod:`biotune.evaluate.report`)
    plots/                              f1_heatmap_<task>.png, pr_<task>.png, confusion_<task>_<method>.png

Scores of a record a method could not score are zeros (non-ARG / no class) and its status says why.
With ``benchmark.split: proteome`` (leave-one-proteome-out) "fold" ``k`` is the ``k``-th proteome in
sorted order (``config.yaml`` ``proteomes``: index -> name); a protein shared by several proteomes is
tested once per proteome.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biotune.data.dataset import NEAREST_ARG_COLUMN, PROTEOME_COLUMN, format_label, parse_label
from biotune.data.records import Record
from biotune.evaluate.metrics import multiclass_calls, multilabel_calls
from biotune.methods.base import Predictions
from biotune.tasks import TaskSpec

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
SUMMARY_MD = "summary.md"
SUMMARY_HTML = "summary.html"
PREDICTIONS_DIR = "predictions"
IDENTITY_DIR = "identity"
PLOTS_DIR = "plots"
STATUS_UNSCORED = "unscored"
TRUE_PREFIX = "true:"
CALL_PREFIX = "call:"
FIXED_CALL_PREFIX = "call@0.5:"
EXTRA_PREFIX = "extra:"


def run_name(fold: int, seed: int) -> str:
    return f"fold{fold}_seed{seed}"


def prediction_path(out: str | Path, method: str, fold: int, seed: int, suffix: str = ".tsv") -> Path:
    return Path(out) / PREDICTIONS_DIR / method / f"{run_name(fold, seed)}{suffix}"


def identity_path(out: str | Path, fold: int) -> Path:
    return Path(out) / IDENTITY_DIR / f"fold{fold}.tsv"


def score_columns(task: TaskSpec) -> list[str]:
    return [task.name] if task.n_outputs == 1 else [f"{task.name}:{c}" for c in task.classes]


def align_predictions(pred: Predictions, ids: Sequence[str], tasks: Sequence[TaskSpec]) -> Predictions:
    """Exactly one row per id, in ``ids`` order: rows a method did not return, or returned with
    non-finite scores, become zeros with status :data:`STATUS_UNSCORED` — never dropped."""
    position = {i: k for k, i in enumerate(pred.ids)}
    if len(position) != len(pred.ids):
        raise ValueError("a method returned duplicate ids")
    rows = np.array([position.get(i, -1) for i in ids])
    found = rows >= 0
    status = np.array([pred.status[r] if r >= 0 else STATUS_UNSCORED for r in rows], dtype=object)
    scores = {}
    for t in tasks:
        shape = (len(ids), t.n_outputs) if t.n_outputs > 1 else (len(ids),)
        s = np.zeros(shape)
        if t.name in pred.scores:
            src = np.asarray(pred.scores[t.name], dtype=float)
            s[found] = src[rows[found]]
            bad = ~np.isfinite(s).reshape(len(ids), -1).all(axis=1)
            s[bad] = 0.0
            status[bad & found] = STATUS_UNSCORED
        scores[t.name] = s
    extra = None
    if pred.extra is not None:
        extra = pred.extra.iloc[rows.clip(min=0)].reset_index(drop=True).astype(object)
        extra.loc[~found] = None
    return Predictions(ids=list(ids), scores=scores, status=status.tolist(), extra=extra)


def call_labels(task: TaskSpec, scores: np.ndarray, thresholds: np.ndarray) -> list[str]:
    """Human-readable calls: ``0/1`` (binary), the class or empty (multi-class), ``;``-joined labels."""
    if task.kind == "binary":
        return [str(int(v)) for v in (scores >= thresholds[0])]
    if task.kind == "multiclass":
        return ["" if c < 0 else task.classes[c] for c in multiclass_calls(scores)]
    if task.kind == "multilabel":
        calls = multilabel_calls(scores, thresholds)
        return [format_label(task, [c for c, on in zip(task.classes, row) if on]) for row in calls]
    return [f"{v:.6g}" for v in scores]


def prediction_table(
    records: Sequence[Record],
    pred: Predictions,
    tasks: Sequence[TaskSpec],
    *,
    fold: int,
    seed: int,
    identity: pd.DataFrame,
    tuned: Mapping[str, np.ndarray],
    fixed: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """The per-record table of one (method, fold, seed) run; ``pred`` must already be aligned to ``records``."""
    ident = identity.set_index("id").loc[[r.id for r in records]]
    cols: dict[str, Any] = {
        "id": [r.id for r in records],
        "fold": fold,
        "seed": seed,
        "cluster": [str(r.meta.get("cluster", "")) for r in records],
        "status": pred.status,
        "identity": ident["identity"].to_numpy(),
        "identity_bin": ident["bin"].to_numpy(),
    }
    if any(PROTEOME_COLUMN in r.meta for r in records):
        cols[PROTEOME_COLUMN] = [str(r.meta.get(PROTEOME_COLUMN) or "") for r in records]
    if any(NEAREST_ARG_COLUMN in r.meta for r in records):
        cols[NEAREST_ARG_COLUMN] = [np.nan if r.meta.get(NEAREST_ARG_COLUMN) is None else float(r.meta[NEAREST_ARG_COLUMN]) for r in records]
    for t in tasks:
        cols[TRUE_PREFIX + t.name] = [format_label(t, r.label(t.name)) for r in records]
    for t in tasks:
        s = np.asarray(pred.scores[t.name])
        for j, c in enumerate(score_columns(t)):
            cols[c] = s if s.ndim == 1 else s[:, j]
    for t in tasks:
        s = np.asarray(pred.scores[t.name])
        cols[CALL_PREFIX + t.name] = call_labels(t, s, tuned[t.name])
        cols[FIXED_CALL_PREFIX + t.name] = call_labels(t, s, fixed[t.name])
    table = pd.DataFrame(cols)
    if pred.extra is not None:
        table = pd.concat([table, pred.extra.add_prefix(EXTRA_PREFIX).reset_index(drop=True)], axis=1)
    return table


def write_table(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False, lineterminator="\n", float_format="%.6g")


def read_table(path: Path) -> pd.DataFrame:
    """A prediction table with score columns as floats and label/call columns as strings."""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    for col in ("fold", "seed"):
        table[col] = table[col].astype(int)
    table["identity"] = pd.to_numeric(table["identity"].replace("", np.nan))
    if NEAREST_ARG_COLUMN in table.columns:
        table[NEAREST_ARG_COLUMN] = pd.to_numeric(table[NEAREST_ARG_COLUMN].replace("", np.nan))
    return table


def task_arrays(table: pd.DataFrame, task: TaskSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(targets, mask, scores)`` of one task from a prediction table."""
    targets, mask = task.encode([parse_label(task, v) for v in table[TRUE_PREFIX + task.name]])
    scores = table[score_columns(task)].astype(float).to_numpy()
    return targets, mask, scores[:, 0] if task.n_outputs == 1 else scores


@dataclass
class RunResult:
    """One saved (method, fold, seed) run: its prediction table and sidecar (thresholds, timings)."""

    method: str
    fold: int
    seed: int
    table: pd.DataFrame
    info: dict[str, Any]

    def thresholds(self, task: TaskSpec, scheme: str) -> np.ndarray:
        return np.asarray(self.info["thresholds"][scheme].get(task.name, []), dtype=float)

    def information_content(self, task: TaskSpec) -> np.ndarray | None:
        """Per-label information content from this fold's training annotations (hierarchical tasks), else ``None``."""
        values = self.info.get("information_content", {}).get(task.name)
        return None if values is None else np.asarray(values, dtype=float)


def load_runs(out: str | Path) -> dict[str, list[RunResult]]:
    """Every saved run under ``out/predictions``, by method, sorted by (seed, fold)."""
    root = Path(out) / PREDICTIONS_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"{root} does not exist: not a benchmark results directory")
    runs: dict[str, list[RunResult]] = {}
    for method_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for tsv in sorted(method_dir.glob("fold*_seed*.tsv")):
            table = read_table(tsv)
            info = json.loads(tsv.with_suffix(".json").read_text())
            runs.setdefault(method_dir.name, []).append(RunResult(method_dir.name, int(info["fold"]), int(info["seed"]), table, info))
    for method in runs:
        runs[method].sort(key=lambda r: (r.seed, r.fold))
    return runs
