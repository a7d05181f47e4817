"""k-mer composition of protein sequences: a fixed, alignment-free per-protein feature vector.

Used where a head needs per-protein features that carry signal without a pretrained model (the
imbalance ablation offline, where ESM-2 weights are random). The vocabulary is every k-mer of the
20 standard amino acids for k in ``[k_min, k_max]`` (20 + 400 dims for k ≤ 2), so the features are a
pure function of the sequence — nothing is fitted, like a frozen encoder. k-mers holding another
letter are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from biotune.io.fasta import STANDARD_AMINO_ACIDS

ALPHABET = "".join(sorted(STANDARD_AMINO_ACIDS))


def kmer_vocabulary(k_min: int, k_max: int) -> list[str]:
    """Every k-mer of the standard alphabet, k = k_min … k_max, in a fixed order."""
    if not 1 <= k_min <= k_max:
        raise ValueError(f"need 1 <= k_min <= k_max, got k_min={k_min}, k_max={k_max}")
    return ["".join(p) for k in range(k_min, k_max + 1) for p in product(ALPHABET, repeat=k)]


def kmer_composition(sequences: Sequence[str], k_min: int = 1, k_max: int = 2) -> np.ndarray:
    """``(n, Σ 20^k)`` float32 k-mer frequencies: each k's counts over the sequence's number of k-mers
    (a block sums to 1 when every residue is standard, to 0 for a sequence shorter than k)."""
    kmer_vocabulary(k_min, k_max)  # validates the range
    blocks = []
    for k in range(k_min, k_max + 1):
        counter = CountVectorizer(analyzer="char", ngram_range=(k, k), lowercase=False, vocabulary=kmer_vocabulary(k, k), dtype=np.float32)
        counts = counter.transform([s.upper() for s in sequences]).toarray()
        totals = np.array([max(len(s) - k + 1, 1) for s in sequences], dtype=np.float32)[:, None]
        blocks.append(counts / totals)
    return np.hstack(blocks)
