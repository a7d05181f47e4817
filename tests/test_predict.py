"""``biotune predict`` end to end on realistic fixtures: real kmer_lr bundle, real pyrodigal, real DIAMOND.

kmer_lr reports no evidence of its own: predict searches the bundle's references and the call basis
comes from the fallback rule (EXACT / ALIGNMENT / MODEL). The fusion bundle: tests/test_predict_fusion.py.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from predict_fixtures import (
    FAMILIES,
    contig_with_gene,
    mutate,
    predict_cli,
    random_dna,
    random_protein,
    save_synthetic_dataset,
    synthetic_arg_table,
    write_fasta_text,
)

from biotune.errors import InputError
from biotune.io.fasta import FastaRecord
from biotune.predict.annotation_bundle import load_bundle
from biotune.predict.inputs import detect_type, open_input, protein_queries
from biotune.predict.pipeline import PredictSettings, annotate, load_predict_config
from biotune.predict.writers import HAMRONIZATION_COLUMNS, TSV_COLUMNS

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory, diamond) -> Path:
    """A real bundle: kmer_lr trained by ``train_default`` on all folds of a synthetic ARG dataset."""
    from biotune.recipes.arg.default_model import load_default_config, train_default

    root = tmp_path_factory.mktemp("bundle")
    dataset = save_synthetic_dataset(root / "dataset")
    return train_default(load_default_config([f"dataset={dataset}", "method=kmer_lr", "valid_fold=null"]), root / "arg_default")


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_bundle(bundle_dir)


def settings(*overrides: str) -> PredictSettings:
    return PredictSettings.from_config(load_predict_config(["threads=2", *overrides]))


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def family_of(reference_id: str) -> str:
    return reference_id.split("_")[0]


def protein_input(rng: random.Random) -> list[tuple[str, str]]:
    """Two mutated members of each ARG family (unseen variants, ~80 % identity), non-ARGs, random proteins."""
    table = synthetic_arg_table()
    records = []
    for f in range(len(FAMILIES)):
        for k, seq in enumerate(table[table["cluster"] == f"fam{f}"]["sequence"][:2]):
            records.append((f"fam{f}_variant{k}", mutate(rng, seq, 0.1)))
    for k, seq in enumerate(table[table["is_arg"] == "0"]["sequence"][:5]):
        records.append((f"neg_variant{k}", mutate(rng, seq, 0.1)))
    records += [(f"unrelated{k}", random_protein(rng, 260)) for k in range(3)]
    return records


def test_protein_input_end_to_end(bundle, tmp_path):
    records = protein_input(random.Random(1))
    path = write_fasta_text(tmp_path / "sample.faa", records)
    summary, files = annotate(path, bundle, tmp_path / "out", settings(), hamronization=True)

    rows = read_tsv(files["predictions.tsv"])
    assert [r["id"] for r in rows] == [rid for rid, _ in records]
    assert summary.input_type == "protein" and summary.proteins == summary.scored == len(records)
    table = synthetic_arg_table()
    truth = {f"fam{f}": (set(c.split(";")), m) for f, (c, m) in enumerate(FAMILIES)}
    for row in rows:
        assert row["status"] == "ok" and row["model_version"] == bundle.model_version
        if row["id"].startswith("fam"):
            family = row["id"].split("_")[0]
            assert row["is_arg"] == "ARG" and float(row["is_arg_probability"]) >= 0.5
            assert set(row["drug_classes"].split(";")) == truth[family][0]
            assert row["mechanism"] == truth[family][1]
            assert family_of(row["nearest_reference"]) == family
            assert float(row["reference_identity"]) >= 80 and row["novel"] == "false"
            assert row["call_basis"] == "ALIGNMENT" and row["evidence"].startswith(f"ARG ref {row['nearest_reference']} ")
        elif row["id"].startswith("neg"):
            assert row["is_arg"] == "non-ARG" and row["drug_classes"] == "" and row["mechanism"] == ""
            assert row["nearest_reference"].startswith("neg") and row["novel"] == "false"
            assert row["call_basis"] == "" and row["evidence"].startswith("non-ARG ref neg")
        else:
            assert row["nearest_reference"] == "" and row["novel"] == "true"
            assert row["evidence"].startswith("no reference hit; kmer_lr ")
        assert (row["call_basis"] != "") == (row["is_arg"] == "ARG") and re.search(r"kmer_lr \d\.\d\d$", row["evidence"])
    assert set(table["id"]) >= {r["nearest_reference"] for r in rows if r["nearest_reference"]}
    assert summary.arg_calls == sum(r["is_arg"] == "ARG" for r in rows)


def test_output_schema(bundle, tmp_path):
    records = protein_input(random.Random(2))
    path = write_fasta_text(tmp_path / "sample.fasta", records)
    _, files = annotate(path, bundle, tmp_path / "out", settings(), hamronization=True)
    assert sorted(files) == ["hamronization.tsv", "predictions.json", "predictions.tsv", "report.html"]
    assert not list((tmp_path / "out").glob("*.partial"))

    with open(files["predictions.tsv"]) as handle:
        assert tuple(handle.readline().rstrip("\n").split("\t")) == TSV_COLUMNS
    rows = read_tsv(files["predictions.tsv"])
    for row in rows:
        for name, pattern in [("is_arg_probability", r"0|1|0?\.\d+|1\.0"), ("reference_identity", r"|\d+(\.\d+)?")]:
            assert re.fullmatch(pattern, row[name]), (name, row[name])
        probs = row["drug_class_probabilities"].split(";") if row["drug_class_probabilities"] else []
        assert [p.split(":")[0] for p in probs] == (row["drug_classes"].split(";") if row["drug_classes"] else [])

    doc = json.loads(files["predictions.json"].read_text())
    assert doc["model"]["model_version"] == bundle.model_version
    assert [r["id"] for r in doc["records"]] == [r["id"] for r in rows]
    first = doc["records"][0]
    assert set(first["drug_class_probabilities"]) == set(bundle.method.tasks[1].classes)
    assert abs(sum(first["mechanism_probabilities"].values()) - 1) < 1e-3
    assert doc["summary"]["proteins"] == len(rows)

    hamr = read_tsv(files["hamronization.tsv"])
    with open(files["hamronization.tsv"]) as handle:
        assert tuple(handle.readline().rstrip("\n").split("\t")) == HAMRONIZATION_COLUMNS
    assert len(hamr) == sum(r["is_arg"] == "ARG" for r in rows) > 0
    mandatory = HAMRONIZATION_COLUMNS[:9]
    for row in hamr:
        assert all(row[c] for c in mandatory), row
        assert row["input_file_name"] == "sample" and row["genetic_variation_type"] == "gene_presence_detected"
        assert " " not in row["gene_symbol"]
        assert row["predicted_phenotype_confidence_level"] in ("EXACT", "ALIGNMENT", "MODEL")
    summary = tmp_path / "summary.json"  # the hAMRonization tool itself reads the report back
    hamronize = Path(sys.executable).with_name("hamronize")
    subprocess.run([str(hamronize), "summarize", "-t", "json", "-o", str(summary), str(files["hamronization.tsv"])], check=True, capture_output=True)
    assert len(json.loads(summary.read_text())) == len(hamr)

    html = files["report.html"].read_text()
    assert "<svg" in html and "sortTable" in html and "<table id='predictions'>" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "report must not load external assets"
    assert html.count("<tr class='arg'>") == len(hamr)
    assert "ARG calls by call basis" in html
    bases = {r["call_basis"] for r in rows if r["call_basis"]}
    assert doc["summary"]["arg_calls_by_call_basis"] == {b: sum(r["call_basis"] == b for r in rows) for b in bases}


def test_nucleotide_contigs_end_to_end(bundle, tmp_path):
    rng = random.Random(3)
    table = synthetic_arg_table()
    fam0, fam2 = table["sequence"][0], table["sequence"][2 * 12 + 5]
    forward, f_start, f_end = contig_with_gene(rng, fam0)
    reverse, r_start, r_end = contig_with_gene(rng, fam2, reverse=True)
    contigs = [("ctg_fwd", forward), ("ctg_rev", reverse), ("tiny", random_dna(rng, 60)), ("noise", random_dna(rng, 3000, gc=0.3))]
    path = tmp_path / "assembly.fna.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("".join(f">{cid} some description\n{seq}\n" for cid, seq in contigs))

    summary, files = annotate(path, bundle, tmp_path / "out", settings(), hamronization=True)
    assert summary.input_type == "nucleotide" and summary.input_records == 4
    rows = read_tsv(files["predictions.tsv"])
    assert {r["contig"] for r in rows} == {cid for cid, _ in contigs}, "every contig appears"
    by_contig = {cid: [r for r in rows if r["contig"] == cid] for cid, _ in contigs}
    assert [r["status"] for r in by_contig["tiny"]] == ["no_gene_called"] and by_contig["tiny"][0]["id"] == "tiny"

    for cid, start, end, strand, ref, classes in [
        ("ctg_fwd", f_start, f_end, "+", "fam0_m0", "beta_lactam"),
        ("ctg_rev", r_start, r_end, "-", "fam2_m5", "tetracycline"),
    ]:
        genes = [r for r in by_contig[cid] if r["nearest_reference"] == ref]
        assert len(genes) == 1, by_contig[cid]
        gene = genes[0]
        assert (int(gene["start"]), int(gene["end"]), gene["strand"]) == (start, end, strand)
        assert re.fullmatch(rf"{cid}_\d+", gene["id"]) and gene["partial"] == "00"
        assert float(gene["reference_identity"]) == 100.0 and gene["novel"] == "false"
        assert gene["is_arg"] == "ARG" and gene["drug_classes"] == classes
        assert gene["call_basis"] == "EXACT", "a training sequence, full length"
    hamr = read_tsv(files["hamronization.tsv"])
    located = {(h["input_sequence_id"], h["input_gene_start"], h["input_gene_stop"], h["strand_orientation"]) for h in hamr}
    assert ("ctg_fwd", str(f_start), str(f_end), "+") in located and ("ctg_rev", str(r_start), str(r_end), "-") in located


def test_real_arg_gene_in_a_contig(arg_sources, tmp_path, diamond):
    """A real ARG (HMD-ARG-DB), back-translated into random DNA, is found, located and matched to itself."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    from biotune.methods.base import get_method
    from biotune.predict.annotation_bundle import write_bundle
    import pandas as pd
    from predict_fixtures import ARG_TASKS

    from biotune.data.records import Record

    wanted = {
        "beta_lactam": "beta_lactam",
        "aminoglycoside": "aminoglycoside",
        "tetracycline": "tetracycline",
        "macrolide-lincosamide-streptogramin": "MLS",
    }
    args = []
    with open(arg_sources / "hmd_arg_db_extra" / "hmd_only.fasta") as handle:
        for header, seq in SimpleFastaParser(handle):
            fields = header.split("|")
            if fields[3] in wanted and sum(a[2] == wanted.get(fields[3]) for a in args) < 8 and set(seq) <= set("ACDEFGHIKLMNPQRSTVWY"):
                args.append((fields[0], seq, wanted[fields[3]]))
    with open(arg_sources / "negatives" / "swissprot_nonarg_hypervr.fasta") as handle:
        negatives = [(h.split()[0], s) for h, s in itertools.islice(SimpleFastaParser(handle), 40)]
    records = [Record(i, s, {"is_arg": 1, "drug_class": [c], "mechanism": "inactivation"}) for i, s, c in args]
    records += [Record(i, s, {"is_arg": 0, "drug_class": None, "mechanism": None}) for i, s in negatives]
    method = get_method("kmer_lr")().fit(records, None, ARG_TASKS)
    references = pd.DataFrame({"id": [r.id for r in records], "sequence": [r.sequence for r in records]})
    bundle = load_bundle(write_bundle(method, references, tmp_path / "bundle", name="real", dataset={"name": "hmd_sample"}))

    real_id, real_seq, real_class = args[0]
    contig, start, end = contig_with_gene(random.Random(4), real_seq, flank=2000)
    path = write_fasta_text(tmp_path / "contig.fna", [("contig_1", contig)])
    _, files = annotate(path, bundle, tmp_path / "out", settings())
    rows = read_tsv(files["predictions.tsv"])
    hit = [r for r in rows if r["nearest_reference"] == real_id]
    assert len(hit) == 1
    assert (int(hit[0]["start"]), int(hit[0]["end"]), hit[0]["strand"]) == (start, end, "+")
    assert float(hit[0]["reference_identity"]) == 100.0 and float(hit[0]["reference_coverage"]) == 100.0
    assert hit[0]["is_arg"] == "ARG" and real_class in hit[0]["drug_classes"].split(";")


def test_every_bad_record_gets_a_status(bundle, tmp_path):
    good = random_protein(random.Random(5), 200)
    records = [
        ("good", good),
        ("invalid_letters", good[:50] + "1" + good[50:]),
        ("nucleotide", "ACGTTGCAAGGCTTAACGGATCCGATCGATCGTAGCTAGC"),
        ("good", good),  # duplicate id
        ("empty", ""),
        ("giant", good * 30),
        ("internal_stop", good[:100] + "*" + good[100:]),
        ("", good),
    ]
    path = write_fasta_text(tmp_path / "bad.faa", records)
    summary, files = annotate(path, bundle, tmp_path / "out", settings("input.max_protein_length=5000"), input_type="protein")
    rows = read_tsv(files["predictions.tsv"])
    assert [r["record"] for r in rows] == [str(i) for i in range(1, len(records) + 1)]
    status = [r["status"] for r in rows]
    assert status[0] == "ok" and rows[0]["is_arg_probability"] != ""
    assert status[1].startswith("skipped: invalid protein letters") and "position 51" in status[1]
    assert status[2].startswith("skipped: looks like a nucleotide sequence")
    assert status[3] == "skipped: duplicate id (first seen at record 1)"
    assert status[4] == "skipped: empty sequence"
    assert status[5] == "skipped: sequence length 6000 exceeds the limit of 5000"
    assert status[6] == "skipped: internal stop codon '*' at position 101"
    assert status[7].startswith("skipped: empty identifier")
    assert all(r["is_arg_probability"] == "" and r["call_basis"] == r["evidence"] == "" for r in rows[1:])
    assert summary.scored == 1 and sum(summary.statuses.values()) == len(records)


def test_bad_contigs_get_a_status(bundle, tmp_path):
    rng = random.Random(6)
    contig, _, _ = contig_with_gene(rng, synthetic_arg_table()["sequence"][0])
    records = [("c1", contig), ("c1", contig), ("protein_like", random_protein(rng, 300)), ("empty", ""), ("short", "ACGTAGCTAGGA")]
    path = write_fasta_text(tmp_path / "contigs.fna", records)
    _, files = annotate(path, bundle, tmp_path / "out", settings(), input_type="nucleotide")
    rows = read_tsv(files["predictions.tsv"])
    by_record = {int(r["record"]): r for r in rows}
    assert sorted(by_record) == [1, 2, 3, 4, 5]
    assert by_record[2]["status"] == "skipped: duplicate id (first seen at record 1)"
    assert by_record[3]["status"].startswith("skipped: invalid nucleotide letters") and "pass --type protein" in by_record[3]["status"]
    assert by_record[4]["status"] == "skipped: empty sequence"
    assert by_record[5]["status"] == "no_gene_called"


def test_chunking_does_not_change_results(bundle, tmp_path):
    records = protein_input(random.Random(7))
    path = write_fasta_text(tmp_path / "sample.faa", records)
    _, big = annotate(path, bundle, tmp_path / "one_chunk", settings())
    _, small = annotate(path, bundle, tmp_path / "chunks", settings("chunk_size=3"))
    assert big["predictions.tsv"].read_text() == small["predictions.tsv"].read_text()


def test_queries_stream_lazily():
    """Validation is a generator: an endless input yields its first queries without being read whole."""
    endless = (FastaRecord(f"p{i}", f"p{i}", "MKV" * 40) for i in itertools.count())
    first = list(itertools.islice(protein_queries(endless, max_length=None), 5))
    assert [q.id for q in first] == ["p0", "p1", "p2", "p3", "p4"]


def _genbank(path: Path, records) -> Path:
    """Write Biopython SeqRecords as a gzip GenBank file (what NCBI and Prokka/Bakta users hand over)."""
    from Bio import SeqIO

    for r in records:
        r.annotations["molecule_type"] = "DNA"
    with gzip.open(path, "wt") as handle:
        SeqIO.write(records, handle, "genbank")
    return path


def test_genbank_input_annotated_cds_proteins_or_contigs(bundle, tmp_path):
    from Bio.Seq import Seq
    from Bio.SeqFeature import FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    rng = random.Random(12)
    table = synthetic_arg_table()
    fam0, fam2 = table["sequence"][0], table["sequence"][2 * 12 + 5]
    forward, f_start, f_end = contig_with_gene(rng, fam0)
    reverse, r_start, r_end = contig_with_gene(rng, fam2, reverse=True)
    annotated = SeqRecord(Seq(forward + reverse), id="chr1", name="chr1", description="a genome")
    offset = len(forward)
    annotated.features = [
        SeqFeature(FeatureLocation(f_start - 1, f_end, strand=1), type="CDS", qualifiers={"locus_tag": ["G_0001"], "translation": [fam0]}),
        SeqFeature(FeatureLocation(offset + r_start - 1, offset + r_end, strand=-1), type="CDS", qualifiers={"locus_tag": ["G_0002"]}),
        SeqFeature(FeatureLocation(10, 400, strand=1), type="CDS", qualifiers={"locus_tag": ["G_0003"], "pseudo": [""]}),
        SeqFeature(FeatureLocation(10, 401, strand=1), type="CDS", qualifiers={"locus_tag": ["G_0004"]}),  # not a whole CDS
    ]
    path = _genbank(tmp_path / "genome.gbk.gz", [annotated])
    summary, files = annotate(path, bundle, tmp_path / "out", settings())
    rows = {r["id"]: r for r in read_tsv(files["predictions.tsv"])}
    assert summary.input_type == "protein" and list(rows) == ["G_0001", "G_0002", "G_0003", "G_0004"]
    assert rows["G_0001"]["nearest_reference"] == "fam0_m0" and rows["G_0001"]["call_basis"] == "EXACT"
    assert rows["G_0002"]["nearest_reference"] == "fam2_m5" and rows["G_0002"]["is_arg"] == "ARG"  # translated from the -1 strand
    assert rows["G_0003"]["status"] == "skipped: pseudo CDS (no protein)"
    assert rows["G_0004"]["status"].startswith("skipped: untranslatable CDS")

    contigs = _genbank(tmp_path / "contigs.gb", [SeqRecord(Seq(forward), id="ctg1", name="ctg1"), SeqRecord(Seq(reverse), id="ctg2", name="ctg2")])
    summary, files = annotate(contigs, bundle, tmp_path / "out2", settings())
    rows = read_tsv(files["predictions.tsv"])
    assert summary.input_type == "nucleotide" and summary.input_records == 2
    found = {(r["contig"], r["start"], r["end"], r["nearest_reference"]) for r in rows}
    assert ("ctg1", str(f_start), str(f_end), "fam0_m0") in found and ("ctg2", str(r_start), str(r_end), "fam2_m5") in found
    assert open_input(path, input_type="nucleotide")[0] == "nucleotide"

    broken = tmp_path / "broken.gbk"
    broken.write_text("LOCUS       x 10 bp DNA\nFEATURES             Location/Qualifiers\n     CDS             1..oops\n//\n")
    with pytest.raises(InputError, match=r"broken\.gbk.*record 1: cannot parse as GenBank"):
        annotate(broken, bundle, tmp_path / "out3", settings())


def test_input_type_detection(tmp_path):
    rng = random.Random(8)
    assert detect_type([FastaRecord("a", "a", random_dna(rng, 500))]) == "nucleotide"
    assert detect_type([FastaRecord("a", "a", random_protein(rng, 300))]) == "protein"
    assert detect_type([FastaRecord("a", "a", random_dna(rng, 500).replace("T", "U"))]) == "nucleotide"
    path = tmp_path / "x.faa.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(">p\n" + random_protein(rng, 100) + "\n")
    seq_type, records = open_input(path)
    assert seq_type == "protein" and [r.id for r in records] == ["p"]
    assert open_input(path, input_type="nucleotide")[0] == "nucleotide"


@pytest.mark.parametrize(
    "content, message",
    [("", "file is empty"), ("\n\n", "file is empty"), ("id\tsequence\nx\tMKV\n", "not a FASTA file")],
)
def test_unreadable_inputs_raise_clear_errors(bundle, tmp_path, content, message):
    path = tmp_path / "input.faa"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        annotate(path, bundle, tmp_path / "out", settings())
    assert not (tmp_path / "out" / "predictions.tsv").exists()


def test_cli_predict_without_model_explains_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOTUNE_HOME", str(tmp_path / "home"))
    path = write_fasta_text(tmp_path / "x.faa", [("p", random_protein(random.Random(9), 100))])
    result = predict_cli("predict", str(path), "-o", str(tmp_path / "out"))
    assert isinstance(result.exception, InputError)
    message = str(result.exception)
    assert "biotune arg train-default --dataset data/arg_v2" in message and str(tmp_path / "home") in message
    assert "--config configs/build/arg_v2.yaml" in message


def test_cli_predict_with_default_bundle(bundle_dir, tmp_path, monkeypatch):
    """``predict`` without --model uses $BIOTUNE_HOME/models/arg_default and reports throughput (in-process CLI)."""
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "arg_default").symlink_to(bundle_dir)
    monkeypatch.setenv("BIOTUNE_HOME", str(home))
    path = write_fasta_text(tmp_path / "x.faa", protein_input(random.Random(10)))
    result = predict_cli("predict", str(path), "-o", str(tmp_path / "out"), "--threads", "2", "--hamronization")
    assert result.exit_code == 0, result.output
    assert re.search(r"proteins/s", result.output) and "hamronization.tsv" in result.output
    assert len(read_tsv(tmp_path / "out" / "predictions.tsv")) == len(protein_input(random.Random(10)))
    bad = predict_cli("predict", str(tmp_path / "out" / "report.html"), "-o", str(tmp_path / "out2"))
    assert isinstance(bad.exception, InputError) and "not a FASTA file" in str(bad.exception)
    bad_type = predict_cli("predict", str(path), "-o", str(tmp_path / "out3"), "--type", "rna")
    assert isinstance(bad_type.exception, InputError) and "--type must be one of" in str(bad_type.exception)
    for setting, message in (("chunk_size=abc", "bad value for setting chunk_size: 'abc' where an integer is expected"),
                             ("calls=1", "bad value for setting calls: 1 where a section of settings is expected"),
                             ("threads=0", "bad value for setting threads: 0 where a positive integer or null is expected")):  # fmt: skip
        bad_set = predict_cli("predict", str(path), "-o", str(tmp_path / "out3"), "--set", setting)
        assert isinstance(bad_set.exception, InputError) and str(bad_set.exception).endswith(message), bad_set.exception
    truncated = tmp_path / "truncated.faa.gz"  # a download cut short: the progress pass and the reader both see it
    truncated.write_bytes(gzip.compress(path.read_bytes())[:-30])
    for quiet in ([], ["--quiet"]):
        cut = predict_cli("predict", str(truncated), "-o", str(tmp_path / "out4"), *quiet)
        assert isinstance(cut.exception, InputError), cut.exception
        assert str(cut.exception).startswith(f"{truncated}: cannot read the file (damaged or truncated compressed file?)")
