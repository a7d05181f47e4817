"""End-to-end build on synthetic sources with known homologs (real MMseqs2): leakage, conflicts, determinism."""

from __future__ import annotations

import filecmp

import numpy as np
import pytest
from Bio.Data import CodonTable

from biotune.data.dataset import CARD_FILE, FASTA_FILE, META_FILE, TABLE_FILE, load_dataset, save_dataset
from biotune.homology import mmseqs
from biotune.recipes.arg.build import build_arg_dataset
from biotune.recipes.arg.card import render_card
from biotune.recipes.arg.check import check_dataset, check_structure
from biotune.recipes.homology_folds import similar_pairs
from biotune.recipes.arg.cli import default_build_config, load_build_config

pytestmark = pytest.mark.tools

AMINO = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
CODON = {aa: codon for codon, aa in sorted(CodonTable.unambiguous_dna_by_id[11].forward_table.items(), reverse=True)}
#: Substitution rates of family members relative to their ancestor: identities ~0.9, 0.7, 0.5 to it,
#: but only ~0.3 between the two most diverged members, which are linked through the ancestor alone.
RATES = (0.1, 0.3, 0.5, 0.5)
FAMILIES = [  # (HMD drug class, HMD mechanism) per family
    ("beta_lactam", "antibiotic inactivation"),
    ("beta_lactam", "antibiotic inactivation"),
    ("aminoglycoside", "antibiotic inactivation"),
    ("tetracycline", "antibiotic target protection"),
    ("multidrug", "antibiotic efflux"),
    ("glycopeptide", "antibiotic target alteration"),
    ("quinolone", "antibiotic target protection"),
    ("rifampin", "antibiotic inactivation"),
]


def random_protein(rng, length):
    return "M" + "".join(rng.choice(AMINO, length - 1))


def mutate(rng, seq, rate):
    out = list(seq)
    for i in range(1, len(out)):
        if rng.random() < rate:
            out[i] = rng.choice(AMINO[AMINO != out[i]])
    return "".join(out)


def write_sources(root):
    """Raw sources in the shared layout; returns the protein families and the planted negatives."""
    rng = np.random.default_rng(42)
    families = []
    for _ in FAMILIES:
        ancestor = random_protein(rng, int(rng.integers(180, 260)))
        families.append([ancestor] + [mutate(rng, ancestor, r) for r in RATES])
    near_arg = mutate(rng, families[0][1], 0.25)  # a "negative" at ~75 % identity to an ARG: must be removed
    random_negs = [random_protein(rng, int(rng.integers(150, 300))) for _ in range(25)]
    conflict = families[2][0]  # labelled negative in the HMD CSV too: must end up an ARG

    (root / "hmd_arg_db").mkdir(parents=True)
    rows = ["Accession,Source,Database,Drug Class,Gene,Resistance Mechanism,Remove,Sequence,is_ARG"]
    for f, (drug, mech) in enumerate(FAMILIES):
        for m, seq in enumerate(families[f][:3]):
            rows.append(f"H{f}_{m},FEATURES,CARD,{drug},g{f},{mech},{m % 2},{seq},1")
    rows += [f"sp|NEG{i}|X,,,,,,0,{s},0" for i, s in enumerate(random_negs[:15])]
    rows += [f"sp|NEAR|X,,,,,,0,{near_arg},0", f"sp|CONFLICT|X,,,,,,0,{conflict},0", "sp|EMPTY|X,,,,,,0,,0"]
    (root / "hmd_arg_db" / "part_test.csv").write_text("\n".join(rows) + "\n")
    (root / "hmd_arg_db" / "part_val.csv").write_text("\n".join(rows[:1] + rows[1:6]) + "\n")

    (root / "hmd_arg_db_extra").mkdir()
    (root / "hmd_arg_db_extra" / "hmd_only.fasta").write_text(
        "".join(
            f">E{f}_{m}|FEATURES|NCBI|{FAMILIES[f][0]}|g|{FAMILIES[f][1]}|1\n{families[f][m]}\n"
            for f in range(len(FAMILIES))
            for m in (3, 4)
        )
    )
    card = root / "card_v3.2.4"
    card.mkdir()
    (card / "aro_index.tsv").write_text(
        "ARO Accession\tModel Name\tAMR Gene Family\tDrug Class\tResistance Mechanism\n"
        "ARO:3000001\tX\tfamily 4\tpenam;tetracycline antibiotic\tantibiotic efflux\n"
    )
    (card / "protein_fasta_protein_homolog_model.fasta").write_text(f">gb|C1.1|ARO:3000001|X [y]\n{families[4][4]}\n")
    rf = root / "resfinder_db_v2.3.0"
    rf.mkdir()
    gene = "ATG" + "".join(CODON[a] for a in families[1][4][1:]) + "TAA"
    (rf / "all.fsa").write_text(f">blaF1_1_X\n{gene}\n>blaBROKEN_1_X\n{gene[:-1]}\n")
    (rf / "phenotypes.txt").write_text(
        "Gene_accession no.\tClass\tPhenotype\tMechanism of resistance\n"
        "blaF1_1_X\tBeta-lactam\tAmpicillin\tEnzymatic inactivation\n"
        "blaBROKEN_1_X\tBeta-lactam\tAmpicillin\tEnzymatic inactivation\n"
    )
    (root / "negatives").mkdir()
    (root / "negatives" / "swissprot_nonarg_hypervr.fasta").write_text(
        "".join(f">spN{i}\n{s}\n" for i, s in enumerate(random_negs[15:]))
    )
    return families, near_arg, conflict


@pytest.fixture(scope="module")
def sources(tmp_path_factory, mmseqs):
    root = tmp_path_factory.mktemp("arg_sources")
    return root, *write_sources(root)


def build(root, out, *overrides):
    config = load_build_config(default_build_config(), ["threads=1", *overrides])
    dataset, report = build_arg_dataset(root, config)
    save_dataset(dataset, out, card=render_card(dataset, report))
    return load_dataset(out), report


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "arg"
    return (out, *build(sources[0], out))


def test_families_stay_together_and_no_homolog_crosses_folds(sources, built):
    _, families, _, _ = sources
    out, dataset, report = built
    table = dataset.table.set_index("sequence")
    for family in families:
        assert table.loc[family, "cluster"].nunique() == 1
        assert table.loc[family, "fold"].nunique() == 1
    assert table["fold"].nunique() == 5
    # Independent oracle: exhaustive MMseqs2 search (every pair aligned), no fold-by-fold shortcut.
    seqs = dict(zip(dataset.table["id"], dataset.table["sequence"]))
    hits = similar_pairs(mmseqs.search(seqs, exhaustive=True, threads=1), 0.4, 0.8)
    fold = dict(zip(dataset.table["id"], dataset.table["fold"]))
    assert len(hits) > 0  # the fixture does contain homologs at the threshold...
    assert all(fold[q] == fold[t] for q, t in zip(hits["query"], hits["target"]))  # ...never across folds
    assert report.max_cross_fold_identity < 0.4
    assert check_structure(dataset) == []  # the MMseqs2 part of the check is the build's own last step


def test_check_fails_on_a_leaky_split(built):
    _, dataset, _ = built
    table = dataset.table
    big = table["cluster"].value_counts().index[0]
    member = table.index[table["cluster"] == big][0]
    table.loc[member, "fold"] = (table.loc[member, "fold"] + 1) % 5
    result = check_dataset(dataset, threads=1)
    assert not result.ok
    assert any("span several folds" in p for p in result.problems)
    assert any("cross-fold homology" in p for p in result.problems) and result.max_identity >= 0.4


def test_labels_conflicts_and_drops_are_applied_and_reported(sources, built):
    _, families, near_arg, conflict = sources
    out, dataset, report = built
    table = dataset.table.set_index("sequence")
    assert near_arg not in table.index
    assert len(report.removed_negatives) == 1 and report.removed_negatives[0]["identity"] >= 0.6
    assert table.loc[conflict, "is_arg"] == "1" and len(report.arg_negative_conflicts) == 1
    # merge rule: CARD adds beta_lactam and efflux-based votes to family 4's last member (multidrug in HMD)
    merged = table.loc[families[4][4]]
    assert merged["drug_classes"] == "beta_lactam;tetracycline;multidrug"
    assert merged["sources"] == "card;hmd_only" and merged["mechanism"] == "efflux"
    assert table.loc[families[7][0], "drug_classes"] == "rifamycin"
    assert table.loc[families[1][4], "mobility"] == "acquired"  # ResFinder
    dropped = {(d.source, d.source_id) for d in report.dropped}
    assert dropped == {("resfinder", "blaBROKEN_1_X"), ("hmd_arg_db", "sp|EMPTY|X")}
    card = (out / CARD_FILE).read_text()
    for text in ("blaBROKEN_1_X", "sp|NEAR|X".replace("|", "/"), "sp|EMPTY|X", "## Cluster size distribution",
                 "drug_class=rifamycin", "| hmd_arg_db |", "max cross-fold identity"):
        assert text in card, text
    assert dataset.task("drug_class").classes[0] == "beta_lactam" and dataset.columns["drug_class"] == "drug_classes"


def test_same_inputs_and_seed_give_identical_bytes(sources, built, tmp_path):
    out, _, _ = built
    build(sources[0], tmp_path / "again")
    for name in (TABLE_FILE, FASTA_FILE, META_FILE, CARD_FILE):
        assert filecmp.cmp(out / name, tmp_path / "again" / name, shallow=False), name
