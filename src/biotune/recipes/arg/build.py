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
5. **Negative filter**: negatives with >= ``min_identity`` identity over >= ``min_coverage`` coverage
   to any ARG (MMseqs2 search) are removed and counted.
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
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biotune.data.dataset import LIST_SEPARATOR, Dataset
from biotune.errors import InputError
from biotune.homology import mmseqs
from biotune.recipes.arg.check import cross_fold_hits, max_cross_fold_identity, similar_pairs
from biotune.recipes.arg.importers import Dropped, Imported, SourceRecord, import_source
from biotune.recipes.arg.vocabulary import ProjectLabels, Vocabulary, load_vocabulary, map_records
from biotune.splits import grouped_stratified_folds
from biotune.tasks import TaskSpec

COLUMNS = ["id", "sequence", "is_arg", "drug_classes", "mechanism", "mobility", "sources", "source_ids", "cluster", "fold"]
ID_PREFIX = "BT"


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


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def connected_clusters(ids: Sequence[str], assignment: Mapping[str, str], edges: pd.DataFrame) -> dict[str, str]:
    """Union of MMseqs2 clusters and extra edges; each component named after its smallest member id."""
    parent = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for member, rep in assignment.items():
        union(member, rep)
    for a, b in zip(edges["query"], edges["target"]):
        union(a, b)
    return {i: find(i) for i in ids}


def label_matrix(table: pd.DataFrame, vocab: Vocabulary) -> np.ndarray:
    """Columns to balance across folds: ARG, non-ARG, each drug class, each mechanism."""
    cols = [table["is_arg"] == 1, table["is_arg"] == 0]
    cols += [table["drug_classes"].map(lambda v, c=c: c in v.split(LIST_SEPARATOR)) for c in vocab.drug_classes]
    cols += [table["mechanism"] == m for m in vocab.mechanisms]
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in cols])


def homology_folds(table: pd.DataFrame, vocab: Vocabulary, config: Mapping[str, Any], report: BuildReport) -> tuple[list[str], np.ndarray]:
    """Clusters and folds such that no pair at the cluster thresholds crosses folds (steps 6-7).

    MMseqs2's greedy clustering leaves some above-threshold pairs in different clusters, so clusters
    are merged with every all-vs-all hit at the thresholds; then the cross-fold search of
    :mod:`check` verifies the folds, and any pair it still finds merges its clusters and the folds
    are drawn again, until the check is clean (clusters only ever merge, so this terminates).
    """
    cl, folds_cfg, threads = config["clusters"], config["folds"], config.get("threads")
    ids = table["id"].tolist()
    sequences = dict(zip(ids, table["sequence"]))
    search = {"sensitivity": cl["sensitivity"], "max_seqs": cl["max_seqs"], "threads": threads}
    assignment = mmseqs.cluster(sequences, min_seq_id=cl["min_identity"], coverage=cl["min_coverage"], cov_mode=0, threads=threads)
    report.n_mmseqs_clusters = len(set(assignment.values()))
    hits = mmseqs.search(sequences, min_seq_id=cl["min_identity"], coverage=cl["min_coverage"], cov_mode=0, **search)
    clusters = connected_clusters(ids, assignment, similar_pairs(hits, cl["min_identity"], cl["min_coverage"]))
    labels = label_matrix(table, vocab)
    for round_ in range(1, cl["max_rounds"] + 1):
        groups = [clusters[i] for i in ids]
        folds = grouped_stratified_folds(groups, labels, n_folds=int(folds_cfg["n_folds"]), seed=int(folds_cfg["seed"]))
        fold_of = dict(zip(ids, folds.tolist()))
        cross = cross_fold_hits(sequences, fold_of, min_coverage=cl["min_coverage"], **search)
        leaks = similar_pairs(cross, cl["min_identity"], cl["min_coverage"])
        report.fold_rounds = round_
        if leaks.empty:
            report.max_cross_fold_identity = round(max_cross_fold_identity(cross, fold_of, cl["min_coverage"])[0], 3)
            return groups, folds
        report.leaks_merged += len(leaks)
        clusters = connected_clusters(ids, {i: clusters[i] for i in ids}, leaks)
    raise RuntimeError(f"cross-fold homology remained after {cl['max_rounds']} rounds of cluster merging")


def arg_tasks(vocab: Vocabulary) -> tuple[list[TaskSpec], dict[str, str]]:
    tasks = [
        TaskSpec("is_arg", "binary"),
        TaskSpec("drug_class", "multilabel", vocab.drug_classes),
        TaskSpec("mechanism", "multiclass", vocab.mechanisms),
    ]
    return tasks, {"is_arg": "is_arg", "drug_class": "drug_classes", "mechanism": "mechanism"}


# ----------------------------------------------------------------------------------- the build


def import_sources(root: Path, sources: Mapping[str, Any], report: BuildReport) -> Imported:
    """Run every configured importer on its paths (relative to ``root``) and pool the results."""
    if not root.is_dir():
        raise InputError("sources folder not found", path=root)
    pooled = Imported()
    for name in sources:
        spec = sources[name]
        paths = [root / p for p in spec["paths"]]
        for p in paths:
            if not p.exists():
                raise InputError(f"source {name!r}: path not found", path=p)
        imported = import_source(spec["format"], paths, name, **dict(spec.get("options") or {}))
        report.imported[name] = len(imported.records) + len(imported.dropped)
        for p in paths:
            for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
                if f.is_file() and f.suffix in (".csv", ".tsv", ".txt", ".fasta", ".fsa", ".faa", ".fa", ".gz"):
                    report.source_files[str(f.relative_to(root))] = file_digest(f)
        pooled.extend(imported)
    return pooled


def build_arg_dataset(root: str | Path, config: Mapping[str, Any]) -> tuple[Dataset, BuildReport]:
    """Build the dataset table from raw sources under ``root`` with a build ``config`` (configs/build)."""
    root = Path(root)
    report = BuildReport(parameters={k: config[k] for k in ("negative_filter", "clusters", "folds")})
    vocab = load_vocabulary(config.get("vocabulary"))
    threads = config.get("threads")

    imported = drop_ambiguous_ids(import_sources(root, config["sources"], report))
    report.dropped = imported.dropped
    labels = map_records(imported.records, vocab)
    merged = merge_by_sequence(imported.records, labels, vocab, report)
    by_id = {sequence_id(m.sequence): m for m in merged}
    if len(by_id) != len(merged):
        raise RuntimeError("sequence id collision: increase the hash length in sequence_id")

    neg = config["negative_filter"]
    args = {i: m.sequence for i, m in by_id.items() if m.is_arg}
    negatives = {i: m.sequence for i, m in by_id.items() if not m.is_arg}
    if args and negatives:
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
    table["cluster"], table["fold"] = homology_folds(table, vocab, config, report)
    table = table[COLUMNS]
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
    return Dataset(table=table, tasks=tasks, columns=columns, meta=meta), report
