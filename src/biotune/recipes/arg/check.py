"""Verify a built ARG dataset: structure, labels, cluster/fold integrity and cross-fold homology.

The homology check recomputes, with a fresh MMseqs2 all-vs-all search, the highest identity
between two sequences in different folds whose alignment covers >= ``min_coverage`` of both, and
fails when it reaches ``max_identity`` (defaults: 40 % identity at 80 % coverage, the thresholds the
clusters were built with).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from biotune.data.dataset import Dataset, parse_label
from biotune.recipes.homology_folds import cross_fold_hits, max_cross_fold_identity
from biotune.io.fasta import protein_problem


@dataclass
class CheckResult:
    problems: list[str] = field(default_factory=list)
    max_identity: float = 0.0
    closest_pair: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def check_structure(dataset: Dataset) -> list[str]:
    """Table-level invariants: unique ids, valid sequences, folds in range, clusters within one fold, labels."""
    table, problems = dataset.table, []
    if table["id"].duplicated().any():
        problems.append(f"duplicate ids: {sorted(table.loc[table['id'].duplicated(), 'id'])[:5]}")
    if table["sequence"].duplicated().any():
        problems.append(f"{int(table['sequence'].duplicated().sum())} duplicate sequences")
    bad = [(i, p) for i, s in zip(table["id"], table["sequence"]) if (p := protein_problem(s))]
    problems += [f"record {i!r}: {p}" for i, p in bad[:10]]
    folds = table["fold"].astype(int)
    if not folds.between(0, dataset.n_folds - 1).all():
        problems.append(f"fold ids outside 0..{dataset.n_folds - 1}")
    spans = table.groupby("cluster")["fold"].nunique()
    if (spans > 1).any():
        problems.append(f"{int((spans > 1).sum())} clusters span several folds, e.g. {list(spans[spans > 1].index[:3])}")
    for task in dataset.tasks:
        column = table[dataset.columns[task.name]]
        values = [parse_label(task, v) for v in column]
        try:
            task.encode(values)
        except ValueError as exc:
            problems.append(str(exc))
    is_arg = table["is_arg"].astype(int)
    for col in ("drug_classes", "mechanism"):
        if (table.loc[is_arg == 0, col] != "").any():
            problems.append(f"negatives with a {col} label")
    for k in range(dataset.n_folds):
        in_fold = is_arg[folds == k]
        if in_fold.nunique() < 2:
            problems.append(f"fold {k} lacks ARGs or negatives")
    if "label_rule" in table.columns:
        problems += check_label_rule_columns(table)
    return problems


def check_label_rule_columns(table: pd.DataFrame) -> list[str]:
    """arg_v2 columns: label_rule values agree with is_arg, identities are fractions, nearest ids exist."""
    problems = []
    missing = [c for c in ("proteome", "nearest_arg", "nearest_arg_identity") if c not in table.columns]
    if missing:
        return [f"label_rule column without {missing}"]
    is_arg = table["is_arg"].astype(int)
    rule = table["label_rule"]
    expected_arg = rule.isin(["curated", "proteome_homolog>=80"])
    if not rule.isin(["curated", "proteome_homolog>=80", "negative"]).all():
        problems.append(f"unknown label_rule values {sorted(set(rule) - {'curated', 'proteome_homolog>=80', 'negative'})}")
    if (expected_arg.astype(int) != is_arg).any():
        problems.append(f"{int((expected_arg.astype(int) != is_arg).sum())} records whose label_rule disagrees with is_arg")
    if ((rule == "proteome_homolog>=80") & (table["proteome"] == "")).any():
        problems.append("rule-labelled ARGs without a proteome")
    identity = pd.to_numeric(table["nearest_arg_identity"].replace("", None), errors="coerce")
    given = table["nearest_arg_identity"] != ""
    if identity[given].isna().any() or not identity[given].between(0, 1).all():
        problems.append("nearest_arg_identity values outside 0-1")
    if (given != (table["nearest_arg"] != "")).any():
        problems.append("nearest_arg and nearest_arg_identity are not given together")
    ids = set(table["id"])
    unknown = [t for t in table["nearest_arg"] if t and t not in ids]
    if unknown:
        problems.append(f"{len(unknown)} nearest_arg ids not in the table, e.g. {unknown[:3]}")
    nearest_is_arg = table["nearest_arg"].map(dict(zip(table["id"], is_arg)))
    if (given & (nearest_is_arg != 1)).any():
        problems.append("nearest_arg names a non-ARG record")
    return problems


def check_dataset(
    dataset: Dataset,
    *,
    max_identity: float = 0.4,
    min_coverage: float = 0.8,
    sensitivity: float = 5.7,
    max_seqs: int = 300,
    threads: int | None = None,
) -> CheckResult:
    """Run :func:`check_structure` and the cross-fold homology check."""
    result = CheckResult(problems=check_structure(dataset))
    table = dataset.table
    sequences = dict(zip(table["id"], table["sequence"]))
    fold_of = dict(zip(table["id"], table["fold"].astype(int)))
    hits = cross_fold_hits(sequences, fold_of, min_coverage=min_coverage, sensitivity=sensitivity, max_seqs=max_seqs, threads=threads)
    identity, best = max_cross_fold_identity(hits, fold_of, min_coverage)
    result.max_identity = identity
    if best is not None:
        result.closest_pair = f"{best['query']} ~ {best['target']} ({best['fident']:.3f} identity, qcov {best['qcov']:.2f}, tcov {best['tcov']:.2f})"
    if identity >= max_identity:
        result.problems.append(
            f"cross-fold homology: {result.closest_pair} is >= {max_identity:.0%} identity at >= {min_coverage:.0%} coverage"
        )
    return result
