"""Profile-HMM library on a real dataset fold: build / calibration / search time and the effect of the cut-off rule.

Fits the ``hmm`` method once on the training folds of ``--fold`` (test = fold k, validation = k+1,
training = the rest, as in the benchmark runner) with the smallest ``min_members`` of the grid,
searches validation and test once (all hits kept), then re-applies every rule of the grid to the
saved hits: ``min_members`` (profiles of smaller clusters dropped — exact, since clusters without a
profile stay out-of-family in calibration either way) × ``floor`` × ``margin`` (TC recomputed from
each profile's NC). Metrics are the runner's (:func:`biotune.evaluate.metrics.task_metrics`) at the
fixed 0.5 threshold, i.e. "bitscore ≥ TC". Prints a table and writes JSON.

    .venv/bin/python benchmarks/hmm_probe.py --dataset data/arg_v1 --fold 0 --threads 2 --out results/hmm_probe/probe.json
    .venv/bin/python benchmarks/hmm_probe.py --dataset data/arg_v1 --fold 0 --threads 2 --sets test \
        --floors 20,25 --margins 0,5 --besthit --out results/hmm_probe/probe2.json

Also writes ``<out stem>_hits_<set>.tsv`` (all hits, ≤ 100 profiles per query) and the fitted
library ``<out stem>_library/``. Measured numbers: ``benchmarks/results/hmm_probe_arg_v1.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from biotune.data.dataset import load_dataset
from biotune.evaluate.metrics import task_metrics
from biotune.methods.hmm import ProfileHMM


def _apply(hits: pd.DataFrame, nc: dict[str, float], keep: set[str], floor: float, margin: float) -> pd.DataFrame:
    """Best passing profile per query under the rule TC = max(floor, NC + margin), among ``keep``."""
    h = hits[hits["profile"].isin(keep)].copy()
    h["tc"] = np.maximum(floor, h["profile"].map(nc).astype(float) + margin)
    h = h[h["bitscore"] >= h["tc"]]
    return h.sort_values(["query", "bitscore", "profile"], ascending=[True, False, True]).groupby("query").head(1).set_index("query")


def _scores(records, best: pd.DataFrame, method: ProfileHMM, task) -> np.ndarray:
    n = len(records)
    out = np.zeros((n, task.n_outputs) if task.n_outputs > 1 else n)
    for i, r in enumerate(records):
        if r.id not in best.index:
            continue
        if task.kind == "binary":
            out[i] = 1.0
        else:
            fr = method.library[best.loc[r.id, "profile"]].labels.get(task.name, {})
            out[i] = [fr.get(c, 0.0) for c in task.classes]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="data/arg_v1")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--min-members", default="1,2,3")
    ap.add_argument("--floors", default="15,20,25,30")
    ap.add_argument("--margins", default="0,5,10")
    ap.add_argument("--sets", default="valid,test", help="which of valid,test to search and score")
    ap.add_argument("--cross-build", action="store_true", help="cross-built in-family recall diagnostics (slower fit)")
    ap.add_argument("--besthit", action="store_true", help="also score DIAMOND best-hit (default cut-offs) on the same test fold")
    ap.add_argument("--out", default="results/hmm_probe/probe.json")
    args = ap.parse_args()
    mins = [int(x) for x in args.min_members.split(",")]
    floors = [float(x) for x in args.floors.split(",")]
    margins = [float(x) for x in args.margins.split(",")]

    ds = load_dataset(args.dataset)
    tr, va, te = ds.fold_split(args.fold)
    train, valid, test = ds.records(tr), ds.records(va), ds.records(te)
    tasks = list(ds.tasks)
    method = ProfileHMM(min_members=min(mins), max_hits=100, threads=args.threads, cross_build=args.cross_build)
    sets = [(name, recs) for name, recs in (("valid", valid), ("test", test)) if name in args.sets.split(",")]
    t0 = time.perf_counter()
    method.fit(train, None, tasks)
    fit_s = time.perf_counter() - t0
    lib = method.library
    timings = {"fit_seconds": round(fit_s, 1)}
    hits = {}
    for name, recs in sets:
        t = time.perf_counter()
        hits[name] = lib.search({r.id: r.sequence for r in recs}, threads=args.threads, max_hits=100)
        timings[f"search_{name}_seconds"] = round(time.perf_counter() - t, 1)
        timings[f"n_{name}"] = len(recs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, h in hits.items():
        h.to_csv(out.with_name(f"{out.stem}_hits_{name}.tsv"), sep="\t", index=False)
    lib.save(out.with_name(f"{out.stem}_library"))
    nc = {p.name: p.noise_cutoff for p in lib.profiles}
    rows = []
    for k, floor, margin in itertools.product(mins, floors, margins):
        keep = {p.name for p in lib.profiles if p.n_group >= k}
        row = {"method": "hmm", "min_members": k, "floor": floor, "margin": margin, "n_profiles": len(keep)}
        for name, recs in sets:
            best = _apply(hits[name], nc, keep, floor, margin)
            for task in tasks:
                targets, mask = task.encode([r.label(task.name) for r in recs])
                m = task_metrics(task, targets, mask, _scores(recs, best, method, task), 0.5)
                key = "f1" if task.kind == "binary" else "macro_f1"
                row[f"{name}:{task.name}:{key}"] = round(float(m[key]), 4)
                if task.kind == "binary":
                    row[f"{name}:is_arg:precision"] = round(float(m["precision"]), 4)
                    row[f"{name}:is_arg:recall"] = round(float(m["recall"]), 4)
            row[f"{name}:fp"] = int(sum(r.id in best.index and r.label("is_arg") == 0 for r in recs))
        rows.append(row)
    if args.besthit:
        from biotune.methods.besthit import BestHit

        t = time.perf_counter()
        pred = BestHit(threads=args.threads).fit(train, None, tasks).predict(test)
        row = {"method": "besthit", "n_profiles": 0}
        for task in tasks:
            targets, mask = task.encode([r.label(task.name) for r in test])
            m = task_metrics(task, targets, mask, pred.scores[task.name], 0.5)
            key = "f1" if task.kind == "binary" else "macro_f1"
            row[f"test:{task.name}:{key}"] = round(float(m[key]), 4)
            if task.kind == "binary":
                row["test:is_arg:precision"], row["test:is_arg:recall"] = round(float(m["precision"]), 4), round(float(m["recall"]), 4)
        row["test:fp"] = int(sum(s == "ok" and r.label("is_arg") == 0 and v >= 0.5 for s, r, v in zip(pred.status, test, pred.scores["is_arg"])))
        timings["besthit_seconds"] = round(time.perf_counter() - t, 1)
        rows.append(row)
    table = pd.DataFrame(rows)
    cols = [c for c in ("method", "min_members", "floor", "margin", "n_profiles") if c in table.columns] + [c for c in table.columns if c.startswith("valid:")] + [c for c in table.columns if c.startswith("test:")]
    print(json.dumps({**timings, **method.fit_info()}, indent=1))
    print(table[cols].to_string(index=False))
    out.write_text(json.dumps({"dataset": args.dataset, "fold": args.fold, "timings": timings, "fit_info": method.fit_info(), "grid": rows}, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
