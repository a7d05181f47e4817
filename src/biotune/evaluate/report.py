"""Render a results directory as ``summary.md`` + ``summary.html`` + ``plots/`` (no prediction is recomputed).

The summary is a list of blocks (headings, paragraphs, tables, images) rendered twice, to Markdown
and to HTML, so the two never disagree. Tables: pooled headline metrics with 95 % CIs (tuned
thresholds), mean ± sd over folds × seeds, the fixed-0.5 results, the identity-binned table, false
ARG calls per 1,000 proteins per proteome and hard-negative false-positive rates (when the dataset
has ``proteome`` / ``nearest_arg_identity`` columns), paired comparisons, per-record statuses,
per-class F1.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from biotune.evaluate import plots
from biotune.evaluate import results as R
from biotune.evaluate.aggregate import ALL, pool_runs
from biotune.evaluate.proteome_metrics import LOPO
from biotune.tasks import TaskSpec

Block = tuple[str, Any]


def fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def fmt_ci(entry: dict[str, Any] | None) -> str:
    """``value [low, high]``."""
    if not entry or entry.get("value") is None:
        return "–"
    if entry.get("ci_low") is None:
        return fmt(entry["value"])
    return f"{fmt(entry['value'])} [{fmt(entry['ci_low'])}, {fmt(entry['ci_high'])}]"


def fmt_mean_sd(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("mean") is None:
        return "–"
    return f"{fmt(entry['mean'])} ± {fmt(entry['sd'])}"


def _columns(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t, m) for t, ms in metrics["headline"].items() for m in ms]


def pooled_table(metrics: dict[str, Any], scheme: str) -> pd.DataFrame:
    rows = []
    for method in metrics["methods"]:
        cell = metrics["pooled"][method][scheme][ALL]
        rows.append({"method": method} | {f"{t} {m}": fmt_ci(cell[t][m]) for t, m in _columns(metrics)})
    return pd.DataFrame(rows)


def over_runs_table(metrics: dict[str, Any], scheme: str) -> pd.DataFrame:
    rows = []
    for method in metrics["methods"]:
        cell = metrics["over_runs"][method][scheme]
        rows.append({"method": method} | {f"{t} {m}": fmt_mean_sd(cell[t].get(m)) for t, m in _columns(metrics)})
    return pd.DataFrame(rows)


def binned_table(metrics: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for b in metrics["bins"]:
        for method in metrics["methods"]:
            cell = metrics["pooled"][method]["tuned"][b]
            row = {"identity bin": b, "method": method}
            for t, ms in metrics["headline"].items():
                row[f"{t} n"] = cell[t]["n"]
                row |= {f"{t} {m}": fmt_ci(cell[t][m]) for m in ms}
            rows.append(row)
    return pd.DataFrame(rows)


def _count(value: Any) -> str:
    """A call count (a mean over seeds: whole numbers print without decimals)."""
    if value is None:
        return "–"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _per_1000(value: Any, calls: Any) -> str:
    if isinstance(value, dict):
        ci = "" if value.get("ci_low") is None else f" [{fmt(value['ci_low'], 1)}, {fmt(value['ci_high'], 1)}]"
        return f"{fmt(value.get('value'), 1)}{ci} ({_count(calls)})"
    return f"{fmt(value, 1)}" + ("" if calls is None else f" ({_count(calls)})")


def _recall(cell: dict[str, Any]) -> str:
    return f"{fmt(cell['arg_recall'])} ({_count(cell['arg_found'])}/{cell['n_arg']})"


def proteome_calls_table(metrics: dict[str, Any], scheme: str) -> pd.DataFrame:
    """One row per proteome (+ mean over proteomes, pooled): negatives, rule ARGs, per method false
    ARG calls per 1,000 negatives (calls) and ARG recall (found / ARGs)."""
    section, methods = metrics["proteome_calls"], metrics["methods"]
    cells = {m: section["methods"][m][scheme] for m in methods}
    first = cells[methods[0]]
    rows = []
    for name in section["proteomes"]:
        ref = first["per_proteome"][name]
        row = {"proteome": name, "negatives": ref["n_negative"], "ARGs (≥ 80 % rule)": ref["n_arg"]}
        for m in methods:
            c = cells[m]["per_proteome"][name]
            row |= {f"{m} false/1000 (calls)": _per_1000(c["false_calls_per_1000"], c["false_calls"]), f"{m} ARG recall (found/ARGs)": _recall(c)}
        rows.append(row)
    mean = {"proteome": f"mean over {first['mean_over_proteomes']['n_proteomes']} proteomes", "negatives": "", "ARGs (≥ 80 % rule)": ""}
    pooled = {"proteome": "pooled (95 % CI)", "negatives": first["pooled"]["n_negative"], "ARGs (≥ 80 % rule)": first["pooled"]["n_arg"]}
    for m in methods:
        mo, po = cells[m]["mean_over_proteomes"], cells[m]["pooled"]
        mean |= {f"{m} false/1000 (calls)": _per_1000(mo["false_calls_per_1000"], None), f"{m} ARG recall (found/ARGs)": fmt(mo["arg_recall"])}
        pooled |= {f"{m} false/1000 (calls)": _per_1000(po["false_calls_per_1000"], po["false_calls"]), f"{m} ARG recall (found/ARGs)": _recall(po)}
    return pd.DataFrame(rows + [mean, pooled])


HARD_NEGATIVE_LABELS = {
    "0.3-0.4": "0.3–0.4", "0.4-0.5": "0.4–0.5", "0.5-0.8": "0.5–0.8", "hard_0.3-0.8": "hard 0.3–0.8",
    "easy": "easy (< 0.3 or no hit)", ">=0.8": "≥ 0.8",
}


def hard_negative_table(metrics: dict[str, Any], scheme: str) -> pd.DataFrame:
    """One row per method: FPR [95 % CI] (calls) per identity-to-nearest-ARG bin (n in the header)."""
    section, methods = metrics["hard_negatives"], metrics["methods"]
    first = section["methods"][methods[0]][scheme]
    bins = [b for b in section["bins"] if not (b == ">=0.8" and first[b]["n"] == 0)]
    return pd.DataFrame([
        {"method": m} | {
            f"{HARD_NEGATIVE_LABELS.get(b, b)} (n={first[b]['n']})": f"{fmt_ci(cell['fpr'])} ({_count(cell['false_positives'])})"
            for b, cell in ((b, section["methods"][m][scheme][b]) for b in bins)
        }
        for m in methods
    ])


def genome_blocks(metrics: dict[str, Any]) -> list[Block]:
    """The per-proteome false-call and hard-negative sections (none without the dataset columns)."""
    items: list[Block] = []
    if "proteome_calls" in metrics:
        lopo = metrics["proteome_calls"]["protocol"] == LOPO
        items += [
            ("h2", "False ARG calls per 1,000 proteins of a held-out proteome (leave-one-proteome-out)" if lopo
             else "False ARG calls per 1,000 proteome proteins (within-CV, not leave-one-proteome-out)"),
            ("p", ("Each proteome was the whole test set of its own run (no protein of it in training or validation). " if lopo else
                   "Pooled test-fold predictions of the proteome records: other proteins of the same proteome were in "
                   "training, so this is within-CV, not leave-one-proteome-out (`--split proteome` for that). ")
             + "false/1000 = proteome proteins labelled non-ARG (is_arg 0; proteins labelled ARG by the ≥ 80 % identity "
               "rule excluded) called ARG, per 1,000 such proteins (number of calls in brackets, mean over seeds); "
               "ARG recall = the proteome's rule-labelled ARGs called ARG. Pooled: every proteome record, 95 % bootstrap CI."),
            ("p", "Tuned thresholds:"), ("table", proteome_calls_table(metrics, "tuned")),
            ("p", "Fixed threshold 0.5:"), ("table", proteome_calls_table(metrics, "fixed")),
        ]
    if "hard_negatives" in metrics:
        items += [
            ("h2", "False-positive rate on hard negatives (by identity to the nearest curated ARG, 95 % CI)"),
            ("p", "Records with is_arg 0, binned by nearest_arg_identity (fraction; bins [low, high)); FPR = called ARG / n "
                  "(calls in brackets, mean over seeds). "
                  "Hard = 0.3–0.8; easy = below 0.3 or no curated ARG hit."),
            ("p", "Tuned thresholds:"), ("table", hard_negative_table(metrics, "tuned")),
            ("p", "Fixed threshold 0.5:"), ("table", hard_negative_table(metrics, "fixed")),
        ]
    return items


def comparison_table(metrics: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for c in metrics["comparisons"]:
        if c["subset"] != ALL:
            continue
        w = c.get("wilcoxon") or {}
        rows.append({
            "A − B": f"{c['a']} − {c['b']}", "task": c["task"], "metric": c["metric"],
            "Δ [95% CI]": fmt_ci({"value": c["delta"], "ci_low": c["ci_low"], "ci_high": c["ci_high"]}),
            "p (paired bootstrap)": fmt(c["p_value"], 4), "p (Wilcoxon over runs)": fmt(w.get("p_value"), 4), "runs": w.get("n"),
        })
    return pd.DataFrame(rows)


def status_table(metrics: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for method in metrics["methods"]:
        runs = metrics["runs"][method]
        counts = sum((Counter(r["status_counts"] or {}) for r in runs), Counter())
        rows.append({"method": method, "test rows": sum(r["n"] for r in runs)} | dict(sorted(counts.items())) | {
            "fit s": fmt(sum(r["fit_seconds"] or 0 for r in runs), 1), "predict s": fmt(sum(r["predict_seconds"] or 0 for r in runs), 1),
        })
    frame = pd.DataFrame(rows)
    statuses = [c for c in frame.columns if c not in ("method", "test rows", "fit s", "predict s")]
    return frame.fillna({c: 0 for c in statuses}).astype({c: int for c in statuses})


def per_class_table(metrics: dict[str, Any], task: TaskSpec) -> pd.DataFrame:
    full = {m: metrics["pooled_full"][m]["tuned"][ALL][task.name]["per_class"] for m in metrics["methods"]}
    first = full[metrics["methods"][0]]
    return pd.DataFrame([{"class": c, "support": first[c]["support"]} | {m: fmt(full[m][c]["f1"]) for m in full} for c in task.classes])


def make_plots(out: Path, metrics: dict[str, Any]) -> list[Path]:
    """F1 heatmap (method × class) per class task, PR curves per binary/multi-label task, confusion per multi-class task."""
    tasks = [TaskSpec.from_dict(t) for t in metrics["tasks"]]
    runs = R.load_runs(out)
    pooled = {m: pool_runs(runs[m], tasks) for m in metrics["methods"]}
    pdir = out / R.PLOTS_DIR
    made = []
    for t in tasks:
        if t.kind in ("multiclass", "multilabel") and not t.hierarchical:
            f1 = {m: {c: v["f1"] for c, v in metrics["pooled_full"][m]["tuned"][ALL][t.name]["per_class"].items()} for m in metrics["methods"]}
            made.append(plots.f1_heatmap(f1, t.classes, f"{t.name}: per-class F1 (pooled test folds)", pdir / f"f1_heatmap_{t.name}.png"))
        if t.kind in ("binary", "multilabel"):
            curves = {}
            for m, p in pooled.items():
                targets, mask, scores = R.task_arrays(p.table, t)
                curves[m] = (targets[mask].ravel(), scores[mask].ravel())
            suffix = " (micro-averaged over labels)" if t.kind == "multilabel" else ""
            made.append(plots.pr_curves(curves, f"{t.name}: precision-recall{suffix}", pdir / f"pr_{t.name}.png"))
        if t.kind == "multiclass":
            for m in metrics["methods"]:
                cm = metrics["pooled_full"][m]["tuned"][ALL][t.name]["confusion_matrix"]
                made.append(plots.confusion_plot(cm["matrix"], t.classes, cm["labels"], f"{t.name}: {m}", pdir / f"confusion_{t.name}_{m}.png"))
    return made


def blocks(out: Path, metrics: dict[str, Any], images: list[Path]) -> list[Block]:
    cfg = (out / R.CONFIG_FILE).read_text()
    boot = metrics["bootstrap"]
    tasks = [TaskSpec.from_dict(t) for t in metrics["tasks"]]
    methods = ", ".join(metrics["methods"])
    bench = OmegaConf.create(cfg).get("benchmark", {})
    lopo = bench.get("split", "folds") == "proteome"
    runs = (f"Leave-one-proteome-out: proteomes {metrics['folds']} (index → name in config.yaml `proteomes`; test = every "
            f"protein of the proteome, validation = the other records of dataset fold {bench.get('lopo_valid_fold', 0)})" if lopo else f"Folds {metrics['folds']}")
    once = "once per proteome it belongs to, " if lopo else ""
    out_blocks: list[Block] = [
        ("h1", f"Benchmark: {methods}"),
        ("p", f"{runs} × seeds {metrics['seeds']}. Every test record is scored exactly once per "
              f"{once}method and seed (unscored records count as negative / no class). Thresholds are tuned per label on each "
              f"fold's validation split (max F1) and applied unchanged to its test fold. 95 % CIs: {boot['n']} bootstrap "
              f"resamples of {boot['unit']}s over the pooled test folds."),
        ("h2", "Pooled test folds, tuned thresholds (95 % CI)"), ("table", pooled_table(metrics, "tuned")),
        ("h2", "Mean ± sd over folds × seeds, tuned thresholds"), ("table", over_runs_table(metrics, "tuned")),
        ("h2", "Fixed threshold 0.5: pooled, and mean ± sd over runs"), ("table", pooled_table(metrics, "fixed")),
        ("table", over_runs_table(metrics, "fixed")),
        ("h2", "By identity to the records the model saw (tuned thresholds, 95 % CI)"),
        ("p", "Identity = highest DIAMOND identity of a test record to that fold's seen records "
              "(see config.yaml `benchmark.identity`); n = labelled test records of the task in the bin."),
        ("table", binned_table(metrics)),
    ]
    out_blocks += genome_blocks(metrics)
    if len(metrics["methods"]) > 1:
        out_blocks += [("h2", "Paired comparisons (all test records)"), ("table", comparison_table(metrics))]
    out_blocks += [("h2", "Per-record status and time"), ("table", status_table(metrics))]
    for t in tasks:
        if t.kind in ("multiclass", "multilabel") and not t.hierarchical:
            out_blocks += [("h2", f"Per-class F1: {t.name} (pooled, tuned)"), ("table", per_class_table(metrics, t))]
    out_blocks += [("h2", "Plots")] + [("img", p.relative_to(out).as_posix()) for p in images]
    out_blocks += [("h2", "Configuration"), ("pre", cfg)]
    return out_blocks


def markdown_table(df: pd.DataFrame) -> str:
    cells = [[str(c) for c in df.columns]] + [[str(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("---" for _ in df.columns) + "|")
    return "\n".join(lines)


def to_markdown(items: list[Block]) -> str:
    parts = []
    for kind, value in items:
        parts.append({
            "h1": lambda v: f"# {v}", "h2": lambda v: f"## {v}", "p": str, "table": markdown_table,
            "img": lambda v: f"![{v}]({v})", "pre": lambda v: f"```yaml\n{v.rstrip()}\n```",
        }[kind](value))
    return "\n\n".join(parts) + "\n"


def to_html(items: list[Block]) -> str:
    parts = ["<!doctype html><meta charset='utf-8'><title>biotune benchmark</title>",
             "<style>body{font-family:sans-serif;max-width:1400px;margin:auto}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:48%}</style>"]
    for kind, value in items:
        parts.append({
            "h1": lambda v: f"<h1>{html.escape(v)}</h1>", "h2": lambda v: f"<h2>{html.escape(v)}</h2>",
            "p": lambda v: f"<p>{html.escape(v)}</p>", "table": lambda v: v.to_html(index=False, border=0),
            "img": lambda v: f"<img src='{html.escape(v)}' alt='{html.escape(v)}'>", "pre": lambda v: f"<pre>{html.escape(v)}</pre>",
        }[kind](value))
    return "\n".join(parts) + "\n"


def render_report(out: str | Path, metrics: dict[str, Any] | None = None) -> Path:
    """Write ``summary.md``, ``summary.html`` and ``plots/`` from ``metrics.json`` and the saved tables."""
    out = Path(out)
    if metrics is None:
        path = out / R.METRICS_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `biotune benchmark` first (or `biotune report --recompute`)")
        metrics = json.loads(path.read_text())
    items = blocks(out, metrics, make_plots(out, metrics))
    (out / R.SUMMARY_MD).write_text(to_markdown(items))
    (out / R.SUMMARY_HTML).write_text(to_html(items))
    return out / R.SUMMARY_MD
