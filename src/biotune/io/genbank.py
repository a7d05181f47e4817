"""GenBank flat files (plain or gzip), streaming: the CDS proteins of an annotated genome, or its contigs.

Parsing is Biopython's; this module adds what a caller needs around it: detection by content (a
``LOCUS`` first line), a parse error as one :class:`~biotune.errors.InputError` naming the file and the
record, and every CDS as a :class:`CDS` — its protein (``/translation``, else the CDS translated with
its ``/transl_table``, 11 by default) or, for a pseudo gene or a CDS that does not translate as a whole,
the reason why there is none, so that no CDS is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biotune.errors import InputError
from biotune.io.fasta import DAMAGED_FILE_ERRORS, checked_lines, damaged_file_error, open_text

#: NCBI translation table 11: the standard amino-acid code with the bacterial alternative start codons
#: (GTG, TTG, ...) accepted, the first codon read as Met (also used for ResFinder genes).
BACTERIAL_TABLE = 11


@dataclass(frozen=True)
class CDS:
    """One CDS feature: ``protein`` (no trailing stop) or ``problem``; 1-based inclusive coordinates."""

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
                entry = next(entries)
            except StopIteration:
                break
            except ValueError as exc:  # Biopython's parse errors
                raise InputError(f"record {number + 1}: cannot parse as GenBank: {' '.join(str(exc).split())}", path=path) from None
            except DAMAGED_FILE_ERRORS as exc:
                raise damaged_file_error(exc, path) from None
            number += 1
            yield entry
    if number == 0:
        raise InputError("no GenBank record in this file", path=path)


def cds_proteins(entry: Any) -> Iterator[CDS]:
    """Every CDS feature of one GenBank record, in file order (module docstring)."""
    from Bio.Data.CodonTable import TranslationError
    from Bio.Seq import Seq

    for number, feature in enumerate((f for f in entry.features if f.type == "CDS"), start=1):
        q = feature.qualifiers
        accession = next((q[k][0] for k in ("protein_id", "locus_tag") if q.get(k)), f"{entry.id}_cds{number}")
        where = {
            "accession": accession, "contig": entry.id, "start": int(feature.location.start) + 1,
            "end": int(feature.location.end), "strand": "-" if feature.location.strand == -1 else "+",
        }
        if "pseudo" in q or "pseudogene" in q:
            yield CDS(**where, protein=None, problem="pseudo CDS (no protein)")
        elif q.get("translation"):
            yield CDS(**where, protein="".join(q["translation"][0].split()).upper().rstrip("*"))
        else:
            try:
                nucleotides = str(feature.extract(entry.seq)).upper()
                table = int(q.get("transl_table", [BACTERIAL_TABLE])[0])
                yield CDS(**where, protein=str(Seq(nucleotides).translate(table=table, cds=True)))
            except (TranslationError, ValueError) as exc:  # also Biopython's UndefinedSequenceError
                yield CDS(**where, protein=None, problem=f"untranslatable CDS: {' '.join(str(exc).split())}")
