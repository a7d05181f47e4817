"""Streaming FASTA reading and writing with validation.

Parsing is Biopython's ``SimpleFastaParser``; this module adds what it leaves to the caller:
gzip / bzip2 / xz, a check that the file is FASTA at all, alphabet checks, and per-record statuses so that no
record is ever dropped silently.
"""

from __future__ import annotations

import bz2
import gzip
import io
import itertools
import lzma
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from Bio.SeqIO.FastaIO import SimpleFastaParser

from biotune.errors import InputError

#: The 20 standard amino acids plus the IUPAC ambiguity/rare codes models tokenise (X, B, Z, J, U, O).
PROTEIN_LETTERS = frozenset("ACDEFGHIKLMNPQRSTVWYXBZJUO")
STANDARD_AMINO_ACIDS = frozenset("ACDEFGHIKLMNPQRSTVWY")
NUCLEOTIDE_LETTERS = frozenset("ACGTUN")
IUPAC_NUCLEOTIDE_LETTERS = frozenset("ACGTURYSWKMBDHVN")


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA entry: ``id`` is the header up to the first whitespace, ``description`` the whole header.

    ``problem``: set by a reader that already knows the record is unusable (e.g. a pseudo CDS of a
    GenBank file), so that it still gets a row with that reason.
    """

    id: str
    description: str
    sequence: str
    problem: str | None = None


#: Compressed formats read transparently, by their magic bytes (not by the file name's suffix).
COMPRESSED_OPENERS = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))


def open_text(path: str | Path) -> TextIO:
    """Open a plain, gzip-, bzip2- or xz-compressed text file (detected by magic bytes, not by suffix); a leading
    UTF-8 byte-order mark (Windows editors write one) is dropped."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError("expected a file, got a directory", path=path)
    with open(path, "rb") as handle:
        magic = handle.read(6)
    for prefix, opener in COMPRESSED_OPENERS:
        if magic.startswith(prefix):
            return io.TextIOWrapper(opener(path, "rb"), encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


#: What a damaged compressed file raises while it is read (gzip's BadGzipFile and bzip2's invalid stream are
#: OSErrors; a truncated stream ends in EOFError; a corrupt deflate block in zlib.error; xz in LZMAError).
DAMAGED_FILE_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


def damaged_file_error(exc: BaseException, path: str | Path) -> InputError:
    """The one-line error for a file that fails while it is read (one of :data:`DAMAGED_FILE_ERRORS`)."""
    return InputError(f"cannot read the file (damaged or truncated compressed file?): {' '.join(str(exc).split())}", path=path)


def checked_lines(handle: Iterable[str], path: str | Path) -> Iterator[str]:
    """The lines of ``handle``, with a damaged (e.g. truncated gzip) file turned into one InputError."""
    try:
        yield from handle
    except DAMAGED_FILE_ERRORS as exc:
        raise damaged_file_error(exc, path) from None


def read_fasta(path: str | Path, *, allow_empty: bool = False) -> Iterator[FastaRecord]:
    """Yield records from a FASTA file (plain, gzip, bzip2 or xz), streaming.

    Sequences are upper-cased with whitespace and a trailing ``*`` (stop) removed. Raises
    :class:`InputError` if the file is missing, is not FASTA (text before the first ``>``), or holds
    no record (unless ``allow_empty``). Content checks are left to :func:`check_protein`.
    """
    with open_text(path) as handle:
        lines = checked_lines(handle, path)
        first = ""
        for line in lines:
            if line.strip():
                first = line
                break
        if not first:
            if allow_empty:
                return
            raise InputError("file is empty: no FASTA record", path=path)
        if not first.startswith(">"):
            raise InputError(f"not a FASTA file: first line is {first.strip()[:60]!r}, expected '>header'", path=path)
        for header, seq in SimpleFastaParser(itertools.chain([first], lines)):
            rid = header.split(maxsplit=1)[0] if header.strip() else ""
            sequence = "".join(seq.split()).upper()
            if sequence.endswith("*"):
                sequence = sequence[:-1]
            yield FastaRecord(id=rid, description=header, sequence=sequence)


def protein_problem(sequence: str, *, max_length: int | None = None) -> str | None:
    """Why ``sequence`` is not a usable protein sequence, or ``None`` if it is.

    Catches empty sequences, letters outside the protein alphabet (reported with their positions),
    internal stops, sequences that look like nucleotides, and over-long sequences.
    """
    if not sequence:
        return "empty sequence"
    bad = sorted(set(sequence) - PROTEIN_LETTERS)
    if bad:
        if bad == ["*"]:
            return f"internal stop codon '*' at position {sequence.index('*') + 1}"
        first = next(i for i, c in enumerate(sequence) if c not in PROTEIN_LETTERS)
        return f"invalid protein letters {''.join(bad)!r} (first at position {first + 1})"
    if looks_nucleotide(sequence):
        return "looks like a nucleotide sequence (only A/C/G/T/U/N letters), expected protein"
    if max_length is not None and len(sequence) > max_length:
        return f"sequence length {len(sequence)} exceeds the limit of {max_length}"
    return None


def looks_nucleotide(sequence: str, *, min_fraction: float = 0.9, min_length: int = 20) -> bool:
    """True when a sequence is (almost) only nucleotide letters: a protein this pure in ACGTN is implausible."""
    if len(sequence) < min_length:
        return False
    n_nuc = sum(sequence.count(c) for c in NUCLEOTIDE_LETTERS)
    return n_nuc / len(sequence) >= min_fraction


def write_fasta(records: Iterable[tuple[str, str]], path: str | Path, *, width: int = 0) -> int:
    """Write ``(id, sequence)`` pairs as FASTA; ``width=0`` writes each sequence on one line. Returns the count.

    An empty id or one with whitespace is a ValueError: it would read back as another id (the header's first word).
    """
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for rid, seq in records:
            if not rid or len(str(rid).split()) != 1 or str(rid).split()[0] != str(rid):
                raise ValueError(f"FASTA id {str(rid)!r} is empty or holds whitespace: it would not read back as itself")
            out.write(f">{rid}\n")
            if width:
                for i in range(0, len(seq), width):
                    out.write(seq[i : i + width] + "\n")
            else:
                out.write(seq + "\n")
            n += 1
    return n
