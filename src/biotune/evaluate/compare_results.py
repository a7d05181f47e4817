"""``biotune compare RESULTS_A RESULTS_B``: one method of run A against one of run B, paired.

A single-variable comparison needs both runs on the same dataset, tasks, folds and seeds (checked),
so that every test record has a prediction from both; the differing method parameters are listed
so that a reader sees what the one variable was. For every task:

- **overall**: the task's headline metrics (macro-F1 …) on every pooled test record;
- **rare**: macro-F1 over the *rare classes* only — classes with at most ``rare_max`` (200) training
  sequences (mean over the evaluated folds' training splits, counted in the dataset the runs used);
  per-class F1 from one-vs-rest counts of the tuned calls (arg-max for multi-class), averaged over
  the rare classes present in truth or calls;
- **per identity bin**: the headline metrics within each identity bin of the test records.

Each row gives A, B, Δ = A − B, the paired-bootstrap 95 % CI and p-value (the same resamples of
records — or homology clusters — for both methods; :mod:`.compare`), and for overall and rare the
Wilcoxon signed-rank test over paired (fold, seed) runs. Thresholds are those tuned on each fold's
validation split.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import typer
from omegaconf import OmegaConf

from biotune.data.dataset import load_dataset, parse_label
from biotune.evaluate import results as R
from biotune.evaluate.aggregate import ALL, Pooled, _finite, _squeeze, bootstrap_subset, pool_runs, run_thresholds, subsets
from biotune.evaluate.bootstrap import resample_indices
from biotune.evaluate.compare import paired_bootstrap_from_values, wilcoxon_over_folds
from biotune.evaluate.metrics import ABSTAIN, headline, multiclass_calls, multilabel_calls
from biotune.evaluate.replicates import point_headline, replicate_headline, weight_matrix
from biotune.tasks import TaskSpec

RARE = "rare"
RARE_MAX_DEFAULT = 200
COMPARE_JSON = "compare.json"
COMPARE_MD = "compare.md"


def _config(directory: Path) -> dict[str, Any]:
    path = directory / R.CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{directory}: not a benchmark results directory ({R.CONFIG_FILE} is missing)")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def _pick_method(directory: Path, cfg: dict[str, Any], name: str | None, avoid: str | None = None) -> str:
    methods = list(cfg["methods"])
    if name is not None:
        if name not in methods:
            raise ValueError(f"{directory}: no method {name!r}; it holds {methods}")
        return name
    candidates = [m for m in methods if m != avoid]
    if len(candidates) != 1:
        raise ValueError(f"{directory} holds methods {methods}: say which one with --method-a/--method-b")
    return candidates[0]


def check_comparable(cfg_a: dict[str, Any], cfg_b: dict[str, Any]) -> None:
    """Raise unless both runs used the same dataset, folds and seeds (the conditions of a paired test)."""
    for key in ("folds", "seeds"):
        if cfg_a[key] != cfg_b[key]:
            raise ValueError(f"the runs differ in {key}: {cfg_a[key]} vs {cfg_b[key]}")
    for key in ("split", "lopo_valid_fold", "fold_column"):
        defaults = {"split": "folds", "lopo_valid_fold": 0, "fold_column": "fold"}
        va, vb = (c["benchmark"].get(key, defaults[key]) for c in (cfg_a, cfg_b))
        if va != vb:
            raise ValueError(f"the runs differ in benchmark {key}: {va} vs {vb}")
    da, db = cfg_a["dataset"], cfg_b["dataset"]
    for key in ("name", "version", "n_records"):
        if da.get(key) != db.get(key):
            raise ValueError(f"the runs used different datasets ({key}: {da.get(key)} vs {db.get(key)})")


def flat_params(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as ``{dotted.path: leaf value}`` (``{"config": {"data": {"x": 1}}}`` → ``{"config.data.x": 1}``;
    an empty mapping has no leaves)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat |= flat_params(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def param_differences(spec_a: dict[str, Any], spec_b: dict[str, Any]) -> dict[str, list[Any]]:
    """``{param: [value in A, value in B]}`` for every method parameter (or class) that differs; nested
    parameters (a trained method's ``config``) are compared leaf by leaf under dotted names."""
    a = flat_params({"method": spec_a.get("method"), **spec_a.get("params", {})})
    b = flat_params({"method": spec_b.get("method"), **spec_b.get("params", {})})
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def training_counts(dataset_path: str | Path, task: TaskSpec, folds: Sequence[int], split: str = "folds", valid_fold: int = 0, fold_column: str = "fold") -> np.ndarray:
    """Mean number of training sequences per class of ``task`` over the training splits of ``folds``
    (``split``/``valid_fold``/``fold_column``: the run's benchmark ``split``, ``lopo_valid_fold``, ``fold_column``)."""
    ds = load_dataset(dataset_path)
    column = ds.columns[task.name]
    counts = []
    for fold in folds:
        train, _, _ = ds.split(fold, split, valid_fold, fold_column)
        targets, mask = task.encode([parse_label(task, v) for v in ds.table.loc[train, column]])
        onehot = np.eye(task.n_outputs)[targets[mask]] if task.kind == "multiclass" else targets[mask]
        counts.append(onehot.sum(axis=0))
    return np.mean(counts, axis=0)


def rare_classes(dataset_path: str | Path, tasks: Sequence[TaskSpec], folds: Sequence[int], rare_max: int, split: str = "folds", valid_fold: int = 0, fold_column: str = "fold") -> dict[str, list[str]]:
    """Classes with at most ``rare_max`` training sequences, per multi-class/multi-label task."""
    out = {}
    for t in tasks:
        if t.kind in ("multiclass", "multilabel"):
            counts = training_counts(dataset_path, t, folds, split, valid_fold, fold_column)
            out[t.name] = [c for c, n in zip(t.classes, counts) if n <= rare_max]
    return out


def class_truth_and_calls(task: TaskSpec, targets: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest ``(truth, calls)`` matrices ``(n, k)``: multi-hot for multi-label, one-hot of arg-max otherwise."""
    if task.kind == "multilabel":
        return np.asarray(targets), multilabel_calls(scores, thresholds)
    k = task.n_outputs
    pred = multiclass_calls(scores)
    calls = np.zeros((len(pred), k))
    calls[pred != ABSTAIN, pred[pred != ABSTAIN]] = 1
    return np.eye(k)[np.asarray(targets, dtype=int)], calls


def rare_subtask(task: TaskSpec, rare: Sequence[str]) -> tuple[TaskSpec, list[int]]:
    cols = [task.classes.index(c) for c in rare]
    names = tuple(rare) if len(rare) >= 2 else (*rare, "(other)")
    return TaskSpec(f"{task.name}:rare", "multilabel", names), cols


def rare_values(pooled: Pooled, task: TaskSpec, rare: Sequence[str], W: np.ndarray) -> tuple[float, np.ndarray]:
    """Rare-class macro-F1 on all pooled records (point) and for every weight row of ``W``."""
    targets, mask, scores = R.task_arrays(pooled.table, task)
    thr = pooled.thresholds[(task.name, "tuned")]
    truth, calls = class_truth_and_calls(task, targets, scores, thr if thr.size else 0.5)
    sub, cols = rare_subtask(task, rare)
    t, c = truth[:, cols], calls[:, cols]
    if len(cols) == 1:
        t, c = np.c_[t, np.zeros(len(t))], np.c_[c, np.zeros(len(c))]
    point = point_headline(sub, t, mask, c, 0.5)["macro_f1"]
    values = replicate_headline(sub, np.tile(W, pooled.n_seeds), t, mask, c, 0.5)["macro_f1"]
    return point, values


def _per_run(runs: Sequence[R.RunResult], task: TaskSpec, metric: str, rare: Sequence[str] | None) -> list[float]:
    """The metric on each (fold, seed) run separately, for the Wilcoxon test over runs."""
    values = []
    for run in sorted(runs, key=lambda r: (r.seed, r.fold)):
        n = len(run.table)
        thr = _squeeze(task, run_thresholds(run, task, "tuned", n))
        targets, mask, scores = R.task_arrays(run.table, task)
        if rare is None:
            values.append(point_headline(task, targets, mask, scores, thr, run.information_content(task))[metric])
        else:
            pooled = Pooled(run.table["id"].tolist(), 1, run.table, {(task.name, "tuned"): run_thresholds(run, task, "tuned", n)})
            values.append(rare_values(pooled, task, rare, np.zeros((0, n)))[0])
    return values


def compare_results(
    dir_a: str | Path,
    dir_b: str | Path,
    *,
    method_a: str | None = None,
    method_b: str | None = None,
    tasks: Sequence[str] | None = None,
    rare_max: int = RARE_MAX_DEFAULT,
    n_boot: int | None = None,
    unit: str | None = None,
    dataset: str | Path | None = None,
) -> dict[str, Any]:
    """Paired comparison of method A (in ``dir_a``) against method B (in ``dir_b``); see the module docstring."""
    dir_a, dir_b = Path(dir_a), Path(dir_b)
    cfg_a, cfg_b = _config(dir_a), _config(dir_b)
    check_comparable(cfg_a, cfg_b)
    same_dir = dir_a.resolve() == dir_b.resolve()
    method_a = _pick_method(dir_a, cfg_a, method_a)
    method_b = _pick_method(dir_b, cfg_b, method_b, avoid=method_a if same_dir else None)
    if same_dir and method_a == method_b:
        raise ValueError("comparing a method with itself: name two different methods")
    known = {t["name"]: TaskSpec.from_dict(t) for t in cfg_a["tasks"]}
    names = list(tasks) if tasks else [t["name"] for t in cfg_a["tasks"] if t["name"] in {u["name"] for u in cfg_b["tasks"]}]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; the runs have {list(known)}")
    specs = [known[n] for n in names]
    runs_a, runs_b = R.load_runs(dir_a).get(method_a), R.load_runs(dir_b).get(method_b)
    if not runs_a or not runs_b:
        raise FileNotFoundError(f"no prediction tables for {method_a!r} in {dir_a} or {method_b!r} in {dir_b}")
    pa, pb = pool_runs(runs_a, specs), pool_runs(runs_b, specs)
    if pa.ids != pb.ids or pa.n_seeds != pb.n_seeds:
        raise ValueError("the two runs evaluated different test records: not a paired comparison")

    boot = dict(cfg_a["benchmark"]["bootstrap"])
    boot.update({k: v for k, v in (("n", n_boot), ("unit", unit)) if v is not None})
    level = float(boot["level"])
    clusters = pa.table["cluster"].to_numpy()[: len(pa.ids)] if boot["unit"] == "cluster" else None
    dataset_path = dataset or cfg_a["dataset"].get("path")
    if dataset_path is None or not Path(dataset_path).exists():
        raise FileNotFoundError(f"dataset {dataset_path} not found (needed to count training sequences per class): pass --dataset")
    bench = cfg_a["benchmark"]
    rare = rare_classes(dataset_path, specs, cfg_a["folds"], rare_max, str(bench.get("split", "folds")), int(bench.get("lopo_valid_fold", 0)), str(bench.get("fold_column", "fold")))

    rows: list[dict[str, Any]] = []
    for name, idx in subsets(pa).items():
        if len(idx) == 0:
            continue  # an identity bin no test record falls in
        resamples = resample_indices(len(idx), int(boot["n"]), seed=int(boot["seed"]), groups=None if clusters is None else clusters[idx])
        va, vb = bootstrap_subset(pa, specs, idx, resamples), bootstrap_subset(pb, specs, idx, resamples)
        for t in specs:
            for metric in headline(t):
                row = {"subset": name, "task": t.name, "metric": metric, "n": va[t.name]["n"], "a": va[t.name]["point"][metric], "b": vb[t.name]["point"][metric]}
                row |= paired_bootstrap_from_values(row["a"], row["b"], va[t.name]["values"][metric], vb[t.name]["values"][metric], level)
                if name == ALL:
                    row["wilcoxon"] = wilcoxon_over_folds(_per_run(runs_a, t, metric, None), _per_run(runs_b, t, metric, None))
                rows.append(row)
        if name == ALL:
            W = weight_matrix(resamples, len(idx))
            for t in specs:
                if not rare.get(t.name):
                    continue
                point_a, values_a = rare_values(pa, t, rare[t.name], W)
                point_b, values_b = rare_values(pb, t, rare[t.name], W)
                row = {"subset": RARE, "task": t.name, "metric": "macro_f1", "n": va[t.name]["n"], "a": point_a, "b": point_b}
                row |= paired_bootstrap_from_values(point_a, point_b, values_a, values_b, level)
                row["wilcoxon"] = wilcoxon_over_folds(_per_run(runs_a, t, "macro_f1", rare[t.name]), _per_run(runs_b, t, "macro_f1", rare[t.name]))
                rows.append(row)
    order = {ALL: 0, RARE: 1}
    rows.sort(key=lambda r: (order.get(r["subset"], 2), r["task"]))
    return _finite({
        "a": {"results": str(dir_a), "method": method_a}, "b": {"results": str(dir_b), "method": method_b},
        "differences": param_differences(cfg_a["methods"][method_a], cfg_b["methods"][method_b]),
        "bootstrap": boot, "rare_max": rare_max, "rare_classes": rare, "folds": cfg_a["folds"], "seeds": cfg_a["seeds"],
        "rows": rows,
    })  # fmt: skip


def _fmt(v: Any, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def comparison_markdown(result: dict[str, Any]) -> str:
    """The comparison as a Markdown document (what ``biotune compare`` prints and writes)."""
    a, b = result["a"], result["b"]
    lines = [
        f"# {a['method']} ({a['results']}) vs {b['method']} ({b['results']})",
        "",
        f"Δ = A − B on the pooled test folds {result['folds']} × seeds {result['seeds']}; paired bootstrap "
        f"({result['bootstrap']['n']} resamples of {result['bootstrap']['unit']}s, {int(100 * result['bootstrap']['level'])} % CI); "
        f"Wilcoxon over paired runs. Rare = classes with ≤ {result['rare_max']} training sequences.",
        "",
        "Differences between the two methods: "
        + (", ".join(f"`{k}` A={va!r} B={vb!r}" for k, (va, vb) in result["differences"].items()) or "none (same method and parameters)"),
        "",
    ]
    for task, classes in result["rare_classes"].items():
        lines.append(f"Rare classes of {task}: {', '.join(classes) if classes else 'none'}")
    lines += ["", "| subset | task | metric | n | A | B | Δ | 95 % CI | p (bootstrap) | p (Wilcoxon) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        wil = r.get("wilcoxon", {}).get("p_value") if r.get("wilcoxon") else None
        ci = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        lines.append(f"| {r['subset']} | {r['task']} | {r['metric']} | {r['n']} | {_fmt(r['a'])} | {_fmt(r['b'])} | {_fmt(r['delta'])} | {ci} | {_fmt(r['p_value'])} | {_fmt(wil)} |")
    return "\n".join(lines) + "\n"


def write_comparison(result: dict[str, Any], out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / COMPARE_JSON).write_text(json.dumps(result, indent=1) + "\n")
    (out / COMPARE_MD).write_text(comparison_markdown(result))
    return out


def compare(
    results_a: Path = typer.Argument(..., help="Results directory of run A (biotune benchmark --out)."),
    results_b: Path = typer.Argument(..., help="Results directory of run B (may equal A when it holds both methods)."),
    method_a: str = typer.Option(None, "--method-a", help="Method of run A (needed when A holds several)."),
    method_b: str = typer.Option(None, "--method-b", help="Method of run B (needed when B holds several)."),
    tasks: str = typer.Option(None, "--tasks", help="Comma-separated tasks (default: all tasks of both runs)."),
    rare_max: int = typer.Option(RARE_MAX_DEFAULT, "--rare-max", help="A class with at most this many training sequences is rare."),
    bootstrap_n: int = typer.Option(None, "--bootstrap-n", help="Bootstrap resamples (default: the runs' setting)."),
    unit: str = typer.Option(None, "--unit", help="Resample 'record' or 'cluster' (default: the runs' setting)."),
    dataset: Path = typer.Option(None, "--dataset", help="Dataset directory, if it moved since the runs."),
    out: Path = typer.Option(None, "--out", help="Also write compare.json and compare.md into this directory."),
) -> None:
    """Paired comparison of one method in RESULTS_A against one in RESULTS_B: overall, rare classes, identity bins."""
    from biotune.errors import InputError

    try:
        result = compare_results(
            results_a, results_b, method_a=method_a, method_b=method_b, rare_max=rare_max, n_boot=bootstrap_n, unit=unit, dataset=dataset,
            tasks=[t.strip() for t in tasks.split(",") if t.strip()] if tasks else None,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:
        raise InputError(str(exc)) from None
    typer.echo(comparison_markdown(result))
    if out is not None:
        write_comparison(result, out)
