"""Drug-class label transfer of the alignment evidence: which vote rule names the classes of test ARGs best?

Fusion's drug classes are the alignment base's label transfer (``scores_from_base``), refitted on training +
validation records (``refit_with_valid``). This script rebuilds exactly that reference set per benchmark fold
(:func:`biotune.methods.negatives.sample_training_set` with fusion's parameters), aligns the fold's test ARGs
once with a generous ``--max-hits``, and scores every vote rule of the ``alignment`` method on the same hits:
``top_fraction`` (which hits vote) and how many hits per query DIAMOND would have kept (``max_target_seqs``: the best ``n`` by
bitscore here); ``--sensitivity`` is DIAMOND's (one search per run). Drug-class macro- and micro-F1 at 0.5, pooled over folds, as the benchmark computes them.

    .venv/bin/python benchmarks/drug_class_transfer.py --dataset data/arg_v2 \
        --out benchmarks/results/drug_class_transfer_arg_v2.md
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np
import pandas as pd

from biotune.data.dataset import load_dataset
from biotune.evaluate.metrics import task_metrics
from biotune.evaluate.report import markdown_table
from biotune.methods.alignment import AlignmentEvidence
from biotune.methods.negatives import sample_training_set


def fold_hits(ds, fold: int, task_specs, args) -> tuple[AlignmentEvidence, list, pd.DataFrame]:
    """The fitted alignment base of fold ``fold`` (training + validation base set), its test ARGs and their hits."""
    train_idx, valid_idx, test_idx = ds.fold_split(fold)
    seen = ds.records(train_idx.append(valid_idx))
    base_set, _, _ = sample_training_set(seen, hard_identity=args.hard_identity, max_easy=args.max_easy, seed=0)
    method = AlignmentEvidence(max_target_seqs=args.max_hits, sensitivity=args.sensitivity, threads=args.threads).fit(base_set, None, task_specs)
    test = [r for r in ds.records(test_idx) if r.label("is_arg") == 1 and r.label(args.task)]
    return method, test, method._hits(test)


def truncated(hits: pd.DataFrame, n: int) -> pd.DataFrame:
    """Each query's best ``n`` hits by bitscore (what ``max_target_seqs = n`` would have kept)."""
    ranked = hits.sort_values(["qseqid", "bitscore"], ascending=[True, False], kind="stable")
    return ranked.groupby("qseqid", sort=False).head(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="data/arg_v2")
    ap.add_argument("--task", default="drug_class")
    ap.add_argument("--max-hits", type=int, default=200)
    ap.add_argument("--sensitivity", default="mid-sensitive", help="DIAMOND sensitivity of the alignment base")
    ap.add_argument("--keep", default="50,200", help="max_target_seqs values to emulate")
    ap.add_argument("--top-fractions", default="0.5,0.8,0.9,1.0")
    ap.add_argument("--hard-identity", type=float, default=0.3)
    ap.add_argument("--max-easy", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    start = time.perf_counter()
    ds = load_dataset(args.dataset)
    tasks = ds.tasks
    task = ds.task(args.task)
    folds = [fold_hits(ds, f, tasks, args) for f in range(ds.n_folds)]
    rows = []
    grid = itertools.product([int(k) for k in args.keep.split(",")], [float(x) for x in args.top_fractions.split(",")])
    for keep, top_fraction in grid:
        y_parts, s_parts = [], []
        for method, test, hits in folds:
            method.params.update(top_fraction=top_fraction)
            scores = method._predictions(test, truncated(hits, keep)).scores[task.name]
            y, _ = task.encode([r.label(task.name) for r in test])
            y_parts.append(y)
            s_parts.append(scores)
        y, s = np.vstack(y_parts), np.vstack(s_parts)
        m = task_metrics(task, y, np.ones(len(y), dtype=bool), s, 0.5)
        rows.append({"max_target_seqs": keep, "top_fraction": top_fraction,
                     "macro_f1": round(m["macro_f1"], 3), "micro_f1": round(m["micro_f1"], 3), "macro_auprc": round(m["macro_auprc"], 3)})
    table = pd.DataFrame(rows).sort_values("macro_f1", ascending=False)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    header = (f"<!-- .venv/bin/python benchmarks/drug_class_transfer.py --dataset {args.dataset} --max-hits {args.max_hits} --sensitivity {args.sensitivity} "
              f"--out {args.out} ; {time.perf_counter() - start:.0f} s, load average {load} -->\n"
              f"# Drug-class label transfer of the alignment base on {args.dataset}: vote rules on the same hits\n\n"
              f"DIAMOND {args.sensitivity}. Test ARGs of all {ds.n_folds} folds against each fold's training + validation base set; {args.task} at 0.5, pooled.\n\n")
    text = header + markdown_table(table) + "\n"
    with open(args.out, "w") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
