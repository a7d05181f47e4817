"""One-hot ridge: the site-wise additive baseline of mutational-scan benchmarks (ProteinGym's one-hot model).

A sequence becomes the one-hot encoding of its residue at every position (all sequences must have the
same length, as single-substitution variants of one protein do); the per-task models are those of
:class:`~biotune.methods.kmer_lr.KmerLogReg` (ridge with ``alpha = 1 / C`` for regression, logistic
regression for binary and multi-class tasks), so the two baselines differ only in their features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from biotune.methods.base import Method, register_method
from biotune.methods.kmer_lr import KmerLogReg


def residue_matrix(sequences: Sequence[str]) -> np.ndarray:
    """``(n, length)`` array of single residues; sequences of different lengths raise ``ValueError``."""
    lengths = {len(s) for s in sequences}
    if len(lengths) > 1:
        raise ValueError(f"onehot_ridge needs sequences of one length (aligned variants); got lengths {sorted(lengths)[:5]}")
    return np.array([list(s) for s in sequences], dtype="<U1").reshape(len(sequences), -1)


@register_method
class OneHotRidge(KmerLogReg):
    """Per-position one-hot features → ridge (regression) or logistic regression (classification) per task."""

    name = "onehot_ridge"

    def __init__(self, C: float = 1.0, class_weight: str | None = "balanced", max_iter: int = 2000, seed: int = 0, **params: Any):
        Method.__init__(self, C=C, class_weight=class_weight, max_iter=max_iter, seed=seed, **params)
        self.features: Pipeline | None = None
        self.models: dict[str, Any] = {}

    def _featurizer(self) -> Pipeline:
        return make_pipeline(FunctionTransformer(residue_matrix), OneHotEncoder(handle_unknown="ignore", dtype=np.float64))
