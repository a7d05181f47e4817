"""Which training records a method learns from when negatives vastly outnumber ARGs.

A whole proteome is thousands of ordinary proteins per handful of ARGs. Every ARG and every *hard*
negative (``meta["nearest_arg_identity"]`` ≥ ``hard_identity`` — it resembles an ARG — or unknown,
as in datasets without that column) is kept; of the *easy* negatives at most ``max_easy`` are drawn
(seeded), each weighing ``n_easy / n_drawn`` so that weighted class frequencies stay those of the
full training set. Profile calibration and stacking then cost the same on a dataset with 10k or
100k background proteins, while the negatives that decide precision are all there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from biotune.data.records import Record


def is_hard_negative(record: Record, hard_identity: float) -> bool:
    """True when the record's identity to the nearest ARG is ≥ ``hard_identity``, or unknown (no such column)."""
    if "nearest_arg_identity" not in record.meta:
        return True
    value = record.meta["nearest_arg_identity"]
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and float(value) >= hard_identity


def sample_training_set(
    train: Sequence[Record], *, hard_identity: float, max_easy: int, seed: int
) -> tuple[list[Record], np.ndarray, dict[str, Any]]:
    """``(records, weights, counts)``: ARGs, hard negatives, drawn easy negatives, records without an is_arg label."""
    args, hard, easy, unlabelled = [], [], [], []
    for r in train:
        label = r.label("is_arg")
        if label is None:
            unlabelled.append(r)
        elif float(label) == 1.0:
            args.append(r)
        elif is_hard_negative(r, hard_identity):
            hard.append(r)
        else:
            easy.append(r)
    keep = min(len(easy), int(max_easy))
    chosen = sorted(np.random.default_rng(seed).choice(len(easy), size=keep, replace=False)) if keep else []
    drawn = [easy[i] for i in chosen]
    records = args + hard + drawn + unlabelled
    weights = np.ones(len(records))
    if drawn:
        weights[len(args) + len(hard): len(args) + len(hard) + len(drawn)] = len(easy) / len(drawn)
    counts = {"n_args": len(args), "n_hard_negatives": len(hard), "n_easy_negatives": len(easy), "n_easy_sampled": len(drawn)}
    return records, weights, counts
