"""Identity bins: how close each test record is to what the model was trained on.

For every test record the runner computes its highest DIAMOND identity (``pident``, %) to the
fold's *seen* records and puts it in a bin; every metric is then also reported per bin. Seen records
are training ∪ validation by default, because validation labels shaped the model (early stopping,
tuned thresholds) — counting them keeps the "no hit"/"<30 %" bins honest. Only alignments covering
at least ``min_query_coverage`` % of the query count, so a short, highly identical motif does not
make a remote homolog look like a near-duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from biotune.homology.diamond import blastp

NO_HIT = "no_hit"
#: Lower bin edges (identity %, inclusive) and the bin names, in reading order.
BIN_EDGES: tuple[float, ...] = (30.0, 50.0, 80.0)
BIN_LABELS: tuple[str, ...] = (NO_HIT, "<30", "30-50", "50-80", ">=80")


def identity_bin(identity: float) -> str:
    """Bin name of one identity (``nan`` = no hit)."""
    if identity is None or np.isnan(identity):
        return NO_HIT
    return BIN_LABELS[1 + int(np.searchsorted(BIN_EDGES, identity, side="right"))]


def assign_bins(identities: Sequence[float]) -> list[str]:
    return [identity_bin(float(v)) for v in identities]


def max_identity(
    query: Mapping[str, str],
    reference: Mapping[str, str],
    *,
    evalue: float = 1e-3,
    min_query_coverage: float = 50.0,
    sensitivity: str = "more-sensitive",
    max_target_seqs: int = 50,
    threads: int | None = None,
) -> pd.DataFrame:
    """One row per query (input order): ``id, identity, nearest, bin``; ``identity`` is ``nan`` without a hit."""
    ids = list(query)
    if not ids:
        return pd.DataFrame({"id": [], "identity": [], "nearest": [], "bin": []})
    hits = blastp(query, dict(reference), evalue=evalue, sensitivity=sensitivity, max_target_seqs=max_target_seqs, threads=threads) if reference else pd.DataFrame()
    if not hits.empty:
        hits = hits[hits["qcovhsp"] >= min_query_coverage]
        hits = hits.sort_values(["qseqid", "pident", "sseqid"], ascending=[True, False, True], kind="mergesort").drop_duplicates("qseqid")
    best = hits.set_index("qseqid") if not hits.empty else pd.DataFrame(columns=["pident", "sseqid"])
    identity = [float(best.at[i, "pident"]) if i in best.index else float("nan") for i in ids]
    nearest = [str(best.at[i, "sseqid"]) if i in best.index else "" for i in ids]
    return pd.DataFrame({"id": ids, "identity": identity, "nearest": nearest, "bin": assign_bins(identity)})
