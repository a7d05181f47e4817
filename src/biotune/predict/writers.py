"""Output files of ``biotune predict``, written as the annotations stream in.

``predictions.tsv`` (one row per protein or status record, :data:`TSV_COLUMNS`), ``predictions.json``
(the same with every class probability, plus run metadata and summary), ``report.html`` (see
:mod:`biotune.predict.report`) and, on request, ``hamronization.tsv`` (ARG calls in the PHA4GE
hAMRonization layout, records built by the ``hamronization`` package, ready for ``hamronize summarize``; the call basis — EXACT /
ALIGNMENT / HMM / MODEL — goes to ``predicted_phenotype_confidence_level``, where hAMRonization puts
RGI's Perfect/Strict/Loose cut-off, and the reference evidence to the reference/identity/coverage
fields; the schema has no free-text field for the rest of the evidence line).

Files are written under a ``.partial`` name and renamed when the run completes, so an interrupted
run never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import csv
import dataclasses
import heapq
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from hAMRonization.hAMRonizedResult import hAMRonizedResult

from biotune import __version__
from biotune.predict.annotation import Annotation, RunSummary

TSV_FILE = "predictions.tsv"
JSON_FILE = "predictions.json"
REPORT_FILE = "report.html"
HAMRONIZATION_FILE = "hamronization.tsv"
PARTIAL_SUFFIX = ".partial"

TSV_COLUMNS: tuple[str, ...] = (
    "record", "id", "contig", "start", "end", "strand", "partial", "length",
    "is_arg_probability", "is_arg", "call_basis", "evidence", "drug_classes", "drug_class_probabilities", "mechanism", "mechanism_probability",
    "nearest_reference", "reference_identity", "reference_query_coverage", "reference_coverage",
    "reference_is_arg", "reference_drug_classes", "reference_mechanism",
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


class PredictionWriter:
    """Streams annotations to the output directory; :meth:`finish` completes the files and the report."""

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
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.input_file = str(input_file)
        self.model = model
        self.settings = settings or {}
        self.top = TopRows(report_rows)
        self._files: dict[str, TextIO] = {}
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

    def _open(self, name: str) -> TextIO:
        handle = open(self.out_dir / (name + PARTIAL_SUFFIX), "w", encoding="utf-8", newline="")
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
        """Close every file, write the report, and move the outputs to their final names."""
        from biotune.predict.report import render_report

        self._json.write("\n ],\n " + json.dumps({"summary": summary.to_dict()})[1:-1] + "\n}\n")
        html = render_report(
            summary, self.top.rows(), model=self.model, settings=self.settings, table_limit=self.top.limit
        )
        self._open(REPORT_FILE).write(html)
        return self._close(keep=True)

    def abort(self) -> None:
        """Close and delete the partial files (the run failed)."""
        self._close(keep=False)

    def _close(self, *, keep: bool) -> dict[str, Path]:
        final = {}
        for name, handle in self._files.items():
            handle.close()
            partial = self.out_dir / (name + PARTIAL_SUFFIX)
            if keep:
                final[name] = partial.replace(self.out_dir / name)
            else:
                partial.unlink(missing_ok=True)
        self._files.clear()
        return final

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._files:
            self.abort()
