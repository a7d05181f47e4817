"""Build the ARG benchmark dataset: import, map labels, de-duplicate, filter negatives, cluster, fold.

Steps (each counted in :class:`BuildReport` and shown in the dataset card):

1. **Import** every configured source (:mod:`importers`); bad records are dropped with a reason.
2. **Ambiguous ids**: a source id that names different sequences within one source is dropped
   everywhere in that source (it cannot be trusted to identify a protein).
3. **Map labels** with the vocabulary; any unmapped raw label fails the build (all listed).
4. **Exact-sequence de-duplication** — the merge rule for records sharing a sequence:
   ``is_arg`` = ARG if ANY source labels it ARG (ARG-vs-negative disagreements are counted as
   conflicts; such a sequence is never a negative); ``drug_classes`` = union over the ARG records;
   ``mechanism`` = most frequent mechanism over the ARG records, ties broken by the vocabulary's
   ``mechanism_precedence`` (disagreements counted); ``mobility`` = acquired if any source says
   acquired, else intrinsic if any says so, else unknown (disagreements counted).
5. **Negative filter** (``negative_filter``, arg_v1): negatives with >= ``min_identity`` identity over
   >= ``min_coverage`` coverage to any ARG (MMseqs2 search) are removed and counted.
5b. **Label rule** (``label_rule``, arg_v2, replaces the negative filter; see :data:`LABEL_RULE`):
   every non-ARG sequence (whole-proteome proteins and curated negatives) and every curated ARG is
   searched against all curated ARGs with MMseqs2. A proteome protein >= ``min_identity`` (0.8)
   identical over >= ``min_coverage`` (0.8) of BOTH sequences to a curated ARG becomes an ARG with
   the labels (drug classes, mechanism, mobility) of the best such ARG (highest identity, then
   bitscore, then smallest id); a curated negative at that level is removed as unsafe. A protein at
   >= 0.8 identity over >= 0.8 of EITHER sequence but not both (a fragment or a fusion) is
   ambiguous and dropped. Everything else stays a negative: **hard negatives** (30-80 % identity to
   an ARG) are kept. Exact duplicates of a curated ARG were already merged into it in step 4 (the
   record stays a curated ARG and also lists its proteome); a sequence that is both a proteome
   protein and a curated negative follows the proteome rule. Every record then gets the identity
   of its nearest OTHER ARG (curated or rule-labelled; best hit by identity, then bitscore, then id,
   among hits covering >= ``nearest_min_coverage`` (0.5) of the record; empty when no hit reaches
   ``nearest_min_identity`` (0.3)) in the columns ``nearest_arg`` / ``nearest_arg_identity``, its
   proteomes in ``proteome`` and the rule that labelled it in ``label_rule``.
5c. **Mutation models** (``mutation_models``, arg_v2): every record that is a homolog of a CARD variant /
   overexpression / knockout model (resistance by mutation or expression change: GyrA, RpoB, PBP2x,
   MarR, ...) gets the model's name in ``mutation_model`` (:mod:`.mutation_models`).
6. **Clusters**: MMseqs2 clustering, merged (union-find) with all-vs-all hits at the same thresholds.
   A cluster is named after its smallest member id, so names do not depend on MMseqs2's choice of
   representative.
7. **Folds**: :func:`biotune.splits.grouped_stratified_folds` on clusters, balancing ARG/non-ARG,
   drug classes and mechanisms.

Record ids are ``BT`` + the first 12 hex digits of the sequence's SHA-1: stable across builds and
free of label information. Output is byte-for-byte deterministic for the same inputs and config.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biotune.data.dataset import LIST_SEPARATOR, Dataset
from biotune.data.download import sha256_file
from biotune.errors import InputError
from biotune.homology import mmseqs
from biotune.recipes.arg import mutation_models
from biotune.recipes.arg.importers import PROTEOME_SUFFIXES, Dropped, Imported, SourceRecord, import_source, proteome_of
from biotune.recipes.homology_folds import best_hits, homology_folds as shared_homology_folds, similar_pairs
from biotune.recipes.arg.vocabulary import ProjectLabels, Vocabulary, load_vocabulary, map_records
from biotune.tasks import TaskSpec

COLUMNS = ["id", "sequence", "is_arg", "drug_classes", "mechanism", "mobility", "sources", "source_ids", "cluster", "fold"]
#: Columns arg_v2 (a build with ``label_rule``) appends to :data:`COLUMNS`.
LABEL_RULE_COLUMNS = ["proteome", "nearest_arg", "nearest_arg_identity", "label_rule"]
ID_PREFIX = "BT"
RULE_CURATED, RULE_HOMOLOG, RULE_NEGATIVE = "curated", "proteome_homolog>=80", "negative"
#: The ``label_rule`` column's values, as the dataset card explains them.
LABEL_RULE_VALUES = {
    RULE_CURATED: "ARG in a curated ARG database (possibly also found in a proteome)",
    RULE_HOMOLOG: "proteome protein labelled ARG by the >= 80 % identity / >= 80 % coverage-of-both rule",
    RULE_NEGATIVE: "negative (curated negative or proteome protein without such an ARG hit)",
}
#: Hard-negative identity bins (nearest_arg_identity) of the dataset card.
HARD_NEGATIVE_BINS = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.8))
SOURCE_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".fasta", ".fsa", ".faa", ".fa", ".gz", *sorted(PROTEOME_SUFFIXES))

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    """Everything the dataset card reports about how the table was made."""

    imported: dict[str, int] = field(default_factory=dict)
    dropped: list[Dropped] = field(default_factory=list)
    arg_negative_conflicts: list[dict[str, str]] = field(default_factory=list)
    mechanism_conflicts: int = 0
    drug_class_disagreements: int = 0
    mobility_conflicts: int = 0
    duplicates_merged: int = 0
    removed_negatives: list[dict[str, Any]] = field(default_factory=list)
    n_mmseqs_clusters: int = 0
    fold_rounds: int = 0
    leaks_merged: int = 0
    max_cross_fold_identity: float | None = None
    rule_labelled: list[dict[str, Any]] = field(default_factory=list)
    unsafe_negatives: list[dict[str, Any]] = field(default_factory=list)
    ambiguous: list[dict[str, Any]] = field(default_factory=list)
    proteome_sources: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    source_files: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Merged:
    """One unique sequence with its merged labels and provenance."""

    sequence: str
    is_arg: bool
    drug_classes: tuple[str, ...]
    mechanism: str | None
    mobility: str | None
    sources: tuple[str, ...]
    source_ids: tuple[str, ...]


def sequence_id(sequence: str) -> str:
    return ID_PREFIX + hashlib.sha1(sequence.encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------------- pure steps


def drop_ambiguous_ids(imported: Imported) -> Imported:
    """Drop every record whose (source, source_id) names more than one distinct sequence."""
    seqs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rec in imported.records:
        seqs[(rec.source, rec.source_id)].add(rec.sequence)
    bad = {key for key, s in seqs.items() if len(s) > 1}
    out = Imported(dropped=list(imported.dropped))
    for rec in imported.records:
        key = (rec.source, rec.source_id)
        if key in bad:
            out.dropped.append(Dropped(rec.source, rec.source_id, f"id names {len(seqs[key])} different sequences in this source"))
        else:
            out.records.append(rec)
    return out


def merge_by_sequence(
    records: Sequence[SourceRecord], labels: Sequence[ProjectLabels], vocab: Vocabulary, report: BuildReport
) -> list[Merged]:
    """Apply the merge rule (module docstring, step 4) to records sharing an exact sequence."""
    by_seq: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        by_seq[rec.sequence].append(i)
    merged = []
    drug_rank = {c: i for i, c in enumerate(vocab.drug_classes)}
    for seq in sorted(by_seq):
        idx = by_seq[seq]
        report.duplicates_merged += len(idx) - 1
        args = [i for i in idx if labels[i].is_arg]
        negs = [i for i in idx if not labels[i].is_arg]
        if args and negs:
            report.arg_negative_conflicts.append(
                {
                    "id": sequence_id(seq),
                    "arg": ", ".join(sorted({f"{records[i].source}:{records[i].source_id}" for i in args})),
                    "negative": ", ".join(sorted({f"{records[i].source}:{records[i].source_id}" for i in negs})),
                }
            )
        drugs = sorted({d for i in args for d in labels[i].drug_classes}, key=drug_rank.__getitem__)
        if len({labels[i].drug_classes for i in args}) > 1:
            report.drug_class_disagreements += 1
        votes = sorted(m for i in args for m in labels[i].mechanisms)
        if len({labels[i].mechanisms for i in args if labels[i].mechanisms}) > 1:
            report.mechanism_conflicts += 1
        mobilities = {labels[i].mobility for i in args} - {None}
        if len(mobilities) > 1:
            report.mobility_conflicts += 1
        mobility = next((m for m in vocab.mobility if m in mobilities), None)
        merged.append(
            Merged(
                sequence=seq,
                is_arg=bool(args),
                drug_classes=tuple(drugs),
                mechanism=vocab.merge_mechanism(votes),
                mobility=mobility,
                sources=tuple(sorted({records[i].source for i in idx})),
                source_ids=tuple(sorted({f"{records[i].source}:{records[i].source_id}" for i in idx})),
            )
        )
    return merged


def label_matrix(table: pd.DataFrame, vocab: Vocabulary) -> np.ndarray:
    """Columns to balance across folds: ARG, non-ARG, each drug class, each mechanism."""
    cols = [table["is_arg"] == 1, table["is_arg"] == 0]
    cols += [table["drug_classes"].map(lambda v, c=c: c in v.split(LIST_SEPARATOR)) for c in vocab.drug_classes]
    cols += [table["mechanism"] == m for m in vocab.mechanisms]
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in cols])


def homology_folds(table: pd.DataFrame, vocab: Vocabulary, config: Mapping[str, Any], report: BuildReport) -> tuple[list[str], np.ndarray]:
    """Clusters and folds such that no pair at the cluster thresholds crosses folds (steps 6-7;
    :func:`biotune.recipes.homology_folds.homology_folds`), balancing :func:`label_matrix` and, with
    ``folds.stratify_proteomes``, each proteome's share."""
    labels = label_matrix(table, vocab)
    if config["folds"].get("stratify_proteomes") and "proteome" in table.columns:
        names = sorted({p for cell in table["proteome"] for p in cell.split(LIST_SEPARATOR) if p})
        membership = [table["proteome"].map(lambda v, p=p: p in v.split(LIST_SEPARATOR)) for p in names]
        labels = np.column_stack([labels, *(np.asarray(m, dtype=np.float64) for m in membership)])
    result = shared_homology_folds(dict(zip(table["id"], table["sequence"])), labels, config["clusters"], config["folds"], config.get("threads"))
    report.n_mmseqs_clusters, report.fold_rounds = result.n_mmseqs_clusters, result.rounds
    report.leaks_merged, report.max_cross_fold_identity = result.leaks_merged, result.max_cross_fold_identity
    return result.clusters, result.folds


def arg_tasks(vocab: Vocabulary) -> tuple[list[TaskSpec], dict[str, str]]:
    tasks = [
        TaskSpec("is_arg", "binary"),
        TaskSpec("drug_class", "multilabel", vocab.drug_classes),
        TaskSpec("mechanism", "multiclass", vocab.mechanisms),
    ]
    return tasks, {"is_arg": "is_arg", "drug_class": "drug_classes", "mechanism": "mechanism"}


# ----------------------------------------------------------------------------------- label rule (arg_v2)

LABEL_RULE = (
    "Whole-proteome proteins are labelled by homology to the curated ARGs (MMseqs2 search of every "
    "proteome protein, curated negative and curated ARG against all curated ARGs): a proteome protein "
    "with >= 80 % identity over >= 80 % coverage of BOTH sequences to a curated ARG is an ARG and takes "
    "the drug classes, mechanism and mobility of the best such ARG (highest identity, then bitscore, then "
    "smallest id); a curated negative at that level is removed as unsafe. A protein at >= 80 % identity "
    "over >= 80 % of EITHER sequence but not both (a fragment or a fusion) is ambiguous and dropped. "
    "Every other protein is a negative, including hard negatives (30-80 % identity to an ARG), which are "
    "kept. A proteome protein identical to a curated ARG is merged into it (stays a curated ARG and lists "
    "the proteome); a sequence that is both a proteome protein and a curated negative follows the proteome "
    "rule. `nearest_arg_identity` is the identity (MMseqs2 fident) of the best hit to another ARG record "
    "(curated or rule-labelled) among hits covering >= 50 % of the record, empty when none reaches 30 %."
)
RECORD_COLUMN_DOC = {
    "proteome": "';'-joined names of the whole proteomes the sequence occurs in; empty for curated-only records",
    "nearest_arg": "id of the nearest other ARG record (curated or rule-labelled); empty when no hit >= 0.3 identity",
    "nearest_arg_identity": "identity 0-1 (3 decimals) of that hit, among hits covering >= 50 % of this record",
    "label_rule": "; ".join(f"{k} = {v}" for k, v in LABEL_RULE_VALUES.items()),
}


def _proteomes_of(merged: Merged, proteome_sources: Sequence[str]) -> tuple[str, ...]:
    names = set()
    for sid in merged.source_ids:
        source, _, rest = sid.partition(":")
        if source in proteome_sources:
            names.add(proteome_of(rest))
    return tuple(sorted(names))


def apply_label_rule(
    by_id: dict[str, Merged], proteome_sources: Sequence[str], cfg: Mapping[str, Any], threads: int | None, report: BuildReport
) -> dict[str, dict[str, str]]:
    """Apply :data:`LABEL_RULE` to ``by_id`` in place (relabel, remove unsafe and ambiguous records);
    return the :data:`LABEL_RULE_COLUMNS` values of every remaining record."""
    min_id, min_cov = float(cfg["min_identity"]), float(cfg["min_coverage"])
    near_id, near_cov = float(cfg["nearest_min_identity"]), float(cfg["nearest_min_coverage"])
    search = {"min_seq_id": near_id, "sensitivity": cfg["sensitivity"], "max_seqs": cfg["max_seqs"], "threads": threads}
    proteomes = {i: _proteomes_of(m, proteome_sources) for i, m in by_id.items()}
    curated = {i: m.sequence for i, m in by_id.items() if m.is_arg}
    rule = {i: (RULE_CURATED if m.is_arg else RULE_NEGATIVE) for i, m in by_id.items()}
    hits = mmseqs.search({i: m.sequence for i, m in by_id.items()}, curated, **search) if curated else pd.DataFrame(columns=mmseqs.SEARCH_COLUMNS)
    hits = hits[hits["query"] != hits["target"]]

    close = hits[(hits["fident"] >= min_id) & ~hits["query"].isin(curated)]
    both = best_hits(close[(close["qcov"] >= min_cov) & (close["tcov"] >= min_cov)])
    either = best_hits(close[(close["qcov"] >= min_cov) | (close["tcov"] >= min_cov)])
    labelled = {}
    for qid in sorted(set(either.index)):
        row = both.loc[qid] if qid in both.index else either.loc[qid]
        entry = {"id": qid, "proteome": LIST_SEPARATOR.join(proteomes[qid]), "source_ids": LIST_SEPARATOR.join(by_id[qid].source_ids),
                 "arg": row["target"], "identity": round(float(row["fident"]), 3),
                 "qcov": round(float(row["qcov"]), 3), "tcov": round(float(row["tcov"]), 3)}
        if qid not in both.index:
            report.ambiguous.append(entry)
            del by_id[qid]
        elif proteomes[qid]:
            arg = by_id[row["target"]]
            labelled[qid] = replace(by_id[qid], is_arg=True, drug_classes=arg.drug_classes, mechanism=arg.mechanism, mobility=arg.mobility)
            rule[qid] = RULE_HOMOLOG
            report.rule_labelled.append(entry)
        else:
            report.unsafe_negatives.append(entry)
            del by_id[qid]
    by_id.update(labelled)

    if labelled:  # every record against the rule-labelled ARGs too: they are ARGs to their neighbours
        more = mmseqs.search({i: m.sequence for i, m in by_id.items()}, {i: by_id[i].sequence for i in labelled}, **search)
        hits = pd.concat([hits, more[more["query"] != more["target"]]], ignore_index=True)
    hits = hits[hits["query"].isin(by_id) & (hits["fident"] >= near_id) & (hits["qcov"] >= near_cov)]
    nearest = best_hits(hits)
    extra = {}
    for i in by_id:
        hit = nearest.loc[i] if i in nearest.index else None
        extra[i] = {
            "proteome": LIST_SEPARATOR.join(proteomes[i]),
            "nearest_arg": "" if hit is None else hit["target"],
            "nearest_arg_identity": "" if hit is None else f"{float(hit['fident']):.3f}",
            "label_rule": rule[i],
        }
    return extra


def identity_bin(value: str) -> str:
    """The hard-negative bin (``30-40`` ...) of a ``nearest_arg_identity`` cell, '' outside the bins."""
    if not value:
        return ""
    x = float(value)
    return next((f"{int(lo * 100)}-{int(hi * 100)}" for lo, hi in HARD_NEGATIVE_BINS if lo <= x < hi), "")


def proteome_summary(table: pd.DataFrame, report: BuildReport) -> list[dict[str, Any]]:
    """Per proteome: proteins (unique sequences), curated and rule-labelled ARGs, negatives, hard
    negatives per identity bin, and ambiguous proteins dropped (dataset.json and the card)."""
    bins = table["nearest_arg_identity"].map(identity_bin)
    names = sorted({p for cell in table["proteome"] for p in cell.split(LIST_SEPARATOR) if p}
                   | {p for a in report.ambiguous for p in a["proteome"].split(LIST_SEPARATOR) if p})
    rows = []
    for name in names:
        mask = table["proteome"].map(lambda v, n=name: n in v.split(LIST_SEPARATOR))
        neg = mask & (table["is_arg"] == 0)
        rows.append({
            "name": name,
            "proteins": int(mask.sum()),
            "curated_args": int((mask & (table["label_rule"] == RULE_CURATED)).sum()),
            "rule_labelled_args": int((mask & (table["label_rule"] == RULE_HOMOLOG)).sum()),
            "negatives": int(neg.sum()),
            "hard_negatives": {f"{int(lo * 100)}-{int(hi * 100)}": int((neg & (bins == f"{int(lo * 100)}-{int(hi * 100)}")).sum())
                               for lo, hi in HARD_NEGATIVE_BINS},
            "dropped_ambiguous": sum(name in a["proteome"].split(LIST_SEPARATOR) for a in report.ambiguous),
        })
    return rows


# ----------------------------------------------------------------------------------- the build


def import_sources(root: Path, sources: Mapping[str, Any], report: BuildReport) -> Imported:
    """Run every configured importer on its paths (relative to ``root``) and pool the results."""
    if not root.is_dir():
        raise InputError("sources folder not found", path=root)
    pooled = Imported()
    for name in sources:
        spec = sources[name]
        if spec is None:  # switched off, e.g. --set sources.hmd_arg_db=null
            continue
        paths = [root / p for p in spec["paths"]]  # an absolute path stays absolute; '../x' is a sibling folder
        for p in paths:
            if not p.exists():
                raise InputError(f"source {name!r}: path not found", path=p)
        imported = import_source(spec["format"], paths, name, **dict(spec.get("options") or {}))
        report.imported[name] = len(imported.records) + len(imported.dropped)
        for p in paths:
            for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
                if f.is_file() and f.suffix in SOURCE_FILE_SUFFIXES:
                    report.source_files[os.path.relpath(f, root)] = sha256_file(f)
        pooled.extend(imported)
    return pooled


def build_arg_dataset(root: str | Path, config: Mapping[str, Any]) -> tuple[Dataset, BuildReport]:
    """Build the dataset table from raw sources under ``root`` with a build ``config`` (configs/build)."""
    root = Path(root)
    keys = ("negative_filter", "clusters", "folds") + tuple(k for k in ("label_rule", "mutation_models") if config.get(k))
    report = BuildReport(parameters={k: config.get(k) for k in keys})
    vocab = load_vocabulary(config.get("vocabulary"))
    threads = config.get("threads")

    start = time.perf_counter()
    imported = drop_ambiguous_ids(import_sources(root, config["sources"], report))
    log.info("imported %d records, %d dropped [%.0f s]", len(imported.records), len(imported.dropped), time.perf_counter() - start)
    report.dropped = imported.dropped
    labels = map_records(imported.records, vocab)
    merged = merge_by_sequence(imported.records, labels, vocab, report)
    by_id = {sequence_id(m.sequence): m for m in merged}
    if len(by_id) != len(merged):
        raise RuntimeError("sequence id collision: increase the hash length in sequence_id")

    neg = config.get("negative_filter")
    args = {i: m.sequence for i, m in by_id.items() if m.is_arg}
    negatives = {i: m.sequence for i, m in by_id.items() if not m.is_arg}
    if neg and args and negatives:
        hits = mmseqs.search(
            negatives, args, min_seq_id=neg["min_identity"], sensitivity=neg["sensitivity"], max_seqs=neg["max_seqs"], threads=threads
        )
        close = similar_pairs(hits, neg["min_identity"], neg["min_coverage"], neg["coverage_of"])
        close = close.sort_values(["query", "fident", "target"], ascending=[True, False, True]).drop_duplicates("query")
        for row in close.itertuples(index=False):
            report.removed_negatives.append(
                {"id": row.query, "source_ids": ";".join(by_id[row.query].source_ids), "arg": row.target,
                 "identity": round(float(row.fident), 3), "qcov": round(float(row.qcov), 3), "tcov": round(float(row.tcov), 3)}
            )
            del by_id[row.query]

    rule_cfg = config.get("label_rule")
    if rule_cfg:
        report.proteome_sources = [n for n, spec in config["sources"].items() if spec and spec["format"] == "proteome"]
        start = time.perf_counter()
        extra = apply_label_rule(by_id, report.proteome_sources, rule_cfg, threads, report)
        report.timings["label_rule"] = round(time.perf_counter() - start, 1)
        log.info("label rule: %d rule-labelled ARGs, %d unsafe negatives, %d ambiguous dropped [%.0f s]",
                 len(report.rule_labelled), len(report.unsafe_negatives), len(report.ambiguous), report.timings["label_rule"])

    ids = sorted(by_id)
    table = pd.DataFrame(
        {
            "id": ids,
            "sequence": [by_id[i].sequence for i in ids],
            "is_arg": [int(by_id[i].is_arg) for i in ids],
            "drug_classes": [LIST_SEPARATOR.join(by_id[i].drug_classes) for i in ids],
            "mechanism": [by_id[i].mechanism or "" for i in ids],
            "mobility": [by_id[i].mobility or "" for i in ids],
            "sources": [LIST_SEPARATOR.join(by_id[i].sources) for i in ids],
            "source_ids": [LIST_SEPARATOR.join(by_id[i].source_ids) for i in ids],
        }
    )
    columns = list(COLUMNS)
    if rule_cfg:
        for col in LABEL_RULE_COLUMNS:
            table[col] = [extra[i][col] for i in ids]
        columns += LABEL_RULE_COLUMNS
    start = time.perf_counter()
    mutation = mutation_models.mutation_model_column(root, dict(zip(ids, table["sequence"])), config.get("mutation_models"), threads)
    if mutation is not None:
        table[mutation_models.COLUMN] = mutation.reindex(ids).to_numpy()
        columns.append(mutation_models.COLUMN)
        report.timings["mutation_models"] = round(time.perf_counter() - start, 1)
        log.info("mutation models: %d records are homologs of one [%.0f s]", int((table[mutation_models.COLUMN] != "").sum()), report.timings["mutation_models"])
    start = time.perf_counter()
    table["cluster"], table["fold"] = homology_folds(table, vocab, config, report)
    report.timings["clusters_and_folds"] = round(time.perf_counter() - start, 1)
    log.info("clusters and folds: %d clusters, %d fold draws [%.0f s]", table["cluster"].nunique(), report.fold_rounds,
             report.timings["clusters_and_folds"])
    table = table[columns]
    tasks, columns = arg_tasks(vocab)
    folds_cfg = config["folds"]
    meta = {
        "name": str(config.get("name", "arg")),
        "version": str(config.get("version", "1")),
        "vocabulary_version": vocab.version,
        "seed": int(folds_cfg["seed"]),
        "n_folds": int(folds_cfg["n_folds"]),
        "parameters": report.parameters,
        "source_files": report.source_files,
        "mobility_classes": list(vocab.mobility),
    }
    if rule_cfg:
        meta["label_rule"] = {"text": LABEL_RULE, "values": LABEL_RULE_VALUES}
        meta["record_columns"] = RECORD_COLUMN_DOC | ({mutation_models.COLUMN: mutation_models.DOC} if mutation_models.COLUMN in table else {})
        meta["proteomes"] = proteome_summary(table, report)
    return Dataset(table=table, tasks=tasks, columns=columns, meta=meta), report
