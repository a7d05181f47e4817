"""Which evidence do a fused run's ARG calls rest on, and how often is each kind right?

Reads the saved test predictions of one method in a benchmark run (``results/<run>/predictions/<method>``)
and tabulates, per ``call_basis`` (EXACT / ALIGNMENT / HMM / MODEL) and ``is_arg`` threshold, the true
ARGs and the false calls made on that basis — the measurement behind fusion's ``call_needs_evidence``
(calls of the stacker alone, basis MODEL, below 50 % precision at every threshold).

    .venv/bin/python benchmarks/call_basis_precision.py results/arg_v2_5fold_refit results/arg_v2_lopo_refit \
        --out benchmarks/results/call_basis_precision_refit.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from biotune.evaluate.report import markdown_table

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def load_predictions(run: Path, method: str) -> pd.DataFrame:
    files = sorted((run / "predictions" / method).glob("fold*_seed*.tsv"))
    if not files:
        raise SystemExit(f"{run}: no predictions of method {method!r} under {run / 'predictions' / method}")
    columns = ["id", "is_arg", "true:is_arg", "extra:call_basis"]
    return pd.concat([pd.read_csv(f, sep="\t", usecols=columns, low_memory=False) for f in files], ignore_index=True)


def basis_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Rows = call basis; per threshold ``t`` the columns ``ARGs @t`` and ``false @t`` (calls with is_arg ≥ t)."""
    truth = predictions["true:is_arg"] == 1
    rows = []
    for basis, group in predictions.groupby("extra:call_basis"):
        row: dict[str, object] = {"call_basis": basis, "records": len(group)}
        for t in THRESHOLDS:
            called = group["is_arg"] >= t
            row[f"ARGs @{t}"] = int((called & truth[group.index]).sum())
            row[f"false @{t}"] = int((called & ~truth[group.index]).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="benchmark output folders")
    ap.add_argument("--method", default="fusion")
    ap.add_argument("--out", type=Path, required=True, help="markdown file")
    args = ap.parse_args()
    parts = [f"<!-- .venv/bin/python benchmarks/call_basis_precision.py {' '.join(map(str, args.runs))} --method {args.method} --out {args.out} -->"]
    parts.append("# ARG calls per call basis and is_arg threshold (true ARGs / false calls, pooled test folds)\n")
    for run in args.runs:
        parts += [f"## {run.name}", "", markdown_table(basis_table(load_predictions(run, args.method))), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(parts))
    print("\n".join(parts))


if __name__ == "__main__":
    main()
