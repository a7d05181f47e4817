"""Downstream probe of an evotuned backbone: the same frozen-embedding MLP head on the original and the evotuned weights.

For each ``--backbones`` entry (a UniRep/ESM-2 preset or a directory written by ``biotune pretrain``),
``EmbeddingHead`` (h_avg / mean pooling of the top layer, MLP head, early stopping on validation, same
seed) is fitted on one task over the **ARGs** of a dataset's fold protocol — test = fold k, validation =
fold k+1, training = the rest (the folds a ``pretrain ... data.exclude_folds=[k]`` run may have seen) — and
scored on the ARGs of fold k with the runner's metrics at 0.5 and at thresholds tuned on validation.
Prints a table and writes JSON.

    .venv/bin/python benchmarks/evotune_probe.py --dataset data/arg_v2 --fold 0 --task drug_class \
        --backbones unirep64,outputs/evotune/unirep64_fold0 --out benchmarks/results/evotune_probe.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from biotune.data.dataset import load_dataset
from biotune.evaluate.metrics import task_metrics
from biotune.evaluate.thresholds import tune_thresholds
from biotune.methods.embedding_head import EmbeddingHead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--task", default="drug_class")
    parser.add_argument("--backbones", required=True, help="comma-separated presets or directories")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    ds = load_dataset(args.dataset)
    task = ds.task(args.task)
    is_arg = ds.table[ds.columns["is_arg"]].astype(str) == "1"
    train_idx, valid_idx, test_idx = (index[is_arg[index]] for index in ds.fold_split(args.fold))
    train, valid, test = (ds.records(i) for i in (train_idx, valid_idx, test_idx))
    print(f"ARGs: train {len(train)}, valid {len(valid)}, test {len(test)} (test fold {args.fold})")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backbone in args.backbones.split(","):
            started = time.perf_counter()
            method = EmbeddingHead(backbone=backbone, random_init=False, cache_path=f"{tmp}/cache.h5", num_threads=1, seed=args.seed)
            method.fit(train, valid, [task])
            scores = {name: method.predict(records).scores[task.name] for name, records in (("valid", valid), ("test", test))}
            y_valid, m_valid = task.encode([r.label(task.name) for r in valid])
            y_test, m_test = task.encode([r.label(task.name) for r in test])
            thresholds = tune_thresholds(task, y_valid, m_valid, scores["valid"])
            fixed = task_metrics(task, y_test, m_test, scores["test"])
            tuned = task_metrics(task, y_test, m_test, scores["test"], thresholds if thresholds.size else 0.5)
            row = {
                "backbone": backbone,
                "n_test": int(m_test.sum()),
                "macro_f1": fixed.get("macro_f1"),
                "tuned_macro_f1": tuned.get("macro_f1"),
                "micro_f1": fixed.get("micro_f1"),
                "macro_auprc": fixed.get("macro_auprc"),
                "seconds": round(time.perf_counter() - started, 1),
            }
            rows.append(row)
            print(" | ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"dataset": args.dataset, "fold": args.fold, "task": args.task, "seed": args.seed, "rows": rows}, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
