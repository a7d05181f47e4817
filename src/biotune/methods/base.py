"""The method contract: anything the benchmark runner can fit, predict with, save and load.

A method follows scikit-learn's discipline: the constructor only stores parameters, ``fit``
validates and learns, no hidden global state. ``predict`` returns :class:`Predictions` with exactly
one row per input record, in input order, each with a status; a record the method cannot score
(e.g. best-hit finds nothing) gets the "unknown/negative" scores and a status saying why — it is
never dropped.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
import pandas as pd

from biotune.data.records import Record
from biotune.tasks import TaskSpec

STATUS_OK = "ok"


@dataclass
class Predictions:
    """Per-record outputs of a method.

    ``scores[task]`` is ``(n,)`` for binary (P(positive)) and regression (value) tasks, ``(n, k)`` for
    multiclass (class probabilities, rows sum to 1) and multilabel (per-label probabilities).
    ``extra`` holds method-specific per-record columns (e.g. nearest reference, identity).
    """

    ids: list[str]
    scores: dict[str, np.ndarray]
    status: list[str]
    extra: pd.DataFrame | None = None

    def __post_init__(self):
        n = len(self.ids)
        if len(self.status) != n:
            raise ValueError(f"{len(self.status)} statuses for {n} ids")
        for task, s in self.scores.items():
            if len(s) != n:
                raise ValueError(f"task {task!r}: {len(s)} score rows for {n} ids")
        if self.extra is not None and len(self.extra) != n:
            raise ValueError(f"{len(self.extra)} extra rows for {n} ids")

    def __len__(self) -> int:
        return len(self.ids)

    def to_frame(self, tasks: Sequence[TaskSpec]) -> pd.DataFrame:
        """Wide table: ``id, status, <task>`` for 1-d scores and ``<task>:<class>`` for 2-d ones, then extras."""
        cols: dict[str, Any] = {"id": self.ids, "status": self.status}
        for t in tasks:
            if t.name not in self.scores:
                continue
            s = np.asarray(self.scores[t.name])
            if s.ndim == 1:
                cols[t.name] = s
            else:
                for j, c in enumerate(t.classes):
                    cols[f"{t.name}:{c}"] = s[:, j]
        frame = pd.DataFrame(cols)
        if self.extra is not None:
            frame = pd.concat([frame, self.extra.reset_index(drop=True)], axis=1)
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, tasks: Sequence[TaskSpec]) -> Predictions:
        """Inverse of :meth:`to_frame`; columns not belonging to a task go to ``extra``."""
        used = {"id", "status"}
        scores: dict[str, np.ndarray] = {}
        for t in tasks:
            if t.name in frame.columns:
                scores[t.name] = frame[t.name].to_numpy(dtype=np.float64)
                used.add(t.name)
            else:
                names = [f"{t.name}:{c}" for c in t.classes]
                if names and all(n in frame.columns for n in names):
                    scores[t.name] = frame[names].to_numpy(dtype=np.float64)
                    used.update(names)
        rest = [c for c in frame.columns if c not in used]
        return cls(
            ids=frame["id"].astype(str).tolist(),
            scores=scores,
            status=frame["status"].astype(str).tolist(),
            extra=frame[rest].reset_index(drop=True) if rest else None,
        )


class Method(ABC):
    """Base class of benchmarkable methods. Subclasses set ``name`` and register with :func:`register_method`."""

    name: ClassVar[str] = "method"
    #: True when ``predict`` fills ``extra`` with the nearest-reference evidence (``nearest_reference``,
    #: ``reference_identity``, ``reference_query_coverage``, ``reference_coverage``, ``reference_evalue``,
    #: ``reference_length``): ``biotune predict`` then reports it instead of running its own reference search.
    reports_reference_evidence: ClassVar[bool] = False
    #: Raised when fitting the same parameters on the same data gives a different model (a fix in ``fit``):
    #: stored in an annotation bundle, so that ``./setup.sh`` rebuilds a default bundle fitted before it.
    fit_revision: ClassVar[int] = 1

    def __init__(self, **params: Any):
        self.params = dict(params)
        self.tasks: list[TaskSpec] = []

    @abstractmethod
    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> Method:
        """Learn from ``train`` (``valid`` for early stopping / tuning only); returns ``self``."""

    @abstractmethod
    def predict(self, records: Sequence[Record]) -> Predictions:
        """One prediction row per record, in input order."""

    def validation_predictions(self, valid: Sequence[Record]) -> Predictions:
        """Predictions of the ``valid`` records passed to :meth:`fit`, as made before any fitted part saw them
        (thresholds are tuned on these). A method that refits on train + valid after using valid overrides it."""
        return self.predict(valid)

    @abstractmethod
    def save(self, directory: str | Path) -> Path:
        """Write everything needed to predict into ``directory``."""

    @classmethod
    @abstractmethod
    def load(cls, directory: str | Path) -> Method:
        """Rebuild a fitted method from :meth:`save` output."""

    def fit_cross_predict(self, records: Sequence[Record], groups: Sequence[int], tasks: Sequence[TaskSpec]) -> Predictions:
        """Fit on all ``records`` and return their *out-of-group* predictions (what a stacker learns from).

        The prediction for a record of group ``g`` comes from a model that never saw group ``g``
        (e.g. whole homology clusters). This default fits a fresh copy per group on the other groups
        (for ``alignment``: a DIAMOND search of the group against the other groups' references). One
        search of everything with the own group's hits hidden afterwards is not the same: a member of a
        family larger than the hits kept per query sees only its own group's relatives, and no evidence
        once they are hidden (arg_v2 fold 0: 5 % of the ARGs of clusters >= 500 kept an ARG hit, against
        all of them at test). ``hmm`` overrides it with one library, all hits kept until the own group's
        profiles are hidden (building profiles per group would cost a library per group).
        """
        groups = np.asarray(groups)
        parts, order = [], []
        for g in np.unique(groups):
            inside = [r for r, k in zip(records, groups) if k != g]
            held = np.flatnonzero(groups == g)
            parts.append(type(self)(**self.params).fit(inside, None, tasks).predict([records[i] for i in held]))
            order.append(held)
        self.fit(records, None, tasks)
        return concat_predictions(parts, np.concatenate(order))

    def reuse_work(self, previous: Method) -> None:
        """Before fitting again on overlapping data, take over what ``previous`` (a fitted instance with the
        same parameters) computed and the next :meth:`fit` can reuse without changing its result (e.g. the
        profile-HMM search scores). Default: nothing."""

    def fit_info(self) -> dict[str, Any]:
        """What the last :meth:`fit` learned about itself (e.g. epochs run, best epoch), for the run's record."""
        return {}

    @classmethod
    def _from_manifest(cls, directory: str | Path) -> Method:
        """A new instance with the params and tasks of ``directory/method.json`` — call from ``load``."""
        manifest = json.loads((Path(directory) / "method.json").read_text())
        method = cls(**manifest["params"])
        method.tasks = [TaskSpec.from_dict(t) for t in manifest["tasks"]]
        return method

    def _write_manifest(self, directory: str | Path, **extra: Any) -> Path:
        """Write ``method.json`` (method name, params, tasks) — call from ``save``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = {"method": self.name, "params": self.params, "tasks": [t.to_dict() for t in self.tasks], **extra}
        (directory / "method.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
        return directory

    def _save_state(self, directory: str | Path, filename: str, state: dict[str, Any], **extra: Any) -> Path:
        """``method.json`` plus the fitted ``state`` pickled by joblib into ``filename`` — for methods whose
        fitted state is plain Python/scikit-learn objects."""
        directory = self._write_manifest(directory, **extra)
        joblib.dump(state, directory / filename)
        return directory

    @classmethod
    def _load_state(cls, directory: str | Path, filename: str) -> tuple[Method, dict[str, Any]]:
        """Inverse of :meth:`_save_state`: a new instance from the manifest, and the saved state."""
        return cls._from_manifest(directory), joblib.load(Path(directory) / filename)


def concat_predictions(parts: Sequence[Predictions], positions: np.ndarray) -> Predictions:
    """Join predictions of disjoint record subsets; ``positions[j]`` is the input position of the j-th joined row."""
    ids = [i for p in parts for i in p.ids]
    status = [s for p in parts for s in p.status]
    scores = {task: np.concatenate([np.asarray(p.scores[task]) for p in parts]) for task in parts[0].scores}
    extras = [p.extra for p in parts if p.extra is not None]
    extra = pd.concat(extras, ignore_index=True) if len(extras) == len(parts) else None
    order = np.argsort(positions, kind="stable")
    return Predictions(
        ids=[ids[j] for j in order], scores={t: s[order] for t, s in scores.items()}, status=[status[j] for j in order],
        extra=None if extra is None else extra.iloc[order].reset_index(drop=True),
    )


def subset_predictions(pred: Predictions, rows: np.ndarray) -> Predictions:
    """The rows ``rows`` of ``pred`` (inverse of :func:`concat_predictions` for one part)."""
    return Predictions(
        ids=[pred.ids[i] for i in rows], scores={t: np.asarray(v)[rows] for t, v in pred.scores.items()},
        status=[pred.status[i] for i in rows], extra=None if pred.extra is None else pred.extra.iloc[rows].reset_index(drop=True),
    )


METHODS: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method available by its ``name`` to the runner and the CLI."""
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        _import_builtin_methods(name)
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; available: {sorted(METHODS)}") from None


def load_method(directory: str | Path) -> Method:
    """Load any saved method by reading its ``method.json``."""
    manifest = json.loads((Path(directory) / "method.json").read_text())
    return get_method(manifest["method"]).load(directory)


#: Modules whose import registers the built-in methods (imported lazily, on first lookup by name).
BUILTIN_METHOD_MODULES: tuple[str, ...] = (
    "biotune.methods.besthit",
    "biotune.methods.alignment",
    "biotune.methods.hmm",
    "biotune.methods.kmer_lr",
    "biotune.methods.onehot_ridge",
    "biotune.methods.cnn",
    "biotune.methods.plm",
    "biotune.methods.embedding_head",
    "biotune.methods.fusion",
    "biotune.methods.go_naive",
    "biotune.methods.diamond_score",
    "biotune.methods.go_blend",
    "biotune.ensemble",
)


def _import_builtin_methods(name: str | None = None) -> None:
    """Import the module named like method ``name`` if there is one (a fusion of alignment, HMM and k-mer
    evidence then never imports torch: seconds of every ``predict``), else every built-in method module."""
    import importlib

    own = f"biotune.methods.{name}"
    if own in BUILTIN_METHOD_MODULES:
        importlib.import_module(own)
        if name in METHODS:
            return
    for module in BUILTIN_METHOD_MODULES:
        importlib.import_module(module)
