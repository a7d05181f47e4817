"""Imbalance ablation: each option of embedding_head against the same method without it.

Every option in ``configs/imbalance/ablation.yaml`` is ``embedding_head`` with ONE change. All of
them run in one ``biotune benchmark`` results directory (same folds, seeds, identity bins and
embedding cache), then each is compared with the baseline by ``biotune compare``'s paired bootstrap:
Δ macro-F1 overall and on rare classes (≤ ``--rare-max`` training sequences), 95 % CI, p-values.

The ESM-2 backbone has RANDOM weights (nothing can be downloaded here): the Δs measure what each
option does for a head on uninformative-but-fixed features, not what it does on real ESM-2.

    python benchmarks/imbalance_ablation.py --dataset data/arg_v1 --out results/imbalance_ablation \\
        --folds 0,1,2,3,4 --cache data/cache/ablation_esm2_tiny.h5

Writes ``<out>/ablation.md`` and ``<out>/ablation.json`` next to the benchmark results.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from omegaconf import OmegaConf

from biotune.evaluate import results as R
from biotune.evaluate.aggregate import pool_runs
from biotune.evaluate.calibration import confidence_outcomes, plot_reliability, task_ece
from biotune.evaluate.compare_results import compare_results
from biotune.tasks import TaskSpec
from biotune.evaluate.runner import config_dir, run_benchmark

BASELINE = "embedding_head"
TASKS_OF_INTEREST = ("drug_class", "mechanism", "is_arg")


def method_table(ablation: Path, options: list[str] | None, cache: str | None, quality: Path) -> dict[str, dict]:
    """``{method name: params}`` for the baseline and every selected option."""
    cfg = OmegaConf.load(ablation)
    base = OmegaConf.merge(OmegaConf.load(config_dir() / "method" / f"{BASELINE}.yaml"), cfg.base)
    base.cache_path = cache
    base = OmegaConf.to_container(base, resolve=True)
    chosen = list(cfg.options) if not options else options
    unknown = set(chosen) - set(cfg.options)
    if unknown:
        raise SystemExit(f"unknown option(s) {sorted(unknown)}; known: {list(cfg.options)}")
    methods = {BASELINE: {"method": BASELINE, **base}}
    for name in chosen:
        change = OmegaConf.to_container(cfg.options[name], resolve=True)
        if change.get("method") == "ensemble":
            methods[f"{BASELINE}-{name}"] = {"method": "ensemble", "base": BASELINE, "k": change["k"], "base_params": base}
        else:
            params = {"method": BASELINE, **base, **change, "quality_dir": str(quality / name)}
            methods[f"{BASELINE}-{name}"] = params
    return methods


def pooled_ece(out: Path, tasks: list[str]) -> dict[str, dict[str, float]]:
    """ECE of every method's pooled test predictions per task (calibration's own target), and a
    reliability diagram per task of the baseline and the calibration options (``reliability_<task>.png``)."""
    cfg = OmegaConf.to_container(OmegaConf.load(out / R.CONFIG_FILE), resolve=True)
    specs = [TaskSpec.from_dict(t) for t in cfg["tasks"] if t["name"] in tasks]
    result: dict[str, dict[str, float]] = {}
    curves: dict[str, dict] = {t.name: {} for t in specs}
    for method, runs in R.load_runs(out).items():
        table = pool_runs(runs, specs).table
        result[method] = {}
        for t in specs:
            targets, mask, scores = R.task_arrays(table, t)
            result[method][t.name] = task_ece(t.kind, targets[mask], scores[mask])
            if method == BASELINE or "calibration" in method:
                curves[t.name][method.removeprefix(BASELINE + "-")] = confidence_outcomes(t.kind, targets[mask], scores[mask])
    for task, series in curves.items():
        plot_reliability(series, out / f"reliability_{task}.png", title=f"{task}: pooled test predictions (random ESM-2 weights)")
    return result


def _cell(row: dict | None) -> str:
    if row is None or row["delta"] is None:
        return "–"
    return f"{row['delta']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] p={row['p_value']:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="data/arg_v1")
    ap.add_argument("--out", default="results/imbalance_ablation")
    ap.add_argument("--folds", default="0,1,2,3,4")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--options", default=None, help="comma-separated subset of the options (default: all)")
    ap.add_argument("--tasks", default=",".join(TASKS_OF_INTEREST))
    ap.add_argument("--cache", default="data/cache/ablation_embeddings.h5", help="HDF5 embedding cache shared by all runs")
    ap.add_argument("--config", default=str(config_dir() / "imbalance" / "ablation.yaml"))
    ap.add_argument("--rare-max", type=int, default=200)
    ap.add_argument("--bootstrap-n", type=int, default=1000)
    ap.add_argument("--skip-run", action="store_true", help="only compare (the results directory exists)")
    args = ap.parse_args()

    out = Path(args.out)
    Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
    methods = method_table(Path(args.config), args.options.split(",") if args.options else None, args.cache, out / "quality")
    tasks = args.tasks.split(",")
    start = time.perf_counter()
    if not args.skip_run:
        run_benchmark(
            args.dataset, methods, tasks, out, folds=[int(f) for f in args.folds.split(",")], seeds=[int(s) for s in args.seeds.split(",")],
            config={"bootstrap": {"n": args.bootstrap_n}}, progress=True,
        )  # fmt: skip
    wall = time.perf_counter() - start
    report = {"baseline": BASELINE, "random_backbone_weights": True, "folds": args.folds, "wall_seconds": round(wall), "options": {}}
    lines = [
        f"# Imbalance ablation: each option vs `{BASELINE}` without it (RANDOM ESM-2 weights)",
        "",
        f"Folds {args.folds}, seeds {args.seeds}; Δ macro-F1 = option − baseline on the pooled test folds, paired bootstrap "
        f"({args.bootstrap_n} resamples) 95 % CI and p; rare = classes with ≤ {args.rare_max} training sequences. Wall time {wall / 60:.0f} min.",
        "",
        "| option | task | Δ macro-F1 overall [95 % CI] | Δ macro-F1 rare classes [95 % CI] |",
        "|---|---|---|---|",
    ]
    for name in methods:
        if name == BASELINE:
            continue
        result = compare_results(out, out, method_a=name, method_b=BASELINE, rare_max=args.rare_max, n_boot=args.bootstrap_n)
        report["options"][name] = result
        for task in tasks:
            metric = "f1" if task == "is_arg" else "macro_f1"
            overall = next((r for r in result["rows"] if r["subset"] == "all" and r["task"] == task and r["metric"] == metric), None)
            rare = next((r for r in result["rows"] if r["subset"] == "rare" and r["task"] == task), None)
            lines.append(f"| {name.removeprefix(BASELINE + '-')} | {task} ({metric}) | {_cell(overall)} | {_cell(rare)} |")
    ece = pooled_ece(out, tasks)
    report["ece"] = ece
    lines += ["", "Expected calibration error of the pooled test predictions (15 bins; lower is better):", "",
              "| method | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    lines += [f"| {m} | " + " | ".join(f"{ece[m][t]:.3f}" for t in tasks) + " |" for m in methods if m in ece]
    (out / "ablation.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
