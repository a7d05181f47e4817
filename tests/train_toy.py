"""A small learnable ARG-like dataset for training tests (written with ``save_dataset``).

Positives carry residue-composition signals that a tiny model can learn: ARGs are rich in W, their
mechanism is told by C vs H enrichment, and each drug class adds its own residue (K, M, Y).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from biotune.data.dataset import Dataset, load_dataset, save_dataset
from biotune.tasks import TaskSpec

AMINO = "ACDEFGIKLMNPQRSTVY"
DRUGS = {"aminoglycoside": "K", "beta-lactam": "M", "tetracycline": "Y"}
TASKS = [
    TaskSpec("is_arg", "binary"),
    TaskSpec("drug_class", "multilabel", tuple(DRUGS)),
    TaskSpec("mechanism", "multiclass", ("efflux", "inactivation")),
]


def _sequence(rng: np.random.Generator, enrich: str) -> str:
    length = int(rng.integers(24, 48))
    seq = list(rng.choice(list(AMINO), size=length))
    for residue in enrich:
        for pos in rng.choice(length, size=length // 4, replace=False):
            seq[pos] = residue
    return "".join(seq)


def toy_dataset(directory: str | Path, n: int = 120, n_folds: int = 5, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        if i % 2 == 0:
            mechanism = "efflux" if rng.random() < 0.5 else "inactivation"
            drugs = sorted(rng.choice(list(DRUGS), size=int(rng.integers(1, 3)), replace=False).tolist())
            enrich = "W" + ("C" if mechanism == "efflux" else "H") + "".join(DRUGS[d] for d in drugs)
            label = ("1", ";".join(drugs), mechanism)
        else:
            enrich, label = "", ("0", "", "")
        rows.append({"id": f"p{i:03d}", "sequence": _sequence(rng, enrich), "is_arg": label[0], "drug_class": label[1], "mechanism": label[2], "cluster": f"c{i}", "fold": i % n_folds})
    table = pd.DataFrame(rows)
    dataset = Dataset(table=table, tasks=list(TASKS), columns={t.name: t.name for t in TASKS}, meta={"name": "toy", "n_folds": n_folds, "seed": seed})
    return save_dataset(dataset, directory)


def toy_split(directory: str | Path, n: int, fold: int = 0):
    """``(train, valid, test)`` records of one fold of a fresh toy dataset."""
    ds = load_dataset(toy_dataset(directory, n=n))
    return tuple(ds.records(index) for index in ds.fold_split(fold))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: much faster than two on a shared, busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
