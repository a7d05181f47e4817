"""Fuzz the ResFinder importer's table reader (``phenotypes.txt``, joined with a fixed ``all.fsa``):
``python fuzz/fuzz_resfinder_phenotypes.py -max_total_time=60``."""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fuzz  # noqa: E402

import pandas  # noqa: E402,F401  (not instrumented: its CSV tokenizer is C)

with atheris.instrument_imports(include=["biotune"]):
    from biotune.recipes.arg.importers import import_resfinder

GENES = b">blaGOOD_1_X1\nATGAAAACGGCGTATATTGCGAAACAGCGCTAA\n"
SEEDS = {
    "phenotypes": b"Gene_accession no.\tClass\tPhenotype\tPMID\tMechanism of resistance\tNotes\tRequired_gene\n"
    b"blaGOOD_1_X1\tBeta-lactam\tAmpicillin, Piperacillin\t1\tEnzymatic inactivation\t\t\n"
    b"sul1_1_X4\tFolate pathway antagonist\tSulfamethoxazole\t1\tPurine synthesis\n",
}


def read(phenotypes: Path) -> None:
    genes = phenotypes.parent / "all.fsa"
    if not genes.exists():
        genes.write_bytes(GENES)
    import_resfinder(phenotypes.parent)


if __name__ == "__main__":
    fuzz("resfinder_phenotypes", "phenotypes.txt", read, SEEDS, dictionary="tables.dict")
