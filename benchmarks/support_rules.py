"""Which evidence should a fused ARG call be allowed to rest on? Support rules replayed on saved predictions.

With ``call_needs_evidence`` a fused call at 0.5 is exactly "the record is supported" (a close ARG reference,
or a profile at or above its trusted cut-off whose ARG reference is more identical than any non-ARG one),
unless a close non-ARG reference caps it. The evidence behind that rule is in every saved prediction table
(``extra:`` columns of ``results/<run>/predictions/fusion``), so other rules can be replayed on the same
records without refitting anything: this script recomputes the calls at 0.5 of each rule from the evidence
columns and reports, per run, ARGs found, false calls, precision / recall / F1 and — for proteome records —
false calls per 1,000. The row "configured" must match the run's own calls (checked: a replay is only
worth reading if it reproduces what the method did).

    .venv/bin/python benchmarks/support_rules.py results/arg_v2_5fold_vote results/arg_v2_lopo_vote \
        --out benchmarks/results/support_rules.md
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from biotune.evaluate.report import markdown_table

ALIGNMENT_IDENTITY = ALIGNMENT_COVERAGE = 80.0
EXTRA = (
    "reference_identity", "reference_query_coverage", "reference_coverage", "reference_bitscore",
    "negative_identity", "negative_query_coverage", "negative_bitscore", "hmm_bitscore", "hmm_trusted_cutoff",
)


def load(run: Path, method: str) -> pd.DataFrame:
    files = sorted((run / "predictions" / method).glob("fold*_seed*.tsv"))
    if not files:
        raise SystemExit(f"{run}: no predictions of method {method!r}")
    table = pd.concat([pd.read_csv(f, sep="\t", low_memory=False) for f in files], ignore_index=True)
    missing = [c for c in EXTRA if f"extra:{c}" not in table.columns]
    if missing:
        raise SystemExit(f"{run}: predictions lack the evidence columns {missing} (a run before they were saved)")
    return table


class Evidence:
    """The evidence columns of a prediction table as float arrays (NaN = no such hit)."""

    def __init__(self, table: pd.DataFrame):
        for c in EXTRA:
            setattr(self, c, pd.to_numeric(table[f"extra:{c}"], errors="coerce").to_numpy(dtype=float))

    def arg_outscores_negative(self) -> np.ndarray:
        return np.isfinite(self.reference_bitscore) & (np.isnan(self.negative_bitscore) | (self.reference_bitscore > self.negative_bitscore))

    def alignment(self, identity: float, coverage: float) -> np.ndarray:
        covered = (self.reference_query_coverage >= coverage) & (self.reference_coverage >= coverage)
        return (self.reference_identity >= identity) & covered & self.arg_outscores_negative()

    def profile(self, fraction_of_tc: float = 1.0) -> np.ndarray:
        return np.nan_to_num(self.hmm_bitscore, nan=-np.inf) >= fraction_of_tc * self.hmm_trusted_cutoff

    def closer_to_arg(self) -> np.ndarray:
        return self.reference_identity > np.nan_to_num(self.negative_identity, nan=-1.0)

    def close_negative(self) -> np.ndarray:
        outscores = np.isnan(self.reference_bitscore) | (self.negative_bitscore > self.reference_bitscore)
        return (self.negative_identity >= ALIGNMENT_IDENTITY) & (self.negative_query_coverage >= ALIGNMENT_COVERAGE) & outscores


def configured(e: Evidence) -> np.ndarray:
    return e.alignment(ALIGNMENT_IDENTITY, ALIGNMENT_COVERAGE) | (e.profile() & e.closer_to_arg())


RULES: dict[str, Callable[[Evidence], np.ndarray]] = {
    "configured": configured,
    "close alignment only": lambda e: e.alignment(ALIGNMENT_IDENTITY, ALIGNMENT_COVERAGE),
    "profile >= TC, no closer-to-ARG condition": lambda e: e.alignment(80, 80) | e.profile(),
    "profile >= TC, ARG reference outscores non-ARG (bits)": lambda e: e.alignment(80, 80) | (e.profile() & e.arg_outscores_negative()),
    "profile >= 0.9 TC, closer to ARG": lambda e: e.alignment(80, 80) | (e.profile(0.9) & e.closer_to_arg()),
    "profile >= 0.8 TC, closer to ARG": lambda e: e.alignment(80, 80) | (e.profile(0.8) & e.closer_to_arg()),
    **{
        f"+ alignment >= {i} % id, >= {c} % cov": (lambda i, c: lambda e: configured(e) | e.alignment(i, c))(i, c)
        for i in (40, 50, 60, 70) for c in (60, 80)
    },
}


def rule_rows(table: pd.DataFrame) -> list[dict[str, object]]:
    e = Evidence(table)
    truth = table["true:is_arg"].to_numpy() == 1
    labelled = table["true:is_arg"].notna().to_numpy()
    proteome = table["proteome"].fillna("").astype(str).to_numpy() != "" if "proteome" in table.columns else np.zeros(len(table), dtype=bool)
    made = table["is_arg"].to_numpy(dtype=float) >= 0.5
    rows = []
    for name, rule in RULES.items():
        call = rule(e) & ~e.close_negative()
        tp, fp = int((call & truth).sum()), int((call & labelled & ~truth).sum())
        fn = int((~call & truth).sum())
        precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        neg_proteome = proteome & labelled & ~truth
        rows.append({
            "rule": name, "ARGs found": f"{tp}/{tp + fn}", "false calls": fp, "precision": round(precision, 3), "recall": round(recall, 3),
            "F1": round(2 * precision * recall / max(precision + recall, 1e-12), 3),
            "proteome false/1000": round(1000 * (call & neg_proteome).sum() / max(neg_proteome.sum(), 1), 1),
            "differs from run": int((call != made).sum()) if name == "configured" else "",
        })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--method", default="fusion")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    parts = [f"<!-- .venv/bin/python benchmarks/support_rules.py {' '.join(map(str, args.runs))} --method {args.method} --out {args.out} -->",
             "# Support rules for a fused ARG call, replayed at 0.5 on saved test predictions\n"]
    for run in args.runs:
        parts += [f"## {run.name}", "", markdown_table(pd.DataFrame(rule_rows(load(run, args.method)))), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(parts))
    print("\n".join(parts))


if __name__ == "__main__":
    main()
