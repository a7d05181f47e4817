"""Fuzz the GenBank reader (records and their CDS proteins): ``python fuzz/fuzz_genbank.py -max_total_time=60``."""

import gzip
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fuzz  # noqa: E402

with atheris.instrument_imports(include=["biotune", "Bio"]):
    from Bio import SeqIO  # noqa: F401  (instrumented: the GenBank scanner and feature-location parser)
    from Bio.GenBank import Scanner  # noqa: F401

    from biotune.io.genbank import cds_proteins, read_genbank

TEXT = b"""LOCUS       TEST                      57 bp    DNA     linear   BCT 01-JAN-2020
DEFINITION  fuzz seed.
ACCESSION   TEST
VERSION     TEST.1
FEATURES             Location/Qualifiers
     source          1..57
     CDS             1..57
                     /locus_tag="T1"
                     /transl_table=11
     CDS             complement(join(1..30,31..57))
                     /protein_id="P2.1"
                     /translation="MKTAYIAKQRQISFVKSH"
     CDS             <1..>57
                     /pseudo
ORIGIN
        1 atgaaaacgg cgtatattgc gaaacagcgc cagattagct ttgtgaaaag ccattaa
//
"""
SEEDS = {"plain": TEXT, "two": TEXT + TEXT.replace(b"TEST", b"CTG2"), "gzip": gzip.compress(TEXT)}


def read(path: Path) -> None:
    for entry in read_genbank(path):
        for cds in cds_proteins(entry):
            assert (cds.protein is None) != (cds.problem is None), cds


if __name__ == "__main__":
    fuzz("genbank", "genome.gbk", read, SEEDS)
