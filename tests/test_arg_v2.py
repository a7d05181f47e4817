"""arg_v2: whole proteomes (protein FASTA, GenBank, genome FASTA) labelled by the homology rule (real MMseqs2, pyrodigal)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from Bio import SeqIO
from Bio.Seq import Seq
from Bio.SeqFeature import FeatureLocation, SeqFeature
from Bio.SeqRecord import SeqRecord

from biotune.data.dataset import CARD_FILE, META_FILE, load_dataset, save_dataset
from biotune.recipes.arg.build import LABEL_RULE_COLUMNS, RULE_CURATED, RULE_HOMOLOG, RULE_NEGATIVE, build_arg_dataset, sequence_id
from biotune.recipes.arg.card import render_card
from biotune.recipes.arg.check import check_structure
from biotune.recipes.arg.cli import load_build_config
from biotune.recipes.arg.importers import import_proteome, proteome_name

from conftest import REPO, SHARED_ARG
from test_arg_build import CODON, mutate, random_protein, write_sources

pytestmark = pytest.mark.tools

V2_CONFIG = REPO / "configs" / "build" / "arg_v2.yaml"


def back_translate(protein: str) -> str:
    return "ATG" + "".join(CODON[a] for a in protein[1:]) + "TAA"


def random_dna(rng, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), n))


def write_proteomes(folder, families):
    """A protein FASTA, a GenBank file and a genome FASTA with planted ARG homologs; returns what was planted."""
    rng = np.random.default_rng(7)
    folder.mkdir()
    planted = {
        "homolog": mutate(rng, families[5][0], 0.08),  # ~92 % identity over the whole length: an ARG by the rule
        "hard": mutate(rng, families[2][0], 0.5),  # ~53 % identity: a hard negative, kept
        "fragment": families[3][0][: int(0.6 * len(families[3][0]))],  # 100 % over 60 % of the ARG: ambiguous
        "copy": families[0][2],  # identical to a curated ARG: merged, stays curated
        "gb_homolog": mutate(rng, families[6][0], 0.08),
        "genome_homolog": mutate(rng, families[7][0], 0.05),
    }
    background = [random_protein(rng, int(rng.integers(120, 300))) for _ in range(12)]
    fasta = [("sp|P0A001|HOM_TESTA", planted["homolog"]), ("sp|P0A002|HARD_TESTA", planted["hard"]),
             ("sp|P0A003|FRAG_TESTA", planted["fragment"]), ("sp|P0A004|COPY_TESTA", planted["copy"])]
    fasta += [(f"sp|Q{i:05d}|BG{i}_TESTA", s) for i, s in enumerate(background[:8])]
    with gzip.open(folder / "UP000000001-Testa.fasta.gz", "wt") as handle:
        handle.write("".join(f">{h} some protein OS=Testa OX=1\n{s}\n" for h, s in fasta))

    # GenBank: CDSs with /translation, one /pseudo, one without translation that does not translate (frame)
    genes = [planted["gb_homolog"], *background[8:10]]
    dna, features = random_dna(rng, 60), []
    for n, protein in enumerate(genes, start=1):
        start = len(dna)
        dna += back_translate(protein)
        features.append(SeqFeature(FeatureLocation(start, len(dna), strand=1), type="CDS",
                                   qualifiers={"locus_tag": [f"TB_{n:04d}"], "translation": [protein]}))
        dna += random_dna(rng, 40)
    pseudo_start = len(dna)
    dna += back_translate(background[10])
    features.append(SeqFeature(FeatureLocation(pseudo_start, len(dna), strand=1), type="CDS",
                               qualifiers={"locus_tag": ["TB_PSEUDO"], "pseudo": [""]}))
    broken_start = len(dna)
    dna += back_translate(background[11])[:-4] + random_dna(rng, 30)
    features.append(SeqFeature(FeatureLocation(broken_start, broken_start + 3 * len(background[11]) + 1, strand=1), type="CDS",
                               qualifiers={"locus_tag": ["TB_BROKEN"]}))
    record = SeqRecord(Seq(dna), id="NC_000001", name="NC_000001", description="Testb chromosome",
                       annotations={"molecule_type": "DNA", "topology": "circular"}, features=features)
    SeqIO.write(record, folder / "Testb.gbk", "genbank")

    # Genome FASTA: the homolog's gene embedded in random DNA (too short to train: metagenome mode)
    genome = random_dna(rng, 2000) + back_translate(planted["genome_homolog"]) + random_dna(rng, 2000)
    (folder / "GCF_000000001.1_Testc_genomic.fna").write_text(f">contig1 Testc\n{genome}\n")
    return planted


@pytest.fixture(scope="module")
def v2_sources(tmp_path_factory, mmseqs):
    root = tmp_path_factory.mktemp("v2")
    families, near_arg, _ = write_sources(root / "arg")
    rng = np.random.default_rng(3)
    unsafe = mutate(rng, families[1][0], 0.05)  # a curated negative ~95 % identical to an ARG: removed as unsafe
    with open(root / "arg" / "negatives" / "swissprot_nonarg_hypervr.fasta", "a") as handle:
        handle.write(f">spUNSAFE\n{unsafe}\n")
    planted = write_proteomes(root / "proteomes", families)
    # CARD mutation models: family 5's ancestor as the resistant allele of a housekeeping gene (variant model)
    card = root / "arg" / "card_v3.2.4"
    (card / "protein_fasta_protein_variant_model.fasta").write_text(f">gb|V1.1|ARO:3000002|Tst_gyrA_FLO [Testa]\n{families[5][0]}\n")
    for model in ("overexpression", "knockout"):
        (card / f"protein_fasta_protein_{model}_model.fasta").write_text("")
    return root, families, near_arg, unsafe, planted


@pytest.fixture(scope="module")
def built_v2(v2_sources, tmp_path_factory):
    root = v2_sources[0]
    config = load_build_config(V2_CONFIG, ["threads=1"])
    config["sources"]["proteomes"]["options"] = {}
    dataset, report = build_arg_dataset(root / "arg", config)
    out = tmp_path_factory.mktemp("built_v2") / "arg_v2"
    save_dataset(dataset, out, card=render_card(dataset, report))
    return out, load_dataset(out), report


def test_proteome_importer_reads_fasta_genbank_and_genome(v2_sources):
    root, *_, planted = v2_sources
    imported = import_proteome(root / "proteomes")
    by_id = {r.source_id: r for r in imported.records}
    assert by_id["UP000000001-Testa:P0A001"].sequence == planted["homolog"]  # UniProt accession parsed
    assert by_id["Testb:TB_0001"].sequence == planted["gb_homolog"]  # GenBank /translation, locus_tag
    assert all(not r.is_arg and r.source == "proteomes" for r in imported.records)
    dropped = {d.source_id: d.reason for d in imported.dropped}
    assert dropped.keys() == {"Testb:TB_PSEUDO", "Testb:TB_BROKEN"}
    assert "pseudo" in dropped["Testb:TB_PSEUDO"] and "untranslatable" in dropped["Testb:TB_BROKEN"]
    genome = [r for r in imported.records if r.source_id.startswith("GCF_000000001.1_Testc:contig1_")]
    assert genome and not any(r.sequence.endswith("*") for r in genome)  # genes called, stop stripped
    assert any(planted["genome_homolog"][5:] in r.sequence for r in genome)
    assert proteome_name("GCF_000006765.1_ASM676v1_protein.faa.gz") == "GCF_000006765.1_ASM676v1"
    renamed = import_proteome(root / "proteomes" / "Testb.gbk", names={"Testb.gbk": "Testb strain:1"})
    assert renamed.records[0].source_id == "Testb_strain_1:TB_0001"


def test_label_rule_columns_and_drops(v2_sources, built_v2):
    _, families, near_arg, unsafe, planted = v2_sources
    out, dataset, report = built_v2
    table = dataset.table.set_index("sequence")
    assert list(dataset.table.columns[-5:-1]) == LABEL_RULE_COLUMNS
    # >= 80 % over both: an ARG with the labels of its best curated ARG, from a protein FASTA and a GenBank file
    for key, family, proteome in (("homolog", 5, "UP000000001-Testa"), ("gb_homolog", 6, "Testb")):
        row, arg = table.loc[planted[key]], table.loc[families[family][0]]
        assert (row["is_arg"], row["label_rule"], row["proteome"]) == ("1", RULE_HOMOLOG, proteome)
        assert (row["drug_classes"], row["mechanism"], row["mobility"]) == (arg["drug_classes"], arg["mechanism"], arg["mobility"])
        assert row["nearest_arg"] == sequence_id(families[family][0]) and float(row["nearest_arg_identity"]) >= 0.8
    genome_args = dataset.table[dataset.table["proteome"] == "GCF_000000001.1_Testc"]
    assert (genome_args["label_rule"] == RULE_HOMOLOG).sum() == 1  # the gene called from the genome is labelled
    # hard negatives are kept (v1 removed near_arg at ~75 %), with their identity
    for seq in (planted["hard"], near_arg):
        row = table.loc[seq]
        assert row["is_arg"] == "0" and row["label_rule"] == RULE_NEGATIVE
        assert 0.3 <= float(row["nearest_arg_identity"]) < 0.8
    # exact copy of a curated ARG: merged, stays curated, lists the proteome
    copy = table.loc[planted["copy"]]
    assert (copy["label_rule"], copy["proteome"], copy["sources"]) == (RULE_CURATED, "UP000000001-Testa", "hmd_arg_db;proteomes")
    assert copy["nearest_arg"] != copy.name and copy["nearest_arg"]  # nearest OTHER ARG
    # ambiguous fragment and unsafe curated negative: removed, counted, listed
    assert planted["fragment"] not in table.index and unsafe not in table.index
    assert [a["source_ids"] for a in report.ambiguous] == ["proteomes:UP000000001-Testa:P0A003"]
    assert [u["source_ids"] for u in report.unsafe_negatives] == ["swissprot_negatives:spUNSAFE"]
    assert not report.removed_negatives  # the v1 filter is off
    random_negs = dataset.table[(dataset.table["is_arg"] == "0") & (dataset.table["nearest_arg_identity"] == "")]
    assert len(random_negs) > 10 and (random_negs["nearest_arg"] == "").all()
    assert check_structure(dataset) == []


def test_homologs_of_a_mutation_model_are_marked_and_reported(v2_sources, built_v2):
    _, families, _, _, planted = v2_sources
    out, dataset, _ = built_v2
    table = dataset.table.set_index("sequence")
    assert dataset.table.columns[-1] == "mutation_model"
    # family 5 members at ~0.9 / 0.7 / 0.5 identity to the model and the ~92 % proteome homolog: marked
    for seq in (*families[5][:4], planted["homolog"]):
        if seq in table.index:
            assert table.loc[seq, "mutation_model"] == "Tst_gyrA_FLO"
    assert (table.loc[families[5][0], "is_arg"], table.loc[planted["homolog"], "is_arg"]) == ("1", "1")
    others = table.drop(index=[s for s in (*families[5], planted["homolog"]) if s in table.index])
    assert (others["mutation_model"] == "").all()  # other families and random proteins: unmarked
    records = {r.sequence: r for r in dataset.records()}
    assert records[families[5][0]].meta["mutation_model"] == "Tst_gyrA_FLO"
    card = (out / CARD_FILE).read_text()
    assert "## Homologs of mutation-conferred resistance models" in card and "| Tst_gyrA_FLO |" in card
    assert "mutation_model" in dataset.meta["record_columns"] and "mutation_models" in dataset.meta["parameters"]


def test_card_and_metadata_report_proteomes(built_v2):
    out, dataset, report = built_v2
    card = (out / CARD_FILE).read_text()
    for text in ("## Proteomes and the label rule", "| UP000000001-Testa |", "hard neg. 30-40 %", "P0A003",
                 "spUNSAFE", "pseudo CDS", "Ambiguous proteins dropped"):
        assert text in card, text
    proteomes = {p["name"]: p for p in dataset.meta["proteomes"]}
    assert set(proteomes) == {"UP000000001-Testa", "Testb", "GCF_000000001.1_Testc"}
    testa = proteomes["UP000000001-Testa"]
    assert (testa["rule_labelled_args"], testa["curated_args"], testa["dropped_ambiguous"]) == (1, 1, 1)
    assert sum(testa["hard_negatives"].values()) >= 1 and "proteome" in dataset.meta["record_columns"]
    assert (out / META_FILE).read_text().count('"label_rule"') >= 1


@pytest.mark.realdata
def test_shared_proteomes_import():
    folder = SHARED_ARG.parent / "proteomes"
    if not (folder / "README.md").exists():
        pytest.skip(f"shared proteomes not found at {folder}")
    imported = import_proteome(folder / "Haemophilus_influenzae_Rd_KW20.gb.gz")
    assert len(imported.records) + len(imported.dropped) == 1810
    # a complete genome (2.4 Mb): Prodigal trained on it (single-genome mode), ~1 gene per kb
    genome = import_proteome(folder / "GCF_001457455.1_NCTC11397_genomic.fna.gz")
    assert 2_000 < len(genome.records) < 2_800 and not genome.dropped
    assert genome.records[0].source_id.startswith("GCF_001457455.1_NCTC11397:")
