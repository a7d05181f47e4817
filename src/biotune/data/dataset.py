"""A built benchmark dataset on disk: one table, a FASTA, a metadata file and a card.

Layout of a dataset directory::

    records.tsv     id, sequence, <label columns>, sources, source_ids, cluster, fold
    sequences.faa   the same sequences as FASTA
    dataset.json    name, version, seed, n_folds, tasks (TaskSpec + the column each reads)
    CARD.md         the human-readable dataset card

Fold protocol for k-fold evaluation: fold ``k`` is the test set, fold ``(k + 1) % n_folds`` the
validation set (early stopping, threshold tuning), the remaining folds the training set.

Optional columns (``arg_v2``): ``proteome`` (``;``-joined names of the whole proteomes a protein comes
from; empty for curated database records) and ``nearest_arg_identity`` (fraction 0–1 identity to the
nearest curated ARG; empty when none ≥ 0.3) and ``mutation_model`` (the CARD variant / overexpression /
knockout model a record is a homolog of, empty when none). :meth:`Dataset.records` carries them in ``Record.meta``;
:meth:`Dataset.proteome_split` is the leave-one-proteome-out protocol.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from biotune.data.records import Record
from biotune.errors import InputError
from biotune.tasks import TaskSpec

TABLE_FILE = "records.tsv"
FASTA_FILE = "sequences.faa"
META_FILE = "dataset.json"
CARD_FILE = "CARD.md"
LIST_SEPARATOR = ";"
PROTEOME_COLUMN = "proteome"
NEAREST_ARG_COLUMN = "nearest_arg_identity"
MUTATION_MODEL_COLUMN = "mutation_model"
#: Dataset split protocols of the benchmark runner.
SPLITS = ("folds", "proteome")


def split_list(value: Any) -> list[str]:
    """``"a;b"`` -> ``["a", "b"]``; empty / missing -> ``[]``."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return [v for v in str(value).split(LIST_SEPARATOR) if v]


def parse_fraction(value: Any) -> float | None:
    """A ``nearest_arg_identity`` cell as a float, ``None`` when empty."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == "":
        return None
    return float(value)


@dataclass
class Dataset:
    """An in-memory dataset: the table, its tasks (each bound to a column) and metadata."""

    table: pd.DataFrame
    tasks: list[TaskSpec]
    columns: dict[str, str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_folds(self) -> int:
        return int(self.meta.get("n_folds", self.table["fold"].nunique()))

    def task(self, name: str) -> TaskSpec:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"no task {name!r}; tasks are {[t.name for t in self.tasks]}")

    def labels(self, row: pd.Series) -> dict[str, Any]:
        """The task labels of one table row (``None`` where missing)."""
        return {t.name: parse_label(t, row[self.columns[t.name]]) for t in self.tasks}

    def records(self, index: Sequence[int] | pd.Index | None = None) -> list[Record]:
        """Records for the given table rows (all rows by default), in table order."""
        rows = self.table if index is None else self.table.loc[index]
        meta_cols = [c for c in ("cluster", "fold", "sources", MUTATION_MODEL_COLUMN) if c in rows.columns]
        proteome, nearest = PROTEOME_COLUMN in rows.columns, NEAREST_ARG_COLUMN in rows.columns
        return [
            Record(
                id=str(row["id"]),
                sequence=str(row["sequence"]),
                labels=self.labels(row),
                meta={c: row[c] for c in meta_cols}
                | ({PROTEOME_COLUMN: LIST_SEPARATOR.join(split_list(row[PROTEOME_COLUMN]))} if proteome else {})
                | ({NEAREST_ARG_COLUMN: parse_fraction(row[NEAREST_ARG_COLUMN])} if nearest else {}),
            )
            for _, row in rows.iterrows()
        ]

    def fold_split(self, fold: int, column: str = "fold") -> tuple[pd.Index, pd.Index, pd.Index]:
        """Row indices ``(train, valid, test)`` for one fold of the k-fold protocol.

        ``column`` is the fold-id column: ``fold`` by default, or another assignment a recipe wrote (e.g.
        fitness's ``position_fold``: whole mutated-position blocks per fold) over the same ``n_folds``.
        Raises :class:`InputError` when the column cannot give every record exactly one test fold:
        fewer than 2 folds (validation would be the test fold) or a fold id outside ``0..n_folds-1``.
        """
        if not 0 <= fold < self.n_folds:
            raise ValueError(f"fold {fold} out of range 0..{self.n_folds - 1}")
        if self.n_folds < 2:
            raise InputError(f"the k-fold protocol needs at least 2 folds; this dataset has {self.n_folds}")
        if column not in self.table.columns:
            raise InputError(f"fold column {column!r} is not in {TABLE_FILE} (columns: {', '.join(self.table.columns)})")
        folds = self.table[column].astype(int)
        outside = (folds < 0) | (folds >= self.n_folds)
        if outside.any():
            row = outside.to_numpy().argmax()
            raise InputError(
                f"{column} {folds.iloc[row]} in {TABLE_FILE} is outside 0..{self.n_folds - 1} (n_folds = {self.n_folds}): "
                "the record would never be tested",
                record=str(self.table["id"].iloc[row]),
            )
        valid_fold = (fold + 1) % self.n_folds
        test = self.table.index[folds == fold]
        valid = self.table.index[folds == valid_fold]
        train = self.table.index[(folds != fold) & (folds != valid_fold)]
        return train, valid, test

    def proteomes(self) -> list[str]:
        """Every proteome name of the ``proteome`` column, sorted (index ``k`` = leave-one-proteome-out fold ``k``)."""
        if PROTEOME_COLUMN not in self.table.columns:
            raise InputError(f"split 'proteome' needs a {PROTEOME_COLUMN!r} column in {TABLE_FILE} (this dataset has none; use split 'folds')")
        names = sorted({p for cell in self.table[PROTEOME_COLUMN] for p in split_list(cell)})
        if not names:
            raise InputError(f"split 'proteome': the {PROTEOME_COLUMN!r} column of {TABLE_FILE} is empty")
        return names

    def proteome_split(self, fold: int, valid_fold: int = 0) -> tuple[pd.Index, pd.Index, pd.Index]:
        """Leave-one-proteome-out row indices ``(train, valid, test)``; ``fold`` = index in :meth:`proteomes`.

        Test = every record whose ``proteome`` lists proteome ``P``; validation = the other records of
        dataset fold ``valid_fold``; training = everything else not in ``P``.
        """
        names = self.proteomes()
        if not 0 <= fold < len(names):
            raise InputError(f"proteome fold {fold} out of range 0..{len(names) - 1} ({len(names)} proteomes)")
        if not 0 <= valid_fold < self.n_folds:
            raise InputError(f"lopo_valid_fold {valid_fold} out of range 0..{self.n_folds - 1}")
        held_out = names[fold]
        in_p = self.table[PROTEOME_COLUMN].map(lambda cell: held_out in split_list(cell)).to_numpy(dtype=bool)
        in_valid = self.table["fold"].astype(int).to_numpy() == valid_fold
        index = self.table.index
        return index[~in_p & ~in_valid], index[~in_p & in_valid], index[in_p]

    def split(self, fold: int, kind: str = "folds", valid_fold: int = 0, fold_column: str = "fold") -> tuple[pd.Index, pd.Index, pd.Index]:
        """``(train, valid, test)`` of one benchmark fold under split protocol ``kind`` (:data:`SPLITS`);
        ``fold_column`` chooses the fold assignment of the ``folds`` protocol."""
        if kind == "folds":
            return self.fold_split(fold, fold_column)
        if kind == "proteome":
            return self.proteome_split(fold, valid_fold)
        raise InputError(f"unknown split {kind!r}; splits are {list(SPLITS)}")


def parse_label(task: TaskSpec, value: Any) -> Any:
    """Parse one table cell into a task label (``None`` when empty)."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return None
    if task.kind == "multilabel":
        return [v for v in str(value).split(LIST_SEPARATOR) if v]
    if task.kind == "binary":
        return int(value)
    if task.kind == "regression":
        return float(value)
    return str(value)


def format_label(task: TaskSpec, value: Any) -> str:
    """Inverse of :func:`parse_label` for writing a table cell."""
    if value is None:
        return ""
    if task.kind == "multilabel":
        return LIST_SEPARATOR.join(value)
    return str(value)


def save_dataset(dataset: Dataset, directory: str | Path, *, card: str | None = None) -> Path:
    """Write the table, FASTA, metadata and (optional) card. Output is byte-for-byte deterministic."""
    from biotune.io.fasta import write_fasta

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dataset.table.to_csv(directory / TABLE_FILE, sep="\t", index=False, lineterminator="\n")
    write_fasta(zip(dataset.table["id"], dataset.table["sequence"]), directory / FASTA_FILE)
    meta = dict(dataset.meta)
    meta["tasks"] = [dict(t.to_dict(), column=dataset.columns[t.name]) for t in dataset.tasks]
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if card is not None:
        (directory / CARD_FILE).write_text(card)
    return directory


def load_dataset(directory: str | Path) -> Dataset:
    """Read a dataset directory written by :func:`save_dataset`."""
    directory = Path(directory)
    for name in (TABLE_FILE, META_FILE):
        if not (directory / name).exists():
            raise InputError(f"not a biotune dataset: {name} is missing", path=directory)
    meta = json.loads((directory / META_FILE).read_text())
    tasks, columns = [], {}
    for t in meta.pop("tasks"):
        spec = TaskSpec.from_dict(t)
        tasks.append(spec)
        columns[spec.name] = t.get("column", spec.name)
    table = pd.read_csv(directory / TABLE_FILE, sep="\t", dtype=str, keep_default_na=False)
    for col in ("fold", "cluster"):
        if col not in table.columns:
            raise InputError(f"column {col!r} is missing from {TABLE_FILE}", path=directory)
    table["fold"] = table["fold"].astype(int)
    return Dataset(table=table, tasks=tasks, columns=columns, meta=meta)
