"""Alignment evidence: DIAMOND hits against ARG references AND against known non-ARGs.

A best-hit that only knows ARGs calls a penicillin-binding protein "beta-lactam resistance" at 35 %
identity; knowing that the same query is 95 % identical to a non-ARG reference says otherwise.
``fit`` keeps the training records as one reference set (ARGs with their labels, non-ARGs as
negatives); ``predict`` aligns the queries against it once (DIAMOND, one database) and reports,
per query:

* the best ARG hit (``arg_*``: reference id, identity %, query and reference coverage %, bitscore,
  bits per query residue, log10 E-value) and the best negative hit (``neg_*``), their bitscore
  log-ratio, how many ARG / negative hits were reported, and the ids of all ARG hits
  (``arg_references``, ``;``-joined, best first: what targets fusion's profile-HMM scan);
* scores: label transfer weighted by bitscore — ``is_arg`` = the ARG share of the weight of the hits
  within ``top_fraction`` of the query's best bitscore; class scores = the weighted class frequencies
  among the ARG hits within ``top_fraction`` of the best *ARG* bitscore (``class_votes_near: arg``:
  the class an ARG would have, whatever non-ARG is closer — a sul gene's nearest references are
  non-ARG dihydropteroate synthases) or of the best bitscore of any hit (``any``: no class vote when
  non-ARGs dominate). Several weak hits agreeing on a class count more than one.

``first_pass`` (a DIAMOND sensitivity, e.g. ``default``) searches every query at that cheaper sensitivity
first and keeps its hits for the queries whose best hit is at >= ``first_pass_close`` % identity over as much
of both sequences; only the others are searched at ``sensitivity``. On a redundant reference set the
sensitive modes spend most of their time on such near-identical queries, whose top_fraction window a
fast search already finds whole (``benchmarks/results/alignment_first_pass.md``).

Queries without any hit get zero scores and status ``no_hit``; nothing is dropped. This is the
alignment evidence source of :mod:`biotune.methods.fusion`, and a method of its own (a "best hit
with negatives").
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biotune.data.records import Record
from biotune.homology.diamond import HIT_COLUMNS as DIAMOND_COLUMNS
from biotune.homology.diamond import blastp, make_db, sort_hits
from biotune.io.fasta import NUCLEOTIDE_LETTERS
from biotune.methods.base import STATUS_OK, Method, Predictions, register_method
from biotune.methods.besthit import transfer_label
from biotune.tasks import TaskSpec

STATUS_NO_HIT = "no_hit"
REFERENCE_SEPARATOR = ";"
STATE_FILE = "references.joblib"
DATABASE_FILE = "references.dmnd"
#: Per-query evidence columns (``arg_reference`` / ``neg_reference`` are ids, the rest numbers).
EVIDENCE_COLUMNS = (
    "arg_reference", "arg_identity", "arg_query_coverage", "arg_reference_coverage", "arg_bitscore",
    "arg_bits_per_residue", "arg_log10_evalue", "arg_reference_length", "n_arg_hits",
    "neg_reference", "neg_identity", "neg_query_coverage", "neg_bitscore", "neg_bits_per_residue", "n_neg_hits",
    "arg_neg_log2_bitscore_ratio", "arg_references",
)
#: Whose best bitscore sets the class-vote window: the best ARG hit's, or the best hit's of any kind.
CLASS_VOTES_NEAR = ("arg", "any")
#: The DIAMOND output columns the evidence is made of.
HIT_COLUMNS = ("sseqid", "pident", "qcovhsp", "scovhsp", "bitscore", "evalue", "slen")


@register_method
class AlignmentEvidence(Method):
    """DIAMOND against ARG and non-ARG training references; bitscore-weighted label transfer + evidence columns."""

    name = "alignment"

    def __init__(
        self,
        evalue: float = 1e-3,
        sensitivity: str = "mid-sensitive",
        max_target_seqs: int = 50,
        top_fraction: float = 0.5,
        class_votes_near: str = "arg",
        first_pass: str | None = None,
        first_pass_close: float = 90.0,
        threads: int | None = None,
        **params: Any,
    ):
        if not 0.0 < float(top_fraction) <= 1.0:
            raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
        if class_votes_near not in CLASS_VOTES_NEAR:
            raise ValueError(f"class_votes_near must be one of {CLASS_VOTES_NEAR}, got {class_votes_near!r}")
        super().__init__(
            evalue=float(evalue), sensitivity=sensitivity, max_target_seqs=int(max_target_seqs),
            top_fraction=float(top_fraction), class_votes_near=class_votes_near,
            first_pass=first_pass, first_pass_close=float(first_pass_close), threads=threads, **params,
        )
        self.references: dict[str, str] = {}
        self.is_arg: dict[str, bool] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self._db: Path | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> AlignmentEvidence:
        self.tasks = list(tasks)
        self.references, self.is_arg, self.labels, self._db = {}, {}, {}, None
        for r in train:
            label = r.label("is_arg")
            if label is None:
                continue
            self.references[r.id] = r.sequence
            self.is_arg[r.id] = float(label) == 1.0
            if self.is_arg[r.id]:
                self.labels[r.id] = {t.name: r.label(t.name) for t in self.tasks if t.kind in ("multiclass", "multilabel")}
        if not any(self.is_arg.values()):
            raise ValueError("alignment evidence needs at least one training ARG (is_arg == 1)")
        return self

    def _hits(self, records: Sequence[Record]) -> pd.DataFrame:
        p = self.params
        searchable = {r.id: r.sequence for r in records if r.sequence and not set(r.sequence) <= NUCLEOTIDE_LETTERS}
        if not searchable:
            return pd.DataFrame(columns=DIAMOND_COLUMNS)
        if p["first_pass"] is None:
            hits = self._search(searchable, p["sensitivity"])
        else:
            first = self._search(searchable, p["first_pass"])
            settled = close_best_hit_queries(first, p["first_pass_close"])
            rest = {q: s for q, s in searchable.items() if q not in settled}
            hits = pd.concat([first[first["qseqid"].isin(settled)], self._search(rest, p["sensitivity"])], ignore_index=True)
            hits = sort_hits(hits)
        # one row per (query, reference): the best HSP
        return hits.drop_duplicates(["qseqid", "sseqid"], keep="first")

    def _search(self, queries: dict[str, str], sensitivity: str) -> pd.DataFrame:
        p = self.params
        if not queries:
            return pd.DataFrame(columns=DIAMOND_COLUMNS)
        return blastp(queries, self._database(), evalue=p["evalue"], sensitivity=sensitivity, max_target_seqs=p["max_target_seqs"], threads=p["threads"])

    def predict(self, records: Sequence[Record]) -> Predictions:
        if not self.references:
            raise RuntimeError("alignment evidence is not fitted: call fit() or load() first")
        return self._predictions(records, self._hits(records))

    def _predictions(self, records: Sequence[Record], hits: pd.DataFrame) -> Predictions:
        columns = {c: hits[c].to_numpy() for c in HIT_COLUMNS} if len(hits) else {}
        if columns:
            columns["sseqid"] = columns["sseqid"].astype(str)
        is_arg = np.fromiter((self.is_arg.get(s, False) for s in columns.get("sseqid", ())), dtype=bool)
        by_query = hits.reset_index(drop=True).groupby("qseqid", sort=False).indices if len(hits) else {}
        n = len(records)
        scores = {t.name: np.zeros((n, t.n_outputs) if t.n_outputs > 1 else n) for t in self.tasks}
        rows, status = [], []
        for i, r in enumerate(records):
            at = by_query.get(r.id)
            if at is None:
                status.append(STATUS_NO_HIT)
                rows.append(_evidence_row(None, None, len(r.sequence), 0, 0) + [""])
                continue
            status.append(STATUS_OK)
            arg_at, neg_at = at[is_arg[at]], at[~is_arg[at]]
            rows.append(_evidence_row(
                _hit(columns, arg_at[0]) if len(arg_at) else None, _hit(columns, neg_at[0]) if len(neg_at) else None,
                len(r.sequence), len(arg_at), len(neg_at),
            ) + [REFERENCE_SEPARATOR.join(columns["sseqid"][arg_at])])
            self._transfer(columns["bitscore"][at].astype(float), columns["sseqid"][at], is_arg[at], scores, i)
        return Predictions(ids=[r.id for r in records], scores=scores, status=status, extra=pd.DataFrame(rows, columns=list(EVIDENCE_COLUMNS)))

    def _transfer(self, bits: np.ndarray, references: np.ndarray, arg_mask: np.ndarray, scores: dict[str, np.ndarray], row: int) -> None:
        """Bitscore-weighted votes of the hits near the top (module docstring)."""
        fraction = self.params["top_fraction"]
        weights = bits * (bits >= fraction * bits.max())
        class_top = bits[arg_mask].max(initial=0.0) if self.params["class_votes_near"] == "arg" else bits.max()
        class_weights = np.where(arg_mask & (bits >= fraction * class_top), bits, 0.0)
        for t in self.tasks:
            if t.kind == "binary":
                scores[t.name][row] = weights[arg_mask].sum() / weights.sum()
            elif t.kind in ("multiclass", "multilabel") and class_weights.sum() > 0:
                votes = np.zeros(t.n_outputs)
                for ref, w in zip(references[class_weights > 0], class_weights[class_weights > 0]):
                    one = np.zeros((1, t.n_outputs))
                    transfer_label(t, self.labels[ref].get(t.name), one, 0)
                    votes += w * one[0]
                scores[t.name][row] = votes / class_weights.sum()

    def _database(self) -> Path:
        """The references' DIAMOND database, built once per fit (or shipped with a saved method), not per call."""
        if self._db is None or not self._db.exists():
            self._tmp = tempfile.TemporaryDirectory(prefix="biotune_alignment_")
            self._db = make_db(self.references, Path(self._tmp.name) / DATABASE_FILE, threads=self.params["threads"])
        return self._db

    def save(self, directory: str | Path) -> Path:
        directory = self._save_state(directory, STATE_FILE, {"references": self.references, "is_arg": self.is_arg, "labels": self.labels})
        shutil.copyfile(self._database(), directory / DATABASE_FILE)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> AlignmentEvidence:
        method, state = cls._load_state(directory, STATE_FILE)
        method.references, method.is_arg, method.labels = state["references"], state["is_arg"], state["labels"]
        shipped = Path(directory) / DATABASE_FILE
        method._db = shipped if shipped.exists() else None  # rebuilt from the references when absent
        return method


#: The call bases (AMRFinderPlus-style method column) shared by ``fusion`` and ``predict``.
EXACT, ALIGNMENT, HMM, MODEL = "EXACT", "ALIGNMENT", "HMM", "MODEL"


def close_best_hit_queries(hits: pd.DataFrame, close: float) -> set[str]:
    """Queries whose best hit (highest bitscore; ``hits`` sorted as :func:`blastp` returns them) is at >= ``close`` %
    identity over >= ``close`` % of both sequences: what a more sensitive search would add to them lies far
    below the top_fraction window of that hit (``first_pass``, see the class docstring)."""
    if hits.empty:
        return set()
    best = hits.drop_duplicates("qseqid", keep="first")
    near = (best["pident"] >= close) & (best["qcovhsp"] >= close) & (best["scovhsp"] >= close)
    return set(best.loc[near, "qseqid"].astype(str))


def alignment_basis(identity: float, query_coverage: float, reference_coverage: float, *, min_identity: float, min_coverage: float) -> str | None:
    """``EXACT`` for an ARG reference identical over the full length of both sequences, ``ALIGNMENT`` for one at
    ≥ ``min_identity`` % identity over ≥ ``min_coverage`` % of both, else None (percent values; NaN = no hit)."""
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (identity, query_coverage, reference_coverage)):
        return None
    if identity >= 100.0 and query_coverage >= 100.0 and reference_coverage >= 100.0:
        return EXACT
    if identity >= min_identity and query_coverage >= min_coverage and reference_coverage >= min_coverage:
        return ALIGNMENT
    return None


def _hit(columns: dict[str, np.ndarray], at: int) -> dict[str, Any]:
    """Hit number ``at`` of the column arrays as ``{column: value}``."""
    return {c: v[at] for c, v in columns.items()}


def _evidence_row(arg: dict[str, Any] | None, neg: dict[str, Any] | None, query_length: int, n_arg: int, n_neg: int) -> list[Any]:
    """The :data:`EVIDENCE_COLUMNS` values of one query (NaN / empty where there is no such hit)."""
    nan = math.nan
    length = max(1, query_length)
    arg_part = (
        ["", nan, nan, nan, nan, nan, nan, nan] if arg is None else
        [str(arg["sseqid"]), float(arg["pident"]), float(arg["qcovhsp"]), float(arg["scovhsp"]), float(arg["bitscore"]),
         float(arg["bitscore"]) / length, math.log10(max(float(arg["evalue"]), 1e-300)), float(arg["slen"])]
    )
    neg_part = (
        ["", nan, nan, nan, nan] if neg is None else
        [str(neg["sseqid"]), float(neg["pident"]), float(neg["qcovhsp"]), float(neg["bitscore"]), float(neg["bitscore"]) / length]
    )
    arg_bits = 0.0 if arg is None else float(arg["bitscore"])
    neg_bits = 0.0 if neg is None else float(neg["bitscore"])
    ratio = math.log2((arg_bits + 1.0) / (neg_bits + 1.0)) if (arg is not None or neg is not None) else nan
    return [*arg_part, n_arg, *neg_part, n_neg, ratio]
