"""Fusion's ``mutation_family_call`` replayed on saved predictions: what capping remote homologs of resistant
housekeeping alleles (CARD variant / overexpression / knockout models) does to calls, without refitting.

The rule acts after the stackers and the other call rules (:meth:`biotune.methods.fusion.Fusion.decide`), on
two things every saved prediction table holds — the nearest ARG reference and its identity / coverages /
bitscores against the best non-ARG one — and on the dataset column ``mutation_model`` of that reference. So
at the fixed 0.5 threshold the replay gives exactly the calls a run with the rule would make (the fits do not
depend on it). With tuned thresholds it is approximate: a run with the rule would tune them on rule-capped
validation scores, which are not saved; those rows reuse each run's saved thresholds. The replay uses the
method's own :meth:`Fusion.decide` with every other rule off (they are already in the saved scores).

    .venv/bin/python benchmarks/mutation_family_rule.py --dataset data/arg_v2 \
        results/arg_v2_5fold_sensitive results/arg_v2_lopo_sensitive --out benchmarks/results/mutation_family_rule.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from biotune.data.dataset import MUTATION_MODEL_COLUMN, load_dataset
from biotune.evaluate.report import markdown_table
from biotune.methods.base import get_method
from biotune.methods.fusion import mutation_references

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support_rules import load  # noqa: E402 (the same saved prediction tables, evidence columns checked)

FEATURES = {  # fusion evidence feature <- saved prediction column
    "alignment:arg_identity": "extra:reference_identity",
    "alignment:arg_query_coverage": "extra:reference_query_coverage",
    "alignment:arg_reference_coverage": "extra:reference_coverage",
    "alignment:arg_bitscore": "extra:reference_bitscore",
    "alignment:neg_bitscore": "extra:negative_bitscore",
}


def capped_is_arg(table: pd.DataFrame, references: dict[str, str], ceiling: float) -> np.ndarray:
    """``is_arg`` of the saved table with only the mutation-family rule applied on top."""
    fusion = get_method("fusion")(mutation_family_call=ceiling)
    fusion.mutation_references = references
    features = pd.DataFrame({f: pd.to_numeric(table[c], errors="coerce") for f, c in FEATURES.items()})
    scores = {"is_arg": table["is_arg"].to_numpy(dtype=float)}
    return fusion.decide(features, scores, table["extra:nearest_reference"].tolist())["is_arg"]


def counts(y: np.ndarray, call: np.ndarray) -> dict[str, float]:
    tp, fp, fn = int((call & (y == 1)).sum()), int((call & (y == 0)).sum()), int((~call & (y == 1)).sum())
    return {"ARGs found": tp, "false calls": fp, "missed": fn, "F1": round(2 * tp / max(2 * tp + fp + fn, 1), 4)}


def tuned_calls(run: Path, method: str, table: pd.DataFrame, scores: np.ndarray) -> np.ndarray:
    """Calls at each run's saved validation-tuned ``is_arg`` threshold (its ``fold<k>_seed<s>.json``)."""
    out = np.zeros(len(table), dtype=bool)
    for (fold, seed), idx in table.groupby(["fold", "seed"]).indices.items():
        info = json.loads((run / "predictions" / method / f"fold{fold}_seed{seed}.json").read_text())
        out[idx] = scores[idx] >= float(np.ravel(info["thresholds"]["tuned"]["is_arg"])[0])
    return out


def replay(run: Path, references: dict[str, str], ceiling: float, method: str) -> list[list]:
    table = load(run, method)
    y = table["true:is_arg"].to_numpy(dtype=float)
    labelled = np.isfinite(y)
    capped = capped_is_arg(table, references, ceiling)
    saved = table["is_arg"].to_numpy(dtype=float)
    if not np.array_equal(saved >= 0.5, table["call@0.5:is_arg"].to_numpy() == 1):
        raise SystemExit(f"{run}: saved calls at 0.5 do not match the saved scores")
    lopo = OmegaConf.load(run / "config.yaml").get("benchmark", {}).get("split") == "proteome"
    groups = [("all labelled records", np.flatnonzero(labelled))]
    if lopo:  # pooled over the held-out proteomes, then each one
        groups = [("pooled", np.flatnonzero(labelled))]
        groups += [(g["proteome"].str.split(";").explode().mode().iloc[0], g.index.to_numpy()) for _, g in table.groupby("fold")]
    rows = []
    for scheme, before, after in (("0.5", saved >= 0.5, capped >= 0.5), ("tuned (saved thresholds)", tuned_calls(run, method, table, saved), tuned_calls(run, method, table, capped))):
        for label, g in groups:
            negatives = int((y[g] == 0).sum())
            for name, call in (("without the rule", before), ("with the rule", after)):
                c = counts(y[g], call[g])
                per_1000 = f"; false/1000 = {1000 * c['false calls'] / negatives:.1f}" if lopo else ""
                rows.append([run.name, scheme, f"{label} ({negatives} negatives{per_1000})", name, *c.values()])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--dataset", type=Path, required=True, help="the runs' dataset, built with the mutation_model column")
    parser.add_argument("--ceiling", type=float, default=0.1, help="mutation_family_call")
    parser.add_argument("--method", default="fusion")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    if MUTATION_MODEL_COLUMN not in dataset.table.columns:
        raise SystemExit(f"{args.dataset}: no {MUTATION_MODEL_COLUMN} column (rebuild it with configs/build/arg_v2.yaml)")
    references = mutation_references(dataset.records())
    rows = [row for run in args.runs for row in replay(run, references, args.ceiling, args.method)]
    header = ["run", "threshold", "records", "calls", "ARGs found", "false calls", "ARGs missed", "is_arg F1"]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = "\n".join([
        f"<!-- .venv/bin/python benchmarks/mutation_family_rule.py --dataset {args.dataset} {' '.join(map(str, args.runs))} --ceiling {args.ceiling}; load {load} -->",
        f"# Mutation-family rule (mutation_family_call = {args.ceiling}) replayed on saved {args.method} predictions", "",
        f"{len(references)} ARG references of {args.dataset} are homologs of a CARD mutation model. At 0.5 the replay is exact; "
        "tuned rows reuse each run's saved thresholds (a run with the rule would re-tune them).", "",
        markdown_table(pd.DataFrame(rows, columns=header)), "",
    ])
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
