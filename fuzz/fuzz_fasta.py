"""Fuzz the FASTA reader: ``python fuzz/fuzz_fasta.py -max_total_time=60`` (see fuzz/README.md)."""

import bz2
import gzip
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fuzz  # noqa: E402

with atheris.instrument_imports(include=["biotune", "Bio"]):
    from Bio.SeqIO.FastaIO import SimpleFastaParser  # noqa: F401  (instrumented: read_fasta parses with it)

    from biotune.io.fasta import read_fasta

TEXT = b">sp|P1|X desc\nMKTAYIAKQR\nQISFVK*\n\n>p2\nmkl\n>\n"
SEEDS = {"plain": TEXT, "crlf": TEXT.replace(b"\n", b"\r\n"), "gzip": gzip.compress(TEXT), "bzip2": bz2.compress(TEXT)}


def read(path: Path) -> None:
    for record in read_fasta(path):
        assert record.sequence == record.sequence.upper(), record


if __name__ == "__main__":
    fuzz("fasta", "input.faa", read, SEEDS)
