"""Homology clusters and cluster-grouped folds shared by every recipe (ARG, GO): no pair of sequences at the
cluster thresholds ends up in two different folds.

MMseqs2's greedy clustering leaves some above-threshold pairs in different clusters, so clusters are merged
(union-find) with every all-vs-all hit at the thresholds; folds are drawn with
:func:`biotune.splits.grouped_stratified_folds`, then each fold is searched against the others and any pair
still found at the thresholds merges its clusters and the folds are drawn again, until the check is clean
(clusters only ever merge, so this terminates).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biotune.errors import InputError
from biotune.homology import mmseqs
from biotune.splits import grouped_stratified_folds

log = logging.getLogger(__name__)


@dataclass
class HomologyFolds:
    """Cluster name and fold of every sequence (input order), with what the dataset card reports."""

    clusters: list[str]
    folds: np.ndarray
    n_mmseqs_clusters: int
    rounds: int
    leaks_merged: int
    max_cross_fold_identity: float


def similar_pairs(hits: pd.DataFrame, min_identity: float, min_coverage: float, coverage_of: str = "both") -> pd.DataFrame:
    """Search hits at >= ``min_identity`` over >= ``min_coverage`` of both (or either) sequences."""
    if coverage_of not in ("both", "either"):
        raise InputError(f"coverage_of must be 'both' or 'either', got {coverage_of!r}")
    qcov, tcov = hits["qcov"] >= min_coverage, hits["tcov"] >= min_coverage
    cov = (qcov & tcov) if coverage_of == "both" else (qcov | tcov)
    return hits[(hits["fident"] >= min_identity) & cov & (hits["query"] != hits["target"])]


def best_hits(hits: pd.DataFrame) -> pd.DataFrame:
    """One row per query (the index): highest identity, then bitscore, then smallest target id."""
    ordered = hits.sort_values(["query", "fident", "bits", "target"], ascending=[True, False, False, True])
    return ordered.drop_duplicates("query").set_index("query")


def cross_fold_hits(
    sequences: Mapping[str, str],
    fold_of: Mapping[str, int],
    *,
    min_coverage: float,
    sensitivity: float,
    max_seqs: int,
    threads: int | None = None,
) -> pd.DataFrame:
    """MMseqs2 hits covering >= ``min_coverage`` of both sequences, each fold searched against all others.

    Searching fold by fold (rather than all-vs-all, then filtering) gives every query its whole
    ``max_seqs`` budget for sequences of OTHER folds, so same-cluster relatives cannot crowd out a
    cross-fold homolog.
    """
    parts = []
    for k in sorted(set(fold_of.values())):
        query = {i: s for i, s in sequences.items() if fold_of[i] == k}
        target = {i: s for i, s in sequences.items() if fold_of[i] != k}
        if query and target:
            parts.append(
                mmseqs.search(query, target, coverage=min_coverage, cov_mode=0, sensitivity=sensitivity, max_seqs=max_seqs, threads=threads)
            )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=mmseqs.SEARCH_COLUMNS)


def max_cross_fold_identity(hits: pd.DataFrame, fold_of: Mapping[str, int], min_coverage: float) -> tuple[float, pd.Series | None]:
    """Highest identity among hits between different folds covering >= ``min_coverage`` of both sequences."""
    pairs = similar_pairs(hits, 0.0, min_coverage, "both")
    cross = pairs[pairs["query"].map(fold_of) != pairs["target"].map(fold_of)]
    if cross.empty:
        return 0.0, None
    best = cross.sort_values(["fident", "query", "target"], ascending=[False, True, True]).iloc[0]
    return float(best["fident"]), best


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


def homology_folds(
    sequences: Mapping[str, str], labels: np.ndarray, clusters: Mapping[str, Any], folds: Mapping[str, Any], threads: int | None = None
) -> HomologyFolds:
    """Clusters at ``clusters`` (min_identity, min_coverage, sensitivity, max_seqs, max_rounds) and folds (n_folds,
    seed) balancing the columns of ``labels`` (one row per sequence, in ``sequences`` order); see the module doc."""
    cl = clusters
    ids = list(sequences)
    search = {"sensitivity": cl["sensitivity"], "max_seqs": cl["max_seqs"], "threads": threads}
    start = time.perf_counter()
    assignment = mmseqs.cluster(dict(sequences), min_seq_id=cl["min_identity"], coverage=cl["min_coverage"], cov_mode=0, threads=threads)
    n_mmseqs = len(set(assignment.values()))
    log.info("mmseqs cluster: %d sequences, %d clusters [%.0f s]", len(ids), n_mmseqs, time.perf_counter() - start)
    start = time.perf_counter()
    hits = mmseqs.search(dict(sequences), min_seq_id=cl["min_identity"], coverage=cl["min_coverage"], cov_mode=0, **search)
    log.info("all-vs-all search: %d hits [%.0f s]", len(hits), time.perf_counter() - start)
    merged = connected_clusters(ids, assignment, similar_pairs(hits, cl["min_identity"], cl["min_coverage"]))
    leaks_merged = 0
    for round_ in range(1, cl["max_rounds"] + 1):
        groups = [merged[i] for i in ids]
        fold_ids = grouped_stratified_folds(groups, labels, n_folds=int(folds["n_folds"]), seed=int(folds["seed"]))
        fold_of = dict(zip(ids, fold_ids.tolist()))
        start = time.perf_counter()
        cross = cross_fold_hits(sequences, fold_of, min_coverage=cl["min_coverage"], **search)
        leaks = similar_pairs(cross, cl["min_identity"], cl["min_coverage"])
        log.info("fold draw %d: %d cross-fold pairs at the thresholds [%.0f s]", round_, len(leaks), time.perf_counter() - start)
        if leaks.empty:
            identity = round(max_cross_fold_identity(cross, fold_of, cl["min_coverage"])[0], 3)
            return HomologyFolds(groups, fold_ids, n_mmseqs, round_, leaks_merged, identity)
        leaks_merged += len(leaks)
        merged = connected_clusters(ids, {i: merged[i] for i in ids}, leaks)
    raise RuntimeError(f"cross-fold homology remained after {cl['max_rounds']} rounds of cluster merging")
