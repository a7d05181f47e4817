"""``biotune predict`` with a fusion bundle (real DIAMOND, pyhmmer, LightGBM; tiny fixture): the call
basis and evidence come from the method, consistent with the call, and no second reference search runs."""

from __future__ import annotations

import csv
import html
import json
import random
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from predict_fixtures import contig_with_gene, random_dna, write_fasta_text
from test_fusion import FAST, superfamily_dataset

from biotune.data.dataset import save_dataset
from biotune.evaluate.synthetic import random_protein
from biotune.predict.annotation_bundle import REFERENCE_DB, REFERENCE_DIR, load_bundle
from biotune.predict.pipeline import PredictSettings, annotate, load_predict_config
from biotune.recipes.arg.default_model import load_default_config, train_default

pytestmark = pytest.mark.tools

BASES = {"EXACT", "ALIGNMENT", "HMM", "MODEL"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, diamond):
    """The default recipe (fusion, stacker calibrated on the held-out fold 0) with fast parameters."""
    root = tmp_path_factory.mktemp("fusion_bundle")
    dataset = superfamily_dataset()
    dataset_dir = save_dataset(dataset, root / "dataset")
    cfg = load_default_config([f"dataset={dataset_dir}"])
    cfg.params = OmegaConf.create(FAST)
    return train_default(cfg, root / "bundle"), dataset


def settings(*overrides: str) -> PredictSettings:
    return PredictSettings.from_config(load_predict_config(["threads=2", *overrides]))


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_fusion_bundle_is_calibrated_on_fold_0_and_has_no_reference_database(trained):
    bundle_dir, dataset = trained
    bundle = load_bundle(bundle_dir)
    manifest = bundle.manifest
    assert manifest["method"] == "fusion" and bundle.reports_reference_evidence
    assert manifest["dataset"]["folds"] == [1, 2, 3, 4]
    assert manifest["dataset"]["validation_records"] == int((dataset.table["fold"] == 0).sum())
    assert bundle.method.calibrators, "stacker calibrated on the validation fold"
    assert manifest["reference"]["database"] is None and not (bundle_dir / REFERENCE_DIR / REFERENCE_DB).exists()


def test_predict_reports_the_methods_evidence_without_a_second_search(trained, tmp_path):
    bundle_dir, dataset = trained
    bundle = load_bundle(bundle_dir)
    table = dataset.table
    known = table[(table["fold"] != 0) & (table["is_arg"] == "1")].iloc[0]
    held_out = table[table["fold"] == 0]
    rng = np.random.default_rng(5)
    good = random_protein(200, rng)
    records = [("copy_of_known", known["sequence"]), ("unrelated", good)]
    records += list(zip(held_out["id"], held_out["sequence"]))
    records += [
        ("invalid_letters", good[:50] + "1" + good[50:]),
        ("nucleotide", "ACGTTGCAAGGCTTAACGGATCCGATCGATCGTAGCTAGC"),
        ("unrelated", good),  # duplicate id
        ("empty", ""),
    ]
    path = write_fasta_text(tmp_path / "sample.faa", records)
    summary, files = annotate(path, bundle, tmp_path / "out", settings(), input_type="protein", hamronization=True)

    # structural proof: AnnotationBundle.reference_db builds the DIAMOND database on first use, and it is still absent
    assert not (bundle_dir / REFERENCE_DIR / REFERENCE_DB).exists(), "predict searched the bundle's references"

    rows = read_tsv(files["predictions.tsv"])
    assert [int(r["record"]) for r in rows] == list(range(1, len(records) + 1)), "every record gets a row"
    bad = rows[-4:]
    assert bad[0]["status"].startswith("skipped: invalid protein letters")
    assert bad[1]["status"].startswith("skipped: looks like a nucleotide sequence")
    assert bad[2]["status"] == "skipped: duplicate id (first seen at record 2)" and bad[3]["status"] == "skipped: empty sequence"
    assert all(r["is_arg_probability"] == r["call_basis"] == r["evidence"] == r["nearest_reference"] == "" for r in bad)
    scored = rows[:-4]
    assert summary.scored == len(scored) and all(r["status"] == "ok" for r in scored)

    for row in scored:
        assert row["evidence"], row
        assert (row["call_basis"] != "") == (row["is_arg"] == "ARG"), row
        if row["call_basis"]:
            assert row["call_basis"] in BASES
        if row["call_basis"] == "ALIGNMENT":
            assert float(row["reference_identity"]) >= 80 and float(row["reference_coverage"]) >= 80
        if row["nearest_reference"]:  # the method's nearest ARG reference, labelled from reference/labels.tsv
            assert row["nearest_reference"] in bundle.reference_labels.index and row["reference_is_arg"] == "1"
            assert row["nearest_reference"] in row["evidence"]

    copy = scored[0]
    assert (copy["is_arg"], copy["call_basis"], copy["nearest_reference"]) == ("ARG", "EXACT", known["id"])
    assert float(copy["reference_identity"]) == 100.0 and copy["novel"] == "false"
    assert copy["reference_drug_classes"] == known["drug_classes"] and copy["drug_classes"] == known["drug_classes"]
    unrelated = scored[1]
    assert unrelated["is_arg"] == "non-ARG" and unrelated["nearest_reference"] == "" and unrelated["novel"] == "true"
    args = [r for r in scored[2:] if r["id"].startswith("arg")]
    assert args and all((r["is_arg"], r["call_basis"], r["nearest_reference"]) == ("ARG", "EXACT", r["id"]) for r in args), (
        "the validation fold's ARGs are references of the final bases"
    )

    # the TSV's evidence is the method's own, row for row
    from biotune.data.records import Record

    direct = bundle.method.predict([Record(id=str(i), sequence=s) for i, (_, s) in enumerate(records[: len(scored)])]).extra
    assert [r["nearest_reference"] for r in scored] == direct["nearest_reference"].tolist()
    assert [r["evidence"] for r in scored] == direct["evidence"].tolist()

    doc = json.loads(files["predictions.json"].read_text())
    details = ("nearest_negative", "negative_identity", "hmm_profile", "hmm_bitscore", "hmm_trusted_cutoff")
    for record, row in zip(doc["records"], rows):
        assert record["call_basis"] == (row["call_basis"] or None)
        assert all(k in record for k in details) == (row["status"] == "ok"), "details for scored proteins only"
        if record["call_basis"] == "HMM":
            assert record["hmm_bitscore"] >= record["hmm_trusted_cutoff"]
    counts = {b: sum(r["call_basis"] == b for r in rows) for b in BASES}
    assert doc["summary"]["arg_calls_by_call_basis"] == {b: n for b, n in counts.items() if n}

    hamr = read_tsv(files["hamronization.tsv"])
    assert [h["predicted_phenotype_confidence_level"] for h in hamr] == [r["call_basis"] for r in rows if r["is_arg"] == "ARG"]
    report = files["report.html"].read_text()
    assert "ARG calls by call basis" in report and html.escape(copy["evidence"]) in report


def test_fusion_bundle_on_a_contig(trained, tmp_path):
    """Genes called on a contig go through the same path: a training ARG back-translated into DNA is EXACT."""
    bundle_dir, dataset = trained
    table = dataset.table
    known = table[(table["fold"] != 0) & (table["is_arg"] == "1")].iloc[3]
    rng = random.Random(2)
    contig, start, end = contig_with_gene(rng, known["sequence"])
    path = write_fasta_text(tmp_path / "contigs.fna", [("ctg", contig), ("noise", random_dna(rng, 60))])
    _, files = annotate(path, load_bundle(bundle_dir), tmp_path / "out", settings())
    rows = read_tsv(files["predictions.tsv"])
    gene = [r for r in rows if r["nearest_reference"] == known["id"]]
    assert len(gene) == 1 and (int(gene[0]["start"]), int(gene[0]["end"])) == (start, end)
    assert (gene[0]["is_arg"], gene[0]["call_basis"]) == ("ARG", "EXACT")
    assert [r["status"] for r in rows if r["contig"] == "noise"] == ["no_gene_called"]
