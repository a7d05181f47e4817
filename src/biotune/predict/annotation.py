"""One output row of ``biotune predict`` and the pure rules that turn scores and hits into calls.

An :class:`Annotation` joins what the model says (is it an ARG, which drug classes, which
mechanism, with probabilities) with the alignment evidence (nearest reference sequence of the
bundle, identity, coverage) and the novelty flag. Drug classes and mechanism are only *called*
for proteins called ARG — a non-ARG has no drug class — but their probabilities are kept for every
scored protein in the JSON output.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biotune.predict.inputs import Query
from biotune.tasks import TaskSpec

ARG_CALL, NON_ARG_CALL = "ARG", "non-ARG"


@dataclass(frozen=True)
class CallRules:
    """Decision thresholds (``configs/predict/default.yaml``; a bundle may carry tuned ones).

    ``class_thresholds`` overrides ``class_threshold`` per drug class; ``novelty_identity`` is the
    percent identity below which a protein has no close reference and is flagged novel.
    """

    is_arg_threshold: float = 0.5
    class_threshold: float = 0.5
    class_thresholds: Mapping[str, float] = field(default_factory=dict)
    novelty_identity: float = 50.0

    def threshold_for(self, drug_class: str) -> float:
        return float(self.class_thresholds.get(drug_class, self.class_threshold))


@dataclass
class Hit:
    """The nearest reference of a query (best DIAMOND bitscore) and what that reference is labelled."""

    reference: str
    identity: float
    query_coverage: float
    reference_coverage: float
    evalue: float
    reference_length: int
    reference_labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Annotation:
    """Everything ``predict`` reports about one protein (or one input record without a protein)."""

    record: int
    id: str
    status: str
    model_version: str
    contig: str | None = None
    start: int | None = None
    end: int | None = None
    strand: str | None = None
    partial: str | None = None
    length: int | None = None
    is_arg_probability: float | None = None
    is_arg: str | None = None
    drug_classes: list[str] = field(default_factory=list)
    drug_class_probabilities: dict[str, float] = field(default_factory=dict)
    mechanism: str | None = None
    mechanism_probability: float | None = None
    mechanism_probabilities: dict[str, float] = field(default_factory=dict)
    nearest_reference: str | None = None
    reference_identity: float | None = None
    reference_query_coverage: float | None = None
    reference_coverage: float | None = None
    reference_evalue: float | None = None
    reference_length: int | None = None
    reference_labels: dict[str, str] = field(default_factory=dict)
    novel: bool | None = None

    @property
    def scored(self) -> bool:
        return self.is_arg_probability is not None or bool(self.drug_class_probabilities)

    @property
    def called_arg(self) -> bool:
        return self.is_arg == ARG_CALL


def _round(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def annotate_query(
    query: Query,
    scores: Mapping[str, np.ndarray] | None,
    hit: Hit | None,
    tasks: Sequence[TaskSpec],
    rules: CallRules,
    *,
    model_version: str,
    method_status: str | None = None,
) -> Annotation:
    """Build the row for one query from its per-task score rows (``None`` when not scored) and best hit.

    ``scores[task]`` is a scalar for binary tasks and a probability vector over ``task.classes``
    otherwise. Without an ``is_arg`` task every scored protein is treated as an ARG call, so class
    and mechanism calls are still made (a bundle trained on ARGs only).
    """
    ann = Annotation(
        record=query.record,
        id=query.id,
        status=query.status if method_status in (None, "ok") else method_status,
        model_version=model_version,
        contig=query.contig,
        start=query.start,
        end=query.end,
        strand=query.strand,
        partial=query.partial,
        length=len(query.sequence) if query.sequence else None,
    )
    if scores is None:
        return ann
    by_name = {t.name: t for t in tasks}
    is_arg = True
    if "is_arg" in scores:
        ann.is_arg_probability = _round(scores["is_arg"])
        is_arg = ann.is_arg_probability >= rules.is_arg_threshold
        ann.is_arg = ARG_CALL if is_arg else NON_ARG_CALL
    if "drug_class" in scores:
        probs = {c: _round(p) for c, p in zip(by_name["drug_class"].classes, scores["drug_class"])}
        ann.drug_class_probabilities = probs
        if is_arg:
            ann.drug_classes = call_drug_classes(probs, rules)
    if "mechanism" in scores:
        probs = {c: _round(p) for c, p in zip(by_name["mechanism"].classes, scores["mechanism"])}
        ann.mechanism_probabilities = probs
        if is_arg:
            ann.mechanism = max(probs, key=probs.__getitem__)
            ann.mechanism_probability = probs[ann.mechanism]
    if hit is not None:
        ann.nearest_reference = hit.reference
        ann.reference_identity = _round(hit.identity, 2)
        ann.reference_query_coverage = _round(hit.query_coverage, 2)
        ann.reference_coverage = _round(hit.reference_coverage, 2)
        ann.reference_evalue = float(hit.evalue)
        ann.reference_length = int(hit.reference_length)
        ann.reference_labels = dict(hit.reference_labels)
    ann.novel = hit is None or hit.identity < rules.novelty_identity
    return ann


def call_drug_classes(probabilities: Mapping[str, float], rules: CallRules) -> list[str]:
    """Classes at or above their threshold, most probable first; the single most probable one if none is.

    An ARG acts on at least one drug class, so an ARG call always names one.
    """
    ranked = sorted(probabilities, key=lambda c: (-probabilities[c], c))
    called = [c for c in ranked if probabilities[c] >= rules.threshold_for(c)]
    return called or ranked[:1]


@dataclass
class RunSummary:
    """Counts over a whole run, accumulated chunk by chunk (bounded memory)."""

    input_file: str = ""
    input_type: str = ""
    input_records: int = 0
    proteins: int = 0
    scored: int = 0
    arg_calls: int = 0
    novel_arg_calls: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    drug_classes: Counter = field(default_factory=Counter)
    mechanisms: Counter = field(default_factory=Counter)

    def add(self, annotations: Sequence[Annotation]) -> None:
        for ann in annotations:
            self.statuses[status_kind(ann.status)] += 1
            if ann.length is not None:
                self.proteins += 1
            if ann.scored:
                self.scored += 1
            if ann.called_arg:
                self.arg_calls += 1
                self.novel_arg_calls += bool(ann.novel)
                self.drug_classes.update(ann.drug_classes)
                if ann.mechanism:
                    self.mechanisms[ann.mechanism] += 1
        if annotations:
            self.input_records = max(self.input_records, max(a.record for a in annotations))

    @property
    def proteins_per_second(self) -> float:
        return self.proteins / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_file": self.input_file,
            "input_type": self.input_type,
            "input_records": self.input_records,
            "proteins": self.proteins,
            "scored": self.scored,
            "arg_calls": self.arg_calls,
            "novel_arg_calls": self.novel_arg_calls,
            "seconds": round(self.seconds, 3),
            "proteins_per_second": round(self.proteins_per_second, 2) if self.seconds > 0 else None,
            "statuses": dict(self.statuses.most_common()),
            "drug_classes": dict(self.drug_classes.most_common()),
            "mechanisms": dict(self.mechanisms.most_common()),
        }


def status_kind(status: str) -> str:
    """Group statuses for counting by dropping record-specific details (numbers, quoted letters, notes).

    ``skipped: duplicate id (first seen at record 3)`` -> ``skipped: duplicate id``.
    """
    return re.split(r"[\d'(]", status, maxsplit=1)[0].strip()
