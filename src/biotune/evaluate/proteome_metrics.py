"""Genome-scale ARG metrics: false ARG calls per 1,000 proteins of a proteome, and hard-negative FPR.

Both read the pooled test predictions of the binary ``is_arg`` task (calls = score ≥ the scheme's
per-run threshold, exactly as every other metric) plus two optional prediction-table columns that
datasets such as ``arg_v2`` provide (:mod:`biotune.data.dataset`): ``proteome`` and
``nearest_arg_identity``. A section whose column (or the ``is_arg`` task) is absent is omitted.

**False ARG calls per 1,000 proteins** (``metrics["proteome_calls"]``): for each proteome P, among
P's test records with ``is_arg`` 0 — proteins labelled ARG by the ≥ 80 % rule are excluded — the
number called ARG / the number of such records × 1000, with the counts; next to it the recall on P's
rule-labelled ARGs (``is_arg`` 1). With ``split: proteome`` (leave-one-proteome-out) P's records are
the test fold of P (``protocol = "leave_one_proteome_out"``); with ordinary folds they are P's
records in the pooled test folds, each predicted by a model whose training set held other proteins
of P (``protocol = "within_cv"``, not leave-one-proteome-out). Also the mean over proteomes and the
pooled rate over every proteome record (with a bootstrap CI). Counts are per seed (calls: the mean
over seeds).

**Hard negatives** (``metrics["hard_negatives"]``): false-positive rate (called ARG / count) of the
``is_arg`` 0 records by identity to the nearest curated ARG (:data:`HARD_NEGATIVE_BINS`), with
bootstrap CIs over records or clusters as configured (``bootstrap``), for both threshold schemes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from biotune.data.dataset import NEAREST_ARG_COLUMN, PROTEOME_COLUMN, split_list
from biotune.evaluate import results as R
from biotune.evaluate.bootstrap import percentile_ci, resample_indices
from biotune.tasks import TaskSpec

ARG_TASK = "is_arg"
PER_1000 = 1000.0
LOPO = "leave_one_proteome_out"
WITHIN_CV = "within_cv"
#: Hard-negative bins on ``nearest_arg_identity`` (fraction): name -> [low, high). ``easy`` = below
#: 0.3 or no curated ARG hit at all; ``>=0.8`` only occurs for negatives outside the 80 % rule.
HARD_NEGATIVE_BINS: dict[str, tuple[float, float]] = {
    "0.3-0.4": (0.3, 0.4),
    "0.4-0.5": (0.4, 0.5),
    "0.5-0.8": (0.5, 0.8),
    "hard_0.3-0.8": (0.3, 0.8),
    "easy": (float("-inf"), 0.3),
    ">=0.8": (0.8, float("inf")),
}


def arg_task(tasks: Sequence[TaskSpec]) -> TaskSpec | None:
    """The binary ``is_arg`` task, if evaluated."""
    return next((t for t in tasks if t.name == ARG_TASK and t.kind == "binary"), None)


def hard_negative_masks(nearest_identity: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean membership of every :data:`HARD_NEGATIVE_BINS` bin (``nan`` = no hit = easy)."""
    x = np.asarray(nearest_identity, dtype=float)
    known = ~np.isnan(x)
    out = {}
    for name, (lo, hi) in HARD_NEGATIVE_BINS.items():
        inside = known & (x >= lo) & (x < hi)
        out[name] = inside | ~known if name == "easy" else inside
    return out


def rate(called: np.ndarray, count: int, scale: float = 1.0) -> float:
    return float(np.sum(called)) / count * scale if count else float("nan")


def call_counts(truth: np.ndarray, called: np.ndarray, n_seeds: int = 1) -> dict[str, Any]:
    """False ARG calls among negatives (per 1,000) and ARG recall, from per-row 0/1 arrays.

    ``truth``/``called`` hold one row per record and seed (``n_seeds`` stacked blocks): counts are
    per seed, calls the mean over seeds.
    """
    y, c = np.asarray(truth, dtype=int), np.asarray(called, dtype=int)
    neg, pos = y == 0, y == 1
    n_neg, n_arg = int(neg.sum()) // n_seeds, int(pos.sum()) // n_seeds
    return {
        "n_negative": n_neg,
        "false_calls": float(c[neg].sum()) / n_seeds,
        "false_calls_per_1000": rate(c[neg], n_neg * n_seeds, PER_1000),
        "n_arg": n_arg,
        "arg_found": float(c[pos].sum()) / n_seeds,
        "arg_recall": rate(c[pos], n_arg * n_seeds),
    }


def proteome_groups(proteome_cells: Sequence[str], folds: np.ndarray, lopo_names: Mapping[int, str] | None) -> dict[str, np.ndarray]:
    """Record positions of every proteome: its test fold (leave-one-proteome-out) or every record listing it."""
    if lopo_names is not None:
        folds = np.asarray(folds, dtype=int)
        return {lopo_names[k]: np.flatnonzero(folds == k) for k in sorted(set(folds.tolist()))}
    members: dict[str, list[int]] = {}
    for i, cell in enumerate(proteome_cells):
        for name in split_list(cell):
            members.setdefault(name, []).append(i)
    return {name: np.asarray(members[name], dtype=int) for name in sorted(members)}


def _per_record(values: np.ndarray, n: int, n_seeds: int) -> np.ndarray:
    """Sum over seed blocks of a stacked per-row array -> one value per record position."""
    return np.asarray(values, dtype=float).reshape(n_seeds, n).sum(axis=0)


def bootstrap_rate(called_per_record: np.ndarray, n_seeds: int, positions: np.ndarray, resamples: Sequence[np.ndarray], level: float, scale: float = 1.0) -> dict[str, float]:
    """``called / count × scale`` over ``positions`` with a percentile CI over ``resamples`` (indices into ``positions``)."""
    c = np.asarray(called_per_record, dtype=float)[positions]
    point = rate(c, len(c) * n_seeds, scale)
    values = np.array([rate(c[idx], len(idx) * n_seeds, scale) for idx in resamples], dtype=float)
    lo, hi = percentile_ci(values, level) if len(values) else (float("nan"), float("nan"))
    return {"value": point, "ci_low": lo, "ci_high": hi}


def proteome_metrics(pooled, tasks: Sequence[TaskSpec], schemes: Sequence[str], boot: Mapping[str, Any], lopo_names: Mapping[int, str] | None) -> dict[str, Any] | None:
    """``metrics["proteome_calls"]`` entry of one method (``pooled``: :class:`.aggregate.Pooled`), or ``None``."""
    task = arg_task(tasks)
    if task is None or PROTEOME_COLUMN not in pooled.table.columns:
        return None
    n, n_seeds = len(pooled.ids), pooled.n_seeds
    first = pooled.table.iloc[:n]
    groups = proteome_groups(first[PROTEOME_COLUMN].tolist(), first["fold"].to_numpy(), lopo_names)
    targets, mask, scores = R.task_arrays(pooled.table, task)
    in_proteome = np.flatnonzero(first[PROTEOME_COLUMN].map(lambda c: bool(split_list(c))).to_numpy(dtype=bool))
    labelled = np.flatnonzero(mask[:n])
    everyone = np.intersect1d(np.arange(n) if lopo_names is not None else in_proteome, labelled)
    negatives = everyone[targets[everyone] == 0]
    clusters = first["cluster"].to_numpy() if boot["unit"] == "cluster" else None
    resamples = resample_indices(len(negatives), int(boot["n"]), seed=int(boot["seed"]), groups=None if clusters is None else clusters[negatives])
    out: dict[str, Any] = {}
    for scheme in schemes:
        called = (scores >= pooled.thresholds[(task.name, scheme)][:, 0]).astype(int)
        per = {}
        for name, pos in groups.items():
            pos = np.intersect1d(pos, labelled)
            rows = pooled.rows(pos)
            per[name] = call_counts(targets[rows], called[rows], n_seeds)
        pooled_counts = call_counts(targets[pooled.rows(everyone)], called[pooled.rows(everyone)], n_seeds)
        pooled_counts["false_calls_per_1000"] = bootstrap_rate(_per_record(called, n, n_seeds), n_seeds, negatives, resamples, float(boot["level"]), PER_1000)
        rates = [v["false_calls_per_1000"] for v in per.values() if v["n_negative"]]
        recalls = [v["arg_recall"] for v in per.values() if v["n_arg"]]
        out[scheme] = {
            "per_proteome": per,
            "mean_over_proteomes": {
                "false_calls_per_1000": float(np.mean(rates)) if rates else float("nan"),
                "arg_recall": float(np.mean(recalls)) if recalls else float("nan"),
                "n_proteomes": len(rates),
            },
            "pooled": pooled_counts,
        }
    return out


def hard_negative_metrics(pooled, tasks: Sequence[TaskSpec], schemes: Sequence[str], boot: Mapping[str, Any]) -> dict[str, Any] | None:
    """``metrics["hard_negatives"]`` entry of one method, or ``None`` without the column / task."""
    task = arg_task(tasks)
    if task is None or NEAREST_ARG_COLUMN not in pooled.table.columns:
        return None
    n, n_seeds = len(pooled.ids), pooled.n_seeds
    first = pooled.table.iloc[:n]
    targets, mask, scores = R.task_arrays(pooled.table, task)
    negative = mask[:n] & (targets[:n] == 0)
    clusters = first["cluster"].to_numpy() if boot["unit"] == "cluster" else None
    bins = {name: np.flatnonzero(negative & inside) for name, inside in hard_negative_masks(first[NEAREST_ARG_COLUMN].to_numpy(dtype=float)).items()}
    resamples = {
        name: resample_indices(len(pos), int(boot["n"]), seed=int(boot["seed"]), groups=None if clusters is None else clusters[pos])
        for name, pos in bins.items()
    }
    out: dict[str, Any] = {}
    for scheme in schemes:
        called = _per_record((scores >= pooled.thresholds[(task.name, scheme)][:, 0]).astype(int), n, n_seeds)
        out[scheme] = {
            name: {"n": int(len(pos)), "false_positives": float(called[pos].sum()) / n_seeds,
                   "fpr": bootstrap_rate(called, n_seeds, pos, resamples[name], float(boot["level"]))}
            for name, pos in bins.items()
        }
    return out
