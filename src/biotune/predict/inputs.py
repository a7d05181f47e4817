"""What ``biotune predict`` reads: input type detection, per-record validation and chunked streaming.

A user's FASTA (or GenBank: its CDS proteins, or its contigs when it has no CDS) is read once, as a stream. The first records are peeked to decide whether it holds
proteins or nucleotides (``--type`` overrides). Every record then becomes one :class:`Query` (a
protein) or, for nucleotide input, one query per called gene — and a record that cannot be scored
still becomes a query carrying a status that says why, so no input id is ever dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from biotune.io.fasta import IUPAC_NUCLEOTIDE_LETTERS, NUCLEOTIDE_LETTERS, FastaRecord, protein_problem, read_fasta
from biotune.io.genbank import cds_proteins, is_genbank, read_genbank

SequenceType = Literal["protein", "nucleotide"]
INPUT_TYPES: tuple[str, ...] = ("auto", "protein", "nucleotide")

STATUS_OK = "ok"
STATUS_NO_GENE = "no_gene_called"
SKIPPED = "skipped: "

T = TypeVar("T")


@dataclass
class Query:
    """One protein to annotate, or one input record that yields none (then ``status`` says why).

    ``record`` is the 1-based position of the FASTA record it comes from and ``gene`` the 1-based
    number of the gene on that contig; gene coordinates are 1-based inclusive on the contig,
    ``strand`` is ``+`` or ``-``, ``partial`` is Prodigal's two-digit flag (``10`` = runs off the
    left edge, ``01`` = off the right edge).
    """

    record: int
    id: str
    sequence: str
    status: str = STATUS_OK
    contig: str | None = None
    start: int | None = None
    end: int | None = None
    strand: str | None = None
    partial: str | None = None
    gene: int | None = None

    @property
    def key(self) -> str:
        """A unique, whitespace-free handle for external tools (user ids may repeat or be odd)."""
        return f"r{self.record}g{self.gene or 0}"

    @property
    def scorable(self) -> bool:
        return self.status == STATUS_OK


def nucleotide_fraction(sequences: Iterable[str]) -> float:
    """Fraction of letters that are A/C/G/T/U/N over all given sequences (0 when there are none)."""
    total = nuc = 0
    for seq in sequences:
        total += len(seq)
        nuc += sum(seq.count(c) for c in NUCLEOTIDE_LETTERS)
    return nuc / total if total else 0.0


def detect_type(sample: Iterable[FastaRecord], *, min_fraction: float = 0.9) -> SequenceType:
    """``nucleotide`` when at least ``min_fraction`` of the sampled letters are nucleotides, else ``protein``."""
    return "nucleotide" if nucleotide_fraction(r.sequence for r in sample) >= min_fraction else "protein"


def open_input(
    path: str | Path, *, input_type: str = "auto", sample_records: int = 50, min_nucleotide_fraction: float = 0.9
) -> tuple[SequenceType, Iterator[FastaRecord]]:
    """Open a FASTA stream and resolve its type, peeking at the first ``sample_records`` when ``auto``.

    Raises :class:`~biotune.errors.InputError` for a missing, empty or non-FASTA file.
    """
    if input_type not in INPUT_TYPES:
        raise ValueError(f"unknown input type {input_type!r}; choose from {INPUT_TYPES}")
    if is_genbank(path):
        return genbank_input(path, input_type)
    records = read_fasta(path)
    head = list(itertools.islice(records, sample_records))
    stream = itertools.chain(head, records)
    if input_type != "auto":
        return input_type, stream  # type: ignore[return-value]
    return detect_type(head, min_fraction=min_nucleotide_fraction), stream


def genbank_input(path: str | Path, input_type: str = "auto") -> tuple[SequenceType, Iterator[FastaRecord]]:
    """A GenBank file as records: its CDS proteins when the first record has CDS features (``auto``) or
    with ``protein``; else, or with ``nucleotide``, its contigs (genes are then called like for FASTA).

    CDS records are named by ``protein_id`` / ``locus_tag`` and carry their location in the description;
    a pseudo or untranslatable CDS becomes a record with its ``problem``.
    """
    entries = read_genbank(path)
    first = next(entries)
    stream = itertools.chain([first], entries)
    annotated = any(f.type == "CDS" for f in first.features)
    if input_type == "nucleotide" or (input_type == "auto" and not annotated):
        return "nucleotide", (FastaRecord(id=e.id, description=e.description, sequence=str(e.seq).upper()) for e in stream)

    def proteins() -> Iterator[FastaRecord]:
        for entry in stream:
            for cds in cds_proteins(entry):
                description = f"{cds.accession} {cds.contig}:{cds.start}-{cds.end}({cds.strand})"
                yield FastaRecord(id=cds.accession, description=description, sequence=cds.protein or "", problem=cds.problem)

    return "protein", proteins()


class RecordChecker:
    """Per-record checks shared by both input types: identifiers present and unique, length limits.

    Keeps the set of ids seen (a few MB for a million records) so duplicates are reported with the
    record number of their first occurrence.
    """

    def __init__(self) -> None:
        self._first_seen: dict[str, int] = {}

    def identifier_problem(self, record: FastaRecord, number: int) -> str | None:
        if not record.id:
            return "empty identifier (header line '>' has no id)"
        first = self._first_seen.setdefault(record.id, number)
        if first != number:
            return f"duplicate id (first seen at record {first})"
        return None


def nucleotide_problem(sequence: str, *, max_length: int | None = None) -> str | None:
    """Why ``sequence`` is not a usable nucleotide contig, or ``None`` if it is."""
    if not sequence:
        return "empty sequence"
    bad = sorted(set(sequence) - IUPAC_NUCLEOTIDE_LETTERS)
    if bad:
        first = next(i for i, c in enumerate(sequence) if c not in IUPAC_NUCLEOTIDE_LETTERS)
        hint = "; it looks like a protein (pass --type protein)" if nucleotide_fraction([sequence]) < 0.5 else ""
        return f"invalid nucleotide letters {''.join(bad)!r} (first at position {first + 1}){hint}"
    if max_length is not None and len(sequence) > max_length:
        return f"sequence length {len(sequence)} exceeds the limit of {max_length}"
    return None


def protein_queries(records: Iterable[FastaRecord], *, max_length: int | None) -> Iterator[Query]:
    """One :class:`Query` per protein record, in input order, with ``ok`` or a ``skipped: ...`` status."""
    checker = RecordChecker()
    for number, rec in enumerate(records, start=1):
        problem = checker.identifier_problem(rec, number) or rec.problem or protein_problem(rec.sequence, max_length=max_length)
        if problem is not None:
            yield Query(record=number, id=rec.id, sequence="", status=SKIPPED + problem)
        else:
            yield Query(record=number, id=rec.id, sequence=rec.sequence)


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items (the last may be shorter); never yields an empty list."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def count_records(path: str | Path) -> int:
    """Number of FASTA headers in a (plain or compressed) file: a cheap first pass that gives progress a total."""
    from biotune.io.fasta import checked_lines, open_text

    with open_text(path) as handle:
        return sum(1 for line in checked_lines(handle, path) if line.startswith(">"))
