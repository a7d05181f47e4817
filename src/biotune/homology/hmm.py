"""Profile-HMM evidence: build, calibrate, save and search a library of profile HMMs (pyhmmer + pyfamsa).

One profile per sequence group (e.g. a training ARG cluster): the group is aligned with FAMSA
(``pyfamsa``; groups larger than ``max_members`` are first subsampled deterministically) and turned
into a profile HMM with HMMER's builder (``pyhmmer.plan7.Builder.build_msa``); a one-member group
gets a single-sequence profile (``Builder.build``, BLOSUM62, as ``phmmer`` does). Sequences are
amino acids: letters are upper-cased, trailing stop codons (``*``) dropped and every other symbol
outside ``ACDEFGHIKLMNPQRSTVWYBZX`` (internal ``*``, digits, ``.``, and ``J``/``O``/``U``, which
FAMSA rejects) mapped to ``X``; an empty sequence is skipped (a query without residues has no hit;
a group member without residues is not used). Searches run ``pyhmmer.hmmsearch`` over a pre-digitised :class:`~pyhmmer.easel.DigitalSequenceBlock`
with every available thread and a fixed database size ``Z`` (:data:`DEFAULT_Z`, stored with the
library) so that E-values are comparable between runs and batches; bitscores never depend on ``Z``.

Calibration (:func:`calibrate`) — per profile, in the spirit of Pfam's TC/NC and of
AMRFinderPlus's curated cut-offs:

* **out-of-family** sequences: every negative, plus every member of another group whose labels are
  *incompatible* (:func:`labels_compatible`: for some task both groups label, their majority
  classes do not overlap — a TEM cluster is not out-of-family for another beta-lactamase cluster
  with the same mechanism, a PBP cluster is). **NC** = the highest bitscore of any out-of-family
  sequence (``-inf`` when none is reported at ≥ 0 bits).
* **in-family** scores, corrected for the optimism of scoring the sequences a profile was built from:
  members left out by subsampling (groups > ``max_members``; at most ``max_held_out`` of them) are
  scored by the profile itself (honest held-out scores); the members it was built from are scored
  by two *cross-built* profiles (2-fold: each half built from its rows of the group alignment,
  scored on the other half — slightly pessimistic, as each is built from half the data; ``cross_build=False`` skips it, as in-family
  scores are diagnostics that the TC rule does not use); a one-member group only has its in-sample score.
* **TC** = ``max(floor, NC + margin)`` (defaults 25 and 5 bits): the lowest cut-off that lets no
  training out-of-family sequence pass with a margin for unseen ones, so remote family members stay
  callable, and never below a floor at which single-sequence or tiny profiles would call noise.
  The rule favours precision: when NC + margin exceeds in-family scores, recall is given up, not
  specificity. Each profile records its in-family recall and out-of-family false passes at TC
  (0 on the calibration set by construction), the lowest in-family score, the sequence that set NC
  and how its in-family scores were obtained. TC and NC are also written into the HMM's own
  ``TC``/``NC`` lines, so the saved file works with ``hmmsearch --cut_tc``.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from biotune.errors import InputError, one_line
from biotune.homology._tools import default_threads

if TYPE_CHECKING:
    from pyhmmer.easel import DigitalSequenceBlock
    from pyhmmer.plan7 import HMM

#: Effective database size used for every E-value (search and calibration), so E-values are comparable.
DEFAULT_Z = 100_000
DEFAULT_FLOOR = 25.0
DEFAULT_MARGIN = 5.0
DEFAULT_MIN_BITSCORE = 10.0
HMM_FILE = "profiles.hmm"
PROFILES_FILE = "profiles.json"
FORMAT_VERSION = 1
SEARCH_COLUMNS = ["query", "profile", "bitscore", "evalue", "trusted_cutoff", "noise_cutoff", "passes"]
_RESIDUES = frozenset("ACDEFGHIKLMNPQRSTVWYBZX")  # what both FAMSA and HMMER accept (FAMSA rejects J, O, U)


# --------------------------------------------------------------------------------------------------
# data


@dataclass
class Profile:
    """One calibrated profile HMM and what it was built from."""

    name: str
    hmm: HMM
    members: tuple[str, ...]
    trusted_cutoff: float
    noise_cutoff: float
    labels: dict[str, Any] = field(default_factory=dict)
    #: size of the group before subsampling (``len(members) < n_group`` means the profile was built on a subsample)
    n_group: int = 0
    #: calibration record: recall / false passes at TC, lowest in-family score, NC source, in-family score sources
    calibration: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.n_group:
            self.n_group = len(self.members)

    @property
    def subsampled(self) -> bool:
        return len(self.members) < self.n_group

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "members": list(self.members), "n_group": self.n_group,
            "trusted_cutoff": self.trusted_cutoff, "noise_cutoff": _json_float(self.noise_cutoff),
            "labels": self.labels, "calibration": self.calibration, "length": int(self.hmm.M),
        }


@dataclass
class Calibration:
    """Cut-offs of one profile and the evidence behind them (see the module docstring for the rule)."""

    trusted_cutoff: float
    noise_cutoff: float
    in_family_min: float
    recall_at_tc: float
    false_passes_at_tc: int
    n_in_family: int
    n_out_of_family: int
    noise_source: str | None
    in_family_sources: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_family_min": _json_float(self.in_family_min), "recall_at_tc": self.recall_at_tc,
            "false_passes_at_tc": self.false_passes_at_tc, "n_in_family": self.n_in_family,
            "n_out_of_family": self.n_out_of_family, "noise_source": self.noise_source,
            "in_family_sources": self.in_family_sources,
        }


# --------------------------------------------------------------------------------------------------
# sequences


def _alphabet():
    from pyhmmer.easel import Alphabet

    return Alphabet.amino()


def clean_sequence(sequence: str) -> str:
    """Upper-case, drop trailing ``*`` and whitespace, map any non-amino-acid symbol to ``X`` ('' if nothing is left)."""
    seq = "".join(sequence.split()).upper().rstrip("*")
    return "".join(c if c in _RESIDUES else "X" for c in seq)


def digitize(sequences: Mapping[str, str]) -> DigitalSequenceBlock:
    """A digital amino-acid block of the non-empty (cleaned) sequences, named by their ids."""
    from pyhmmer.easel import DigitalSequenceBlock, TextSequence

    alphabet = _alphabet()
    block = DigitalSequenceBlock(alphabet)
    for sid, seq in sequences.items():
        seq = clean_sequence(seq)
        if seq:
            block.append(TextSequence(name=str(sid), sequence=seq).digitize(alphabet))
    return block


# --------------------------------------------------------------------------------------------------
# building


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def select_members(ids: Iterable[str], max_members: int, *, seed: int = 0, name: str = "") -> list[str]:
    """The members a profile is built from: all of them (sorted) up to ``max_members``, else a
    deterministic random subsample (depends only on ``seed``, ``name`` and the id set)."""
    ids = sorted(ids)
    if len(ids) <= max_members:
        return ids
    pick = _rng(seed, name).choice(len(ids), size=max_members, replace=False)
    return [ids[i] for i in sorted(pick)]


class _Builder:
    """pyfamsa alignment + pyhmmer builder, reused across profiles (one Builder, deterministic seed)."""

    def __init__(self, threads: int | None, seed: int):
        import pyfamsa
        from pyhmmer.plan7 import Background, Builder

        self.alphabet = _alphabet()
        self.builder = Builder(self.alphabet, seed=int(seed) or 42)
        self.background = Background(self.alphabet)
        self.aligner = pyfamsa.Aligner(threads=int(threads or default_threads()))

    def align(self, members: Mapping[str, str]) -> list[tuple[str, str]]:
        import pyfamsa

        if len(members) < 2:
            return list(members.items())
        msa = self.aligner.align([pyfamsa.Sequence(k.encode(), v.encode()) for k, v in members.items()])
        return [(row.id.decode(), row.sequence.decode()) for row in msa]

    def from_rows(self, name: str, rows: list[tuple[str, str]]) -> HMM:
        """A profile from aligned rows (one row: a single-sequence profile)."""
        from pyhmmer.easel import TextMSA, TextSequence

        if len(rows) == 1:
            seq = TextSequence(name=rows[0][0], sequence=rows[0][1].replace("-", "")).digitize(self.alphabet)
            hmm, _, _ = self.builder.build(seq, self.background)
        else:
            msa = TextMSA(name=name, sequences=[TextSequence(name=k, sequence=s) for k, s in rows]).digitize(self.alphabet)
            hmm, _, _ = self.builder.build_msa(msa, self.background)
        hmm.name = name
        return hmm


def _clean_group(name: str, group: Mapping[str, str]) -> dict[str, str]:
    cleaned = {str(k): clean_sequence(v) for k, v in group.items()}
    return {k: v for k, v in cleaned.items() if v}


def build_profiles(
    groups: Mapping[str, Mapping[str, str]], *, max_members: int = 50, threads: int | None = None, seed: int = 0,
) -> dict[str, HMM]:
    """One profile HMM per group (``name -> {member id: sequence}``), named after the group.

    Groups of ≥ 2 members are aligned with FAMSA (larger than ``max_members``: a deterministic
    subsample, see :func:`select_members`); a one-member group gives a single-sequence profile.
    Groups without any residue are skipped.
    """
    cleaned = {name: _clean_group(name, g) for name, g in groups.items()}
    built = _build_all(_Builder(threads, seed), cleaned, max_members=max_members, seed=seed)
    return {name: b[0] for name, b in built.items()}


def _build_all(builder: _Builder, cleaned: Mapping[str, Mapping[str, str]], *, max_members: int, seed: int) -> dict[str, tuple[HMM, list[str], list[tuple[str, str]]]]:
    """name -> (hmm, ids built from, aligned rows) for every non-empty (cleaned) group."""
    out = {}
    for name, members in cleaned.items():
        if not members:
            continue
        used = select_members(members, max_members, seed=seed, name=name)
        rows = builder.align({k: members[k] for k in used})
        out[name] = (_as_saved(builder.from_rows(name, rows)), used, rows)
    return out


def _as_saved(hmm: HMM) -> HMM:
    """``hmm`` as it reads back from its HMMER text form (5-decimal parameters), so that a library
    scores the same before and after :meth:`ProfileLibrary.save` / :meth:`ProfileLibrary.load`."""
    import io

    from pyhmmer.plan7 import HMMFile

    buffer = io.BytesIO()
    hmm.write(buffer)
    buffer.seek(0)
    with HMMFile(buffer) as fh:
        return fh.read()


# --------------------------------------------------------------------------------------------------
# searching


def _search_scores(hmms: list[HMM], block, *, threads: int | None, z: int, min_bitscore: float) -> list[tuple[str, str, float, float]]:
    """(query id, profile name, bitscore, evalue) of every reported hit."""
    import pyhmmer

    if not hmms or len(block) == 0:
        return []
    out = []
    for tophits in pyhmmer.hmmsearch(hmms, block, cpus=int(threads or default_threads()), Z=int(z), domZ=int(z), T=float(min_bitscore)):
        profile = tophits.query.name
        for hit in tophits:
            if hit.reported:
                out.append((hit.name, profile, float(hit.score), float(hit.evalue)))
    return out


_KEY_SKIP = (b"DATE ", b"COM ", b"TC ", b"NC ", b"GA ")


def profile_key(hmm: HMM) -> str:
    """What a profile scores with: a digest of its HMMER text without the DATE, COM and cut-off lines."""
    import hashlib
    import io

    buffer = io.BytesIO()
    hmm.write(buffer)
    lines = (line for line in buffer.getvalue().splitlines() if not line.startswith(_KEY_SKIP))
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


class ScoreMemo:
    """Bitscores and E-values of (profile, sequence) pairs already searched, so that a library fitted again on
    overlapping data (a refit on train + valid) searches only the pairs it has not seen.

    Reuse is exact: a pair's bitscore and E-value depend only on the profile (:func:`profile_key`), the
    (cleaned) sequence and ``Z`` — never on the rest of the database. Searches are recorded at
    ``min_bitscore`` (0 bits, calibration's threshold) together with the set of sequences each profile was
    searched against, so a recorded pair without a hit has none at any threshold at or above it.
    """

    def __init__(self, z: int, min_bitscore: float = 0.0):
        self.z, self.min_bitscore = int(z), float(min_bitscore)
        self._pools: list[frozenset[str]] = []
        self._pools_of: dict[str, list[int]] = {}
        self._hits: dict[str, dict[str, tuple[float, float]]] = {}

    @classmethod
    def reuse(cls, memo: ScoreMemo | None, z: int) -> ScoreMemo:
        """``memo`` when calibration at ``z`` may use and extend it, else a new one."""
        return memo if memo is not None and memo.usable(z, 0.0) else cls(z)

    def usable(self, z: int, min_bitscore: float) -> bool:
        """Whether a search with these settings may take its pairs from this memo."""
        return int(z) == self.z and float(min_bitscore) >= self.min_bitscore

    def unsearched(self, key: str, sequences: Collection[str]) -> set[str]:
        """The (cleaned) ``sequences`` the profile ``key`` has not been searched against."""
        rest = set(sequences)
        for i in self._pools_of.get(key, ()):
            rest -= self._pools[i]
        return rest

    def searched(self, key: str, sequence: str) -> bool:
        return any(sequence in self._pools[i] for i in self._pools_of.get(key, ()))

    def hit(self, key: str, sequence: str) -> tuple[float, float] | None:
        """(bitscore, E-value) of a searched pair, None when it had no hit."""
        return self._hits.get(key, {}).get(sequence)

    def hits_of(self, key: str) -> Mapping[str, tuple[float, float]]:
        return self._hits.get(key, {})

    def record(self, keys: Iterable[str], sequences: Collection[str], hits: Iterable[tuple[str, str, float, float]]) -> None:
        """Profiles ``keys`` were searched against ``sequences``; ``hits`` are (key, sequence, bitscore, E-value)."""
        self._pools.append(frozenset(sequences))
        for key in keys:
            self._pools_of.setdefault(key, []).append(len(self._pools) - 1)
        for key, seq, bits, evalue in hits:
            self._hits.setdefault(key, {})[seq] = (bits, evalue)


def memo_search(
    profiles: Mapping[str, HMM], sequences: Mapping[str, str], memo: ScoreMemo, *, threads: int | None, keys: Mapping[str, str] | None = None,
) -> list[tuple[str, str, float, float]]:
    """(sequence id, profile name, bitscore, E-value) of every hit at the memo's threshold, as one
    :func:`_search_scores` of all ``profiles`` over ``sequences`` would report them; only the pairs the memo
    has not seen are searched (grouped by the sequences each profile lacks), and recorded."""
    keys = keys or {name: profile_key(hmm) for name, hmm in profiles.items()}
    cleaned = {sid: clean_sequence(seq) for sid, seq in sequences.items()}
    ids_of: dict[str, list[str]] = {}
    for sid, seq in cleaned.items():
        if seq:
            ids_of.setdefault(seq, []).append(sid)
    lacking: dict[frozenset[str], list[str]] = {}
    for name in profiles:
        rest = frozenset(memo.unsearched(keys[name], ids_of))
        if rest:
            lacking.setdefault(rest, []).append(name)
    for rest, names in lacking.items():
        block = digitize({ids_of[seq][0]: seq for seq in rest})
        found = _search_scores([profiles[n] for n in names], block, threads=threads, z=memo.z, min_bitscore=memo.min_bitscore)
        key_of = {n: keys[n] for n in names}
        memo.record(key_of.values(), rest, ((key_of[name], cleaned[sid], bits, evalue) for sid, name, bits, evalue in found))
    out = []
    for name in profiles:
        for seq, (bits, evalue) in memo.hits_of(keys[name]).items():
            out += [(sid, name, bits, evalue) for sid in ids_of.get(seq, ())]
    return out


def _pairwise_scores(hmm: HMM, block, *, z: int) -> dict[str, float]:
    """Scores of one profile against a small block, single-threaded (cross-build scoring)."""
    from pyhmmer.plan7 import Pipeline

    if len(block) == 0:
        return {}
    pipeline = Pipeline(hmm.alphabet, Z=int(z), domZ=int(z), T=0.0)
    return {hit.name: float(hit.score) for hit in pipeline.search_hmm(hmm, block) if hit.reported}


# --------------------------------------------------------------------------------------------------
# calibration


def majority_classes(summary: Mapping[str, float]) -> frozenset[str]:
    """Classes carried by at least half the members (the most frequent one when none is)."""
    if not summary:
        return frozenset()
    top = frozenset(c for c, f in summary.items() if f >= 0.5)
    return top or frozenset([max(summary, key=lambda c: (summary[c], c))])


def labels_compatible(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two label summaries (``{task: {class: fraction}}``) describe the same kind of family:
    for every task both describe, their majority classes overlap. Missing summaries are compatible."""
    if not a or not b:
        return True
    for task in set(a) & set(b):
        ma, mb = majority_classes(a[task] or {}), majority_classes(b[task] or {})
        if ma and mb and not (ma & mb):
            return False
    return True


def calibrate(
    profiles: Mapping[str, HMM],
    members_by_profile: Mapping[str, Mapping[str, str]],
    negatives: Mapping[str, str],
    *,
    labels: Mapping[str, Mapping[str, Any]] | None = None,
    built_from: Mapping[str, Collection[str]] | None = None,
    in_family_scores: Mapping[str, Mapping[str, float]] | None = None,
    floor: float = DEFAULT_FLOOR,
    margin: float = DEFAULT_MARGIN,
    max_per_group: int | None = None,
    max_held_out: int = 100,
    threads: int | None = None,
    seed: int = 0,
    z: int = DEFAULT_Z,
    memo: ScoreMemo | None = None,
) -> dict[str, Calibration]:
    """Trusted and noise cut-offs for every profile (rule: module docstring).

    ``members_by_profile`` maps a group name to its members (every member, also those left out by
    subsampling); groups without a profile are allowed and only serve as out-of-family sequences
    for profiles with incompatible ``labels``. ``built_from[name]`` are the ids the profile was
    built from (default: all its members, i.e. in-sample scores); ``in_family_scores[name]``
    optionally gives held-out scores of those ids (e.g. from cross-built profiles), which replace
    their in-sample scores.

    Cost: all profiles are searched once against the negatives plus, per group, at most
    ``max_per_group`` members (:func:`select_members` with ``seed`` — for a profiled group, the
    members it was built from when ``max_per_group`` equals the build's ``max_members``; None = all).
    Members of a profile's own group outside that sample are its held-out members: up to
    ``max_held_out`` of them are scored by the profile alone. With a ``memo`` (:class:`ScoreMemo` at ``z``),
    pairs it holds are not searched again and new ones are added to it.
    """
    memo = ScoreMemo.reuse(memo, z)
    labels = labels or {}
    built_from = built_from or {}
    in_family_scores = in_family_scores or {}
    owner: dict[str, str] = {}
    pool: dict[str, str] = {}
    sampled: dict[str, list[str]] = {}
    for group, members in members_by_profile.items():
        members = {k: v for k, v in members.items() if clean_sequence(v)}
        for sid in members:
            if sid in owner:
                raise ValueError(f"sequence {sid!r} is in groups {owner[sid]!r} and {group!r}")
            owner[sid] = group
        sampled[group] = sorted(members) if max_per_group is None else select_members(members, max_per_group, seed=seed, name=group)
        pool.update((sid, members[sid]) for sid in sampled[group])
    neg_ids = [sid for sid in negatives if clean_sequence(negatives[sid])]
    for sid in neg_ids:
        if sid in owner:
            raise ValueError(f"sequence {sid!r} is both a negative and a member of group {owner[sid]!r}")
        pool[sid] = negatives[sid]
    names = list(profiles)
    keys = {n: profile_key(profiles[n]) for n in names}
    scores: dict[str, dict[str, float]] = {n: {} for n in names}
    for sid, profile, bits, _ in memo_search(profiles, pool, memo, threads=threads, keys=keys):
        scores[profile][sid] = bits
    out = {}
    for name in names:
        got = scores[name]
        # out of family: negatives + (sampled) members of groups with incompatible labels
        foreign = list(neg_ids)
        for group, ids in sampled.items():
            if group != name and not labels_compatible(labels.get(name), labels.get(group)):
                foreign.extend(ids)
        nc, nc_source = -math.inf, None
        for sid in foreign:
            s = got.get(sid, -math.inf)
            if s > nc:
                nc, nc_source = s, sid
        tc = max(float(floor), nc + float(margin))
        # in family: held-out where possible, else in-sample
        group = {k: v for k, v in members_by_profile.get(name, {}).items() if clean_sequence(v)}
        used = set(built_from.get(name, group))
        rest = [sid for sid in sorted(group) if sid not in used]
        if rest:
            rest = select_members(rest, max_held_out, seed=seed, name=name)
            missing = {sid: group[sid] for sid in rest if sid not in pool}
            if missing:
                found = memo_search({name: profiles[name]}, missing, memo, threads=1, keys={name: keys[name]})
                got = {**got, **{sid: bits for sid, _, bits, _ in found}}
        held = in_family_scores.get(name, {})
        fam, sources = [], {"held_out": 0, "cross_build": 0, "in_sample": 0}
        for sid in rest:
            fam.append(got.get(sid, -math.inf))
            sources["held_out"] += 1
        for sid in sorted(used & set(group)):
            if name in in_family_scores:
                fam.append(held.get(sid, -math.inf))
                sources["cross_build"] += 1
            else:
                fam.append(got.get(sid, -math.inf))
                sources["in_sample"] += 1
        fam_arr = np.asarray(fam, dtype=float)
        out[name] = Calibration(
            trusted_cutoff=float(tc), noise_cutoff=float(nc),
            in_family_min=float(fam_arr.min()) if len(fam_arr) else math.nan,
            recall_at_tc=float((fam_arr >= tc).mean()) if len(fam_arr) else math.nan,
            false_passes_at_tc=int(sum(got.get(sid, -math.inf) >= tc for sid in foreign)),
            n_in_family=len(fam_arr), n_out_of_family=len(foreign), noise_source=nc_source,
            in_family_sources={k: v for k, v in sources.items() if v},
        )
    return out


def _cross_build_scores(builder: _Builder, name: str, rows: list[tuple[str, str]], sequences: Mapping[str, str], *, seed: int, z: int) -> dict[str, float]:
    """2-fold held-out scores of a group's members: a profile from each half's alignment rows scores the other half."""
    ids = [k for k, _ in rows]
    order = _rng(seed + 1, name).permutation(len(ids))
    halves = [[rows[i] for i in order[0::2]], [rows[i] for i in order[1::2]]]
    out: dict[str, float] = {}
    for train_rows, test_rows in ((halves[0], halves[1]), (halves[1], halves[0])):
        hmm = builder.from_rows(f"{name}/half", train_rows)
        out.update(_pairwise_scores(hmm, digitize({k: sequences[k] for k, _ in test_rows}), z=z))
    return out


def build_library(
    groups: Mapping[str, Mapping[str, str]],
    negatives: Mapping[str, str],
    *,
    labels: Mapping[str, Mapping[str, Any]] | None = None,
    extra_groups: Mapping[str, Mapping[str, str]] | None = None,
    max_members: int = 50,
    floor: float = DEFAULT_FLOOR,
    margin: float = DEFAULT_MARGIN,
    cross_build: bool = True,
    max_held_out: int = 100,
    threads: int | None = None,
    seed: int = 0,
    z: int = DEFAULT_Z,
    memo: ScoreMemo | None = None,
) -> ProfileLibrary:
    """Build one profile per group and calibrate it (module docstring): the whole pipeline.

    ``labels`` maps group names (of ``groups`` and ``extra_groups``) to label summaries;
    ``extra_groups`` are groups that get no profile (e.g. too small) but whose members count as
    out-of-family for profiles with incompatible labels. ``cross_build=False`` skips the 2-fold
    held-out scoring (in-family recall is then measured in-sample, except for subsampled members).
    Calibration scores at most ``max_members`` members of each group as out-of-family sequences
    (the same deterministic sample a profile is built from) and at most ``max_held_out`` held-out
    members of a subsampled group (see :func:`calibrate`). ``memo`` (e.g. the ``memo`` of a library fitted
    before on overlapping data) spares the calibration the pairs it already holds; the library keeps it.
    """
    labels = dict(labels or {})
    overlap = set(groups) & set(extra_groups or {})
    if overlap:
        raise ValueError(f"groups and extra_groups share names, e.g. {sorted(overlap)[:3]}")
    start = time.perf_counter()
    builder = _Builder(threads, seed)
    cleaned = {name: _clean_group(name, g) for name, g in groups.items()}
    built = _build_all(builder, cleaned, max_members=max_members, seed=seed)
    build_seconds = time.perf_counter() - start
    held: dict[str, dict[str, float]] = {}
    if cross_build:
        for name, (_, used, rows) in built.items():
            if len(used) >= 2:
                held[name] = _cross_build_scores(builder, name, rows, cleaned[name], seed=seed, z=z)
    cross_seconds = time.perf_counter() - start - build_seconds
    members_by_profile = {**{n: dict(g) for n, g in cleaned.items()}, **{n: _clean_group(n, g) for n, g in (extra_groups or {}).items()}}
    memo = ScoreMemo.reuse(memo, z)
    cal = calibrate(
        {n: b[0] for n, b in built.items()}, members_by_profile, negatives, labels=labels,
        built_from={n: b[1] for n, b in built.items()}, in_family_scores=held, floor=floor, margin=margin,
        max_per_group=max_members, max_held_out=max_held_out, threads=threads, seed=seed, z=z, memo=memo,
    )
    profiles = []
    for name, (hmm, used, _) in built.items():
        c = cal[name]
        _set_hmm_cutoffs(hmm, c.trusted_cutoff, c.noise_cutoff)
        profiles.append(Profile(
            name=name, hmm=hmm, members=tuple(used), trusted_cutoff=c.trusted_cutoff, noise_cutoff=c.noise_cutoff,
            labels=dict(labels.get(name, {})), n_group=len(cleaned[name]), calibration=c.to_dict(),
        ))
    total = time.perf_counter() - start
    info = {
        "build_seconds": round(build_seconds, 3), "cross_build_seconds": round(cross_seconds, 3),
        "calibration_seconds": round(total - build_seconds - cross_seconds, 3), "total_seconds": round(total, 3),
        "n_negatives": len(negatives), "n_extra_groups": len(extra_groups or {}),
        "rule": {"floor": float(floor), "margin": float(margin), "max_members": int(max_members), "cross_build": bool(cross_build), "max_held_out": int(max_held_out), "seed": int(seed)},
    }
    return ProfileLibrary(profiles, z=z, info=info, memo=memo)


def _set_hmm_cutoffs(hmm: HMM, tc: float, nc: float) -> None:
    hmm.cutoffs.trusted = (float(tc), float(tc))
    if math.isfinite(nc):
        hmm.cutoffs.noise = (float(nc), float(nc))


# --------------------------------------------------------------------------------------------------
# the library


class ProfileLibrary:
    """Calibrated profiles searched together; saved as one HMMER text file + ``profiles.json``.

    ``memo`` holds the pair scores of the calibration (in memory only, not saved): targeted scans take the
    pairs it holds from it instead of searching them again.
    """

    def __init__(self, profiles: Iterable[Profile], *, z: int = DEFAULT_Z, info: Mapping[str, Any] | None = None, memo: ScoreMemo | None = None):
        self.profiles: list[Profile] = list(profiles)
        names = [p.name for p in self.profiles]
        if len(set(names)) != len(names):
            raise ValueError("profile names must be unique")
        self.z = int(z)
        self.info: dict[str, Any] = dict(info or {})
        self._by_name = {p.name: p for p in self.profiles}
        self.memo = memo
        self._keys: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.profiles)

    def __getitem__(self, name: str) -> Profile:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def summary(self) -> dict[str, Any]:
        """Counts and cut-off statistics of the library (for a run's record)."""
        tc = np.array([p.trusted_cutoff for p in self.profiles], dtype=float)
        recall = np.array([p.calibration.get("recall_at_tc", math.nan) for p in self.profiles], dtype=float)
        sizes = np.array([p.n_group for p in self.profiles])
        return {
            "n_profiles": len(self.profiles),
            "n_single_sequence": int((sizes == 1).sum()) if len(sizes) else 0,
            "n_subsampled": sum(p.subsampled for p in self.profiles),
            "tc_median": float(np.median(tc)) if len(tc) else math.nan,
            "n_at_floor": int(sum(p.trusted_cutoff <= self.info.get("rule", {}).get("floor", DEFAULT_FLOOR) for p in self.profiles)),
            "mean_in_family_recall_at_tc": float(np.nanmean(recall[sizes > 1])) if (sizes > 1).any() else math.nan,
            "n_dead": int(sum(p.calibration.get("recall_at_tc") == 0.0 for p in self.profiles if p.n_group > 1)),
            **{k: v for k, v in self.info.items() if k.endswith("seconds")},
        }

    def search(
        self,
        sequences: Mapping[str, str],
        *,
        threads: int | None = None,
        min_bitscore: float = DEFAULT_MIN_BITSCORE,
        max_hits: int = 5,
        candidates: Mapping[str, Collection[str]] | None = None,
    ) -> pd.DataFrame:
        """Hits of every profile on ``sequences`` (``{id: sequence}``), bitscore ≥ ``min_bitscore``.

        ``candidates`` (query id → profile names) restricts each query to those profiles (a query
        without an entry is not searched): a targeted scan, e.g. of the families whose members an
        alignment search already hit, costs a few profile-sequence pairs per query instead of the
        whole library; scores are those of the full search.

        Columns: :data:`SEARCH_COLUMNS` (``passes`` = bitscore ≥ TC); at most ``max_hits`` profiles
        per query, sorted by query then bitscore descending (ties by profile name); queries without
        hits (or without residues) are absent.
        """
        if candidates is None:
            rows = _search_scores([p.hmm for p in self.profiles], digitize(sequences), threads=threads, z=self.z, min_bitscore=min_bitscore)
        else:
            rows = self._targeted_scores(sequences, candidates, threads=threads, min_bitscore=min_bitscore)
        if not rows:
            return _empty_hits()
        hits = pd.DataFrame(rows, columns=["query", "profile", "bitscore", "evalue"])
        hits["trusted_cutoff"] = hits["profile"].map({p.name: p.trusted_cutoff for p in self.profiles}).astype(float)
        hits["noise_cutoff"] = hits["profile"].map({p.name: p.noise_cutoff for p in self.profiles}).astype(float)
        hits["passes"] = hits["bitscore"] >= hits["trusted_cutoff"]
        hits = hits.sort_values(["query", "bitscore", "profile"], ascending=[True, False, True], kind="mergesort")
        return hits.groupby("query", sort=False).head(int(max_hits)).reset_index(drop=True)[SEARCH_COLUMNS]

    def _targeted_scores(
        self, sequences: Mapping[str, str], candidates: Mapping[str, Collection[str]], *, threads: int | None, min_bitscore: float,
    ) -> list[tuple[str, str, float, float]]:
        """(query, profile, bitscore, evalue) of each candidate pair: pairs the :attr:`memo` holds from it, the
        others by one search per profile of its queries."""
        from concurrent.futures import ThreadPoolExecutor

        from pyhmmer.easel import DigitalSequenceBlock
        from pyhmmer.plan7 import Pipeline

        digital = {seq.name: seq for seq in digitize({q: sequences[q] for q in candidates if q in sequences})}
        memo = self.memo if self.memo is not None and self.memo.usable(self.z, min_bitscore) else None
        remembered: list[tuple[str, str, float, float]] = []
        queries_of: dict[str, list[str]] = {}
        for query, names in candidates.items():
            if query not in digital:
                continue
            cleaned = clean_sequence(sequences[query]) if memo is not None else ""
            for name in names:
                if name not in self._by_name:
                    continue
                if memo is not None and memo.searched(self._key(name), cleaned):
                    found = memo.hit(self._key(name), cleaned)
                    if found is not None and found[0] >= min_bitscore:
                        remembered.append((query, name, *found))
                else:
                    queries_of.setdefault(name, []).append(query)
        alphabet = _alphabet()

        def scan(names: list[str]) -> list[tuple[str, str, float, float]]:
            out = []
            for name in names:
                block = DigitalSequenceBlock(alphabet, [digital[q] for q in queries_of[name]])
                pipeline = Pipeline(alphabet, Z=self.z, domZ=self.z, T=float(min_bitscore))
                out += [(hit.name, name, float(hit.score), float(hit.evalue)) for hit in pipeline.search_hmm(self._by_name[name].hmm, block) if hit.reported]
            return out

        names = sorted(queries_of)
        n = max(1, min(int(threads or default_threads()), len(names)))
        with ThreadPoolExecutor(n) as pool:
            return remembered + [row for part in pool.map(scan, [names[i::n] for i in range(n)]) for row in part]

    def _key(self, name: str) -> str:
        if name not in self._keys:
            self._keys[name] = profile_key(self._by_name[name].hmm)
        return self._keys[name]

    def save(self, directory: str | Path) -> Path:
        """Write ``profiles.hmm`` (HMMER3 text, TC/NC lines set) and ``profiles.json``; returns ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / HMM_FILE, "wb") as fh:
            for p in self.profiles:
                p.hmm.write(fh)
        meta = {"format": FORMAT_VERSION, "z": self.z, "info": self.info, "profiles": [p.to_dict() for p in self.profiles]}
        (directory / PROFILES_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> ProfileLibrary:
        """Inverse of :meth:`save`; a missing, truncated or mismatched file is a one-line :class:`InputError`."""
        directory = Path(directory)
        meta_path, hmm_path = directory / PROFILES_FILE, directory / HMM_FILE
        for path in (meta_path, hmm_path):
            if not path.is_file():
                raise InputError("missing profile library file (write it with ProfileLibrary.save)", path=path)
        try:
            meta = json.loads(meta_path.read_text())
            entries = meta["profiles"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not a profile library index ({one_line(exc)})", path=meta_path) from None
        hmms = _read_hmms(hmm_path)
        names = [e["name"] for e in entries]
        if [h.name for h in hmms] != names:
            raise InputError(f"truncated or mismatched: {len(hmms)} profiles read, {len(names)} listed in {PROFILES_FILE}", path=hmm_path)
        profiles = [
            Profile(
                name=e["name"], hmm=h, members=tuple(e["members"]), trusted_cutoff=float(e["trusted_cutoff"]),
                noise_cutoff=_from_json_float(e["noise_cutoff"]), labels=e.get("labels", {}),
                n_group=int(e.get("n_group", len(e["members"]))), calibration=e.get("calibration", {}),
            )
            for e, h in zip(entries, hmms)
        ]
        return cls(profiles, z=int(meta.get("z", DEFAULT_Z)), info=meta.get("info", {}))


def _read_hmms(path: Path) -> list[HMM]:
    from pyhmmer.plan7 import HMMFile

    try:
        with HMMFile(path) as fh:
            return list(fh)
    except Exception as exc:  # pyhmmer raises ValueError/EOFError/… on a damaged file
        raise InputError(f"cannot read profile HMMs, file truncated or damaged ({one_line(exc)})", path=path) from None


def _empty_hits() -> pd.DataFrame:
    return pd.DataFrame({
        "query": pd.Series(dtype=str), "profile": pd.Series(dtype=str), "bitscore": pd.Series(dtype=float),
        "evalue": pd.Series(dtype=float), "trusted_cutoff": pd.Series(dtype=float), "noise_cutoff": pd.Series(dtype=float),
        "passes": pd.Series(dtype=bool),
    })


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else ("-inf" if x < 0 else ("inf" if x > 0 else "nan"))


def _from_json_float(x: float | str) -> float:
    return float(x)
