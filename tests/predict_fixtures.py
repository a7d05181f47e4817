"""Realistic inputs for the predict tests: a synthetic ARG dataset, back-translated genes and contigs.

The synthetic dataset has protein *families* (a random ancestor and mutated members) per drug class
and mechanism, plus unrelated non-ARG proteins, saved with ``save_dataset`` exactly like a built
benchmark dataset — so a real method can learn it and DIAMOND finds the family members.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from biotune.data.dataset import Dataset, save_dataset
from biotune.tasks import TaskSpec

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: Background amino-acid frequencies (UniProt-like), so random proteins look like proteins.
AA_WEIGHTS = [8.3, 1.4, 5.5, 6.7, 3.9, 7.1, 2.3, 5.9, 5.8, 9.7, 2.4, 4.1, 4.7, 3.9, 5.5, 6.6, 5.3, 6.9, 1.1, 2.9]
#: One frequent E. coli codon per amino acid, for back-translation.
CODON = {
    "A": "GCG", "C": "TGC", "D": "GAT", "E": "GAA", "F": "TTT", "G": "GGC", "H": "CAT", "I": "ATT", "K": "AAA",
    "L": "CTG", "M": "ATG", "N": "AAC", "P": "CCG", "Q": "CAG", "R": "CGT", "S": "AGC", "T": "ACC", "V": "GTG",
    "W": "TGG", "Y": "TAT",
}  # fmt: skip
DRUG_CLASSES = ("beta_lactam", "aminoglycoside", "tetracycline", "MLS")
MECHANISMS = ("inactivation", "efflux", "target_protection")
FAMILIES = (  # (drug classes, mechanism) of each ARG family
    ("beta_lactam", "inactivation"),
    ("aminoglycoside", "inactivation"),
    ("tetracycline", "efflux"),
    ("tetracycline;MLS", "target_protection"),
    ("MLS", "efflux"),
)
ARG_TASKS = [
    TaskSpec("is_arg", "binary"),
    TaskSpec("drug_class", "multilabel", DRUG_CLASSES),
    TaskSpec("mechanism", "multiclass", MECHANISMS),
]


def random_protein(rng: random.Random, length: int) -> str:
    return "M" + "".join(rng.choices(AMINO_ACIDS, weights=AA_WEIGHTS, k=length - 1))


def mutate(rng: random.Random, protein: str, rate: float) -> str:
    return protein[0] + "".join(
        rng.choices(AMINO_ACIDS, weights=AA_WEIGHTS)[0] if rng.random() < rate else aa for aa in protein[1:]
    )


def synthetic_arg_table(*, seed: int = 0, members: int = 12, negatives: int = 60, n_folds: int = 3) -> pd.DataFrame:
    """Records table (dataset layout) with ``members`` proteins per ARG family and ``negatives`` non-ARGs."""
    rng = random.Random(seed)
    rows = []
    for f, (classes, mechanism) in enumerate(FAMILIES):
        ancestor = random_protein(rng, rng.randint(220, 320))
        for m in range(members):
            rows.append(dict(id=f"fam{f}_m{m}", sequence=mutate(rng, ancestor, 0.12), is_arg="1",
                             drug_classes=classes, mechanism=mechanism, cluster=f"fam{f}"))  # fmt: skip
    for n in range(negatives):
        rows.append(dict(id=f"neg{n}", sequence=random_protein(rng, rng.randint(150, 400)), is_arg="0",
                         drug_classes="", mechanism="", cluster=f"neg{n}"))  # fmt: skip
    table = pd.DataFrame(rows)
    table["sources"] = "synthetic"
    table["fold"] = [i % n_folds for i in range(len(table))]
    return table


def save_synthetic_dataset(directory: Path, **kwargs) -> Path:
    table = synthetic_arg_table(**kwargs)
    dataset = Dataset(
        table=table,
        tasks=list(ARG_TASKS),
        columns={"is_arg": "is_arg", "drug_class": "drug_classes", "mechanism": "mechanism"},
        meta={"name": "synthetic_arg", "version": "0.1", "seed": 0, "n_folds": int(table["fold"].nunique())},
    )
    return save_dataset(dataset, directory)


def back_translate(protein: str) -> str:
    """A coding sequence for ``protein`` (ATG start, TAA stop)."""
    return "".join(CODON[aa] for aa in protein) + "TAA"


def reverse_complement(dna: str) -> str:
    return dna[::-1].translate(str.maketrans("ACGT", "TGCA"))


def random_dna(rng: random.Random, length: int, gc: float = 0.5) -> str:
    at, cg = (1 - gc) / 2, gc / 2
    return "".join(rng.choices("ACGT", weights=[at, cg, cg, at], k=length))


def contig_with_gene(rng: random.Random, protein: str, *, flank: int = 1500, reverse: bool = False) -> tuple[str, int, int]:
    """Random DNA with ``protein`` back-translated inside (Shine-Dalgarno upstream).

    Returns ``(contig, start, end)``: 1-based inclusive coordinates of the coding sequence (stop
    codon included, as Prodigal reports it) on the forward strand.
    """
    gene = "AGGAGGTTAACA" + back_translate(protein)
    left, right = random_dna(rng, flank), random_dna(rng, flank)
    if reverse:
        gene = reverse_complement(gene)
        start = flank + 1
        end = flank + len(gene) - 12
    else:
        start = flank + 12 + 1
        end = flank + len(gene)
    return left + gene + right, start, end


def write_fasta_text(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{rid}\n{seq}\n" for rid, seq in records))
    return path


def predict_cli(*args: str):
    """Run ``biotune <args>`` in-process on the predict/arg command groups only (the full ``biotune``
    app imports every command group, torch included, which costs seconds per call)."""
    import typer
    from typer.testing import CliRunner

    from biotune.predict.cli import register

    app = typer.Typer()
    register(app)
    return CliRunner().invoke(app, list(args))
