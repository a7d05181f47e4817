"""Sequence augmentation for training: BLOSUM62 substitutions and random truncation.

``build_augmenter(cfg)`` returns ``augment(sequence, rng) -> sequence`` (``rng`` a
:class:`numpy.random.Generator`), applied to training sequences only. Config keys (all optional):

- ``substitution_p`` (0.0): per-residue probability of a substitution. The replacement ``b`` of a
  standard residue ``a`` is drawn with probability ∝ ``exp(BLOSUM62[a, b] / temperature)`` over the
  19 other standard amino acids, so conservative changes (I↔V, D↔E) dominate. Non-standard letters
  (X, B, Z, U, O) are never substituted and never introduced.
- ``substitution_temperature`` (1.0): softens (>1) or sharpens (<1) that preference.
- ``truncate_p`` (0.0): probability of truncating a sequence.
- ``truncate_fraction`` ([0.8, 1.0]): the kept fraction ``f`` is uniform in this range; a random
  contiguous window of ``max(1, round(f * len))`` residues is kept.

Order: truncation, then substitution. Length never grows; the output alphabet is the input's
letters plus the 20 standard amino acids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np

STANDARD_AA = "ACDEFGHIKLMNPQRSTVWY"

Augmenter = Callable[[str, np.random.Generator], str]


@lru_cache(maxsize=8)
def substitution_probabilities(temperature: float = 1.0) -> np.ndarray:
    """``(20, 20)`` row-stochastic matrix over :data:`STANDARD_AA`: P(a -> b) ∝ exp(BLOSUM62[a,b]/T), zero diagonal."""
    from Bio.Align import substitution_matrices

    if temperature <= 0:
        raise ValueError(f"substitution temperature must be > 0, got {temperature}")
    blosum = substitution_matrices.load("BLOSUM62")
    scores = np.array([[blosum[a][b] for b in STANDARD_AA] for a in STANDARD_AA], dtype=np.float64)
    p = np.exp(scores / temperature)
    np.fill_diagonal(p, 0.0)
    return p / p.sum(axis=1, keepdims=True)


def substitute(sequence: str, p: float, rng: np.random.Generator, temperature: float = 1.0) -> str:
    """Replace each standard residue with probability ``p`` by a BLOSUM62-weighted other residue."""
    if p <= 0 or not sequence:
        return sequence
    probs = substitution_probabilities(float(temperature))
    index = {a: i for i, a in enumerate(STANDARD_AA)}
    out = list(sequence)
    for pos in np.flatnonzero(rng.random(len(sequence)) < p):
        i = index.get(sequence[pos])
        if i is not None:
            out[pos] = STANDARD_AA[rng.choice(len(STANDARD_AA), p=probs[i])]
    return "".join(out)


def truncate(sequence: str, fraction: tuple[float, float], rng: np.random.Generator) -> str:
    """Keep a random contiguous window of ``max(1, round(f * len))`` residues, ``f ~ U(fraction)``."""
    lo, hi = fraction
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"truncate_fraction must satisfy 0 < low <= high <= 1, got {fraction}")
    if not sequence:
        return sequence
    keep = max(1, int(round(rng.uniform(lo, hi) * len(sequence))))
    start = int(rng.integers(0, len(sequence) - keep + 1))
    return sequence[start : start + keep]


def build_augmenter(cfg: Mapping[str, Any] | None) -> Augmenter:
    """The augmentation function described by ``cfg`` (identity when ``cfg`` is empty or None)."""
    cfg = dict(cfg or {})
    unknown = set(cfg) - {"substitution_p", "substitution_temperature", "truncate_p", "truncate_fraction"}
    if unknown:
        raise ValueError(f"unknown augmentation option(s): {sorted(unknown)}")
    sub_p = float(cfg.get("substitution_p", 0.0))
    temperature = float(cfg.get("substitution_temperature", 1.0))
    trunc_p = float(cfg.get("truncate_p", 0.0))
    lo, hi = (float(x) for x in cfg.get("truncate_fraction", (0.8, 1.0)))
    for name, value in (("substitution_p", sub_p), ("truncate_p", trunc_p)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"truncate_fraction must satisfy 0 < low <= high <= 1, got {(lo, hi)}")
    if sub_p > 0:
        substitution_probabilities(temperature)

    def augment(sequence: str, rng: np.random.Generator) -> str:
        if trunc_p > 0 and rng.random() < trunc_p:
            sequence = truncate(sequence, (lo, hi), rng)
        return substitute(sequence, sub_p, rng, temperature)

    return augment
