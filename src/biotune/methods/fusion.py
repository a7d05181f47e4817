"""Evidence fusion: a stacker over out-of-fold evidence from other methods (alignment, profile HMMs, models).

Every evidence source is a registered method (``bases``, e.g. ``alignment``, ``hmm``, ``kmer_lr``,
or an embedding model): its per-task scores and numeric extra columns (identity, coverage, bitscore
vs trusted cut-off, ...) become the features of one stacker per task output (``stacker_kind``, per
task ``stacker_kind_by_task``): LightGBM — missing evidence stays missing (NaN) instead of being
imputed, and interactions such as identity × coverage × negative-hit ratio need no hand-made terms —
or a logistic regression (fewer false calls on whole proteomes for ``is_arg``, measured); with
``pool_classes`` one stacker serves every class of a drug-class / mechanism task.

``fit(train, valid)``:

1. **Base training set**: every ARG, every hard negative (``meta["nearest_arg_identity"]`` ≥
   ``hard_identity``, or unknown) and at most ``max_easy_negatives`` of the other negatives (a
   seeded sample; in the ``is_arg`` stacker each sampled easy negative weighs
   ``n_easy / n_sampled`` so the class balance of the training data is kept).
2. **Out-of-group evidence**: the base set is split into ``inner_folds`` groups of whole homology
   clusters (``meta["cluster"]``); each base is fitted on the whole base set (these fits make the
   predictions) and gives every record the evidence it would give without the record's group
   (:meth:`Method.fit_cross_predict`), so the stacker learns from evidence as remote as the
   benchmark's cluster-separated test folds. ``gates`` let a base look only at the records where an
   earlier base found something, and ``targets`` only at the references an earlier base named (the
   HMM scan of a protein only against the profiles of the ARG families its alignment hits belong
   to), the same way at fit and at predict.
3. The stackers are fitted on that evidence (``class_weight="balanced"``: every drug class and
   mechanism weighs the same); with ``valid`` and ``calibration`` (``platt``/``isotonic``; per task
   ``calibration_by_task``) their outputs are calibrated on the validation records' evidence.
4. With ``valid`` and ``refit_with_valid``, the bases are fitted again on the training *and*
   validation records once the validation evidence is taken: the references and profiles a call is
   made from are every labelled record, not four fifths of them (a test ARG whose only close
   relative sat in the validation fold had no hit). :meth:`validation_predictions` still returns the
   validation records' held-out evidence (thresholds are tuned on it), not self-hits.

``predict``: base evidence → stackers → calibrated ``is_arg``, drug-class and mechanism
probabilities; every record is scored. Extra columns keep the evidence next to the call, as
AMRFinderPlus users expect: ``call_basis`` — the strongest evidence for the ARG hypothesis:
``EXACT`` (identical full-length ARG reference), ``ALIGNMENT`` (ARG reference at ≥
``alignment_identity`` % identity over ≥ ``alignment_coverage`` % of both sequences and closer than
any non-ARG reference), ``HMM`` (a profile at or above its trusted cut-off), else ``MODEL``;
``evidence`` (one readable line), the nearest ARG reference (``nearest_reference``,
``reference_identity``, coverages, E-value), the nearest non-ARG reference, the best profile with
bitscore and cut-off, each base's ``is_arg`` score, and ``mutation_model`` when the nearest ARG reference
is a resistant allele of a housekeeping gene (see :meth:`Fusion.mutation_family`).
"""

from __future__ import annotations

import functools
import math
import time
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from biotune.data.dataset import MUTATION_MODEL_COLUMN as MUTATION_MODEL
from biotune.data.records import Record
from biotune.evaluate.calibration import CALIBRATION_METHODS, Calibrator
from biotune.methods.alignment import HMM, MODEL, REFERENCE_SEPARATOR, alignment_basis
from biotune.methods.base import STATUS_OK, Method, Predictions, get_method, load_method, register_method, subset_predictions
from biotune.methods.negatives import sample_training_set
from biotune.tasks import TaskSpec

STACKER_FILE = "stacker.joblib"
BASES_DIR = "bases"
STATUS_GATED = "gated"
DEFAULT_BASES: dict[str, dict[str, Any]] = {"alignment": {}, "hmm": {"min_members": 1, "max_members": 30, "cross_build": False}, "kmer_lr": {"k_max": 2}}
DEFAULT_STACKER: dict[str, Any] = {
    "n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20,
    "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "reg_lambda": 1.0,
}
DEFAULT_LOGISTIC: dict[str, Any] = {"C": 1.0, "max_iter": 2000}
STACKER_KINDS = ("lightgbm", "logistic")
#: What a (non-pooled) stacker sees: every evidence column, or only the record-level ones (no per-class score columns).
FEATURE_SETS = ("all", "record")
#: Extra columns the fused predictions carry (besides the per-base scores).
EVIDENCE_COLUMNS = (
    "call_basis", "evidence", "nearest_reference", "reference_identity", "reference_query_coverage",
    "reference_coverage", "reference_evalue", "reference_length", "reference_bitscore", "nearest_negative", "negative_identity",
    "negative_query_coverage", "negative_bitscore", "hmm_profile", "hmm_bitscore", "hmm_trusted_cutoff", "mutation_model",
)


@register_method
class Fusion(Method):
    """Stackers over out-of-fold evidence of ``bases`` (module docstring)."""

    name = "fusion"
    reports_reference_evidence = True  # nearest ARG reference in ``extra``: predict runs no second search
    fit_revision = 3  # 2: out-of-group alignment / HMM evidence searched per inner group (Method.fit_cross_predict); 3: refit_with_valid

    def __init__(
        self,
        bases: Mapping[str, Mapping[str, Any]] | None = None,
        inner_folds: int = 3,
        max_easy_negatives: int = 5000,
        hard_identity: float = 0.3,
        stacker: Mapping[str, Any] | None = None,
        stacker_kind: str = "lightgbm",
        stacker_kind_by_task: Mapping[str, str] | None = None,
        logistic: Mapping[str, Any] | None = None,
        calibration: str = "platt",
        calibration_by_task: Mapping[str, str] | None = None,
        features: str = "all",
        features_by_task: Mapping[str, str] | None = None,
        scores_from_base: Mapping[str, str] | None = None,
        alignment_identity: float = 80.0,
        alignment_coverage: float = 80.0,
        gates: Mapping[str, str] | None = None,
        targets: Mapping[str, str] | None = None,
        class_weight: str | None = None,
        pool_classes: bool = False,
        close_reference_call: float | None = None,
        close_negative_call: float | None = None,
        mutation_family_call: float | None = None,
        call_needs_evidence: bool = False,
        refit_with_valid: bool = True,
        threads: int | None = None,
        seed: int = 0,
        **params: Any,
    ):
        if int(inner_folds) < 2:
            raise ValueError(f"inner_folds must be >= 2, got {inner_folds}")
        if class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {class_weight!r}")
        by_task = _setting_by_task("stacker_kind", stacker_kind, stacker_kind_by_task, STACKER_KINDS)
        calibration_of = _setting_by_task("calibration", calibration, calibration_by_task, CALIBRATION_METHODS)
        features_of = _setting_by_task("features", features, features_by_task, FEATURE_SETS)
        for task_name, base in (scores_from_base or {}).items():
            if base not in (bases if bases is not None else DEFAULT_BASES):
                raise ValueError(f"scores_from_base: {task_name} names {base!r}, which is not one of the bases")
        for key, value in (("close_reference_call", close_reference_call), ("close_negative_call", close_negative_call), ("mutation_family_call", mutation_family_call)):
            if value is not None and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{key} must be a probability in [0, 1] or null, got {value!r}")
        bases = {str(k): dict(v or {}) for k, v in (bases if bases is not None else DEFAULT_BASES).items()}
        if not bases:
            raise ValueError("fusion needs at least one base method")
        super().__init__(
            bases=bases, inner_folds=int(inner_folds), max_easy_negatives=int(max_easy_negatives),
            hard_identity=float(hard_identity), stacker={**DEFAULT_STACKER, **dict(stacker or {})},
            stacker_kind=stacker_kind, stacker_kind_by_task=by_task, logistic={**DEFAULT_LOGISTIC, **dict(logistic or {})},
            calibration=calibration, calibration_by_task=calibration_of, features=features, features_by_task=features_of,
            scores_from_base={str(k): str(v) for k, v in (scores_from_base or {}).items()}, alignment_identity=float(alignment_identity),
            alignment_coverage=float(alignment_coverage), gates=dict(gates or {}), targets=dict(targets or {}), class_weight=class_weight, pool_classes=bool(pool_classes),
            close_reference_call=None if close_reference_call is None else float(close_reference_call),
            close_negative_call=None if close_negative_call is None else float(close_negative_call),
            mutation_family_call=None if mutation_family_call is None else float(mutation_family_call), call_needs_evidence=bool(call_needs_evidence),
            refit_with_valid=bool(refit_with_valid), threads=threads, seed=int(seed), **params,
        )
        self.base_methods: dict[str, Method] = {}
        self.feature_names: list[str] = []
        self.task_features: dict[str, list[str]] = {}  # the columns each non-pooled stacker reads
        self.models: dict[str, Any] = {}
        self.calibrators: dict[str, Calibrator] = {}
        self.mutation_references: dict[str, str] = {}  # ARG reference id -> the mutation model it is a homolog of
        self._info: dict[str, Any] = {}
        self._valid_evidence: tuple[tuple[str, ...], pd.DataFrame, pd.DataFrame] | None = None  # held out (fit step 4)
        self._seconds: defaultdict[str, float] = defaultdict(float)

    # -- evidence ----------------------------------------------------------------------------------

    def _new_base(self, name: str) -> Method:
        params = dict(self.params["bases"][name])
        class_name = str(params.pop("method", name))
        cls = get_method(class_name)
        if "threads" in _init_params(cls) and "threads" not in params:
            params["threads"] = self.params["threads"]
        if "seed" in _init_params(cls) and "seed" not in params:
            params["seed"] = self.params["seed"]
        return cls(**params)

    def evidence(self, records: Sequence[Record]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(numeric features, raw evidence)`` of ``records`` from the fitted bases: one row per record."""
        predictions: dict[str, Predictions] = {}
        for name, method in self.base_methods.items():
            start = time.perf_counter()
            gate, near = self.scope(name, predictions)
            if gate is None:
                predictions[name] = method.predict(records)
            else:
                chosen = np.flatnonzero(gate)
                subset = [records[i] for i in chosen]
                pred = method.predict(subset) if near is None else method.predict(subset, near=[near[i] for i in chosen])
                predictions[name] = expand_predictions(pred, chosen, records, method.tasks)
            self._seconds[f"{name}:predict"] += time.perf_counter() - start
        return evidence_table(records, predictions, {name: m.tasks for name, m in self.base_methods.items()})

    def gate_mask(self, name: str, earlier: Mapping[str, Predictions]) -> np.ndarray | None:
        """Records base ``name`` looks at, when ``gates[name]`` = ``"<base>:<extra column>"`` of an earlier base:
        those where that column is > 0 (e.g. only proteins with an ARG alignment hit). None = all."""
        values = self._earlier_column("gates", name, earlier)
        return None if values is None else np.nan_to_num(values.to_numpy(dtype=float), nan=0.0) > 0

    def target_lists(self, name: str, earlier: Mapping[str, Predictions]) -> list[list[str]] | None:
        """Per record, the training references base ``name`` should look at, when ``targets[name]`` =
        ``"<base>:<extra column>"`` of an earlier base holding ``;``-joined ids (e.g. the profile-HMM scan
        only against the families of the ARGs a protein's alignment hit). None = no targeting."""
        values = self._earlier_column("targets", name, earlier)
        return None if values is None else [[v for v in x.split(REFERENCE_SEPARATOR) if v] if isinstance(x, str) else [] for x in values]

    def _earlier_column(self, kind: str, name: str, earlier: Mapping[str, Predictions]) -> pd.Series | None:
        """The extra column ``params[kind][name]`` (``"<base>:<column>"``) of an earlier base, None if unset."""
        spec = (self.params.get(kind) or {}).get(name)
        if not spec:
            return None
        base, column = spec.split(":", 1)
        if base not in earlier:
            raise ValueError(f"{kind} {spec!r} of base {name!r}: base {base!r} must come earlier in `bases`")
        return earlier[base].extra[column]

    def scope(self, name: str, earlier: Mapping[str, Predictions]) -> tuple[np.ndarray | None, list[list[str]] | None]:
        """``(records base name looks at — None = all, their target lists — None = untargeted)``: gate and targets."""
        gate, near = self.gate_mask(name, earlier), self.target_lists(name, earlier)
        if near is not None:
            targeted = np.array([bool(refs) for refs in near], dtype=bool)
            gate = targeted if gate is None else gate & targeted
        return gate, near

    # -- fit ---------------------------------------------------------------------------------------

    def base_training_set(self, train: Sequence[Record]) -> tuple[list[Record], np.ndarray]:
        """Step 1 of ``fit`` (:func:`biotune.methods.negatives.sample_training_set`) and the ``is_arg`` weights."""
        p = self.params
        records, weights, counts = sample_training_set(train, hard_identity=p["hard_identity"], max_easy=p["max_easy_negatives"], seed=p["seed"])
        self._info.update(counts)
        return records, weights

    def inner_groups(self, records: Sequence[Record]) -> np.ndarray:
        """Step 2: inner fold of each record — whole clusters, largest first into the emptiest fold."""
        clusters: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(records):
            clusters[str(r.meta.get("cluster") or r.id)].append(i)
        salt = str(self.params["seed"])
        order = sorted(clusters, key=lambda c: (-len(clusters[c]), zlib.crc32(f"{salt}:{c}".encode())))
        fills = np.zeros(self.params["inner_folds"])
        group = np.zeros(len(records), dtype=int)
        for c in order:
            k = int(np.argmin(fills))
            group[clusters[c]] = k
            fills[k] += len(clusters[c])
        return group

    def fit(self, train: Sequence[Record], valid: Sequence[Record] | None, tasks: Sequence[TaskSpec]) -> Fusion:
        if not train:
            raise ValueError("fusion needs training records")
        self.tasks = list(tasks)
        self._info, self._valid_evidence, self._seconds = {}, None, defaultdict(float)
        self.mutation_references = mutation_references([*train, *(valid or [])])
        records, weights, features = self.stacker_training_evidence(train)
        self.fit_stackers(records, weights, features)
        self.calibrators = {}
        if valid:
            valid_features, raw = self.evidence(valid)
            self._valid_evidence = (tuple(r.id for r in valid), valid_features, raw)
            self.calibrate(valid, valid_features)
            if self.params["refit_with_valid"]:
                self.refit_bases([*train, *valid])
        self._info["seconds"] = {k: round(v, 1) for k, v in sorted(self._seconds.items())}
        return self

    def refit_bases(self, records: Sequence[Record]) -> Fusion:
        """Step 4 of ``fit``: every base fitted again on the base training set of ``records`` (the stackers,
        fitted on out-of-group evidence, and the calibrators stay)."""
        base_set, _, _ = sample_training_set(records, hard_identity=self.params["hard_identity"], max_easy=self.params["max_easy_negatives"], seed=self.params["seed"])
        self._info["refit_records"] = len(base_set)
        for name in self.params["bases"]:
            start = time.perf_counter()
            base = self._new_base(name)
            base.reuse_work(self.base_methods[name])
            self.base_methods[name] = base.fit(base_set, None, self.tasks)
            self._seconds[f"{name}:refit"] += time.perf_counter() - start
        return self

    def stacker_training_evidence(self, train: Sequence[Record]) -> tuple[list[Record], np.ndarray, pd.DataFrame]:
        """Steps 1-2 of ``fit``: the base training set, its ``is_arg`` weights and out-of-group evidence features.

        Fits the bases (``self.base_methods``) on the whole base set. Split from :meth:`fit_stackers` so
        that stackers can be compared on the same (expensive) evidence (``benchmarks/fusion_stackers.py``).
        """
        records, weights = self.base_training_set(train)
        group = self.inner_groups(records)
        self.base_methods, predictions = {}, {}
        for name in self.params["bases"]:
            start = time.perf_counter()
            gate, near = self.scope(name, predictions)
            base = self.base_methods[name] = self._new_base(name)
            predictions[name] = base.fit_cross_predict(records, group, self.tasks) if near is None else base.fit_cross_predict(records, group, self.tasks, near=near)
            if gate is not None:  # the same evidence the gated predict will see
                chosen = np.flatnonzero(gate)
                predictions[name] = expand_predictions(subset_predictions(predictions[name], chosen), chosen, records, self.tasks)
            self._seconds[f"{name}:fit_cross_predict"] += time.perf_counter() - start
        features, _ = evidence_table(records, predictions, {name: self.tasks for name in predictions})
        return records, weights, features

    def fit_stackers(self, records: Sequence[Record], weights: np.ndarray, features: pd.DataFrame) -> Fusion:
        """Step 3 of ``fit``: one stacker per task on the evidence ``features`` of ``records``."""
        self.feature_names = list(features.columns)
        per_class = class_score_columns(self.feature_names, self.tasks)
        self.task_features = {
            t.name: [c for c in self.feature_names if c not in per_class] if self.task_setting("features", t.name) == "record" else self.feature_names
            for t in self.tasks
        }
        self.models = {
            t.name: ("base", self.params["scores_from_base"][t.name]) if t.name in self.params["scores_from_base"] else self._fit_stacker(t, features, [r.label(t.name) for r in records], weights)
            for t in self.tasks
        }
        self._info.update(n_features=len(self.feature_names), n_stacker_rows=len(records))
        return self

    def _fit_stacker(self, task: TaskSpec, features: pd.DataFrame, labels: Sequence[Any], weights: np.ndarray) -> Any:
        y, mask = task.encode(labels)
        x, w = features[self.task_features[task.name]].to_numpy(dtype=float)[mask], weights[mask] if task.name == "is_arg" else np.ones(int(mask.sum()))
        y = y[mask]
        balanced = self.params["class_weight"] == "balanced" and task.name != "is_arg"
        make = functools.partial(self._classifier, self.task_setting("stacker_kind", task.name))
        if self.params["pool_classes"] and task.kind in ("multilabel", "multiclass"):
            onehot = y if task.kind == "multilabel" else np.eye(task.n_outputs)[y.astype(int)]
            multi = [t for t in self.tasks if t.kind in ("multilabel", "multiclass")]
            return PooledClassStacker.for_task(task, features.columns, multi, onehot).fit(make, features[mask], onehot, w)
        if task.kind == "binary":
            return _fit_classifier(make, x, y, w * _balanced(y) if balanced else w)
        if task.kind == "multilabel":
            return [_fit_classifier(make, x, y[:, j], w * _balanced(y[:, j]) if balanced else w) for j in range(task.n_outputs)]
        if task.kind == "multiclass":  # binary or multiclass by the classes present
            return _fit_classifier(make, x, y, w * _balanced(y) if balanced else w)
        raise ValueError(f"fusion does not support {task.kind} task {task.name!r}")

    def task_setting(self, name: str, task_name: str) -> str:
        """Setting ``name`` (``stacker_kind``, ``calibration``) of ``task_name``: ``<name>_by_task`` if it names
        the task, else ``<name>``."""
        return self.params.get(f"{name}_by_task", {}).get(task_name, self.params[name])

    def _classifier(self, kind: str) -> Any:
        """A fresh stacker of ``kind``: LightGBM (NaN = missing evidence) or a logistic regression on
        standardised features with missing-evidence indicators (NaN imputed 0)."""
        p = self.params
        if kind == "logistic":
            from sklearn.impute import SimpleImputer
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import FunctionTransformer, StandardScaler

            return make_pipeline(
                FunctionTransformer(_infinite_as_missing),
                SimpleImputer(strategy="constant", fill_value=0.0, add_indicator=True, keep_empty_features=True),
                StandardScaler(), LogisticRegression(random_state=p["seed"], **p["logistic"]),
            )
        from lightgbm import LGBMClassifier

        return LGBMClassifier(**p["stacker"], random_state=p["seed"], n_jobs=p["threads"] or -1, verbose=-1, deterministic=True, force_col_wise=True)

    def calibrate(self, valid: Sequence[Record], features: pd.DataFrame) -> Fusion:
        """Fit ``self.calibrators`` on the stacker outputs for the ``valid`` records' evidence ``features``."""
        self.calibrators = {}
        calibrated = [
            t for t in self.tasks
            if t.kind != "regression" and self.task_setting("calibration", t.name) != "none" and t.name not in self.params["scores_from_base"]
        ]
        if not calibrated:
            return self
        raw_scores = self.stack(features)
        for t in calibrated:
            y, mask = t.encode([r.label(t.name) for r in valid])
            if mask.sum() >= 10:
                self.calibrators[t.name] = Calibrator(self.task_setting("calibration", t.name), t.kind).fit(y[mask], raw_scores[t.name][mask])
        return self

    # -- predict -----------------------------------------------------------------------------------

    def stack(self, features: pd.DataFrame, calibrated: bool = False) -> dict[str, np.ndarray]:
        """Per-task stacker probabilities for evidence ``features`` (through ``self.calibrators`` if ``calibrated``)."""
        out = {}
        for t in self.tasks:
            model = self.models[t.name]
            if t.name in self.params["scores_from_base"]:
                out[t.name] = base_task_scores(features, model[1], t)
                continue
            x = features.reindex(columns=self.task_features.get(t.name, self.feature_names)).to_numpy(dtype=float)
            if isinstance(model, PooledClassStacker):
                proba = model.predict_proba(features)
                out[t.name] = proba / np.maximum(proba.sum(axis=1, keepdims=True), 1e-12) if t.kind == "multiclass" else proba
            elif t.kind == "binary":
                out[t.name] = _proba(model, x)
            elif t.kind == "multilabel":
                out[t.name] = np.column_stack([_proba(m, x) for m in model])
            else:
                full = np.zeros((len(x), t.n_outputs))
                if isinstance(model, tuple):
                    full[:, int(model[1])] = 1.0
                else:
                    full[:, model.classes_.astype(int)] = model.predict_proba(x)
                out[t.name] = full
            if calibrated and t.name in self.calibrators:
                out[t.name] = self.calibrators[t.name].transform(out[t.name])
        return out

    def predict(self, records: Sequence[Record]) -> Predictions:
        if not self.models:
            raise RuntimeError("fusion is not fitted: call fit() or load() first")
        return self._fused(records, *self.evidence(records))

    def validation_predictions(self, valid: Sequence[Record]) -> Predictions:
        """The validation records' held-out evidence taken in :meth:`fit`, fused (fit step 4)."""
        if self._valid_evidence is None or self._valid_evidence[0] != tuple(r.id for r in valid):
            return self.predict(valid)
        _, features, raw = self._valid_evidence
        return self._fused(valid, features, raw)

    def _fused(self, records: Sequence[Record], features: pd.DataFrame, raw: pd.DataFrame) -> Predictions:
        scores = self.decide(features, self.stack(features, calibrated=True), _nearest_references(raw))
        return Predictions(ids=[r.id for r in records], scores=scores, status=[STATUS_OK] * len(records), extra=self._evidence_columns(raw, features))

    def close_reference(self, features: pd.DataFrame) -> np.ndarray:
        """Records whose nearest ARG reference is ≥ ``alignment_identity`` % identical over ≥ ``alignment_coverage`` %
        of both sequences and scores a higher bitscore than any non-ARG reference (``call_basis`` EXACT / ALIGNMENT)."""
        column, p = _column_reader(features), self.params
        identity, arg_bits, neg_bits = column("alignment:arg_identity"), column("alignment:arg_bitscore"), column("alignment:neg_bitscore")
        covered = (column("alignment:arg_query_coverage") >= p["alignment_coverage"]) & (column("alignment:arg_reference_coverage") >= p["alignment_coverage"])
        return (identity >= p["alignment_identity"]) & covered & (np.isnan(neg_bits) | (arg_bits > neg_bits))

    def close_negative(self, features: pd.DataFrame) -> np.ndarray:
        """Records whose nearest non-ARG reference is ≥ ``alignment_identity`` % identical over ≥ ``alignment_coverage`` %
        of the query and scores a higher bitscore than any ARG reference: the same protein as a known non-ARG
        (a fragment of it included — the reference's coverage is not required)."""
        column, p = _column_reader(features), self.params
        identity, arg_bits, neg_bits = column("alignment:neg_identity"), column("alignment:arg_bitscore"), column("alignment:neg_bitscore")
        covered = column("alignment:neg_query_coverage") >= p["alignment_coverage"]
        return (identity >= p["alignment_identity"]) & covered & (np.isnan(arg_bits) | (neg_bits > arg_bits))

    def supported(self, features: pd.DataFrame) -> np.ndarray:
        """Records with evidence a call can rest on: a close ARG reference (:meth:`close_reference`), or a profile at
        or above its trusted cut-off while the nearest ARG reference is more identical than the nearest non-ARG one
        (a query 95 % identical to a known non-ARG and 45 % to an ARG is not an ARG)."""
        column = _column_reader(features)
        arg_identity, neg_identity = column("alignment:arg_identity"), column("alignment:neg_identity")
        profile_passes = column("hmm:hit") > 0
        closer_to_arg = arg_identity > np.nan_to_num(neg_identity, nan=-1.0)
        return self.close_reference(features) | (profile_passes & closer_to_arg)

    def mutation_family(self, features: pd.DataFrame, nearest_references: Sequence[Any]) -> np.ndarray:
        """Records whose nearest ARG reference is a homolog of a CARD variant / overexpression / knockout model
        (record meta ``mutation_model``: GyrA, ParC, RpoB, PBP2x, FusA, MarR, SoxR, MexZ, ...) and is not a close
        reference (:meth:`close_reference`). Such a reference is a resistant allele of a housekeeping gene or
        regulator that every genome carries; a remote homolog of it is that housekeeping gene, resistant only
        with mutations that similarity cannot see (RGI and AMRFinderPlus call these only with the mutation)."""
        flagged = np.array([isinstance(ref, str) and ref in self.mutation_references for ref in nearest_references], dtype=bool)
        return flagged & ~np.asarray(self.close_reference(features), dtype=bool)

    def decide(self, features: pd.DataFrame, scores: dict[str, np.ndarray], nearest_references: Sequence[Any] | None = None) -> dict[str, np.ndarray]:
        """The curated-rule calls of AMRFinderPlus / ResFinder over the stacker's ``is_arg``.

        With ``call_needs_evidence`` the stacker ranks within two tiers — ``0.5 + 0.5 · p`` for :meth:`supported`
        records, ``0.5 · p`` for the others — so a call at 0.5 needs an alignment or profile behind it: the
        stacker alone never earned one (five folds of arg_v2 at 0.5: 192 ARGs against 364 false calls, below 50 %
        precision at every threshold up to 0.9; held-out proteomes: 4 against 49). Then with
        ``close_reference_call`` a record with a close ARG reference (:meth:`close_reference`) has at least that
        probability, with ``close_negative_call`` one with a close non-ARG reference (:meth:`close_negative`) at
        most that one, and with ``mutation_family_call`` one whose nearest ARG reference (``nearest_references``, one
        id per record) is a remote resistant allele of a housekeeping gene (:meth:`mutation_family`) at most that one.
        The stacker learns from out-of-group evidence (remote homologs only), so it never sees close hits at fit."""
        floor, ceiling, tiers = self.params.get("close_reference_call"), self.params.get("close_negative_call"), self.params.get("call_needs_evidence")
        mutation_ceiling = self.params.get("mutation_family_call") if nearest_references is not None else None
        if "is_arg" not in scores or (floor is None and ceiling is None and mutation_ceiling is None and not tiers):
            return scores
        is_arg = scores["is_arg"]
        if tiers:
            is_arg = np.where(self.supported(features), 0.5 + 0.5 * is_arg, 0.5 * is_arg)
        if floor is not None:
            is_arg = np.where(self.close_reference(features), np.maximum(is_arg, floor), is_arg)
        if ceiling is not None:
            is_arg = np.where(self.close_negative(features), np.minimum(is_arg, ceiling), is_arg)
        if mutation_ceiling is not None:
            is_arg = np.where(self.mutation_family(features, nearest_references), np.minimum(is_arg, mutation_ceiling), is_arg)
        return {**scores, "is_arg": is_arg}

    def _evidence_columns(self, raw: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
        n = len(features)

        def col(name: str, default: Any = math.nan) -> np.ndarray:
            return raw[name].to_numpy() if name in raw.columns else np.full(n, default, dtype=object)

        out = pd.DataFrame({
            "nearest_reference": col("alignment:arg_reference", ""),
            "reference_identity": col("alignment:arg_identity"),
            "reference_query_coverage": col("alignment:arg_query_coverage"),
            "reference_coverage": col("alignment:arg_reference_coverage"),
            "reference_evalue": [10 ** v if isinstance(v, float) and math.isfinite(v) else math.nan for v in col("alignment:arg_log10_evalue")],
            "reference_length": col("alignment:arg_reference_length"),
            "reference_bitscore": col("alignment:arg_bitscore"),
            "nearest_negative": col("alignment:neg_reference", ""),
            "negative_identity": col("alignment:neg_identity"),
            "negative_query_coverage": col("alignment:neg_query_coverage"),
            "negative_bitscore": col("alignment:neg_bitscore"),
            "hmm_profile": col("hmm:best_profile", ""),
            "hmm_bitscore": col("hmm:hmm_bitscore"),
            "hmm_trusted_cutoff": col("hmm:hmm_trusted_cutoff"),
        })
        out["mutation_model"] = [self.mutation_references.get(ref, "") if isinstance(ref, str) else "" for ref in out["nearest_reference"]]
        hmm_pass = (col("hmm:status", "") == STATUS_OK) if "hmm:status" in raw.columns else np.zeros(n, dtype=bool)
        model_scores = {name: features[f"{name}:is_arg"].to_numpy() for name in self.params["bases"] if f"{name}:is_arg" in features.columns}
        basis, text = [], []
        for i, row in enumerate(out.itertuples(index=False)):
            basis.append(self.call_basis(row, bool(hmm_pass[i]), _float(raw, "alignment:neg_bitscore", i), _float(raw, "alignment:arg_bitscore", i)))
            text.append(_evidence_text(row, bool(hmm_pass[i]), {k: float(v[i]) for k, v in model_scores.items()}))
        out.insert(0, "call_basis", basis)
        out.insert(1, "evidence", text)
        return out[list(EVIDENCE_COLUMNS)]

    def call_basis(self, row: Any, hmm_passes: bool, neg_bits: float, arg_bits: float) -> str:
        """The strongest evidence for the ARG hypothesis of one record (module docstring)."""
        beats_negative = not math.isfinite(neg_bits) or (math.isfinite(arg_bits) and arg_bits > neg_bits)
        p = self.params
        basis = alignment_basis(
            row.reference_identity, row.reference_query_coverage, row.reference_coverage,
            min_identity=p["alignment_identity"], min_coverage=p["alignment_coverage"],
        ) if beats_negative else None
        return basis or (HMM if hmm_passes else MODEL)

    def fit_info(self) -> dict[str, Any]:
        info = dict(self._info)
        for name, method in self.base_methods.items():
            info.update({f"{name}:{k}": v for k, v in method.fit_info().items()})
        return info

    # -- persistence -------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        directory = self._write_manifest(directory, fit_info=self._info)
        for name, method in self.base_methods.items():
            method.save(directory / BASES_DIR / name)
        state = {
            "feature_names": self.feature_names, "task_features": self.task_features, "models": self.models, "calibrators": self.calibrators,
            "mutation_references": self.mutation_references,
        }
        joblib.dump(state, directory / STACKER_FILE)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Fusion:
        directory = Path(directory)
        method = cls._from_manifest(directory)
        method.base_methods = {name: load_method(directory / BASES_DIR / name) for name in method.params["bases"]}
        state = joblib.load(directory / STACKER_FILE)
        method.feature_names, method.models, method.calibrators = state["feature_names"], state["models"], state["calibrators"]
        method.task_features = state.get("task_features", {})
        method.mutation_references = state.get("mutation_references", {})
        return method


@dataclass
class PooledClassStacker:
    """One classifier shared by every class of a multi-label / multi-class task.

    A row per (record, class): the record's class-independent evidence (length, hit flags, is_arg
    scores, identities, bitscores...), each base's score for *that* class, whether it is that base's
    top class, and the class's training frequency. What the stacker learns — how far to trust an
    alignment's or a profile's class vote at a given identity or bitscore — is shared by all classes,
    so a drug class with a dozen training ARGs borrows it from the frequent ones instead of getting a
    model of its own fitted on a dozen positives.
    """

    classes: list[str]
    class_columns: dict[str, list[str]]  # base -> its score column per class (in ``classes`` order)
    record_columns: list[str]
    prior: np.ndarray
    model: Any = None

    @classmethod
    def for_task(cls, task: TaskSpec, columns: Sequence[str], multi_tasks: Sequence[TaskSpec], onehot: np.ndarray) -> PooledClassStacker:
        columns = list(columns)
        bases = sorted({c.split(":", 1)[0] for c in columns if ":" in c})
        class_columns = {b: [f"{b}:{task.name}:{c}" for c in task.classes] for b in bases}
        class_columns = {b: cols for b, cols in class_columns.items() if all(c in columns for c in cols)}
        per_class = class_score_columns(columns, multi_tasks)
        prior = onehot.mean(axis=0) if len(onehot) else np.zeros(task.n_outputs)
        return cls(list(task.classes), class_columns, [c for c in columns if c not in per_class], prior)

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """``(n · k, features)``: row ``i · k + j`` is record ``i`` and class ``j``."""
        n, k = len(features), len(self.classes)
        parts = [np.repeat(features.reindex(columns=self.record_columns).to_numpy(dtype=float), k, axis=0)]
        for cols in self.class_columns.values():
            scores = np.nan_to_num(features.reindex(columns=cols).to_numpy(dtype=float))
            top = (scores > 0) & (scores >= scores.max(axis=1, keepdims=True))
            parts += [scores.reshape(-1, 1), top.reshape(-1, 1).astype(float)]
        parts.append(np.tile(self.prior, n).reshape(-1, 1))
        return np.hstack(parts)

    def fit(self, make: Any, features: pd.DataFrame, onehot: np.ndarray, weights: np.ndarray) -> PooledClassStacker:
        k = len(self.classes)
        self.model = _fit_classifier(make, self.matrix(features), np.asarray(onehot).reshape(-1), np.repeat(weights, k))
        return self

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        return _proba(self.model, self.matrix(features)).reshape(len(features), len(self.classes))


def expand_predictions(pred: Predictions, rows: np.ndarray, records: Sequence[Record], tasks: Sequence[TaskSpec]) -> Predictions:
    """Predictions for all ``records`` from predictions of ``records[rows]``: the others get zero scores,
    status ``gated`` and missing extras (what "no evidence" looks like for that base)."""
    n = len(records)
    scores = {t.name: np.zeros((n, t.n_outputs) if t.n_outputs > 1 else n) for t in tasks}
    for t in tasks:
        scores[t.name][rows] = np.asarray(pred.scores[t.name])
    status = [STATUS_GATED] * n
    for j, i in enumerate(rows):
        status[i] = pred.status[j]
    extra = None
    if pred.extra is not None:
        extra = pred.extra.set_axis(rows).reindex(range(n))
        text = [c for c in pred.extra.columns if not pd.api.types.is_numeric_dtype(pred.extra[c])]
        extra[text] = extra[text].fillna("")
    return Predictions(ids=[r.id for r in records], scores=scores, status=status, extra=extra)


def evidence_table(
    records: Sequence[Record], predictions: Mapping[str, Predictions], tasks: Mapping[str, Sequence[TaskSpec]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stacker features (numeric: each base's hit flag, scores and numeric extras, plus length) and the raw
    evidence (every extra column and status, for the evidence text) of ``records``."""
    numeric: dict[str, Any] = {"length": [float(len(r.sequence)) for r in records]}
    raw: dict[str, Any] = {}
    for name, pred in predictions.items():
        numeric[f"{name}:hit"] = [float(s == STATUS_OK) for s in pred.status]
        for t in tasks[name]:
            s = np.asarray(pred.scores[t.name], dtype=float)
            if s.ndim == 1:
                numeric[f"{name}:{t.name}"] = s
            else:
                for j, c in enumerate(t.classes):
                    numeric[f"{name}:{t.name}:{c}"] = s[:, j]
        if pred.extra is not None:
            for col in pred.extra.columns:
                values = pred.extra[col]
                raw[f"{name}:{col}"] = values.to_numpy()
                if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
                    numeric[f"{name}:{col}"] = values.to_numpy(dtype=float)
        raw[f"{name}:status"] = np.asarray(pred.status)
    return pd.DataFrame(numeric), pd.DataFrame(raw)


def base_task_scores(features: pd.DataFrame, base: str, task: TaskSpec) -> np.ndarray:
    """Base ``base``'s own scores for ``task`` from its evidence columns (0 where it gave none)."""
    columns = [f"{base}:{task.name}"] if task.n_outputs == 1 else [f"{base}:{task.name}:{c}" for c in task.classes]
    scores = np.nan_to_num(features.reindex(columns=columns).to_numpy(dtype=float))
    return scores[:, 0] if task.n_outputs == 1 else scores


def class_score_columns(columns: Sequence[str], tasks: Sequence[TaskSpec]) -> set[str]:
    """The per-class score columns (``<base>:<task>:<class>``) among evidence ``columns``."""
    bases = {c.split(":", 1)[0] for c in columns if ":" in c}
    return {f"{b}:{t.name}:{c}" for b in bases for t in tasks if t.n_outputs > 1 for c in t.classes} & set(columns)


def _setting_by_task(name: str, default: str, by_task: Mapping[str, str] | None, allowed: Sequence[str]) -> dict[str, str]:
    """``by_task`` as ``{task: value}``; ``default`` and every value must be one of ``allowed``."""
    out = {str(k): str(v) for k, v in (by_task or {}).items()}
    for value in (default, *out.values()):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")
    return out


def _column_reader(features: pd.DataFrame) -> Any:
    """``column(name)``: that feature column as floats, all NaN when the evidence lacks it."""
    def column(name: str) -> np.ndarray:
        return features[name].to_numpy(dtype=float) if name in features.columns else np.full(len(features), np.nan)

    return column


def _init_params(cls: type) -> set[str]:
    import inspect

    return set(inspect.signature(cls.__init__).parameters)


def _balanced(y: np.ndarray) -> np.ndarray:
    """Per-row weights n / (n_classes · n_class): every class weighs as much in total (rare drug classes too)."""
    values, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    return (len(y) / (len(values) * counts))[inverse]


def _fit_classifier(make: Any, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
    """A fitted ``make()`` classifier, or ``("constant", value)`` when ``y`` holds one class only."""
    present = np.unique(y)
    if len(present) < 2:
        return ("constant", present[0].item() if len(present) else 0)
    model = make()
    weight_key = f"{model.steps[-1][0]}__sample_weight" if hasattr(model, "steps") else "sample_weight"
    return model.fit(x, y.astype(int), **{weight_key: w})


def _infinite_as_missing(x: np.ndarray) -> np.ndarray:
    """±inf evidence (e.g. a log-ratio without a hit) as NaN, for stackers that impute."""
    return np.where(np.isfinite(x), x, np.nan)


def _proba(model: Any, x: np.ndarray) -> np.ndarray:
    if isinstance(model, tuple):
        return np.full(len(x), float(model[1]))
    return model.predict_proba(x)[:, 1]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _float(raw: pd.DataFrame, column: str, i: int) -> float:
    if column not in raw.columns:
        return math.nan
    value = raw[column].iloc[i]
    return float(value) if _finite(value) else math.nan


def mutation_references(records: Sequence[Record]) -> dict[str, str]:
    """``{id: mutation model}`` of the ARG records that are homologs of a CARD mutation model (meta ``mutation_model``)."""
    return {r.id: str(r.meta[MUTATION_MODEL]) for r in records if r.meta.get(MUTATION_MODEL) and r.label("is_arg") == 1}


def _nearest_references(raw: pd.DataFrame) -> list[Any]:
    """The nearest ARG reference of every record (``alignment:arg_reference``; empty without an alignment base)."""
    return raw["alignment:arg_reference"].tolist() if "alignment:arg_reference" in raw.columns else [""] * len(raw)


def _evidence_text(row: Any, hmm_passes: bool, model_scores: Mapping[str, float]) -> str:
    """One readable line: nearest ARG and non-ARG reference, best profile vs its cut-off, base scores."""
    parts = []
    if row.nearest_reference:
        parts.append(
            f"ARG ref {row.nearest_reference} {row.reference_identity:.1f}% id, "
            f"cov {row.reference_query_coverage:.0f}%/{row.reference_coverage:.0f}%"
        )
    if row.nearest_negative:
        parts.append(f"non-ARG ref {row.nearest_negative} {row.negative_identity:.1f}% id")
    if row.hmm_profile:
        relation = ">=" if hmm_passes else "<"
        parts.append(f"HMM {row.hmm_profile} {row.hmm_bitscore:.1f} bits {relation} TC {row.hmm_trusted_cutoff:.1f}")
    if row.mutation_model:
        parts.append(f"ARG ref is a resistant allele of {row.mutation_model} (CARD mutation model; mutations not checked)")
    parts += [f"{name} {score:.2f}" for name, score in model_scores.items() if math.isfinite(score)]
    return "; ".join(parts) if parts else "no alignment or profile hit"
