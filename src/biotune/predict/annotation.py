"""One output row of ``biotune predict`` and the pure rules that turn scores and hits into calls.

An :class:`Annotation` joins what the model says (is it an ARG, which drug classes, which
mechanism, with probabilities) with the alignment evidence (nearest reference sequence of the
bundle, identity, coverage), the basis of an ARG call (``call_basis``: EXACT / ALIGNMENT / HMM /
MODEL, like AMRFinderPlus's method column), a readable ``evidence`` line and the novelty flag.
Drug classes, mechanism and call basis are only *called* for proteins called ARG — a non-ARG has
no drug class — but the probabilities and the evidence are kept for every scored protein.

Methods that report their own evidence (``Method.reports_reference_evidence``, e.g. ``fusion``)
give ``call_basis``/``evidence`` and the evidence details; for the others
:func:`fallback_call_basis` and :func:`fallback_evidence` derive them from the nearest reference.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biotune.methods.alignment import ALIGNMENT, EXACT, MODEL, alignment_basis
from biotune.predict.inputs import Query
from biotune.tasks import TaskSpec

ARG_CALL, NON_ARG_CALL = "ARG", "non-ARG"
#: Evidence columns of a method's predictions that go to predictions.json as they are (when present).
EVIDENCE_DETAILS = ("nearest_negative", "negative_identity", "negative_bitscore", "reference_bitscore", "hmm_profile", "hmm_bitscore", "hmm_trusted_cutoff", "mutation_model")


@dataclass(frozen=True)
class CallRules:
    """Decision thresholds (``configs/predict/default.yaml``; a bundle may carry tuned ones).

    ``class_thresholds`` overrides ``class_threshold`` per drug class; ``novelty_identity`` is the
    percent identity below which a protein has no close reference and is flagged novel;
    ``alignment_identity``/``alignment_coverage`` (percent, coverage of both sequences) make an ARG
    call's basis ``ALIGNMENT`` for methods without their own evidence (:func:`fallback_call_basis`).
    """

    is_arg_threshold: float = 0.5
    class_threshold: float = 0.5
    class_thresholds: Mapping[str, float] = field(default_factory=dict)
    novelty_identity: float = 50.0
    alignment_identity: float = 80.0
    alignment_coverage: float = 80.0

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
    call_basis: str | None = None
    evidence: str | None = None
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
    evidence_details: dict[str, Any] = field(default_factory=dict)
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
    method_name: str = "model",
    evidence: Mapping[str, Any] | None = None,
) -> Annotation:
    """Build the row for one query from its per-task score rows (``None`` when not scored) and best hit.

    ``scores[task]`` is a scalar for binary tasks and a probability vector over ``task.classes``
    otherwise. Without an ``is_arg`` task every scored protein is treated as an ARG call, so class
    and mechanism calls are still made (a bundle trained on ARGs only). ``evidence`` is the
    method's extra columns for this query: its ``call_basis``/``evidence`` when it has them (else
    the fallback rules over ``hit`` and the ``method_name`` score), and :data:`EVIDENCE_DETAILS`.
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
    evidence = evidence or {}
    if evidence.get("call_basis"):
        basis, ann.evidence = str(evidence["call_basis"]), str(evidence.get("evidence") or "")
    else:
        basis = fallback_call_basis(hit, rules)
        ann.evidence = fallback_evidence(hit, method_name, ann.is_arg_probability)
    ann.call_basis = basis if is_arg else None
    ann.evidence_details = {k: _plain(evidence[k]) for k in EVIDENCE_DETAILS if k in evidence}
    return ann


def reference_is_arg(labels: Mapping[str, Any]) -> bool:
    """Whether a reference is an ARG by its labels (a bundle without an ``is_arg`` label holds ARGs only)."""
    value = labels.get("is_arg")
    return value is None or str(value).strip().lower() in ("1", "1.0", "true", "arg")


def fallback_call_basis(hit: Hit | None, rules: CallRules) -> str:
    """Call basis from the nearest reference alone (methods without their own evidence).

    ``EXACT``: an ARG reference identical over the full length of both sequences; ``ALIGNMENT``: an
    ARG reference at >= ``rules.alignment_identity`` % identity over >= ``rules.alignment_coverage`` %
    of both; else ``MODEL`` (the call rests on the model score).
    """
    if hit is None or not reference_is_arg(hit.reference_labels):
        return MODEL
    basis = alignment_basis(
        hit.identity, hit.query_coverage, hit.reference_coverage,
        min_identity=rules.alignment_identity, min_coverage=rules.alignment_coverage,
    )
    return basis or MODEL


def fallback_evidence(hit: Hit | None, method_name: str, is_arg_probability: float | None) -> str:
    """One readable line: the nearest reference (ARG or not, identity, coverage of query/reference) and the model score."""
    if hit is None:
        parts = ["no reference hit"]
    else:
        kind = "ARG" if reference_is_arg(hit.reference_labels) else "non-ARG"
        parts = [
            f"{kind} ref {hit.reference} {hit.identity:.1f}% id, cov {hit.query_coverage:.0f}%/{hit.reference_coverage:.0f}%"
        ]
    if is_arg_probability is not None:
        parts.append(f"{method_name} {is_arg_probability:.2f}")
    return "; ".join(parts)


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: numpy scalars as Python ones, NaN and empty strings as ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


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
    resumed_proteins: int = 0  # queries read back from a killed run's checkpoints (``predict --resume``), not scored again
    statuses: Counter = field(default_factory=Counter)
    call_bases: Counter = field(default_factory=Counter)
    reference_mobility: Counter = field(default_factory=Counter)  # ARG calls by their nearest reference's mobility
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
                if ann.call_basis:
                    self.call_bases[ann.call_basis] += 1
                self.reference_mobility[reference_mobility(ann)] += 1
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
            "resumed_proteins": self.resumed_proteins,
            "proteins_per_second": round(self.proteins_per_second, 2) if self.seconds > 0 else None,
            "statuses": dict(self.statuses.most_common()),
            "arg_calls_by_call_basis": dict(self.call_bases.most_common()),
            "arg_calls_by_reference_mobility": dict(self.reference_mobility.most_common()),
            "drug_classes": dict(self.drug_classes.most_common()),
            "mechanisms": dict(self.mechanisms.most_common()),
        }


def reference_mobility(ann: Annotation) -> str:
    """``acquired`` / ``intrinsic`` as the nearest ARG reference's curation says (a mobile resistance gene, or a
    chromosomal one such as an efflux pump or a drug target); ``unknown`` when it says neither, ``no ARG
    reference`` when the nearest reference is not an ARG or there is none (a call from profiles or models)."""
    if not ann.nearest_reference or not reference_is_arg(ann.reference_labels):
        return "no ARG reference"
    return ann.reference_labels.get("mobility") or "unknown"


def status_kind(status: str) -> str:
    """Group statuses for counting by dropping record-specific details (numbers, quoted letters, notes).

    ``skipped: duplicate id (first seen at record 3)`` -> ``skipped: duplicate id``.
    """
    return re.split(r"[\d'(]", status, maxsplit=1)[0].strip()
