"""The ARG annotation bundle: a fitted method plus the reference sequences it learned from.

Layout of a bundle directory (what ``predict --model`` takes)::

    method.json + method files   a saved Method (``Method.save``), loaded with ``load_method``
    reference/sequences.faa      the training sequences
    reference/sequences.dmnd     the same as a DIAMOND database (rebuilt from the FASTA when needed;
                                 not written for methods that report their own evidence)
    reference/labels.tsv         their labels (id, one column per task, provenance columns)
    bundle.json                  model version, dataset name/version, training-data summary,
                                 cross-validated numbers, optional tuned thresholds

The references give every prediction its evidence (nearest reference, identity, coverage) and
decide the novelty flag. A method that reports the nearest-reference evidence itself
(``Method.reports_reference_evidence``, e.g. ``fusion``: nearest ARG reference, nearest non-ARG
reference, best profile HMM) is not searched against them a second time; ``labels.tsv`` still gives
the labels of the reference it names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from biotune import __version__
from biotune.errors import InputError
from biotune.homology import diamond
from biotune.io.fasta import read_fasta, write_fasta
from biotune.methods.base import Method, load_method
from biotune.predict.annotation import CallRules
from biotune.tasks import TaskSpec

BUNDLE_FILE = "bundle.json"
REFERENCE_DIR = "reference"
REFERENCE_FASTA = "sequences.faa"
REFERENCE_DB = "sequences.dmnd"
REFERENCE_LABELS = "labels.tsv"
BUNDLE_FORMAT = "biotune-arg-annotation-bundle"
BUNDLE_FORMAT_VERSION = 1


@dataclass
class AnnotationBundle:
    """A loaded bundle: the method, the manifest and the labels of the reference sequences."""

    directory: Path
    manifest: dict[str, Any]
    method: Method
    reference_labels: pd.DataFrame

    @property
    def model_version(self) -> str:
        return str(self.manifest["model_version"])

    @property
    def tasks(self) -> list[TaskSpec]:
        return list(self.method.tasks)

    @property
    def reports_reference_evidence(self) -> bool:
        """The method's predictions carry the nearest-reference evidence: ``predict`` runs no reference search."""
        return bool(getattr(self.method, "reports_reference_evidence", False))

    @property
    def reference_db(self) -> Path:
        """The DIAMOND database of the references, rebuilt from the FASTA when absent (e.g. another DIAMOND version)."""
        db = self.directory / REFERENCE_DIR / REFERENCE_DB
        if not db.exists():
            sequences = {r.id: r.sequence for r in read_fasta(self.directory / REFERENCE_DIR / REFERENCE_FASTA)}
            diamond.make_db(sequences, db)
        return db

    def call_rules(self, base: CallRules) -> CallRules:
        """``base`` with the thresholds the bundle carries (tuned at build time) taking precedence."""
        tuned = self.manifest.get("thresholds") or {}
        return CallRules(
            is_arg_threshold=float(tuned.get("is_arg", base.is_arg_threshold)),
            class_threshold=base.class_threshold,
            class_thresholds={**base.class_thresholds, **(tuned.get("drug_class") or {})},
            novelty_identity=base.novelty_identity,
            alignment_identity=base.alignment_identity,
            alignment_coverage=base.alignment_coverage,
        )


def load_bundle(directory: str | Path) -> AnnotationBundle:
    """Load a bundle written by :func:`write_bundle`; every missing piece is a one-line :class:`InputError`."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise InputError("model bundle not found (expected a directory)", path=directory)
    for required in (BUNDLE_FILE, "method.json", f"{REFERENCE_DIR}/{REFERENCE_LABELS}", f"{REFERENCE_DIR}/{REFERENCE_FASTA}"):
        if not (directory / required).exists():
            raise InputError(f"not an ARG annotation bundle: {required} is missing", path=directory)
    manifest = json.loads((directory / BUNDLE_FILE).read_text())
    if manifest.get("format") != BUNDLE_FORMAT:
        raise InputError(f"not an ARG annotation bundle: {BUNDLE_FILE} has format {manifest.get('format')!r}", path=directory)
    try:
        if manifest.get("method_module"):
            importlib.import_module(manifest["method_module"])  # registers just this method: no torch for kmer_lr
        method = load_method(directory)
    except (KeyError, ImportError) as exc:
        raise InputError(f"cannot load the bundle's method: {exc}", path=directory) from None
    labels = pd.read_csv(directory / REFERENCE_DIR / REFERENCE_LABELS, sep="\t", dtype=str, keep_default_na=False)
    return AnnotationBundle(directory=directory, manifest=manifest, method=method, reference_labels=labels.set_index("id"))


def write_bundle(
    method: Method,
    references: pd.DataFrame,
    directory: str | Path,
    *,
    name: str,
    dataset: dict[str, Any],
    cross_validation: dict[str, Any] | None = None,
    thresholds: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    threads: int | None = None,
) -> Path:
    """Save a fitted ``method`` with its references as a bundle; returns the directory.

    ``references`` has ``id`` and ``sequence`` columns plus label/provenance columns (strings).
    ``dataset`` summarises the training data (name, version, counts) for ``bundle.json``.
    """
    directory = Path(directory).expanduser()
    method.save(directory)
    ref_dir = directory / REFERENCE_DIR
    ref_dir.mkdir(parents=True, exist_ok=True)
    write_fasta(zip(references["id"], references["sequence"]), ref_dir / REFERENCE_FASTA)
    searched = not getattr(method, "reports_reference_evidence", False)
    if searched:  # else predict never searches the references (AnnotationBundle.reference_db builds it on demand)
        diamond.make_db(dict(zip(references["id"], references["sequence"])), ref_dir / REFERENCE_DB, threads=threads)
    references.drop(columns="sequence").to_csv(ref_dir / REFERENCE_LABELS, sep="\t", index=False, lineterminator="\n")
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "name": name,
        "model_version": f"{name}-{method.name}-{_fingerprint(directory)}",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "biotune_version": __version__,
        "method": method.name,
        "method_module": type(method).__module__,
        "method_params": method.params,
        "method_fit_revision": method.fit_revision,
        "tasks": [t.to_dict() for t in method.tasks],
        "dataset": dataset,
        "reference": {"sequences": int(len(references)), "database": f"{REFERENCE_DIR}/{REFERENCE_DB}" if searched else None},
        "cross_validation": cross_validation,
        "thresholds": thresholds,
        "notes": notes or [],
    }
    (directory / BUNDLE_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return directory


def _fingerprint(directory: Path) -> str:
    """Short content hash of the saved method and reference labels: changes whenever the model does."""
    digest = hashlib.sha256()
    files = [p for p in sorted(directory.rglob("*")) if p.is_file() and p.name not in (BUNDLE_FILE, REFERENCE_DB)]
    for path in files:
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]
