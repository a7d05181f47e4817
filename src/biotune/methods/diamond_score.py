"""DeepGOPlus's DiamondScore (Kulmanov & Hoehndorf 2020): bitscore-weighted label transfer from every DIAMOND hit.

For a query with hits ``s`` among the training proteins, ``score(term) = Σ_s bitscore(s)·[term ∈ labels(s)] /
Σ_s bitscore(s)`` (the best HSP of each hit). DeepGOPlus runs ``diamond blastp --more-sensitive`` with
DIAMOND's defaults (E-value 0.001, 25 target sequences), which are the defaults here. A query without hits
gets zeros and status ``no_hit``. With propagated labels a parent's score is at least its children's; the
scores of a hierarchical task are still passed through :func:`biotune.hierarchy.consistent_scores`, so the
guarantee does not depend on how the references were labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from biotune.data.records import Record
from biotune.hierarchy import consistent_scores
from biotune.homology.diamond import blastp
from biotune.methods.base import STATUS_OK, Method, Predictions, register_method
from biotune.methods.go_naive import check_kinds
from biotune.tasks import TaskSpec

STATUS_NO_HIT = "no_hit"
STATE_FILE = "references.joblib"


@register_method
class DiamondScore(Method):
    """Σ bitscore of the hits carrying a label / Σ bitscore of all hits (DIAMOND against the training records)."""

    name = "diamond_score"

    def __init__(self, evalue: float = 1e-3, max_target_seqs: int = 25, sensitivity: str = "more-sensitive", threads: int | None = None, **params: Any):
        super().__init__(evalue=evalue, max_target_seqs=max_target_seqs, sensitivity=sensitivity, threads=threads, **params)
        self.references: dict[str, str] = {}
        self.labels: dict[str, np.ndarray] = {}

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> DiamondScore:
        check_kinds(self.name, tasks)
        if not train:
            raise ValueError("diamond_score needs at least one training record")
        self.tasks = list(tasks)
        self.references = {r.id: r.sequence for r in train}
        self.labels = {t.name: t.encode([r.label(t.name) for r in train])[0] for t in self.tasks}
        return self

    def predict(self, records: Sequence[Record]) -> Predictions:
        if not self.references:
            raise RuntimeError("diamond_score is not fitted: call fit() or load() first")
        p = self.params
        hits = blastp({r.id: r.sequence for r in records}, self.references, evalue=p["evalue"],
                      max_target_seqs=p["max_target_seqs"], sensitivity=p["sensitivity"], threads=p["threads"])
        hits = hits.drop_duplicates(["qseqid", "sseqid"])  # sorted by bitscore: the best HSP of each hit
        row_of = {ref: i for i, ref in enumerate(self.references)}
        query_row = {r.id: i for i, r in enumerate(records)}
        weights = sparse.csr_matrix(
            (hits["bitscore"].to_numpy(float), (hits["qseqid"].map(query_row).to_numpy(int), hits["sseqid"].map(row_of).to_numpy(int))),
            shape=(len(records), len(row_of)),
        )
        total = np.asarray(weights.sum(axis=1)).ravel()
        scores = {}
        for t in self.tasks:
            y = self.labels[t.name]
            s = np.asarray(weights @ y.reshape(len(y), -1)) / np.where(total > 0, total, 1.0)[:, None]
            s = consistent_scores(s, t.parent_index()) if t.hierarchical else s
            scores[t.name] = s if t.n_outputs > 1 else s[:, 0]
        status = [STATUS_OK if total[i] > 0 else STATUS_NO_HIT for i in range(len(records))]
        extra = pd.DataFrame({"n_hits": np.diff(weights.indptr), "bitscore_sum": total})
        return Predictions(ids=[r.id for r in records], scores=scores, status=status, extra=extra)

    def save(self, directory: str | Path) -> Path:
        return self._save_state(directory, STATE_FILE, {"references": self.references, "labels": self.labels})

    @classmethod
    def load(cls, directory: str | Path) -> DiamondScore:
        method, state = cls._load_state(directory, STATE_FILE)
        method.references, method.labels = state["references"], state["labels"]
        return method
