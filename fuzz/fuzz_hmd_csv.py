"""Fuzz the HMD-ARG-DB CSV importer (its table reader): ``python fuzz/fuzz_hmd_csv.py -max_total_time=60``."""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fuzz  # noqa: E402

import pandas  # noqa: E402,F401  (not instrumented: its CSV tokenizer is C)

with atheris.instrument_imports(include=["biotune"]):
    from biotune.recipes.arg.importers import import_hmd_csv

SEEDS = {
    "part": b"Accession,Source,Database,Drug Class,Gene,Resistance Mechanism,Remove,Sequence,is_ARG,dc_labels\n"
    b'A1,FEATURES,CARD,beta_lactam;aminoglycoside,blaX,antibiotic inactivation,1,mkta yiak*,1,"[\'a\', \'b\']"\n'
    b"sp|N1|X,,,,,,0,MSTNPKPQRKTKRNTNRRPQDVKFPGG,0,[]\n",
}

if __name__ == "__main__":
    fuzz("hmd_csv", "part.csv", import_hmd_csv, SEEDS, dictionary="tables.dict")
