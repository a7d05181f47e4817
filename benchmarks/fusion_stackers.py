"""Compare fusion stackers and decision rules on the SAME out-of-group evidence of one benchmark fold.

The base evidence of a fold (DIAMOND + profile-HMM cross-evidence + k-mer model) costs tens of minutes;
a stacker costs seconds. This script computes the evidence once (``fusion.stacker_training_evidence``
on the fold's training split, ``fusion.evidence`` on its validation and test splits), caches it in
``--cache`` (with ``refit_with_valid`` the test evidence comes from the bases fitted again on training +
validation, as in the benchmark), then fits every variant of ``--variants`` on it the way ``fusion.fit`` does (stackers,
calibration on validation), tunes thresholds on validation like the benchmark runner and scores the
test fold. Rows "base:<name>" score a base's own evidence without a stacker (e.g. the alignment
label transfer), as yardsticks; rows "… without <base>" (``--drop``) fit the configured stacker on the
same evidence minus one base's columns: what that evidence source adds, with nothing else changed.
``--method`` takes the evidence of a fusion variant (e.g. ``fusion_unirep``, which adds a language model).

    .venv/bin/python benchmarks/fusion_stackers.py --dataset data/arg_v2 --fold 0 \
        --cache results/fusion_evidence_fold0 --out benchmarks/results/fusion_stackers_fold0.md

Metrics are point estimates on one test fold (the benchmark runner gives CIs); "<50 %" = test records
whose identity to the seen records is below 50 % or without a hit (the issue's remote-homolog bins).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from biotune.data.dataset import load_dataset
from biotune.evaluate.metrics import task_metrics
from biotune.evaluate.report import markdown_table
from biotune.evaluate.runner import benchmark_config, build_method, fold_identity, method_spec
from biotune.evaluate.thresholds import fixed_thresholds, tune_thresholds
from biotune.methods.fusion import base_task_scores

#: Every variant is NEUTRAL plus its own changes, so a row means the same whatever configs/method/fusion.yaml chose.
NEUTRAL = {
    "stacker_kind": "lightgbm", "stacker_kind_by_task": {}, "pool_classes": False, "class_weight": None, "calibration": "platt", "calibration_by_task": {},
    "features_by_task": {}, "call_needs_evidence": False, "scores_from_base": {},
}
CURRENT = {"stacker_kind_by_task": {"is_arg": "logistic"}, "pool_classes": True, "calibration_by_task": {"drug_class": "none", "mechanism": "none"}}
VARIANTS = {
    "lightgbm + platt": {},
    "lightgbm, no calibration": {"calibration": "none"},
    "lightgbm + isotonic": {"calibration": "isotonic"},
    "lightgbm balanced, no calibration": {"class_weight": "balanced", "calibration": "none"},
    "lightgbm pooled classes + platt": {"pool_classes": True},
    "lightgbm pooled classes, no calibration": {"pool_classes": True, "calibration": "none"},
    "logistic + platt": {"stacker_kind": "logistic"},
    "logistic pooled classes + platt": {"stacker_kind": "logistic", "pool_classes": True},
    "logistic, no calibration": {"stacker_kind": "logistic", "calibration": "none"},
    "logistic is_arg + lightgbm pooled classes + platt": {"stacker_kind_by_task": {"is_arg": "logistic"}, "pool_classes": True},
    "logistic is_arg + platt, lightgbm pooled classes uncalibrated": CURRENT,
    "the same, a call needs evidence": {**CURRENT, "call_needs_evidence": True},
    "the same, a call needs evidence, drug classes from the alignment": {**CURRENT, "call_needs_evidence": True, "scores_from_base": {"drug_class": "alignment"}},
}
REMOTE_BINS = ("no_hit", "<30", "30-50")


def evidence(args, ds, specs, fusion_params):
    """``{train_ids, weights, train, valid, test, identity, seconds}``: cached, else computed (slow)."""
    path = Path(args.cache) / "evidence.joblib"
    if path.exists():
        return joblib.load(path)
    train_idx, valid_idx, test_idx = ds.split(args.fold)
    train, valid, test = ds.records(train_idx), ds.records(valid_idx), ds.records(test_idx)
    fusion = build_method("fusion", fusion_params, args.seed)
    fusion.tasks = specs
    start = time.perf_counter()
    records, weights, train_features = fusion.stacker_training_evidence(train)
    fitted = time.perf_counter()
    valid_features, _ = fusion.evidence(valid)
    if fusion.params["refit_with_valid"]:  # the test evidence the benchmark's refitted bases give
        fusion.refit_bases([*train, *valid])
    test_features, _ = fusion.evidence(test)
    done = time.perf_counter()
    identity = fold_identity(test, train, valid, benchmark_config().identity)
    cache = {
        "train_ids": [r.id for r in records], "weights": weights, "train": train_features,
        "valid_ids": [r.id for r in valid], "valid": valid_features, "test_ids": [r.id for r in test], "test": test_features,
        "identity": identity, "seconds": {"training evidence": fitted - start, "valid+test evidence" + (" (bases refitted on train+valid)" if fusion.params["refit_with_valid"] else ""): done - fitted},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(cache, path)
    return cache


def base_scores(features: pd.DataFrame, base: str, specs) -> dict[str, np.ndarray]:
    """A base's own per-task scores from its evidence columns (zeros where it gave none)."""
    return {t.name: base_task_scores(features, base, t) for t in specs}


def metrics_row(name, specs, valid_records, valid_scores, test_records, test_scores, bins) -> dict[str, float]:
    row = {"variant": name}
    remote = np.isin(bins, REMOTE_BINS)
    for t in specs:
        vy, vm = t.encode([r.label(t.name) for r in valid_records])
        ty, tm = t.encode([r.label(t.name) for r in test_records])
        for rule, thr in (("tuned", tune_thresholds(t, vy, vm, valid_scores[t.name])), ("0.5", fixed_thresholds(t, 0.5))):
            m = task_metrics(t, ty, tm, test_scores[t.name], thr)
            r = task_metrics(t, ty, tm & remote, test_scores[t.name], thr)
            if t.kind == "binary":
                row[f"is_arg F1 {rule}"], row[f"is_arg F1 <50% {rule}"] = m["f1"], r["f1"]
                if rule == "tuned":
                    row["is_arg AUPRC"] = m["auprc"]
            elif t.kind == "multilabel":
                row[f"drug macro-F1 {rule}"], row[f"drug macro-F1 <50% {rule}"], row[f"drug micro-F1 {rule}"] = m["macro_f1"], r["macro_f1"], m["micro_f1"]
            elif rule == "tuned":
                row["mech macro-F1"], row["mech macro-F1 <50%"], row["mech accuracy"] = m["macro_f1"], r["macro_f1"], m["accuracy"]
    negatives = np.array([r.label("is_arg") == 0 and bool(r.meta.get("proteome")) for r in test_records])
    row["proteome false/1000 @0.5"] = 1000 * float((test_scores["is_arg"][negatives] >= 0.5).mean()) if negatives.any() else float("nan")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="data/arg_v2")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", required=True, help="folder for the evidence cache (not committed)")
    ap.add_argument("--out", required=True, help="markdown table")
    ap.add_argument("--set", action="append", default=[], help="fusion parameter override for the evidence, key=value")
    ap.add_argument("--method", default="fusion", help="the fusion config (configs/method/<name>.yaml) whose evidence is compared")
    ap.add_argument("--variants", choices=("all", "configured"), default="all", help="every stacker variant, or only the configured one")
    ap.add_argument("--only", action="append", default=[], help="of the variants, only these (by name; repeatable)")
    ap.add_argument("--drop", action="append", default=[], help="also fit the configured stacker without this base's evidence")
    args = ap.parse_args()
    ds = load_dataset(args.dataset)
    specs = [t for t in ds.tasks if t.name in ("is_arg", "drug_class", "mechanism")]
    _, fusion_params = method_spec(args.method, overrides=args.set)
    start = time.perf_counter()
    cache = evidence(args, ds, specs, fusion_params)
    by_id = {r.id: r for r in ds.records(ds.table.index)}
    train_records = [by_id[i] for i in cache["train_ids"]]
    valid_records, test_records = [by_id[i] for i in cache["valid_ids"]], [by_id[i] for i in cache["test_ids"]]
    for part in ("train", "valid", "test"):  # caches computed before the HMM base reported it
        features = cache[part]
        if "hmm:hmm_bits_over_tc" not in features.columns and "hmm:hmm_bitscore" in features.columns:
            features["hmm:hmm_bits_over_tc"] = features["hmm:hmm_bitscore"] - features["hmm:hmm_trusted_cutoff"]
    bins = cache["identity"].set_index("id").loc[cache["test_ids"], "bin"].to_numpy()
    rows = []
    for base in sorted({c.split(":")[0] for c in cache["train"].columns if ":" in c}):
        rows.append(metrics_row(f"base:{base}", specs, valid_records, base_scores(cache["valid"], base, specs), test_records, base_scores(cache["test"], base, specs), bins))
    variants = {f"{name}{' (configured)' if {**NEUTRAL, **override} == {k: fusion_params.get(k, v) for k, v in NEUTRAL.items()} else ''}": {**NEUTRAL, **override} for name, override in VARIANTS.items()}
    if args.variants == "configured":
        variants = {name: override for name, override in variants.items() if name.endswith("(configured)")}
    if args.only:
        variants = {name: override for name, override in variants.items() if name.removesuffix(" (configured)") in args.only}
    if not any(name.endswith("(configured)") for name in variants):  # a configuration none of VARIANTS names
        variants["as given (configured)"] = {k: fusion_params.get(k, v) for k, v in NEUTRAL.items()}
    configured = [name for name in variants if name.endswith("(configured)")]
    runs = [(name, override, None) for name, override in variants.items()]
    runs += [(f"{name} without {base}", variants[name], base) for name in configured for base in args.drop]
    for name, override, dropped in runs:
        keep = [c for c in cache["train"].columns if dropped is None or not c.startswith(f"{dropped}:")]
        fusion = build_method("fusion", {**fusion_params, **override}, args.seed)
        fusion.tasks = specs
        fusion.fit_stackers(train_records, cache["weights"], cache["train"][keep])
        fusion.calibrate(valid_records, cache["valid"][keep])
        scored = {part: fusion.decide(cache[part][keep], fusion.stack(cache[part][keep], calibrated=True)) for part in ("valid", "test")}
        rows.append(metrics_row(name, specs, valid_records, scored["valid"], test_records, scored["test"], bins))
    table = pd.DataFrame(rows)
    load = os.getloadavg()
    header = [
        f"<!-- .venv/bin/python benchmarks/fusion_stackers.py --dataset {args.dataset} --fold {args.fold} --cache {args.cache} --out {args.out}"
        f" --method {args.method} --variants {args.variants}" + "".join(f" --only '{v}'" for v in args.only) + "".join(f" --drop {b}" for b in args.drop) + "".join(f" --set {s}" for s in args.set) + " -->",
        f"<!-- evidence seconds: {json.dumps({k: round(v) for k, v in cache['seconds'].items()})}; this run {time.perf_counter() - start:.0f} s; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} -->",
        f"# Fusion stackers on the same evidence: {Path(args.dataset).name} fold {args.fold} (test), "
        f"{len(train_records)} stacker rows, {len(valid_records)} validation, {len(test_records)} test records",
        "",
        "Thresholds: `tuned` = max-F1 per label on validation (as the benchmark runner), `0.5` = fixed. "
        "<50% = test records below 50 % identity to the seen records or without a hit. "
        "Point estimates on one fold, no CIs.",
        "",
        f"fusion parameters: `{json.dumps(OmegaConf.to_container(OmegaConf.create(fusion_params)), sort_keys=True)}`",
        "",
        markdown_table(table.round(3)),
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(header))
    print("\n".join(header))


if __name__ == "__main__":
    main()
