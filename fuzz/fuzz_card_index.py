"""Fuzz the CARD importer's table reader (``aro_index.tsv``, joined with a fixed protein FASTA):
``python fuzz/fuzz_card_index.py -max_total_time=60``."""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fuzz  # noqa: E402

import pandas  # noqa: E402,F401  (not instrumented: its CSV tokenizer is C)

with atheris.instrument_imports(include=["biotune"]):
    from biotune.recipes.arg.importers import import_card

FASTA = b">gb|AAA1.1|ARO:3000001|TEM-1 [Escherichia coli]\nMSIQHFRVALIPFFAAFCLPVFA\n"
SEEDS = {
    "index": b"ARO Accession\tCVTERM ID\tModel Sequence ID\tModel ID\tModel Name\tARO Name\tProtein Accession\tDNA Accession\t"
    b"AMR Gene Family\tDrug Class\tResistance Mechanism\tCARD Short Name\n"
    b"ARO:3000001\t1\t1\t1\tTEM-1\tTEM-1\tP1\tD1\tTEM beta-lactamase\tpenam;cephalosporin\tantibiotic inactivation\tTEM-1\n",
}


def read(index: Path) -> None:
    fasta = index.parent / "protein_fasta_protein_homolog_model.fasta"
    if not fasta.exists():
        fasta.write_bytes(FASTA)
    import_card(index.parent)


if __name__ == "__main__":
    fuzz("card_index", "aro_index.tsv", read, SEEDS, dictionary="tables.dict")
