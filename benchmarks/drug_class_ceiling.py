"""How much drug-class macro-F1 can evidence transfer reach under homology-grouped folds?

A homology-based annotator (best hit, profile HMM, fusion of them) can only name a drug class for a
test ARG if some seen ARG of that class is homologous to it. For every benchmark fold this script
aligns the test fold's ARGs against the ARGs of every other fold with DIAMOND (more-sensitive,
E <= ``--evalue``, up to ``--max-hits`` hits) and reports per drug class the share of test ARGs with at
least one hit of their class among the fold's *training* ARGs ("reachable": the references every
method of the benchmark is fitted on; the validation fold only tunes thresholds), the same with the
validation fold's ARGs added ("reachable +valid": a model refitted on both), and the share whose
best training hit carries the class. The ceiling F1 of a class is ``2R / (1 + R)`` with R = reachable
(a perfect-precision annotator that names every reachable class); its mean over classes bounds the
macro-F1 of any method that transfers classes from homologs (a k-mer or language model could in
principle go beyond it — none of ours does on the classes at 0 here).

    .venv/bin/python benchmarks/drug_class_ceiling.py --dataset data/arg_v2 \
        --out benchmarks/results/drug_class_ceiling_arg_v2.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from biotune.data.dataset import load_dataset
from biotune.evaluate.report import markdown_table
from biotune.homology.diamond import best_hits, blastp


def class_sets(records, task: str) -> dict[str, frozenset[str]]:
    return {r.id: frozenset(r.label(task) or ()) for r in records}


def fold_rows(ds, fold: int, task: str, evalue: float, max_hits: int) -> pd.DataFrame:
    """One row per (test ARG, its class): reachable (a hit of the class) and best-hit class match."""
    records = [r for r in ds.records() if r.label("is_arg") == 1 and r.label(task)]
    _, valid_idx, test_idx = ds.fold_split(fold)
    valid_ids, test_ids = set(ds.table.loc[valid_idx, "id"]), set(ds.table.loc[test_idx, "id"])
    test = [r for r in records if r.id in test_ids]
    classes = class_sets(records, task)
    seen = {r.id: r.sequence for r in records if r.id not in test_ids}
    hits = blastp({r.id: r.sequence for r in test}, seen, evalue=evalue, max_target_seqs=max_hits)
    in_train = ~hits["sseqid"].isin(valid_ids)
    reachable = {part: reachable_classes(hits[keep], classes) for part, keep in (("train", in_train), ("train+valid", in_train | ~in_train))}
    train_hits = hits[in_train]
    best = dict(zip(*best_hits(train_hits)[["qseqid", "sseqid"]].to_numpy().T)) if len(train_hits) else {}
    rows = []
    for r in test:
        for c in classes[r.id]:
            rows.append({
                "fold": fold, "class": c, "reachable": c in reachable["train"].get(r.id, ()),
                "reachable +valid": c in reachable["train+valid"].get(r.id, ()), "best_hit": c in classes.get(best.get(r.id, ""), ()),
            })
    return pd.DataFrame(rows)


def reachable_classes(hits: pd.DataFrame, classes: dict[str, frozenset[str]]) -> dict[str, set[str]]:
    """Per query, the union of its hits' classes."""
    out: dict[str, set[str]] = {}
    for q, s in zip(hits["qseqid"], hits["sseqid"]):
        out.setdefault(q, set()).update(classes[s])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="data/arg_v2")
    ap.add_argument("--task", default="drug_class")
    ap.add_argument("--evalue", type=float, default=1e-3)
    ap.add_argument("--max-hits", type=int, default=500)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    start = time.perf_counter()
    ds = load_dataset(args.dataset)
    rows = pd.concat([fold_rows(ds, f, args.task, args.evalue, args.max_hits) for f in range(ds.n_folds)], ignore_index=True)
    table = rows.groupby("class").agg(
        test_ARGs=("reachable", "size"), reachable=("reachable", "mean"), reachable_with_valid=("reachable +valid", "mean"), best_hit_class=("best_hit", "mean")
    )
    per_fold = rows.groupby(["class", "fold"])["reachable"].mean().unstack("fold").add_prefix("reachable fold ")
    table = table.join(per_fold).sort_values("test_ARGs", ascending=False)
    table["ceiling F1"] = 2 * table["reachable"] / (1 + table["reachable"])
    table["ceiling F1 +valid"] = 2 * table["reachable_with_valid"] / (1 + table["reachable_with_valid"])
    load = os.getloadavg()
    text = "\n".join([
        f"<!-- .venv/bin/python benchmarks/drug_class_ceiling.py --dataset {args.dataset} --task {args.task} --evalue {args.evalue} "
        f"--max-hits {args.max_hits} --out {args.out} ; {time.perf_counter() - start:.0f} s, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} -->",
        f"# Evidence ceiling of {args.task} on {Path(args.dataset).name}: test ARGs with a homolog of their class in the other folds",
        "",
        f"DIAMOND more-sensitive, E <= {args.evalue}, up to {args.max_hits} hits per test ARG, against the ARGs of the other "
        f"{ds.n_folds - 1} folds. reachable = share with at least one hit of the class among the training folds' ARGs (the "
        "methods' references); reachable_with_valid = the validation fold's ARGs added; best_hit_class = share whose best "
        "training hit carries it; ceiling F1 = 2R/(1+R) at perfect precision.",
        "",
        markdown_table(table.reset_index().round(3)),
        "",
        f"**Macro-F1 ceiling over {len(table)} classes: {table['ceiling F1'].mean():.3f}** with the training folds as references, "
        f"{table['ceiling F1 +valid'].mean():.3f} with the validation fold added (pooled over folds; classes reachable for < 10 % "
        f"of their test ARGs from the training folds: {', '.join(table.index[table['reachable'] < 0.1]) or 'none'}).",
        "",
    ])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
