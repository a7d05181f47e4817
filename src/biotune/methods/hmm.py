"""Profile-HMM label transfer: one calibrated profile per training ARG cluster (pyhmmer + pyfamsa).

``fit`` groups the training ARGs (``is_arg == 1``) by ``record.meta["cluster"]`` — or, for ARGs
without one, by MMSeqs2 clustering at ``cluster_identity`` / ``cluster_coverage`` (40 % / 80 %, the
dataset's own rule) — and builds one profile per cluster with at least ``min_members`` members
(:func:`biotune.homology.hmm.build_library`). Training non-ARGs (``is_arg == 0``) are the
negatives of the calibration — all hard ones and at most ``max_easy_negatives`` others
(:func:`biotune.methods.negatives.sample_training_set`), so calibration costs the same whatever the
size of the proteome background — and the members of clusters with incompatible labels (including
clusters too small for a profile) count as out-of-family; each profile gets a trusted cut-off
``TC = max(floor, NC + margin)`` (module :mod:`biotune.homology.hmm`). A profile's labels are the
fractions of its members with each class, per task. Validation records are not used.

``predict``: the best passing profile (highest bitscore ≥ its TC) makes the record an ARG (status
``ok``) with is_arg score ``0.5 + 0.5 · (1 − TC / bitscore)`` ∈ [0.5, 1) and that profile's label
fractions as class scores. Without a passing profile the status is ``no_hit`` (predicted non-ARG,
no class, like ``besthit``) and the is_arg score is ``0.5 · min(1, bitscore / TC)`` of the best hit
(0 without any hit), so ranking metrics see the near misses while a call at the fixed 0.5
threshold means exactly "bitscore ≥ TC". Extra columns carry the evidence: ``best_profile``,
``hmm_bitscore``, ``hmm_trusted_cutoff``, ``hmm_noise_cutoff``, ``hmm_evalue`` and ``hmm_bits_over_tc``
(bitscore − TC: the match's strength relative to its profile's cut-off, Pfam's "score over GA") of the
passing profile, else of the best sub-cut-off hit; empty/NaN without hits.

Targeted scans (``predict(records, near=...)``, used by :mod:`~biotune.methods.fusion`): a record is
scored only by the profiles of the clusters of the training ARGs it is near (its alignment hits), so
a genome costs a few profile-sequence pairs per protein instead of the whole library; the cut-offs
are still calibrated against every negative.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biotune.data.records import Record
from biotune.homology.hmm import DEFAULT_FLOOR, DEFAULT_MARGIN, DEFAULT_MIN_BITSCORE, DEFAULT_Z, ProfileLibrary, ScoreMemo, build_library
from biotune.methods.base import STATUS_OK, Method, Predictions, register_method
from biotune.methods.negatives import sample_training_set
from biotune.tasks import TaskSpec

STATUS_NO_HIT = "no_hit"
LIBRARY_DIR = "library"
PROFILE_OF_FILE = "profile_of.json"
EXTRA_COLUMNS = ("best_profile", "hmm_bitscore", "hmm_trusted_cutoff", "hmm_noise_cutoff", "hmm_evalue", "hmm_bits_over_tc")


def label_summary(records: Sequence[Record], tasks: Sequence[TaskSpec]) -> dict[str, dict[str, float]]:
    """Per multi-class/multi-label task, the fraction of the records labelled for it that carry each class."""
    summary: dict[str, dict[str, float]] = {}
    for t in tasks:
        if t.kind not in ("multiclass", "multilabel"):
            continue
        counts: dict[str, int] = defaultdict(int)
        n = 0
        for r in records:
            value = r.label(t.name)
            if value is None or (isinstance(value, (list, tuple, set)) and not value) or value == "":
                continue
            n += 1
            for c in ([value] if t.kind == "multiclass" else value):
                counts[str(c)] += 1
        if n:
            summary[t.name] = {c: counts[c] / n for c in sorted(counts)}
    return summary


@register_method
class ProfileHMM(Method):
    """Best passing profile HMM (bitscore ≥ calibrated TC) → ARG with that profile's label fractions."""

    name = "hmm"

    def __init__(
        self,
        min_members: int = 1,
        max_members: int = 50,
        floor: float = DEFAULT_FLOOR,
        margin: float = DEFAULT_MARGIN,
        cross_build: bool = False,
        min_bitscore: float = DEFAULT_MIN_BITSCORE,
        max_hits: int = 5,
        cluster_identity: float = 0.4,
        cluster_coverage: float = 0.8,
        z: int = DEFAULT_Z,
        max_easy_negatives: int = 5000,
        hard_identity: float = 0.3,
        threads: int | None = None,
        seed: int = 0,
        **params: Any,
    ):
        if int(min_members) < 1 or int(max_members) < 2:
            raise ValueError(f"need min_members >= 1 and max_members >= 2, got {min_members}, {max_members}")
        super().__init__(
            min_members=int(min_members), max_members=int(max_members), floor=float(floor), margin=float(margin),
            cross_build=bool(cross_build), min_bitscore=float(min_bitscore), max_hits=int(max_hits),
            cluster_identity=float(cluster_identity), cluster_coverage=float(cluster_coverage), z=int(z),
            max_easy_negatives=int(max_easy_negatives), hard_identity=float(hard_identity),
            threads=threads, seed=int(seed), **params,
        )
        self.library: ProfileLibrary | None = None
        self.profile_of: dict[str, str] = {}  # training ARG id -> the profile of its cluster (targeted scans)
        self._info: dict[str, Any] = {}
        self._memo: ScoreMemo | None = None

    # -- fit ---------------------------------------------------------------------------------------

    def _clusters(self, positives: Sequence[Record]) -> dict[str, str]:
        """record id -> cluster: ``meta["cluster"]`` where present, MMseqs2 clusters for the rest."""
        assignment = {r.id: str(r.meta["cluster"]) for r in positives if r.meta.get("cluster") not in (None, "")}
        missing = {r.id: r.sequence for r in positives if r.id not in assignment}
        if missing:
            from biotune.homology.mmseqs import cluster

            reps = cluster(missing, min_seq_id=self.params["cluster_identity"], coverage=self.params["cluster_coverage"], threads=self.params["threads"])
            assignment.update({sid: f"mmseqs:{rep}" for sid, rep in reps.items()})
        return assignment

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> ProfileHMM:
        self.tasks = list(tasks)
        p = self.params
        has_is_arg = any(t.name == "is_arg" for t in self.tasks) or any(r.label("is_arg") is not None for r in train)
        if has_is_arg:
            positives = [r for r in train if r.label("is_arg") is not None and float(r.label("is_arg")) == 1.0]
            sample, _, _ = sample_training_set(train, hard_identity=p["hard_identity"], max_easy=p["max_easy_negatives"], seed=p["seed"])
            negatives = [r for r in sample if r.label("is_arg") is not None and float(r.label("is_arg")) == 0.0]
        else:
            positives, negatives = list(train), []
        if not positives:
            raise ValueError("the hmm method needs at least one training ARG (is_arg == 1) to build a profile")
        by_cluster: dict[str, list[Record]] = defaultdict(list)
        assignment = self._clusters(positives)
        for r in positives:
            by_cluster[assignment[r.id]].append(r)
        labels = {c: label_summary(rs, self.tasks) for c, rs in by_cluster.items()}
        groups = {c: {r.id: r.sequence for r in rs} for c, rs in by_cluster.items() if len(rs) >= p["min_members"]}
        extra = {c: {r.id: r.sequence for r in rs} for c, rs in by_cluster.items() if len(rs) < p["min_members"]}
        if not groups:
            raise ValueError(f"no training cluster has min_members={p['min_members']} members: no profile to build")
        self.library = build_library(
            groups, {r.id: r.sequence for r in negatives}, labels=labels, extra_groups=extra,
            max_members=p["max_members"], floor=p["floor"], margin=p["margin"], cross_build=p["cross_build"],
            threads=p["threads"], seed=p["seed"], z=p["z"], memo=self._memo,
        )
        self.profile_of = {r.id: c for c, rs in by_cluster.items() if c in self.library for r in rs}
        self._info = {"n_clusters": len(by_cluster), "n_skipped_clusters": len(extra), **self.library.summary()}
        return self

    def reuse_work(self, previous: Method) -> None:
        """The calibration search scores of ``previous``'s library (:class:`~biotune.homology.hmm.ScoreMemo`):
        a refit searches only the profile-sequence pairs that are new (exact, see the memo)."""
        if isinstance(previous, ProfileHMM) and previous.library is not None:
            self._memo = previous.library.memo

    def fit_info(self) -> dict[str, Any]:
        return dict(self._info)

    # -- predict -----------------------------------------------------------------------------------

    def predict(self, records: Sequence[Record], near: Sequence[Sequence[str]] | None = None) -> Predictions:
        """Best profiles of ``records``; with ``near`` (per record, ids of training ARGs it resembles, e.g. its
        alignment hits) each record is scored only by the profiles of those ARGs' clusters (a targeted scan)."""
        if self.library is None:
            raise RuntimeError("hmm is not fitted: call fit() or load() first")
        p = self.params
        hits = self.library.search(
            {r.id: r.sequence for r in records}, threads=p["threads"], min_bitscore=p["min_bitscore"], max_hits=p["max_hits"],
            candidates=self.candidates(records, near),
        )
        return self._predictions(records, hits)

    def candidates(self, records: Sequence[Record], near: Sequence[Sequence[str]] | None) -> dict[str, set[str]] | None:
        """Record id -> profiles of the clusters of its ``near`` training ARGs (None = every profile)."""
        if near is None:
            return None
        if len(near) != len(records):
            raise ValueError(f"near has {len(near)} entries for {len(records)} records")
        return {r.id: {self.profile_of[ref] for ref in refs if ref in self.profile_of} for r, refs in zip(records, near)}

    def fit_cross_predict(
        self, records: Sequence[Record], groups: Sequence[int], tasks: Sequence[TaskSpec], near: Sequence[Sequence[str]] | None = None,
    ) -> Predictions:
        """One library from all ``records`` and one search (targeted by ``near`` as in :meth:`predict`), made
        out-of-group by two corrections.

        A query's hits to profiles built from members of its own group are hidden (the profile would
        not exist without that group). And a cut-off set by a negative of the query's own group (that
        negative was the profile's NC) is recomputed without that group: TC = max(floor, highest
        bitscore of the other groups' negatives + margin) — otherwise held-out negatives could never
        pass, and a stacker would learn to trust a passing profile more than it should. Every hit is kept
        until the own-group ones are hidden: a member of a large family would otherwise see only the many
        profiles of its own group in its top hits, and none once those are hidden.
        """
        self.fit(records, None, tasks)
        p = self.params
        group = {r.id: g for r, g in zip(records, groups)}
        negatives = {r.id for r in records if r.label("is_arg") is not None and float(r.label("is_arg")) == 0.0}
        own = {prof.name: {group[m] for m in prof.members if m in group} for prof in self.library.profiles}
        hits = self.library.search(
            {r.id: r.sequence for r in records}, threads=p["threads"], min_bitscore=p["min_bitscore"],
            max_hits=len(self.library), candidates=self.candidates(records, near),
        )
        if len(hits):
            hits["trusted_cutoff"] = self._out_of_group_cutoffs(hits, group, negatives)
            hits["passes"] = hits["bitscore"] >= hits["trusted_cutoff"]
            keep = np.array([group[q] not in own[prof] for q, prof in zip(hits["query"], hits["profile"])], dtype=bool)
            hits = hits[keep].groupby("query", sort=False).head(p["max_hits"])
        return self._predictions(records, hits)

    def _out_of_group_cutoffs(self, hits: pd.DataFrame, group: dict[str, int], negatives: set[str]) -> np.ndarray:
        """TC of each hit as if the query's group had not been in the calibration (see :meth:`fit_cross_predict`)."""
        p = self.params
        neg_hits = hits[hits["query"].isin(negatives)]
        best: dict[tuple[str, int], float] = (
            neg_hits.assign(group=neg_hits["query"].map(group)).groupby(["profile", "group"])["bitscore"].max().to_dict()
        )
        by_profile: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for (prof, g), bits in best.items():
            by_profile[prof].append((g, bits))
        out = hits["trusted_cutoff"].to_numpy(dtype=float).copy()
        for i, (q, prof) in enumerate(zip(hits["query"], hits["profile"])):
            source = self.library[prof].calibration.get("noise_source")
            if source is None or source not in negatives or group.get(source) != group[q]:
                continue
            others = [bits for g, bits in by_profile.get(prof, ()) if g != group[q]]
            out[i] = max(p["floor"], (max(others) + p["margin"]) if others else -math.inf)
        return out

    def _predictions(self, records: Sequence[Record], hits: pd.DataFrame) -> Predictions:
        by_query = {q: g for q, g in hits.groupby("query", sort=False)} if len(hits) else {}
        n = len(records)
        scores = {t.name: np.zeros((n, t.n_outputs) if t.n_outputs > 1 else n) for t in self.tasks}
        status: list[str] = []
        extra: dict[str, list[Any]] = {c: [] for c in EXTRA_COLUMNS}
        for i, r in enumerate(records):
            g = by_query.get(r.id)
            passing = g[g["passes"]] if g is not None else None
            if passing is not None and len(passing):
                best, ok = passing.iloc[0], True
            elif g is not None:
                best, ok = g.iloc[0], False
            else:
                best, ok = None, False
            status.append(STATUS_OK if ok else STATUS_NO_HIT)
            if best is None:
                extra["best_profile"].append("")
                for c in EXTRA_COLUMNS[1:]:
                    extra[c].append(math.nan)
                continue
            bits, tc = float(best["bitscore"]), float(best["trusted_cutoff"])
            extra["best_profile"].append(str(best["profile"]))
            extra["hmm_bitscore"].append(bits)
            extra["hmm_trusted_cutoff"].append(tc)
            extra["hmm_noise_cutoff"].append(float(best["noise_cutoff"]))
            extra["hmm_evalue"].append(float(best["evalue"]))
            extra["hmm_bits_over_tc"].append(bits - tc)
            arg_score = 0.5 + 0.5 * (1.0 - tc / bits) if ok else 0.5 * min(1.0, max(0.0, bits) / tc)
            if not ok:
                arg_score = min(arg_score, np.nextafter(0.5, 0.0))
            for t in self.tasks:
                if t.kind == "binary":
                    scores[t.name][i] = arg_score
                elif ok and t.kind in ("multiclass", "multilabel"):
                    fractions = self.library[str(best["profile"])].labels.get(t.name, {})
                    for j, c in enumerate(t.classes):
                        scores[t.name][i, j] = float(fractions.get(c, 0.0))
        return Predictions(ids=[r.id for r in records], scores=scores, status=status, extra=pd.DataFrame(extra))

    # -- persistence -------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        if self.library is None:
            raise RuntimeError("hmm is not fitted: nothing to save")
        directory = self._write_manifest(directory, fit_info=self._info)
        self.library.save(directory / LIBRARY_DIR)
        (directory / PROFILE_OF_FILE).write_text(json.dumps(self.profile_of, sort_keys=True) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> ProfileHMM:
        method = cls._from_manifest(directory)
        method.library = ProfileLibrary.load(Path(directory) / LIBRARY_DIR)
        path = Path(directory) / PROFILE_OF_FILE
        method.profile_of = json.loads(path.read_text()) if path.exists() else {}
        return method
