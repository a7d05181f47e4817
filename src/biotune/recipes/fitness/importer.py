"""Reader of ProteinGym substitution assays (``mutant, mutated_sequence, DMS_score, DMS_score_bin``).

Files re-saved by a spreadsheet may use ``;`` as separator and a decimal comma; the reader detects
the separator from the header and the decimal mark from the score column, and fails with one line
naming the file and line on anything else (unknown separator, mixed decimal marks, a mutant that
does not match its sequence), because a silently mis-parsed score would corrupt every metric.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

from biotune.errors import InputError

COLUMNS = ("mutant", "mutated_sequence", "DMS_score", "DMS_score_bin")
SEPARATORS = (";", ",", "\t")
MUTANT = re.compile(r"^([A-Z])([1-9][0-9]*)([A-Z])$")
NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Variant:
    """One single-substitution variant: ``wt``, 1-based ``position`` and ``alt`` residue, its sequence and labels."""

    mutant: str
    wt: str
    position: int
    alt: str
    sequence: str
    score: float
    score_bin: int


def detect_separator(header: str, path: Path) -> str:
    """The separator that splits ``header`` into exactly the ProteinGym columns."""
    for sep in SEPARATORS:
        if tuple(c.strip() for c in header.split(sep)) == COLUMNS:
            return sep
    raise InputError(f"line 1: header {header.strip()!r} is not {', '.join(COLUMNS)} separated by ';', ',' or tab", path=path)


def detect_decimal(scores: list[tuple[int, str]], sep: str, path: Path) -> str:
    """``','`` or ``'.'``: the one decimal mark the ``(line, score)`` cells use; mixing both is an error."""
    marks = {}
    for line, cell in scores:
        if not NUMBER.match(cell):
            raise InputError(f"line {line}: DMS_score {cell!r} is not a number", path=path)
        for mark in ",.":
            if mark in cell:
                marks.setdefault(mark, line)
    if len(marks) > 1:
        raise InputError(f"line {max(marks.values())}: mixed decimal marks ('.' on line {marks['.']}, ',' on line {marks[',']})", path=path)
    mark = next(iter(marks), ".")
    if mark == sep:
        raise InputError(f"line {marks[mark]}: decimal mark {mark!r} equals the separator", path=path)
    return mark


def parse_variant(fields: list[str], decimal: str, line: int, path: Path) -> Variant:
    """One data row (field count checked by :func:`read_dms`) as a :class:`Variant`; the mutated residue is checked
    against the sequence."""
    mutant, sequence, score_cell, bin_cell = (f.strip() for f in fields)
    match = MUTANT.match(mutant)
    if match is None:
        raise InputError(f"line {line}: mutant {mutant!r} is not one substitution like M1A", path=path)
    wt, position, alt = match.group(1), int(match.group(2)), match.group(3)
    if position > len(sequence) or sequence[position - 1] != alt:
        raise InputError(f"line {line}: mutated_sequence has no {alt!r} at position {position} of mutant {mutant}", path=path)
    score = float(score_cell.replace(decimal, "."))
    if not math.isfinite(score):
        raise InputError(f"line {line}: DMS_score {score_cell!r} is not finite", path=path)
    if bin_cell not in ("0", "1"):
        raise InputError(f"line {line}: DMS_score_bin {bin_cell!r} is not 0 or 1", path=path)
    return Variant(mutant, wt, position, alt, sequence, score, int(bin_cell))


def read_dms(path: str | Path) -> list[Variant]:
    """Every variant of a ProteinGym assay file, after separator and decimal-mark detection."""
    path = Path(path)
    if not path.is_file():
        raise InputError("assay file not found", path=path)
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    if not lines:
        raise InputError("line 1: empty file", path=path)
    sep = detect_separator(lines[0], path)
    rows = [(i, fields) for i, fields in enumerate(csv.reader(lines[1:], delimiter=sep), start=2) if fields]
    for line, fields in rows:
        if len(fields) != len(COLUMNS):
            raise InputError(f"line {line}: {len(fields)} fields, expected {len(COLUMNS)} (separator {sep!r})", path=path)
    decimal = detect_decimal([(line, fields[2].strip()) for line, fields in rows], sep, path)
    variants = [parse_variant(fields, decimal, line, path) for line, fields in rows]
    if not variants:
        raise InputError("line 2: no variants after the header", path=path)
    _check_consistent(variants, rows, path)
    return variants


def _check_consistent(variants: list[Variant], rows: list[tuple[int, list[str]]], path: Path) -> None:
    """Every variant has the same length and the same wild-type residue at a position; mutants are unique."""
    length, wild, seen = len(variants[0].sequence), {}, set()
    for v, (line, _) in zip(variants, rows):
        if len(v.sequence) != length:
            raise InputError(f"line {line}: mutated_sequence of {v.mutant} has length {len(v.sequence)}, line 2's has {length}", path=path)
        if wild.setdefault(v.position, v.wt) != v.wt:
            raise InputError(f"line {line}: wild-type residue {v.wt!r} at position {v.position} disagrees with {wild[v.position]!r}", path=path)
        if v.mutant in seen:
            raise InputError(f"line {line}: mutant {v.mutant} appears twice", path=path)
        seen.add(v.mutant)
