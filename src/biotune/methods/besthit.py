"""DIAMOND best-hit label transfer: the alignment reference every learned model must beat.

Each query takes the labels of its best DIAMOND hit (highest bitscore) among the training records,
if that hit passes all cut-offs; otherwise it is *unscored* (status ``no_hit``: predicted non-ARG,
no class) — never dropped. Defaults follow DeepARG-LS's alignment step (``--arg-alignment-evalue
1e-10 --arg-alignment-identity 50 --arg-alignment-overlap 0.8``): e-value ≤ 1e-10, identity ≥ 50 %,
alignment covering ≥ 80 % of the query. Scores are hard (0/1 indicators of the transferred labels),
as in DeepARG/RGI-style best-hit annotation. The reference holds the training records (ARGs and
negatives alike, so a hit to a negative transfers "not an ARG") and, with ``references_with_valid``,
the validation records too — as the fusion method's refitted bases do, so that both answer from the
same references; :meth:`validation_predictions` are then made from the training records alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biotune.data.records import Record
from biotune.homology.diamond import best_hits, blastp
from biotune.io.fasta import read_fasta, write_fasta
from biotune.methods.base import STATUS_OK, Method, Predictions, register_method
from biotune.tasks import TaskSpec

STATUS_NO_HIT = "no_hit"
REFERENCE_FASTA = "reference.faa"
REFERENCE_LABELS = "reference_labels.json"


@register_method
class BestHit(Method):
    """Transfer the labels of the best DIAMOND hit passing ``evalue``, ``min_identity`` and ``min_query_coverage``."""

    name = "besthit"

    def __init__(
        self,
        evalue: float = 1e-10,
        min_identity: float = 50.0,
        min_query_coverage: float = 80.0,
        sensitivity: str = "more-sensitive",
        max_target_seqs: int = 25,
        references_with_valid: bool = True,
        threads: int | None = None,
        **params: Any,
    ):
        super().__init__(
            evalue=evalue, min_identity=min_identity, min_query_coverage=min_query_coverage,
            sensitivity=sensitivity, max_target_seqs=max_target_seqs, references_with_valid=bool(references_with_valid), threads=threads, **params,
        )
        self.reference: dict[str, str] = {}
        self.reference_labels: dict[str, dict[str, Any]] = {}
        self._valid_predictions: Predictions | None = None

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> BestHit:
        if not train:
            raise ValueError("best-hit needs at least one training record")
        self.tasks = list(tasks)
        self.reference, self.reference_labels, self._valid_predictions = {}, {}, None
        self._add_references(train)
        if valid and self.params["references_with_valid"]:
            self._valid_predictions = self.predict(valid)
            self._add_references(valid)
        return self

    def _add_references(self, records: Sequence[Record]) -> None:
        self.reference |= {r.id: r.sequence for r in records}
        self.reference_labels |= {r.id: {t.name: r.label(t.name) for t in self.tasks} for r in records}

    def validation_predictions(self, valid: Sequence[Record]) -> Predictions:
        """With ``references_with_valid``, the validation records' predictions from the training references."""
        held_out = self._valid_predictions
        return held_out if held_out is not None and held_out.ids == [r.id for r in valid] else self.predict(valid)

    def _hits(self, records: Sequence[Record]) -> pd.DataFrame:
        p = self.params
        hits = blastp(
            {r.id: r.sequence for r in records}, self.reference, evalue=p["evalue"], sensitivity=p["sensitivity"],
            max_target_seqs=p["max_target_seqs"], min_identity=p["min_identity"], threads=p["threads"],
        )
        hits = hits[(hits["pident"] >= p["min_identity"]) & (hits["qcovhsp"] >= p["min_query_coverage"])]
        return best_hits(hits).set_index("qseqid") if not hits.empty else pd.DataFrame(columns=hits.columns).set_index("qseqid")

    def predict(self, records: Sequence[Record]) -> Predictions:
        if not self.reference:
            raise RuntimeError("best-hit is not fitted: call fit() or load() first")
        best = self._hits(records)
        scores = {t.name: np.zeros((len(records), t.n_outputs) if t.n_outputs > 1 else len(records)) for t in self.tasks}
        status, extra = [], {"best_hit": [], "hit_identity": [], "hit_evalue": [], "hit_qcov": []}
        for i, r in enumerate(records):
            hit = best.loc[r.id] if r.id in best.index else None
            status.append(STATUS_OK if hit is not None else STATUS_NO_HIT)
            extra["best_hit"].append("" if hit is None else str(hit["sseqid"]))
            for col, key in (("hit_identity", "pident"), ("hit_evalue", "evalue"), ("hit_qcov", "qcovhsp")):
                extra[col].append(float("nan") if hit is None else float(hit[key]))
            if hit is not None:
                labels = self.reference_labels[str(hit["sseqid"])]
                for t in self.tasks:
                    transfer_label(t, labels.get(t.name), scores[t.name], i)
        return Predictions(ids=[r.id for r in records], scores=scores, status=status, extra=pd.DataFrame(extra))

    def save(self, directory: str | Path) -> Path:
        directory = self._write_manifest(directory)
        write_fasta(self.reference.items(), directory / REFERENCE_FASTA)
        (directory / REFERENCE_LABELS).write_text(json.dumps(self.reference_labels, sort_keys=True) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> BestHit:
        directory = Path(directory)
        method = cls._from_manifest(directory)
        method.reference = {rec.id: rec.sequence for rec in read_fasta(directory / REFERENCE_FASTA)}
        method.reference_labels = json.loads((directory / REFERENCE_LABELS).read_text())
        return method


def transfer_label(task: TaskSpec, label: Any, scores: np.ndarray, row: int) -> None:
    """Write the reference ``label`` as a hard score into ``scores[row]`` (missing label: leave zeros)."""
    if label is None or (isinstance(label, list) and not label):
        return
    if task.kind in ("binary", "regression"):
        scores[row] = float(label)
    elif task.kind == "multiclass":
        scores[row, task.classes.index(label)] = 1.0
    else:
        for c in label:
            scores[row, task.classes.index(c)] = 1.0
