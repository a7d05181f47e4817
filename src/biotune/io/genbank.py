"""GenBank flat files (plain or gzip), streaming: the CDS proteins of an annotated genome, or its contigs.

Parsing is Biopython's; this module adds what a caller needs around it: detection by content (a
``LOCUS`` first line), a parse error as one :class:`~biotune.errors.InputError` naming the file and the
record, and every CDS as a :class:`CDS` — its protein (``/translation``, else the CDS translated with
its ``/transl_table``, 11 by default) or, for a pseudo gene, a CDS whose location or translation table
cannot be read, or one that does not translate as a whole, the reason why there is none, so that no CDS is
dropped silently.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biotune.errors import InputError
from biotune.io.fasta import DAMAGED_FILE_ERRORS, checked_lines, damaged_file_error, open_text

#: What Biopython's GenBank parser raises on malformed text: ValueError for what it checks (e.g. a location
#: whose end precedes its start), IndexError / KeyError / AssertionError for lines it does not expect (e.g. a
#: feature line cut short).
GENBANK_PARSE_ERRORS = (ValueError, IndexError, KeyError, AssertionError)
#: How Biopython's warning starts when it skips a feature line without a location (it drops the feature).
SHORT_FEATURE_WARNING = "line too short to contain a feature: "

#: NCBI translation table 11: the standard amino-acid code with the bacterial alternative start codons
#: (GTG, TTG, ...) accepted, the first codon read as Met (also used for ResFinder genes).
BACTERIAL_TABLE = 11


@dataclass(frozen=True)
class CDS:
    """One CDS feature: ``protein`` (no trailing stop) or ``problem``; 1-based inclusive coordinates
    (``start = end = 0`` when the location cannot be parsed)."""

    accession: str
    contig: str
    start: int
    end: int
    strand: str
    protein: str | None
    problem: str | None = None


def is_genbank(path: str | Path) -> bool:
    """True when the first non-empty line of the (plain or gzip) file starts with ``LOCUS``."""
    with open_text(path) as handle:
        for line in checked_lines(handle, path):
            if line.strip():
                return line.startswith("LOCUS")
    return False


def read_genbank(path: str | Path) -> Iterator[Any]:
    """Biopython ``SeqRecord``s of a GenBank file, streaming; a malformed record is one InputError."""
    from Bio import SeqIO

    number = 0
    with open_text(path) as handle:
        entries = SeqIO.parse(handle, "genbank")
        while True:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    entry = next(entries)
            except StopIteration:
                break
            except DAMAGED_FILE_ERRORS as exc:
                raise damaged_file_error(exc, path) from None
            except GENBANK_PARSE_ERRORS as exc:
                detail = " ".join(str(exc).split()) or "malformed line"
                if not isinstance(exc, ValueError):  # an unexpected line tripped the parser: say how
                    detail = f"{type(exc).__name__}: {detail}"
                raise InputError(f"record {number + 1}: cannot parse as GenBank: {detail}", path=path) from None
            number += 1
            for warning in caught:
                _dropped_cds_line(str(warning.message), path, number)
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
            yield entry
    if number == 0:
        raise InputError("no GenBank record in this file", path=path)


def _dropped_cds_line(message: str, path: str | Path, number: int) -> None:
    """Raise when Biopython's warning ``message`` says it dropped a CDS feature (a ``CDS`` line with no location)."""
    if not message.startswith(SHORT_FEATURE_WARNING):
        return
    try:
        line = ast.literal_eval(message[len(SHORT_FEATURE_WARNING):])
    except (ValueError, SyntaxError):
        return
    if isinstance(line, str) and line[2:].strip() == "CDS":
        raise InputError(f"record {number}: a CDS feature line has no location: {line.strip()!r}", path=path)


def cds_proteins(entry: Any) -> Iterator[CDS]:
    """Every CDS feature of one GenBank record, in file order (module docstring)."""
    from Bio.Data.CodonTable import TranslationError
    from Bio.Seq import Seq

    for number, feature in enumerate((f for f in entry.features if f.type == "CDS"), start=1):
        q = feature.qualifiers
        accession = next((q[k][0] for k in ("protein_id", "locus_tag") if q.get(k)), f"{entry.id}_cds{number}")
        location = feature.location
        if location is None:  # Biopython warns and keeps the feature without a location
            yield CDS(accession, entry.id, 0, 0, "+", protein=None, problem="CDS location cannot be parsed")
            continue
        where = {
            "accession": accession, "contig": entry.id, "start": int(location.start) + 1,
            "end": int(location.end), "strand": "-" if location.strand == -1 else "+",
        }
        table, table_problem = translation_table(q)
        if "pseudo" in q or "pseudogene" in q:
            yield CDS(**where, protein=None, problem="pseudo CDS (no protein)")
        elif q.get("translation"):
            yield CDS(**where, protein="".join(q["translation"][0].split()).upper().rstrip("*"))
        elif table_problem is not None:
            yield CDS(**where, protein=None, problem=f"untranslatable CDS: {table_problem}")
        else:
            try:
                nucleotides = str(feature.extract(entry.seq)).upper()
                yield CDS(**where, protein=str(Seq(nucleotides).translate(table=table, cds=True)))
            except (TranslationError, ValueError) as exc:  # also Biopython's UndefinedSequenceError
                yield CDS(**where, protein=None, problem=f"untranslatable CDS: {' '.join(str(exc).split())}")


def translation_table(qualifiers: dict[str, list[str]]) -> tuple[int | None, str | None]:
    """The CDS's NCBI translation table (``/transl_table``, 11 by default) or why it cannot be used."""
    from Bio.Data.CodonTable import ambiguous_generic_by_id

    value = qualifiers.get("transl_table", [str(BACTERIAL_TABLE)])[0]
    try:
        table = int(value)
    except ValueError:
        return None, f"/transl_table {' '.join(value.split())!r} is not a table number"
    if table not in ambiguous_generic_by_id:
        return None, f"/transl_table {table} is not an NCBI translation table"
    return table, None
