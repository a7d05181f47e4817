"""Output files of ``biotune predict``, written as the annotations stream in.

``predictions.tsv`` (one row per protein or status record, :data:`TSV_COLUMNS`), ``predictions.json``
(the same with every class probability, plus run metadata and summary), ``report.html`` (see
:mod:`biotune.predict.report`) and, on request, ``hamronization.tsv`` (ARG calls in the PHA4GE
hAMRonization layout, records built by the ``hamronization`` package, ready for ``hamronize summarize``; the call basis — EXACT /
ALIGNMENT / HMM / MODEL — goes to ``predicted_phenotype_confidence_level``, where hAMRonization puts
RGI's Perfect/Strict/Loose cut-off, and the reference evidence to the reference/identity/coverage
fields; the schema has no free-text field for the rest of the evidence line).

Safe to interrupt, safe to share a folder:

* **atomic**: every file is written to a hidden temporary file in the output folder
  (``.predictions.tsv.<random>.partial``); when the run completes all of them are flushed, fsync'ed and
  closed, and only then renamed (``os.replace``) to their final names, and the folder is fsync'ed. A run
  that fails (bad input, disk full) or is interrupted never leaves a partial file under a final name;
  the previous run's files stay as they were. Temporary files of a killed run are removed by the next.
* **one run per folder**: a run holds an exclusive lock (``flock``) on ``.biotune-predict.lock`` in the
  folder, with its pid inside. A second ``biotune predict`` into the same folder stops at once with a
  one-line :class:`~biotune.errors.OutputError` naming the folder and that pid. The kernel drops the
  lock when its process ends, however it ends, so a lock file left by a dead run is simply taken over.
* **disk full** (or a file-size limit) is a one-line :class:`~biotune.errors.OutputError` naming the
  file that could not be written.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import heapq
import json
import math
import os
import secrets
import signal
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hAMRonization.hAMRonizedResult import hAMRonizedResult

from biotune import __version__
from biotune.errors import OutputError
from biotune.predict.annotation import Annotation, RunSummary

TSV_FILE = "predictions.tsv"
JSON_FILE = "predictions.json"
REPORT_FILE = "report.html"
HAMRONIZATION_FILE = "hamronization.tsv"
OUTPUT_FILES = (TSV_FILE, JSON_FILE, REPORT_FILE, HAMRONIZATION_FILE)
PARTIAL_SUFFIX = ".partial"
LOCK_FILE = ".biotune-predict.lock"

TSV_COLUMNS: tuple[str, ...] = (
    "record", "id", "contig", "start", "end", "strand", "partial", "length",
    "is_arg_probability", "is_arg", "call_basis", "evidence", "drug_classes", "drug_class_probabilities", "mechanism", "mechanism_probability",
    "nearest_reference", "reference_identity", "reference_query_coverage", "reference_coverage",
    "reference_is_arg", "reference_drug_classes", "reference_mechanism", "reference_mobility",
    "novel", "status", "model_version",
)  # fmt: skip

#: hAMRonization fields, mandatory first: those of the ``hamronization`` package's ``hAMRonizedResult``.
HAMRONIZATION_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(hAMRonizedResult))
GENE_PRESENCE = "gene_presence_detected"
LIST_SEPARATOR = ";"


def cell(value: Any) -> str:
    """A TSV cell: empty for missing values, ``true``/``false`` for booleans, lists joined with ``;``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.join(str(v) for v in value)
    return str(value)


def tsv_row(ann: Annotation) -> dict[str, str]:
    """The flat TSV view of an annotation: called classes only, with their probabilities."""
    labels = ann.reference_labels
    values: dict[str, Any] = {name: getattr(ann, name) for name in TSV_COLUMNS if hasattr(ann, name)}
    values["drug_class_probabilities"] = [f"{c}:{ann.drug_class_probabilities[c]:.4f}" for c in ann.drug_classes]
    values["reference_is_arg"] = labels.get("is_arg")
    values["reference_drug_classes"] = labels.get("drug_class")
    values["reference_mechanism"] = labels.get("mechanism")
    values["reference_mobility"] = labels.get("mobility")
    return {name: cell(values.get(name)) for name in TSV_COLUMNS}


def input_file_stem(path: str | Path) -> str:
    """hAMRonization's normalised input file name: basename without ``.gz`` and FASTA suffixes."""
    name = Path(path).name
    for suffix in (".gz", ".fna", ".fasta", ".fsa", ".faa", ".fa"):
        name = name.removesuffix(suffix)
    return name


def hamronization_row(ann: Annotation, *, input_file: str, database: dict[str, Any]) -> dict[str, str]:
    """One hAMRonization record for an ARG call, built (type-checked, mandatory fields enforced) by the
    ``hamronization`` package; the gene symbol is the nearest reference (``novel`` if none)."""
    ref = ann.nearest_reference
    symbol = ann.reference_labels.get("gene") or ref or "novel"
    classes = ", ".join(ann.drug_classes)
    values: dict[str, Any] = {
        "input_file_name": input_file_stem(input_file),
        "gene_symbol": symbol.replace(" ", "_"),
        "gene_name": f"predicted ARG ({classes}; {ann.mechanism or 'mechanism unknown'})",
        "reference_database_name": database.get("name", ""),
        "reference_database_version": database.get("version", ""),
        "reference_accession": ref,
        "analysis_software_name": "biotune",
        "analysis_software_version": f"{__version__} ({ann.model_version})",
        "genetic_variation_type": GENE_PRESENCE,
        "predicted_phenotype_confidence_level": ann.call_basis,
        "coverage_percentage": ann.reference_coverage,
        "drug_class": classes,
        "input_protein_length": ann.length,
        "input_protein_start": 1 if ann.length else None,
        "input_protein_stop": ann.length,
        "input_sequence_id": ann.contig or ann.id,
        "reference_protein_length": ann.reference_length,
        "resistance_mechanism": ann.mechanism,
        "strand_orientation": ann.strand,
        "sequence_identity": ann.reference_identity,
    }
    if ann.start is not None and ann.end is not None:
        values.update(input_gene_start=ann.start, input_gene_stop=ann.end, input_gene_length=ann.end - ann.start + 1)
    missing = {k: None for k, v in values.items() if v is None or v == "" or (isinstance(v, float) and math.isnan(v))}
    result = hAMRonizedResult(**{**values, **missing})
    return {name: cell(value) for name, value in dataclasses.asdict(result).items()}


def json_record(ann: Annotation) -> dict[str, Any]:
    """The JSON view of an annotation: every field, with the method's evidence details (nearest non-ARG
    reference, best profile HMM, bitscore, trusted cut-off — when the method reports them) inline."""
    values = ((f.name, getattr(ann, f.name)) for f in dataclasses.fields(ann))  # shallow: asdict deep-copies every dict
    record = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values}
    record.update(record.pop("evidence_details"))
    return record


class TopRows:
    """Keeps the ``limit`` rows with the highest P(ARG) (unscored rows last) for the HTML table."""

    def __init__(self, limit: int):
        self.limit = limit
        self._seen = 0
        self._heap: list[tuple[float, int, Annotation]] = []

    def add(self, annotations: Sequence[Annotation]) -> None:
        for ann in annotations:
            self._seen += 1  # input order breaks ties (genes of one contig share a record number)
            key = (ann.is_arg_probability if ann.is_arg_probability is not None else -1.0, -self._seen, ann)
            if len(self._heap) < self.limit:
                heapq.heappush(self._heap, key)
            elif key[:2] > self._heap[0][:2]:
                heapq.heapreplace(self._heap, key)

    def rows(self) -> list[Annotation]:
        return [ann for _, _, ann in sorted(self._heap, key=lambda k: (-k[0], -k[1]))]


class OutputFolderLock:
    """Exclusive lock of an output folder for one ``biotune predict`` run (see the module docstring).

    ``flock`` on ``.biotune-predict.lock``: released by the kernel when the process ends, so a lock file
    that outlived its run (killed, power cut) never blocks the next one. The file holds the pid (and
    host) of the run that holds the lock, for the error message of the one that is refused.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> OutputFolderLock:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"cannot write in the output folder ({exc.strerror})", path=self.folder) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise OutputError(_in_use(holder), path=self.folder) from None
            except OSError:  # a file system without flock: run unlocked rather than not at all
                os.close(fd)
                return self
            # the previous holder removes the file when it is done: make sure the locked file is the one on disk
            try:
                current = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        except OSError:
            pass  # a full disk: the lock holds all the same, a refused run just cannot name the pid
        return self

    def release(self) -> None:
        """Remove the lock file (while still holding the lock) and unlock."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputFolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


NOT_A_FOLDER = "output folder is not a folder (a file of that name exists)"


def _in_use(holder: str) -> str:
    return f"output folder in use by another biotune predict ({holder}); wait for it to finish or choose another --out"


def _read_holder(fd: int) -> str:
    """``pid N`` (``on HOST`` when another machine's) from a lock file, for the refused run's message."""
    try:
        fields = os.pread(fd, 200, 0).decode(errors="replace").split()
    except OSError:
        fields = []
    if not fields:
        return "pid unknown"
    host = f" on {fields[1]}" if len(fields) > 1 and fields[1] != socket.gethostname() else ""
    return f"pid {fields[0]}{host}"


def prepare_output_folder(folder: str | Path) -> Path:
    """Create ``folder`` (and parents); a path that is not a folder or cannot be created is a one-line
    :class:`OutputError`."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(NOT_A_FOLDER, path=folder) from None
    except OSError as exc:
        raise OutputError(f"cannot create the output folder ({exc.strerror})", path=folder) from None
    return folder


def check_output_folder(folder: str | Path) -> None:
    """Fail early (before the model loads) when ``folder`` is not a folder or another run holds it; creates
    and changes nothing. The lock itself is taken by :class:`PredictionWriter`: this only spares a wait."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(NOT_A_FOLDER, path=folder)
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDWR)
    except OSError:
        return  # no lock file (or an unreadable one): the writer decides
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputError(_in_use(_read_holder(fd)), path=folder) from None
    except OSError:
        pass
    finally:
        os.close(fd)  # and with it the lock, if this check got it


class _AtomicFile:
    """One output file: written to a hidden temporary file in the output folder, renamed by :meth:`publish`.

    Every ``OSError`` (disk full, file-size limit, I/O error) becomes a one-line :class:`OutputError`
    naming the final file.
    """

    def __init__(self, final: Path):
        self.final = final
        while True:  # like tempfile.mkstemp, but with the permissions of a normal file (umask), not 0600
            self.partial = final.with_name(f".{final.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
            try:
                fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise self._error(exc) from None
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def _error(self, exc: OSError) -> OutputError:
        return OutputError(f"cannot write the output ({exc.strerror or exc}); the run stopped and left no partial file", path=self.final)

    def write(self, text: str) -> int:
        try:
            return self.handle.write(text)
        except OSError as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        """Flush, fsync and close: after this the data is on disk, under the temporary name."""
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
        except OSError as exc:
            raise self._error(exc) from None

    def publish(self) -> Path:
        try:
            os.replace(self.partial, self.final)
        except OSError as exc:
            raise self._error(exc) from None
        return self.final

    def discard(self) -> None:
        """Close without caring for errors (a full disk fails the flush again) and delete the temporary file."""
        try:
            self.handle.close()
        except OSError:
            pass
        self.partial.unlink(missing_ok=True)


class PredictionWriter:
    """Streams annotations to the output directory; :meth:`finish` completes the files and the report.

    Holds the folder's :class:`OutputFolderLock` from construction to :meth:`finish` or :meth:`abort`.
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        input_file: str | Path,
        model: dict[str, Any],
        hamronization: bool = False,
        report_rows: int = 2000,
        settings: dict[str, Any] | None = None,
    ):
        self.out_dir = prepare_output_folder(out_dir)
        self.input_file = str(input_file)
        self.model = model
        self.settings = settings or {}
        self.top = TopRows(report_rows)
        self._files: dict[str, _AtomicFile] = {}
        self._lock = OutputFolderLock(self.out_dir).acquire()
        try:
            _remove_stale_partials(self.out_dir)
            self._tsv = csv.DictWriter(self._open(TSV_FILE), fieldnames=TSV_COLUMNS, delimiter="\t", lineterminator="\n")
            self._tsv.writeheader()
            self._json = self._open(JSON_FILE)
            head = {"biotune_version": __version__, "input_file": self.input_file, "model": model}
            self._json.write(json.dumps(head, indent=1)[:-2] + ',\n "records": [')
            self._n_json = 0
            self._hamr = None
            if hamronization:
                self._hamr = csv.DictWriter(
                    self._open(HAMRONIZATION_FILE), fieldnames=HAMRONIZATION_COLUMNS, delimiter="\t", lineterminator="\n"
                )
                self._hamr.writeheader()
        except BaseException:
            self.abort()
            raise

    def _open(self, name: str) -> _AtomicFile:
        handle = _AtomicFile(self.out_dir / name)
        self._files[name] = handle
        return handle

    def write(self, annotations: Sequence[Annotation]) -> None:
        database = self.model.get("dataset") or {}
        for ann in annotations:
            self._tsv.writerow(tsv_row(ann))
            self._json.write(("\n  " if self._n_json == 0 else ",\n  ") + json.dumps(json_record(ann)))
            self._n_json += 1
            if self._hamr is not None and ann.called_arg:
                self._hamr.writerow(hamronization_row(ann, input_file=self.input_file, database=database))
        self.top.add(annotations)

    def finish(self, summary: RunSummary) -> dict[str, Path]:
        """Write the report, make every file durable, then move all of them to their final names."""
        from biotune.predict.report import render_report

        self._json.write("\n ],\n " + json.dumps({"summary": summary.to_dict()})[1:-1] + "\n}\n")
        html = render_report(
            summary, self.top.rows(), model=self.model, settings=self.settings, table_limit=self.top.limit
        )
        self._open(REPORT_FILE).write(html)
        for handle in self._files.values():
            handle.close()  # every file complete on disk before any is renamed
        with _signals_deferred():  # Ctrl-C or SIGTERM between two renames would leave a mix of two runs' files
            final = {name: handle.publish() for name, handle in self._files.items()}
            self._files.clear()
        _fsync_folder(self.out_dir)
        self._lock.release()
        return final

    def abort(self) -> None:
        """Delete the temporary files (the run failed) and release the folder."""
        for handle in self._files.values():
            handle.discard()
        self._files.clear()
        self._lock.release()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (delivered on exit) in the thread that runs the block."""
    deferred = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, deferred)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _remove_stale_partials(folder: Path) -> None:
    """Temporary files of runs that were killed (only the lock holder calls this: no live run owns them)."""
    for name in OUTPUT_FILES:
        for path in [*folder.glob(f".{name}.*{PARTIAL_SUFFIX}"), folder / f"{name}{PARTIAL_SUFFIX}"]:
            path.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make the renames durable (a crash right after the run keeps the new names)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the renames are done all the same
    finally:
        os.close(fd)
