"""Synthetic protein-family datasets with known identities, for tests and demos of the benchmark.

Each family is a random ancestor; its members are copies with a chosen fraction of substituted
positions, so DIAMOND finds real homologs at known identities. Families carry ARG-like labels
(is_arg, drug classes, mechanism) or are negatives. Folds are grouped by family (homology-aware,
like the real dataset) or random (so test records have close training homologs in every bin).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from biotune.data.dataset import Dataset
from biotune.tasks import TaskSpec

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
DRUG_CLASSES = ("beta_lactam", "aminoglycoside", "tetracycline", "MLS")
MECHANISMS = ("inactivation", "efflux", "target_alteration")
ARG_TASKS = [
    TaskSpec("is_arg", "binary"),
    TaskSpec("drug_class", "multilabel", DRUG_CLASSES),
    TaskSpec("mechanism", "multiclass", MECHANISMS),
]


def random_protein(length: int, rng: np.random.Generator) -> str:
    return "M" + "".join(rng.choice(list(AMINO_ACIDS), length - 1))


def mutate(sequence: str, identity: float, rng: np.random.Generator) -> str:
    """A copy of ``sequence`` with ``round((1 - identity) * len)`` positions substituted (never by the same residue)."""
    seq = list(sequence)
    n_sub = int(round((1 - identity) * len(seq)))
    for pos in rng.choice(np.arange(1, len(seq)), size=min(n_sub, len(seq) - 1), replace=False):
        seq[pos] = rng.choice([a for a in AMINO_ACIDS if a != seq[pos]])
    return "".join(seq)


def synthetic_arg_dataset(
    n_families: int = 20,
    members: int = 6,
    *,
    identity_range: tuple[float, float] = (0.35, 0.95),
    length_range: tuple[int, int] = (120, 220),
    arg_fraction: float = 0.6,
    n_folds: int = 5,
    grouped_folds: bool = True,
    seed: int = 0,
) -> Dataset:
    """A small ARG-like dataset: ``n_families`` × ``members`` proteins with ``is_arg``/``drug_class``/``mechanism``."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_families):
        ancestor = random_protein(int(rng.integers(*length_range)), rng)
        is_arg = f < round(arg_fraction * n_families)
        classes = sorted({DRUG_CLASSES[f % len(DRUG_CLASSES)], *([DRUG_CLASSES[(f + 1) % len(DRUG_CLASSES)]] if f % 3 == 0 else [])})
        for m in range(members):
            rows.append({
                "id": f"fam{f:03d}_{m}",
                "sequence": mutate(ancestor, float(rng.uniform(*identity_range)), rng),
                "is_arg": str(int(is_arg)),
                "drug_classes": ";".join(classes) if is_arg else "",
                "mechanism": MECHANISMS[f % len(MECHANISMS)] if is_arg else "",
                "cluster": f"fam{f:03d}",
                "fold": (f if grouped_folds else f + m) % n_folds,
            })
    table = pd.DataFrame(rows)
    columns = {"is_arg": "is_arg", "drug_class": "drug_classes", "mechanism": "mechanism"}
    return Dataset(table=table, tasks=list(ARG_TASKS), columns=columns, meta={"name": "synthetic_arg", "version": "0", "seed": seed, "n_folds": n_folds})
