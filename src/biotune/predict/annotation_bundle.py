"""The ARG annotation bundle: a fitted method plus the reference sequences it learned from.

Layout of a bundle directory (what ``predict --model`` takes)::

    method.json + method files   a saved Method (``Method.save``), loaded with ``load_method``
    reference/sequences.faa      the training sequences
    reference/sequences.dmnd     the same as a DIAMOND database (rebuilt from the FASTA when needed;
                                 not written for methods that report their own evidence)
    reference/labels.tsv         their labels (id, one column per task, provenance columns)
    bundle.json                  model version, dataset name/version, training-data summary,
                                 cross-validated numbers, optional tuned thresholds, and the size and
                                 SHA-256 of every other file of the bundle (``files``), and the
                                 SHA-256 of its own content (``manifest_sha256``)

The references give every prediction its evidence (nearest reference, identity, coverage) and
decide the novelty flag. A method that reports the nearest-reference evidence itself
(``Method.reports_reference_evidence``, e.g. ``fusion``: nearest ARG reference, nearest non-ARG
reference, best profile HMM) is not searched against them a second time; ``labels.tsv`` still gives
the labels of the reference it names.

A bundle is checked before it is used: a file that is missing, cut short or changed since the bundle was
written (its size or SHA-256 differs from ``bundle.json``) is a one-line :class:`InputError` naming it,
never a model that silently predicts something else; so is a ``bundle.json`` whose values changed (its
content no longer gives the SHA-256 it records: a wrong model version or cross-validated number in
every report otherwise). DIAMOND databases are derived files: a missing one
is rebuilt from the bundle's sequences, and one built by another DIAMOND version than the recorded
``diamond_version`` is not compared (DIAMOND's output differs between versions, not between runs).
Bundles written before the checksums were recorded are still loaded; damage to them is reported by the
file readers (same one-line errors, without the file's name when a reader does not give it).
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
from biotune.data.download import sha256_file
from biotune.errors import BiotuneError, InputError, ToolError, one_line
from biotune.homology import diamond
from biotune.io.atomic import write_atomically
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
FILES_KEY = "files"
MANIFEST_KEY = "manifest_sha256"
DATABASE_SUFFIX = ".dmnd"
REBUILD_HINT = "restore the bundle or build it again (biotune arg train-default --force)"


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
        """The DIAMOND database of the references, rebuilt from the FASTA when absent (e.g. deleted because it
        was damaged; :func:`diamond.make_db` writes it under a temporary name first)."""
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
    manifest = read_manifest(directory / BUNDLE_FILE)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise InputError(f"not an ARG annotation bundle: {BUNDLE_FILE} has format {manifest.get('format')!r}", path=directory)
    verify_manifest(directory / BUNDLE_FILE, manifest)
    verify_files(directory, manifest)
    try:
        if manifest.get("method_module"):
            importlib.import_module(manifest["method_module"])  # registers just this method: no torch for kmer_lr
        method = load_method(directory)
    except BiotuneError:
        raise  # already names the file (e.g. a damaged profile library)
    except ImportError as exc:
        raise InputError(f"cannot load the bundle's method: {exc}", path=directory) from None
    except KeyError as exc:
        if "unknown method" in str(exc):
            raise InputError(f"cannot load the bundle's method: {exc.args[0]}", path=directory) from None
        raise _damaged_method(directory, exc) from None
    except FileNotFoundError as exc:
        raise InputError(f"bundle file missing; {REBUILD_HINT}", path=exc.filename or directory) from None
    except Exception as exc:  # unpickling a cut or damaged file raises EOFError, UnpicklingError, ValueError, ...
        raise _damaged_method(directory, exc) from None
    labels_path = directory / REFERENCE_DIR / REFERENCE_LABELS
    try:
        labels = pd.read_csv(labels_path, sep="\t", dtype=str, keep_default_na=False).set_index("id")
    except (ValueError, KeyError) as exc:  # pandas' ParserError / EmptyDataError are ValueErrors; KeyError: no id column
        raise InputError(f"cannot read the reference labels, file truncated or damaged ({one_line(exc)}); {REBUILD_HINT}", path=labels_path) from None
    expected = (manifest.get("reference") or {}).get("sequences")
    if isinstance(expected, int) and len(labels) != expected:  # a cut at a line end still parses (bundles without checksums)
        raise InputError(
            f"reference labels truncated or damaged: {len(labels)} rows where {BUNDLE_FILE} records {expected} reference sequences; {REBUILD_HINT}",
            path=labels_path,
        )
    return AnnotationBundle(directory=directory, manifest=manifest, method=method, reference_labels=labels)


def read_manifest(path: Path) -> dict[str, Any]:
    """``bundle.json`` as a dict; a cut or damaged file is a one-line :class:`InputError` naming it."""
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(f"not valid JSON, file truncated or damaged ({one_line(exc)}); {REBUILD_HINT}", path=path) from None
    if not isinstance(manifest, dict):
        raise InputError(f"not an ARG annotation bundle manifest (a JSON object is expected); {REBUILD_HINT}", path=path)
    return manifest


def file_records(directory: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file of a bundle but ``bundle.json``, by path relative to ``directory``."""
    records = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_file() and relative != BUNDLE_FILE:
            records[relative] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return records


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's content (every key but its own checksum; formatting does not count)."""
    content = {k: v for k, v in manifest.items() if k != MANIFEST_KEY}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def verify_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """``bundle.json``'s values are those it was written with (bundles written before this check pass)."""
    if MANIFEST_KEY in manifest and manifest[MANIFEST_KEY] != manifest_digest(manifest):
        raise InputError(f"bundle file damaged: its content differs from the SHA-256 it records; {REBUILD_HINT}", path=path)


def verify_files(directory: Path, manifest: dict[str, Any]) -> None:
    """Check every file ``bundle.json`` lists against its recorded size and SHA-256 (see the module docstring).

    A missing DIAMOND database is fine (rebuilt on use); one built by another DIAMOND version than the
    bundle records is not compared.
    """
    recorded = manifest.get(FILES_KEY)
    if not isinstance(recorded, dict):
        return  # written before the checksums were recorded
    compare_databases = _same_diamond(manifest.get("diamond_version"))
    for relative, expected in recorded.items():
        path = directory / relative
        database = relative.endswith(DATABASE_SUFFIX)
        hint = "delete it: biotune rebuilds it from the bundle's reference sequences" if database else REBUILD_HINT
        if not path.is_file():
            if database:
                continue
            raise InputError(f"bundle file missing ({BUNDLE_FILE} lists it); {hint}", path=path)
        if database and not compare_databases:
            continue
        what = "DIAMOND database" if database else "bundle file"
        expected = expected if isinstance(expected, dict) else {}
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise InputError(f"{what} truncated or damaged: {size} bytes where {BUNDLE_FILE} records {expected.get('bytes')}; {hint}", path=path)
        if sha256_file(path) != expected.get("sha256"):
            raise InputError(f"{what} damaged: its SHA-256 differs from the one {BUNDLE_FILE} records; {hint}", path=path)


def _same_diamond(recorded: str | None) -> bool:
    if not recorded:
        return False
    try:
        return diamond.version() == recorded
    except ToolError:
        return False  # no DIAMOND: the search says so


def _damaged_method(directory: Path, exc: BaseException) -> InputError:
    return InputError(
        f"cannot load the bundle's method, a file of it is truncated or damaged ({type(exc).__name__}: {one_line(exc)}); {REBUILD_HINT}",
        path=directory,
    )




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
    manifest[FILES_KEY] = file_records(directory)
    if any(name.endswith(DATABASE_SUFFIX) for name in manifest[FILES_KEY]):
        manifest["diamond_version"] = diamond.version()
    manifest = json.loads(json.dumps(manifest, default=str))  # as it reads back
    manifest[MANIFEST_KEY] = manifest_digest(manifest)
    write_atomically(directory / BUNDLE_FILE, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())  # last: marks a complete bundle
    return directory


def _fingerprint(directory: Path) -> str:
    """Short content hash of the saved method and reference labels: changes whenever the model does."""
    digest = hashlib.sha256()
    files = [p for p in sorted(directory.rglob("*")) if p.is_file() and p.name not in (BUNDLE_FILE, REFERENCE_DB)]
    for path in files:
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]
