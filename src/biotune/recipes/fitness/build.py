"""Build one benchmark dataset per mutational-scan study: the variants, their labels and two fold columns.

``fold`` is a random k-fold assignment; ``position_fold`` puts contiguous blocks of mutated positions
into one fold each (block sizes balanced by variant count), so no site is both trained on and tested
(a model cannot score a test variant by memorising its site's average effect). The benchmark selects
the column with its ``fold_column`` setting (``configs/benchmark/fitness_position.yaml``). ``cluster``
is the position, so ``bootstrap.unit=cluster`` resamples whole sites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biotune.data.dataset import Dataset
from biotune.errors import InputError
from biotune.recipes.fitness.importer import Variant, read_dms
from biotune.tasks import TaskSpec

POSITION_FOLD_COLUMN = "position_fold"


def random_folds(n: int, n_folds: int, seed: int) -> np.ndarray:
    """A fold id per row: a seeded permutation dealt round-robin, so fold sizes differ by at most one."""
    if n < n_folds:
        raise InputError(f"{n} variants cannot fill {n_folds} folds")
    folds = np.empty(n, dtype=np.int64)
    folds[np.random.default_rng(seed).permutation(n)] = np.arange(n) % n_folds
    return folds


def position_block_folds(positions: Sequence[int], n_folds: int) -> np.ndarray:
    """A fold id per row from contiguous blocks of sorted positions, each holding about ``n / n_folds`` rows.

    All rows of one position share a fold, and fold ``k`` covers a position range entirely before fold ``k+1``'s.
    """
    positions = np.asarray(positions)
    sites, counts = np.unique(positions, return_counts=True)
    if len(sites) < n_folds:
        raise InputError(f"{len(sites)} mutated positions cannot fill {n_folds} position blocks")
    starts = np.searchsorted(np.cumsum(counts), np.arange(1, n_folds) * counts.sum() / n_folds, side="right")
    for k in range(1, n_folds - 1):
        starts[k] = max(starts[k], starts[k - 1] + 1)
    starts = np.clip(np.maximum(starts, np.arange(1, n_folds)), None, len(sites) - n_folds + np.arange(1, n_folds))
    block = np.searchsorted(starts, np.arange(len(sites)), side="right")
    return block[np.searchsorted(sites, positions)]


def variant_table(variants: Sequence[Variant], columns: Mapping[str, str]) -> pd.DataFrame:
    """The records table of a study (ids are the mutant names); ``columns`` maps label name -> table column."""
    return pd.DataFrame({
        "id": [v.mutant for v in variants],
        "sequence": [v.sequence for v in variants],
        columns["score"]: [repr(v.score) for v in variants],
        columns["score_bin"]: [str(v.score_bin) for v in variants],
        "position": [v.position for v in variants],
        "cluster": [f"pos{v.position}" for v in variants],
    })


def build_fitness_dataset(path: str | Path, study: str, config: Mapping[str, Any]) -> Dataset:
    """Read one study's assay file and return its dataset (both fold columns; tasks from ``config['tasks']``)."""
    variants = read_dms(path)
    n_folds, seed = int(config["folds"]["n_folds"]), int(config["folds"]["seed"])
    columns = {"score": "DMS_score", "score_bin": "DMS_score_bin"}
    table = variant_table(variants, columns)
    table["fold"] = random_folds(len(table), n_folds, seed)
    table[POSITION_FOLD_COLUMN] = position_block_folds(table["position"].to_numpy(), n_folds)
    tasks = [TaskSpec(name=name, kind=t["kind"]) for name, t in config["tasks"].items()]
    task_columns = {name: columns[t["label"]] for name, t in config["tasks"].items()}
    meta = {
        "name": f"{config['name']}_{study}", "version": str(config["version"]), "seed": seed, "n_folds": n_folds,
        "source": str(Path(path).name), "study": study, "fold_columns": ["fold", POSITION_FOLD_COLUMN],
    }
    return Dataset(table=table, tasks=tasks, columns=task_columns, meta=meta)


def dataset_card(dataset: Dataset) -> str:
    """A short Markdown card: source, sizes, tasks and the position range of each position block."""
    t = dataset.table
    blocks = t.groupby(POSITION_FOLD_COLUMN)["position"].agg(["min", "max", "size"])
    lines = [
        f"# {dataset.meta['name']} (version {dataset.meta['version']})", "",
        f"Source file: `{dataset.meta['source']}`; {len(t)} single-substitution variants at {t['position'].nunique()} positions.", "",
        "Tasks: " + ", ".join(f"`{s.name}` ({s.kind}, column `{dataset.columns[s.name]}`)" for s in dataset.tasks) + ".", "",
        f"Folds: `fold` random ({dataset.n_folds} folds, seed {dataset.meta['seed']}); `{POSITION_FOLD_COLUMN}` contiguous position blocks:", "",
        "| block | positions | variants |", "|---|---|---|",
        *(f"| {k} | {r['min']}–{r['max']} | {r['size']} |" for k, r in blocks.iterrows()), "",
    ]
    return "\n".join(lines)
