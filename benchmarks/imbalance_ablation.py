"""Imbalance ablation: each option of a baseline method against the same method without it.

Every option in the ablation config is the config's ``baseline`` method with ONE change from ``base``:
``configs/imbalance/ablation.yaml`` (``embedding_head`` on cached ESM-2 embeddings: samplers, class
weights, SMOTE, WGAN-GP, calibration, seed ensemble) and ``configs/imbalance/ablation_augment.yaml``
(the residue ``cnn``: BLOSUM62 substitution, truncation — augmentation needs a sequence-level model).
All of them run in one ``biotune benchmark`` results directory (same folds, seeds, identity bins and
embedding cache), then each is compared with the baseline by ``biotune compare``'s paired bootstrap:
Δ macro-F1 overall and on rare classes (≤ ``--rare-max`` training sequences), 95 % CI, p-values.

The config's ``note`` is printed in every title: the ESM-2 backbone has RANDOM weights (nothing can be
downloaded here), so those embedding-head Δs measure what each option does for a head on
near-uninformative fixed features, not what it does on real ESM-2; ``--set base.backbone=kmer``
reruns the same options on k-mer composition features, which do carry signal.

    python benchmarks/imbalance_ablation.py --dataset data/arg_v1 --out results/imbalance_ablation_5fold
    python benchmarks/imbalance_ablation.py --set base.backbone=kmer \\
        --set "note=amino-acid 1-2-mer composition features, no pretrained model" --out results/imbalance_ablation_kmer
    python benchmarks/imbalance_ablation.py --config configs/imbalance/ablation_augment.yaml \\
        --out results/augment_ablation_5fold

Writes ``<out>/ablation.md`` and ``<out>/ablation.json`` next to the benchmark results, and every
option's full comparison (identity bins included) to ``<out>/compare/<option>/compare.md``.
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
from biotune.evaluate.compare_results import compare_results, write_comparison
from biotune.evaluate.runner import run_benchmark
from biotune.paths import config_dir
from biotune.tasks import TaskSpec

TASKS_OF_INTEREST = ("drug_class", "mechanism", "is_arg")


def method_table(cfg, options: list[str] | None, cache: str | None, quality: Path) -> dict[str, dict]:
    """``{method name: params}`` for the baseline and every selected option of the ablation config ``cfg``."""
    baseline = cfg.baseline
    base = OmegaConf.merge(OmegaConf.load(config_dir() / "method" / f"{baseline}.yaml"), cfg.base)
    if "cache_path" in base:
        base.cache_path = cache
    chosen = list(cfg.options) if not options else options
    unknown = set(chosen) - set(cfg.options)
    if unknown:
        raise SystemExit(f"unknown option(s) {sorted(unknown)}; known: {list(cfg.options)}")
    base_params = OmegaConf.to_container(base, resolve=True)
    methods = {baseline: {"method": baseline, **base_params}}
    for name in chosen:
        change = cfg.options[name]
        if change.get("method") == "ensemble":
            methods[f"{baseline}-{name}"] = {"method": "ensemble", "base": baseline, "k": int(change.k), "base_params": base_params}
            continue
        params = OmegaConf.to_container(OmegaConf.merge(base, change), resolve=True)
        if "oversample" in change:
            params["quality_dir"] = str(quality / name)
        methods[f"{baseline}-{name}"] = {"method": baseline, **params}
    return methods


def pooled_ece(out: Path, tasks: list[str], baseline: str, note: str) -> dict[str, dict[str, float]]:
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
            if method == baseline or "calibration" in method:
                curves[t.name][method.removeprefix(baseline + "-")] = confidence_outcomes(t.kind, targets[mask], scores[mask])
    for task, series in curves.items():
        plot_reliability(series, out / f"reliability_{task}.png", title=f"{task}: pooled test predictions ({note})")
    return result


def quality_summary(quality: Path) -> list[str]:
    """Markdown rows summarising the generated embeddings' quality reports over folds and seeds:
    classifier two-sample-test accuracy (0.5 = indistinguishable from real) and median cosine to the
    nearest real embedding next to the real-to-real median."""
    rows = []
    for option in sorted(p.name for p in quality.iterdir()) if quality.is_dir() else []:
        reports: dict[str, list[dict]] = {}
        for path in sorted((quality / option).glob("*/*.json")):
            report = json.loads(path.read_text())
            reports.setdefault(report["task"], []).append(report)
        for task, runs in sorted(reports.items()):
            acc = [r["two_sample_accuracy"] for r in runs]
            near = [r["nearest_real_cosine"]["q50"] for r in runs]
            real = [r["real_to_real_cosine"]["q50"] for r in runs]
            rows.append(
                f"| {option} | {task} | {len(runs)} | {sum(r['n_generated'] for r in runs) / len(runs):.0f} | "
                f"{sum(acc) / len(acc):.3f} [{min(acc):.3f}, {max(acc):.3f}] | {sum(near) / len(near):.3f} | {sum(real) / len(real):.3f} |"
            )
    return rows


def _values(row: dict | None) -> str:
    return "–" if row is None or row["a"] is None else f"{row['b']:.3f} → {row['a']:.3f}"


def _cell(row: dict | None) -> str:
    if row is None or row["delta"] is None:
        return "–"
    return f"{row['delta']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] p={row['p_value']:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="data/arg_v1")
    ap.add_argument("--out", default="results/imbalance_ablation_5fold")
    ap.add_argument("--folds", default="0,1,2,3,4")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--options", default=None, help="comma-separated subset of the options (default: all)")
    ap.add_argument("--tasks", default=",".join(TASKS_OF_INTEREST))
    ap.add_argument("--cache", default="data/cache/ablation_embeddings.h5", help="HDF5 embedding cache shared by all runs")
    ap.add_argument("--config", default=str(config_dir() / "imbalance" / "ablation.yaml"))
    ap.add_argument("--rare-max", type=int, default=200)
    ap.add_argument("--bootstrap-n", type=int, default=1000)
    ap.add_argument("--unit", choices=("record", "cluster"), default="cluster", help="bootstrap resampling unit (cluster: homology clusters)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override the ablation config, e.g. base.backbone=kmer (repeatable)")
    ap.add_argument("--skip-run", action="store_true", help="only compare (the results directory exists)")
    args = ap.parse_args()

    out = Path(args.out)
    Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
    ablation = OmegaConf.merge(OmegaConf.load(args.config), OmegaConf.from_dotlist(args.set))
    baseline, note = ablation.baseline, ablation.note
    methods = method_table(ablation, args.options.split(",") if args.options else None, args.cache, out / "quality")
    tasks = args.tasks.split(",")
    start = time.perf_counter()
    if not args.skip_run:
        run_benchmark(
            args.dataset, methods, tasks, out, folds=[int(f) for f in args.folds.split(",")], seeds=[int(s) for s in args.seeds.split(",")],
            config={"bootstrap": {"n": args.bootstrap_n}}, progress=True,
        )  # fmt: skip
    wall = time.perf_counter() - start
    report = {"baseline": baseline, "note": note, "folds": args.folds, "wall_seconds": round(wall), "options": {}}
    lines = [
        f"# Imbalance ablation: each option vs `{baseline}` without it ({note})",
        "",
        f"Folds {args.folds}, seeds {args.seeds}; Δ macro-F1 = option − baseline on the pooled test folds, paired bootstrap "
        f"({args.bootstrap_n} resamples of {args.unit}s) 95 % CI and p; rare = classes with ≤ {args.rare_max} training sequences."
        + ("" if args.skip_run else f" Wall time {wall / 60:.0f} min."),
        "",
        "| option | task | overall: baseline → option | Δ overall [95 % CI] | rare: baseline → option | Δ rare classes [95 % CI] |",
        "|---|---|---|---|---|---|",
    ]
    for name in methods:
        if name == baseline:
            continue
        result = compare_results(out, out, method_a=name, method_b=baseline, rare_max=args.rare_max, n_boot=args.bootstrap_n, unit=args.unit, dataset=args.dataset)
        write_comparison(result, out / "compare" / name)
        report["options"][name] = result
        for task in tasks:
            metric = "f1" if task == "is_arg" else "macro_f1"
            overall = next((r for r in result["rows"] if r["subset"] == "all" and r["task"] == task and r["metric"] == metric), None)
            rare = next((r for r in result["rows"] if r["subset"] == "rare" and r["task"] == task), None)
            lines.append(f"| {name.removeprefix(baseline + '-')} | {task} ({metric}) | {_values(overall)} | {_cell(overall)} | {_values(rare)} | {_cell(rare)} |")
    ece = pooled_ece(out, tasks, baseline, note)
    report["ece"] = ece
    lines += ["", "Expected calibration error of the pooled test predictions (15 bins; lower is better):", "",
              "| method | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    lines += [f"| {m} | " + " | ".join(f"{ece[m][t]:.3f}" for t in tasks) + " |" for m in methods if m in ece]
    quality = quality_summary(out / "quality")
    if quality:
        lines += ["", "Quality of the generated training embeddings (mean over folds × seeds; two-sample accuracy 0.5 = indistinguishable):", "",
                  "| option | task | runs | generated per run | two-sample accuracy [min, max] | nearest-real cosine (median) | real-to-real cosine (median) |",
                  "|---|---|---|---|---|---|---|", *quality]  # fmt: skip
    (out / "ablation.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
