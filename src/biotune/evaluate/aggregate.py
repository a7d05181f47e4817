"""From saved prediction tables to ``metrics.json``: per run, over runs, pooled with CIs, per identity bin, paired.

Nothing here fits or predicts: the input is a results directory (:mod:`.results`), so
``biotune report`` can recompute every number from the saved tables. ``metrics.json`` holds::

    methods, tasks, folds, seeds, bins, bootstrap          what was evaluated and how
    runs[method]          list of {fold, seed, n, status_counts, fit_seconds, predict_seconds,
                          tuned: {task: all metrics}, fixed: {task: all metrics}}
    over_runs[method][scheme][task][metric]  {mean, sd, n} over folds × seeds (scalar metrics)
    pooled[method][scheme][subset][task]     {n, <headline metric>: {value, ci_low, ci_high}}
                          subset = "all" or an identity bin; every test fold pooled (each record
                          is tested exactly once per seed; seeds are stacked); CIs from
                          ``bootstrap.n`` resamples of records (or clusters), for the tuned scheme
    pooled_full[method][scheme][subset][task]  every metric (per-class, confusion matrix…), no CI
    comparisons           list of {a, b, subset, task, metric, delta, ci_low, ci_high, p_value,
                          n_boot, wilcoxon: {mean_delta, statistic, p_value, n}} (tuned scheme;
                          Wilcoxon over paired per-run values, for subset "all")
    proteome_calls        only when the tables have a ``proteome`` column and an ``is_arg`` task
                          (:mod:`.proteome_metrics`): {task, protocol ("leave_one_proteome_out" or
                          "within_cv"), proteomes, methods[method][scheme]: {per_proteome[name]:
                          {n_negative, false_calls, false_calls_per_1000, n_arg, arg_found, arg_recall},
                          mean_over_proteomes: {false_calls_per_1000, arg_recall, n_proteomes},
                          pooled: {same counts, false_calls_per_1000: {value, ci_low, ci_high}}}}
    hard_negatives        only with a ``nearest_arg_identity`` column and an ``is_arg`` task: {task,
                          bins {name: [low, high)}, methods[method][scheme][bin]: {n, false_positives,
                          fpr: {value, ci_low, ci_high}}} — is_arg-0 records by identity to the
                          nearest curated ARG (0.3-0.4, 0.4-0.5, 0.5-0.8, hard_0.3-0.8, easy, >=0.8)

Scheme ``tuned`` = thresholds tuned on each fold's validation split; ``fixed`` = 0.5.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from biotune.evaluate import results as R
from biotune.evaluate.bootstrap import mean_sd, percentile_ci, resample_indices
from biotune.evaluate.compare import paired_bootstrap_from_values, wilcoxon_over_folds
from biotune.evaluate.identity_bins import BIN_LABELS
from biotune.evaluate.metrics import headline, task_metrics
from biotune.evaluate.proteome_metrics import ARG_TASK, HARD_NEGATIVE_BINS, LOPO, WITHIN_CV, hard_negative_metrics, proteome_metrics
from biotune.evaluate.replicates import point_headline, replicate_headline, weight_matrix
from biotune.tasks import TaskSpec

SCHEMES = ("tuned", "fixed")
ALL = "all"


def run_thresholds(run: R.RunResult, task: TaskSpec, scheme: str, n: int) -> np.ndarray:
    """Per-row thresholds of one run's table (constant within a run)."""
    thr = run.thresholds(task, scheme)
    return np.tile(thr, (n, 1)) if thr.size else np.zeros((n, 0))


@dataclass
class Pooled:
    """All test folds of one method stacked (seed blocks, each sorted by id) with per-row thresholds and, for
    hierarchical tasks, per-row information content (each row's from its own fold's training annotations)."""

    ids: list[str]
    n_seeds: int
    table: pd.DataFrame
    thresholds: dict[tuple[str, str], np.ndarray]
    ic: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self, records: np.ndarray) -> np.ndarray:
        """Stacked row positions of record positions ``records`` in every seed block."""
        n = len(self.ids)
        return np.concatenate([records + s * n for s in range(self.n_seeds)])


def pool_runs(runs: Sequence[R.RunResult], tasks: Sequence[TaskSpec]) -> Pooled:
    blocks, thresholds, ic = [], {}, {}
    for seed in sorted({r.seed for r in runs}):
        seed_runs = [r for r in runs if r.seed == seed]
        frames = [r.table.assign(_run=k) for k, r in enumerate(seed_runs)]
        block = pd.concat(frames, ignore_index=True).sort_values("id", kind="mergesort").reset_index(drop=True)
        for t, scheme in itertools.product(tasks, SCHEMES):
            per_run = [run_thresholds(r, t, scheme, 1) for r in seed_runs]
            thr = np.concatenate([per_run[k] for k in block["_run"]]) if len(block) else np.zeros((0, 0))
            thresholds.setdefault((t.name, scheme), []).append(thr)
        for t in tasks:
            per_run_ic = [r.information_content(t) for r in seed_runs]
            if all(v is not None for v in per_run_ic) and len(block):
                ic.setdefault(t.name, []).append(np.stack([per_run_ic[k] for k in block["_run"]]))
        blocks.append(block.drop(columns="_run"))
    ids = blocks[0]["id"].tolist()
    for b in blocks[1:]:
        if b["id"].tolist() != ids:
            raise ValueError(f"method {runs[0].method!r}: seeds evaluated different records")
    ic = {k: np.concatenate(v) for k, v in ic.items() if len(v) == len(blocks)}
    return Pooled(ids, len(blocks), pd.concat(blocks, ignore_index=True), {k: np.concatenate(v) for k, v in thresholds.items()}, ic)


def _squeeze(task: TaskSpec, thr: np.ndarray) -> np.ndarray:
    return thr[:, 0] if task.kind == "binary" else thr


def _evaluate(task: TaskSpec, table: pd.DataFrame, thr: np.ndarray, ic: np.ndarray | None = None) -> dict[str, Any]:
    targets, mask, scores = R.task_arrays(table, task)
    return task_metrics(task, targets, mask, scores, _squeeze(task, thr), ic=ic)


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "n"}


def evaluate_runs(runs: Sequence[R.RunResult], tasks: Sequence[TaskSpec]) -> list[dict[str, Any]]:
    """All metrics of every single (fold, seed) run."""
    out = []
    for run in runs:
        n = len(run.table)
        entry = {k: run.info.get(k) for k in ("fold", "seed", "status_counts", "fit_seconds", "predict_seconds")} | {"n": n}
        for scheme in SCHEMES:
            entry[scheme] = {t.name: _evaluate(t, run.table, run_thresholds(run, t, scheme, n), run.information_content(t)) for t in tasks}
        out.append(entry)
    return out


def over_runs(per_run: Sequence[dict[str, Any]], tasks: Sequence[TaskSpec]) -> dict[str, Any]:
    """Mean ± sd over folds × seeds of every scalar metric."""
    result: dict[str, Any] = {}
    for scheme in SCHEMES:
        result[scheme] = {}
        for t in tasks:
            names = _scalars(per_run[0][scheme][t.name]) if per_run else {}
            result[scheme][t.name] = {m: mean_sd([r[scheme][t.name][m] for r in per_run]) for m in names}
    return result


def subsets(pooled: Pooled) -> dict[str, np.ndarray]:
    """Record positions of "all" and of every identity bin (empty bins kept, with no rows)."""
    bins = pooled.table["identity_bin"].to_numpy()[: len(pooled.ids)]
    return {ALL: np.arange(len(pooled.ids))} | {b: np.flatnonzero(bins == b) for b in BIN_LABELS}


def bootstrap_subset(pooled: Pooled, tasks: Sequence[TaskSpec], records: np.ndarray, resamples: Sequence[np.ndarray], scheme: str = "tuned") -> dict[str, dict[str, Any]]:
    """Headline metrics (point + every resample) of one subset of records, per task.

    A resample of records weights each record's rows in every seed block alike.
    """
    rows = pooled.rows(records)
    W = np.tile(weight_matrix(resamples, len(records)), pooled.n_seeds)
    out: dict[str, dict[str, Any]] = {}
    for t in tasks:
        targets, mask, scores = R.task_arrays(pooled.table, t)
        thr = _squeeze(t, pooled.thresholds[(t.name, scheme)])
        ic = pooled.ic[t.name][rows] if t.name in pooled.ic else None
        args = (targets[rows], mask[rows], scores[rows], thr[rows] if thr.size else thr, ic)
        out[t.name] = {
            "n": int(mask[rows].sum() // pooled.n_seeds),
            "point": point_headline(t, *args),
            "values": replicate_headline(t, W, *args),
        }
    return out


def full_metrics(pooled: Pooled, tasks: Sequence[TaskSpec], records: np.ndarray, scheme: str) -> dict[str, Any]:
    """Every metric of every task on one subset of pooled records (all seed blocks)."""
    rows = pooled.rows(records)
    table = pooled.table.iloc[rows]
    return {t.name: _evaluate(t, table, pooled.thresholds[(t.name, scheme)][rows], pooled.ic[t.name][rows] if t.name in pooled.ic else None) for t in tasks}


def evaluate_results(out: str | Path, *, progress: bool = False) -> dict[str, Any]:
    """Compute every metric from a results directory and write ``metrics.json``."""
    out = Path(out)
    cfg = OmegaConf.to_container(OmegaConf.load(out / R.CONFIG_FILE), resolve=True)
    tasks = [TaskSpec.from_dict(t) for t in cfg["tasks"]]
    boot = cfg["benchmark"]["bootstrap"]
    runs = R.load_runs(out)
    methods = [m for m in cfg["methods"] if m in runs]
    if not methods:
        raise FileNotFoundError(f"{out}: no prediction tables found")
    metrics: dict[str, Any] = {
        "methods": methods, "tasks": [t.to_dict() for t in tasks], "folds": cfg["folds"], "seeds": cfg["seeds"],
        "bins": list(BIN_LABELS), "bootstrap": boot, "headline": {t.name: list(headline(t)) for t in tasks},
        "runs": {}, "over_runs": {}, "pooled": {}, "pooled_full": {}, "comparisons": [],
    }
    pooled = {m: pool_runs(runs[m], tasks) for m in methods}
    reference = pooled[methods[0]]
    for m in methods[1:]:
        if pooled[m].ids != reference.ids:
            raise ValueError(f"methods {methods[0]!r} and {m!r} were evaluated on different records")
    groups = reference.table["cluster"].to_numpy()[: len(reference.ids)] if boot["unit"] == "cluster" else None
    if boot["unit"] not in ("record", "cluster"):
        raise ValueError(f"bootstrap.unit must be 'record' or 'cluster', not {boot['unit']!r}")
    parts = subsets(reference)
    resamples = {
        name: resample_indices(len(idx), int(boot["n"]), seed=int(boot["seed"]), groups=None if groups is None else groups[idx])
        for name, idx in parts.items()
    }
    boot_values: dict[tuple[str, str, str], dict[str, Any]] = {}
    for m in methods:
        per_run = evaluate_runs(runs[m], tasks)
        metrics["runs"][m] = per_run
        metrics["over_runs"][m] = over_runs(per_run, tasks)
        metrics["pooled_full"][m] = {scheme: {name: full_metrics(pooled[m], tasks, idx, scheme) for name, idx in parts.items()} for scheme in SCHEMES}
        metrics["pooled"][m] = {scheme: {} for scheme in SCHEMES}
        for name, idx in parts.items():
            tuned = bootstrap_subset(pooled[m], tasks, idx, resamples[name], "tuned")
            fixed = bootstrap_subset(pooled[m], tasks, idx, [], "fixed")
            for scheme, res in (("tuned", tuned), ("fixed", fixed)):
                metrics["pooled"][m][scheme][name] = {
                    t: {"n": r["n"]} | {k: _interval(r["point"][k], r["values"][k], float(boot["level"])) for k in r["point"]} for t, r in res.items()
                }
            for t, r in tuned.items():
                boot_values[(m, name, t)] = r
    for a, b in itertools.combinations(methods, 2):
        for name in parts:
            for t in tasks:
                ra, rb = boot_values[(a, name, t.name)], boot_values[(b, name, t.name)]
                for k in headline(t):
                    row = {"a": a, "b": b, "subset": name, "task": t.name, "metric": k}
                    row |= paired_bootstrap_from_values(ra["point"][k], rb["point"][k], ra["values"][k], rb["values"][k], float(boot["level"]))
                    if name == ALL:
                        row["wilcoxon"] = wilcoxon_over_folds(
                            [r["tuned"][t.name][k] for r in metrics["runs"][a]], [r["tuned"][t.name][k] for r in metrics["runs"][b]]
                        )
                    metrics["comparisons"].append(row)
    metrics |= genome_sections(cfg, pooled, tasks, boot)
    clean = _finite(metrics)
    (out / R.METRICS_FILE).write_text(json.dumps(clean, indent=1) + "\n")
    return clean


def lopo_proteomes(cfg: dict[str, Any]) -> dict[int, str] | None:
    """Fold index -> proteome name of a leave-one-proteome-out run (``None`` for ordinary folds)."""
    if cfg["benchmark"].get("split", "folds") != "proteome":
        return None
    return {int(k): str(v) for k, v in (cfg.get("proteomes") or {}).items()}


def genome_sections(cfg: dict[str, Any], pooled: dict[str, Pooled], tasks: Sequence[TaskSpec], boot: dict[str, Any]) -> dict[str, Any]:
    """``proteome_calls`` and ``hard_negatives`` (see module docstring); absent columns -> no key."""
    lopo = lopo_proteomes(cfg)
    out: dict[str, Any] = {}
    calls = {m: proteome_metrics(p, tasks, SCHEMES, boot, lopo) for m, p in pooled.items()}
    if all(v is not None for v in calls.values()):
        first = next(iter(calls.values()))
        out["proteome_calls"] = {
            "task": ARG_TASK, "protocol": LOPO if lopo is not None else WITHIN_CV,
            "proteomes": list(first["tuned"]["per_proteome"]), "methods": calls,
        }
    hard = {m: hard_negative_metrics(p, tasks, SCHEMES, boot) for m, p in pooled.items()}
    if all(v is not None for v in hard.values()):
        edges = {k: [None if np.isinf(lo) else lo, None if np.isinf(hi) else hi] for k, (lo, hi) in HARD_NEGATIVE_BINS.items()}
        out["hard_negatives"] = {"task": ARG_TASK, "bins": edges, "methods": hard}
    return out


def _interval(point: float, values: np.ndarray, level: float) -> dict[str, float]:
    lo, hi = percentile_ci(values, level) if len(values) else (float("nan"), float("nan"))
    return {"value": float(point), "ci_low": lo, "ci_high": hi}


def _finite(obj: Any) -> Any:
    """JSON-safe copy: ``nan`` becomes ``null`` (strict JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
