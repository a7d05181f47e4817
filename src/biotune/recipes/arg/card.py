"""The dataset card: a Markdown account of what the ARG dataset holds and how it was made.

Rendered from the table and the :class:`~biotune.recipes.arg.build.BuildReport`; contains no
timestamps or paths outside the sources folder, so that identical builds give identical cards.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from biotune.data.dataset import LIST_SEPARATOR, Dataset
from biotune.recipes.arg.build import HARD_NEGATIVE_BINS, LABEL_RULE, LABEL_RULE_VALUES, BuildReport, identity_bin, proteome_summary
from biotune.recipes.arg.mutation_models import COLUMN as MUTATION_COLUMN, DOC as MUTATION_DOC

MERGE_RULE = (
    "Records with the exact same sequence are merged: **is_arg** = ARG if any source labels it ARG "
    "(such a sequence is never a negative; disagreements are listed below as conflicts); "
    "**drug_classes** = union over the ARG records; **mechanism** = most frequent over the ARG records, "
    "ties broken by the vocabulary's precedence (inactivation > target_replacement > target_protection > "
    "efflux > target_alteration > other); **mobility** = acquired if any source says so, else intrinsic, "
    "else unknown."
)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _per_fold(table: pd.DataFrame, n_folds: int, masks: dict[str, pd.Series]) -> list[list[object]]:
    rows = []
    for name, mask in masks.items():
        counts = [int((mask & (table["fold"] == k)).sum()) for k in range(n_folds)]
        rows.append([name, *counts, sum(counts), sum(c > 0 for c in counts)])
    return rows


def _clusters_per_fold(table: pd.DataFrame, n_folds: int) -> list[object]:
    counts = [int(table.loc[table["fold"] == k, "cluster"].nunique()) for k in range(n_folds)]
    return ["clusters", *counts, sum(counts), sum(c > 0 for c in counts)]


def _has(column: pd.Series, label: str) -> pd.Series:
    return column.map(lambda v: label in str(v).split(LIST_SEPARATOR))


#: Longest list the card prints of rule-labelled, unsafe or ambiguous records (counts are always complete).
MAX_LISTED = 100


def _hit_rows(entries: list[dict], limit: int = MAX_LISTED) -> list[list[object]]:
    return [[e["id"], e["proteome"] or "-", e["source_ids"].replace("|", "/"), e["arg"], e["identity"], e["qcov"], e["tcov"]]
            for e in entries[:limit]]


def _listing(title: str, entries: list[dict]) -> list[str]:
    if not entries:
        return ["", f"{title}: none."]
    shown = f" (first {MAX_LISTED} of {len(entries)}, by id)" if len(entries) > MAX_LISTED else f" ({len(entries)})"
    return ["", f"{title}{shown}:", "",
            markdown_table(["id", "proteome", "source ids", "ARG", "identity", "qcov", "tcov"], _hit_rows(entries))]


def label_rule_section(table: pd.DataFrame, report: BuildReport) -> list[str]:
    """Proteomes, the label rule, hard negatives per identity bin and the rule's removals (arg_v2)."""
    bin_names = [f"{int(lo * 100)}-{int(hi * 100)}" for lo, hi in HARD_NEGATIVE_BINS]
    rows = [
        [p["name"], p["proteins"], p["curated_args"], p["rule_labelled_args"], p["negatives"],
         *(p["hard_negatives"][b] for b in bin_names), p["dropped_ambiguous"]]
        for p in proteome_summary(table, report)
    ]
    negatives = table["is_arg"].astype(int) == 0
    bins = table["nearest_arg_identity"].map(identity_bin)
    groups = {"all records": table["id"].notna(), "curated-only records": table["proteome"] == "",
              "proteome records": table["proteome"] != ""}
    hard_rows = [[name, int((mask & negatives).sum()), *(int((mask & negatives & (bins == b)).sum()) for b in bin_names),
                  int((mask & negatives & (table["nearest_arg_identity"] == "")).sum())] for name, mask in groups.items()]
    return [
        "",
        "## Proteomes and the label rule",
        "",
        LABEL_RULE,
        "",
        "`label_rule` column: " + "; ".join(f"`{k}` = {v}" for k, v in LABEL_RULE_VALUES.items()) + ". "
        "A hard negative is a record with is_arg 0 and 0.3 <= `nearest_arg_identity` < 0.8.",
        "",
        f"Proteome sources: {', '.join(report.proteome_sources) or '-'}. Per proteome (a sequence shared by several "
        "proteomes counts in each; `curated ARGs` = proteome proteins identical to a curated ARG):",
        "",
        markdown_table(["proteome", "proteins", "curated ARGs", "rule-labelled ARGs", "negatives",
                        *(f"hard neg. {b} %" for b in bin_names), "dropped ambiguous"], rows),
        "",
        "Negatives by identity to the nearest ARG (>= 50 % coverage of the negative):",
        "",
        markdown_table(["records", "negatives", *(f"{b} %" for b in bin_names), "no hit >= 30 %"], hard_rows),
        "",
        markdown_table(["label rule event", "count"], [
            ["proteome proteins labelled ARG (>= 80 % identity, >= 80 % coverage of both)", len(report.rule_labelled)],
            ["curated negatives removed as unsafe (same level)", len(report.unsafe_negatives)],
            ["ambiguous proteins dropped (>= 80 % identity over >= 80 % of one sequence only)", len(report.ambiguous)],
        ]),
        *_listing("Rule-labelled ARGs (their best curated ARG)", report.rule_labelled),
        *_listing("Curated negatives removed as unsafe", report.unsafe_negatives),
        *_listing("Ambiguous proteins dropped (fragments / fusions)", report.ambiguous),
    ]


def mutation_model_section(table: pd.DataFrame) -> list[str]:
    """Records that are homologs of a CARD variant / overexpression / knockout model, ARGs and negatives, per model."""
    flagged = table[table[MUTATION_COLUMN] != ""]
    args = flagged["is_arg"].astype(int) == 1
    per_model = flagged.assign(arg=args).groupby(MUTATION_COLUMN)["arg"].agg(["sum", "size"]).sort_values("size", ascending=False, kind="mergesort")
    rows = [[name, int(r["sum"]), int(r["size"] - r["sum"])] for name, r in per_model.head(MAX_LISTED).iterrows()]
    return [
        "", "## Homologs of mutation-conferred resistance models", "",
        f"`{MUTATION_COLUMN}`: {MUTATION_DOC}. {len(flagged)} records ({int(args.sum())} ARGs, {int((~args).sum())} negatives) "
        f"are homologs of {len(per_model)} models" + (f"; the {len(rows)} most common:" if len(rows) < len(per_model) else ":"),
        "", markdown_table(["model", "ARGs", "negatives"], rows),
    ]


def render_card(dataset: Dataset, report: BuildReport) -> str:
    table, meta = dataset.table, dataset.meta
    n_folds = dataset.n_folds
    drug = dataset.task("drug_class").classes
    mechs = dataset.task("mechanism").classes
    args = table["is_arg"].astype(int) == 1
    fold_header = ["label", *[f"fold {k}" for k in range(n_folds)], "total", "folds present"]
    masks = {
        "all": table["id"].notna(),
        "ARG": args,
        "non-ARG": ~args,
        **{f"drug_class={c}": _has(table["drug_classes"], c) for c in drug},
        **{f"mechanism={m}": table["mechanism"] == m for m in mechs},
        **{f"mobility={m}": table["mobility"] == m for m in meta.get("mobility_classes", [])},
    }
    out = [
        f"# Dataset card: {meta['name']} v{meta['version']}",
        "",
        "Benchmark for antibiotic-resistance-gene annotation: **is_arg** (binary), **drug_class** "
        "(multi-label, ARGs only), **mechanism** (multi-class, ARGs only). Negatives carry no drug class "
        "or mechanism (masked in losses and metrics).",
        "",
        "## Headline",
        "",
        markdown_table(
            ["quantity", "value"],
            [
                ["unique sequences", len(table)],
                ["ARGs (unique sequences)", int(args.sum())],
                ["negatives (unique sequences)", int((~args).sum())],
                ["homology clusters (40 % id / 80 % cov, merged)", table["cluster"].nunique()],
                ["MMseqs2 clusters before merging", report.n_mmseqs_clusters],
                ["folds", n_folds],
                ["max cross-fold identity (>= 80 % coverage of both)", report.max_cross_fold_identity],
                ["fold draws until no cross-fold pair at the thresholds", report.fold_rounds],
                ["cross-fold pairs found and merged into one cluster", report.leaks_merged],
                ["vocabulary version", meta.get("vocabulary_version", "")],
                ["fold seed", meta.get("seed", "")],
            ],
        ),
        "",
        "## Records per source",
        "",
        "`imported` = records read (kept + dropped by the importer or the ambiguous-id rule); "
        "`in dataset` = unique sequences of the final table that this source contributes to.",
        "",
        markdown_table(
            ["source", "imported", "dropped", "in dataset", "of which ARG"],
            [
                [
                    name,
                    n,
                    sum(d.source == name for d in report.dropped),
                    int(_has(table["sources"], name).sum()),
                    int((_has(table["sources"], name) & args).sum()),
                ]
                for name, n in report.imported.items()
            ],
        ),
        "",
        "## Counts per label per fold",
        "",
        markdown_table(fold_header, _per_fold(table, n_folds, masks) + [_clusters_per_fold(table, n_folds)]),
    ]
    sizes = table["cluster"].value_counts()
    bins = [(1, 1), (2, 5), (6, 20), (21, 100), (101, 500), (501, 10**9)]
    out += [
        "",
        "## Cluster size distribution",
        "",
        markdown_table(
            ["cluster size", "clusters", "sequences"],
            [
                [f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 10**9 else f">{lo - 1}"), int(((sizes >= lo) & (sizes <= hi)).sum()),
                 int(sizes[(sizes >= lo) & (sizes <= hi)].sum())]
                for lo, hi in bins
            ],
        ),
        "",
        "Largest clusters: " + ", ".join(f"{c} ({n})" for c, n in sizes.head(5).items()) + ".",
        f"Median cluster size {float(np.median(sizes)):g}, mean {sizes.mean():.2f}.",
        "",
        "## Label merge rule and conflicts",
        "",
        MERGE_RULE,
        "",
        markdown_table(
            ["event", "count"],
            [
                ["source records merged into an existing identical sequence", report.duplicates_merged],
                ["sequences labelled ARG in one source and negative in another (kept as ARG)", len(report.arg_negative_conflicts)],
                ["ARG sequences whose sources give different drug-class sets (union kept)", report.drug_class_disagreements],
                ["ARG sequences whose sources give different mechanisms (vote)", report.mechanism_conflicts],
                ["ARG sequences with conflicting mobility (acquired kept)", report.mobility_conflicts],
            ],
        ),
    ]
    if report.arg_negative_conflicts:
        out += ["", "ARG-vs-negative conflicts:", "",
                markdown_table(["id", "labelled ARG by", "labelled negative by"],
                               [[c["id"], c["arg"], c["negative"]] for c in report.arg_negative_conflicts])]
    if "label_rule" in table.columns:
        out += label_rule_section(table, report)
    if MUTATION_COLUMN in table.columns:
        out += mutation_model_section(table)
    reasons = Counter((d.source, d.reason.split(":")[0]) for d in report.dropped)
    nf = report.parameters.get("negative_filter") or {}
    filtered = (
        f"{len(report.removed_negatives)} negatives removed for similarity to an ARG "
        f"(>= {nf.get('min_identity')} identity over >= {nf.get('min_coverage')} coverage of "
        f"{nf.get('coverage_of')} sequence, MMseqs2 search)."
        if nf
        else f"no similarity filter on negatives (the label rule above decides: {len(report.unsafe_negatives)} unsafe "
        f"curated negatives and {len(report.ambiguous)} ambiguous proteins removed)."
    )
    listed = report.dropped if nf else report.dropped[:MAX_LISTED]
    out += [
        "",
        "## Removed records",
        "",
        f"{len(report.dropped)} source records dropped by importers or the ambiguous-id rule; {filtered}",
        "",
        markdown_table(["source", "reason", "count"], [[s, r, n] for (s, r), n in sorted(reasons.items())]),
        "",
        "Every dropped record:" if len(listed) == len(report.dropped) else f"Dropped records (first {len(listed)} of {len(report.dropped)}):",
        "",
        markdown_table(["source", "record", "reason"], [[d.source, d.source_id, d.reason.replace("|", "/")] for d in listed]),
    ]
    if report.removed_negatives:
        out += [
            "",
            "Negatives removed (best ARG hit):",
            "",
            markdown_table(
                ["id", "source ids", "closest ARG", "identity", "qcov", "tcov"],
                [[r["id"], r["source_ids"].replace("|", "/"), r["arg"], r["identity"], r["qcov"], r["tcov"]] for r in report.removed_negatives],
            ),
        ]
    out += [
        "",
        "## Build parameters and inputs",
        "",
        "```",
        *(f"{k}: {v}" for k, v in sorted(report.parameters.items())),
        "```",
        "",
        markdown_table(["source file", "sha256"], sorted(report.source_files.items())),
        "",
    ]
    return "\n".join(out)
