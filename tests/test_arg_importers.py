"""Importers on small fixture files in each upstream layout, including bad inputs."""

from __future__ import annotations

import pytest
from Bio.Data import CodonTable

from biotune.errors import InputError
from biotune.recipes.arg.build import drop_ambiguous_ids
from biotune.recipes.arg.importers import (
    Imported,
    import_card,
    import_hmd_csv,
    import_hmd_fasta,
    import_negative_fasta,
    import_resfinder,
    translate_gene,
)

HMD_HEADER = "Accession,Source,Database,Drug Class,Gene,Resistance Mechanism,Remove,Sequence,is_ARG,dc_labels\n"
PROT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWUAQRPAERAAELGLK"


def write_hmd_csv(path, rows):
    path.write_text(HMD_HEADER + "".join(",".join(r) + "\n" for r in rows))
    return path


def test_hmd_csv_reads_args_and_negatives(tmp_path):
    path = write_hmd_csv(
        tmp_path / "part.csv",
        [
            ["A1", "FEATURES", "CARD", "beta_lactam;aminoglycoside", "blaX", "antibiotic inactivation", "1", "mkta yiak*", "1", "[]"],
            ["sp|N1|X", "", "", "", "", "", "0", "MSTNPKPQRKTKRNTNRRPQDVKFPGG", "0", "[]"],
        ],
    )
    got = import_hmd_csv(path, source="hmd")
    assert [r.source_id for r in got.records] == ["A1", "sp|N1|X"]
    arg, neg = got.records
    assert arg.sequence == "MKTAYIAK" and arg.is_arg and arg.vocabulary == "hmd"
    assert arg.drug_classes == ("beta_lactam", "aminoglycoside") and arg.mechanisms == ("antibiotic inactivation",)
    assert arg.mobility == "1"
    assert not neg.is_arg and neg.drug_classes == () and neg.mobility == ""


def test_hmd_csv_bad_rows_are_counted_drops_not_silent(tmp_path):
    path = write_hmd_csv(
        tmp_path / "part.csv",
        [
            ["E1", "F", "CARD", "beta_lactam", "g", "antibiotic efflux", "0", "", "1", ""],
            ["B1", "F", "CARD", "beta_lactam", "g", "antibiotic efflux", "0", "MKT1QQ", "1", ""],
            ["N1", "F", "CARD", "beta_lactam", "g", "antibiotic efflux", "0", "ACGTACGTACGTACGTACGTACGTAC", "1", ""],
            ["OK", "F", "CARD", "beta_lactam", "g", "antibiotic efflux", "0", "MKTAYIAKQR", "1", ""],
        ],
    )
    got = import_hmd_csv(path)
    assert [r.source_id for r in got.records] == ["OK"]
    reasons = {d.source_id: d.reason for d in got.dropped}
    assert reasons["E1"] == "empty sequence"
    assert "invalid protein letters '1'" in reasons["B1"]
    assert "nucleotide" in reasons["N1"]
    assert all(d.path == str(path) for d in got.dropped)


def test_hmd_csv_structural_errors_name_the_file_and_record(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        import_hmd_csv(tmp_path / "absent.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("Accession,Database,Drug Class\nA,CARD,x\n")
    with pytest.raises(InputError, match=r"missing column\(s\).*'Sequence'") as exc:
        import_hmd_csv(wrong)
    assert str(wrong) in str(exc.value)
    bad_flag = write_hmd_csv(tmp_path / "flag.csv", [["Q9", "F", "CARD", "x", "g", "m", "0", "MKT", "yes", ""]])
    with pytest.raises(InputError, match=r"record 'Q9'.*is_ARG.*'yes'"):
        import_hmd_csv(bad_flag)


def test_hmd_fasta_header_fields(tmp_path):
    path = tmp_path / "hmd_only.fasta"
    path.write_text(
        ">ACN1.1|FEATURES|NCBI|macrolide-lincosamide-streptogramin|macB|antibiotic target protection|0\nMAEPVLSVKD\nLDIRF\n"
    )
    (rec,) = import_hmd_fasta(path, source="extra").records
    assert (rec.source, rec.source_id, rec.sequence) == ("extra", "ACN1.1", "MAEPVLSVKDLDIRF")
    assert rec.drug_classes == ("macrolide-lincosamide-streptogramin",) and rec.mobility == "0"
    path.write_text(">ACN2.1|FEATURES|NCBI|beta_lactam\nMAEP\n")
    with pytest.raises(InputError, match=r"record 'ACN2.1\|FEATURES.*4 '\|'-fields"):
        import_hmd_fasta(path)


def test_negative_fasta_and_missing_or_non_fasta_file(tmp_path):
    path = tmp_path / "neg.fasta"
    path.write_text(">spP1\nMSTNPKPQRK\n>spP2\n\n>spP3\nMKV\n")
    got = import_negative_fasta(path, source="neg")
    assert [r.source_id for r in got.records] == ["spP1", "spP3"]
    assert [(d.source_id, d.reason) for d in got.dropped] == [("spP2", "empty sequence")]
    assert not any(r.is_arg for r in got.records)
    with pytest.raises(InputError, match="file not found"):
        import_negative_fasta(tmp_path / "none.fasta")
    text = tmp_path / "table.fasta"
    text.write_text("id,seq\n")
    with pytest.raises(InputError, match="not a FASTA file"):
        import_negative_fasta(text)


def write_card(folder, *, extra_fasta=""):
    folder.mkdir(parents=True)
    (folder / "aro_index.tsv").write_text(
        "ARO Accession\tCVTERM ID\tModel Sequence ID\tModel ID\tModel Name\tARO Name\tProtein Accession\tDNA Accession\t"
        "AMR Gene Family\tDrug Class\tResistance Mechanism\tCARD Short Name\n"
        "ARO:3000001\t1\t1\t1\tTEM-1\tTEM-1\tP1\tD1\tTEM beta-lactamase\tpenam;cephalosporin\tantibiotic inactivation\tTEM-1\n"
        "ARO:3000002\t2\t2\t2\tmexR\tmexR\tP2\tD2\tRND pump\tfluoroquinolone antibiotic\tantibiotic efflux;antibiotic target alteration\tmexR\n"
    )
    (folder / "protein_fasta_protein_homolog_model.fasta").write_text(
        ">gb|AAA1.1|ARO:3000001|TEM-1 [Escherichia coli]\nMSIQHFRVALIPFFAAFCLPVFA\n"
        ">gb|AAA2.1|ARO:3000002|mexR [Pseudomonas aeruginosa]\nMNYPVNPDLMPALMAVFQHVRTRIQSELDCQRLDLTPPDVHVLKLIDEQRGLNLQDLGRQMCRDKALITRKIRELEGRNLVRRERNPSDQRSFQLFLTDEGLAIHQHAEAIMSRVHDELFAPLTPVEQATLVHLLDQCLAAQPLEDI\n"
        + extra_fasta
    )
    (folder / "protein_fasta_protein_variant_model.fasta").write_text(">gb|VVV1.1|ARO:3000001|var\nMKKKK\n")


def test_card_release_joined_on_aro_and_found_inside_an_unpacked_tarball(tmp_path):
    write_card(tmp_path / "download" / "card-data")
    got = import_card(tmp_path / "download", source="card")
    tem, mex = got.records
    assert tem.source_id == "AAA1.1|ARO:3000001"
    assert tem.drug_classes == ("cephalosporin", "penam") and tem.gene_family == "TEM beta-lactamase"
    assert mex.mechanisms == ("antibiotic efflux", "antibiotic target alteration")
    assert len(import_card(tmp_path / "download", models=["protein_homolog", "protein_variant"]).records) == 3


def test_card_errors(tmp_path):
    with pytest.raises(InputError, match="aro_index.tsv not found"):
        (tmp_path / "empty").mkdir()
        import_card(tmp_path / "empty")
    write_card(tmp_path / "card", extra_fasta=">gb|ZZZ.1|ARO:9999999|ghost [x]\nMKV\n")
    with pytest.raises(InputError, match=r"record 'gb\|ZZZ.1.*ARO:9999999 is not in"):
        import_card(tmp_path / "card")


CODON = {aa: codon for codon, aa in sorted(CodonTable.unambiguous_dna_by_id[11].forward_table.items(), reverse=True)}


def back_translate(protein: str, start: str = "ATG") -> str:
    return start + "".join(CODON[a] for a in protein[1:]) + "TAA"


def write_resfinder_checkout(folder):
    """A ResFinder git checkout: per-class .fsa files (no all.fsa) and phenotypes.txt."""
    folder.mkdir()
    good = back_translate("MKTAYIAKQRQISFVKSRFSRQLEERLGLIEV")
    alt_start = back_translate("MKTAYIAKQRQIS", start="GTG")
    (folder / "beta-lactam.fsa").write_text(
        f">blaGOOD_1_X1\n{good[:30]}\n{good[30:]}\n>blaFRAME_1_X2\n{good[:-4]}\n>blaSTOP_1_X3\n{good[:12]}TAA{good[12:]}\n"
    )
    (folder / "sulphonamide.fsa").write_text(f">sul1_1_X4\n{alt_start}\n>orphan_1_X5\n{good}\n")
    (folder / "phenotypes.txt").write_text(
        "Gene_accession no.\tClass\tPhenotype\tPMID\tMechanism of resistance\tNotes\tRequired_gene\n"
        "blaGOOD_1_X1\tBeta-lactam\tAmpicillin, Piperacillin\t1\tEnzymatic inactivation\t\t\n"
        "blaFRAME_1_X2\tBeta-lactam\tAmpicillin\t1\tEnzymatic inactivation\t\t\n"
        "blaSTOP_1_X3\tBeta-lactam\tAmpicillin\t1\tEnzymatic inactivation\t\t\n"
        "sul1_1_X4\tFolate pathway antagonist\tSulfamethoxazole\t1\tPurine synthesis\t\t\n"
    )
    return good


def test_resfinder_checkout_translates_and_reports_bad_genes_by_name(tmp_path):
    write_resfinder_checkout(tmp_path / "resfinder_db")
    got = import_resfinder(tmp_path / "resfinder_db", source="rf")
    by_id = {r.source_id: r for r in got.records}
    assert sorted(by_id) == ["blaGOOD_1_X1", "sul1_1_X4"]
    assert by_id["blaGOOD_1_X1"].sequence == "MKTAYIAKQRQISFVKSRFSRQLEERLGLIEV"
    assert by_id["sul1_1_X4"].sequence == "MKTAYIAKQRQIS"  # GTG start read as Met
    assert by_id["sul1_1_X4"].phenotypes == ("Sulfamethoxazole",) and by_id["sul1_1_X4"].mobility == "acquired"
    dropped = {d.source_id: d.reason for d in got.dropped}
    assert set(dropped) == {"blaFRAME_1_X2", "blaSTOP_1_X3", "orphan_1_X5"}
    assert "frame problem" in dropped["blaFRAME_1_X2"] and "multiple of three" in dropped["blaFRAME_1_X2"]
    assert "stop" in dropped["blaSTOP_1_X3"].lower()
    assert "not in phenotypes.txt" in dropped["orphan_1_X5"]


def test_resfinder_prefers_all_fsa_and_translate_gene_rules(tmp_path):
    good = write_resfinder_checkout(tmp_path / "db")
    (tmp_path / "db" / "all.fsa").write_text(f">blaGOOD_1_X1\n{good}\n")
    assert [r.source_id for r in import_resfinder(tmp_path / "db").records] == ["blaGOOD_1_X1"]
    assert translate_gene("ATGAAATAA") == ("MK", None)
    assert translate_gene("ATGNNNTAA") == ("MX", None)
    assert "not IUPAC" in translate_gene("ATGAA-ATAA")[1]
    assert "frame problem" in translate_gene("CCCAAATAA")[1]  # no start codon
    assert "frame problem" in translate_gene("ATGAAAAAA")[1]  # no terminal stop


def test_duplicate_ids_with_different_sequences_are_dropped_and_named(tmp_path):
    a = write_hmd_csv(tmp_path / "a.csv", [["X1", "F", "CARD", "beta_lactam", "g", "antibiotic efflux", "0", "MKTAYIAKQR", "1", ""]])
    b = write_hmd_csv(
        tmp_path / "b.csv",
        [
            ["X1", "F", "NCBI", "beta_lactam", "g", "antibiotic efflux", "0", "MKTAYIAKQRQIS", "1", ""],
            ["X2", "F", "NCBI", "beta_lactam", "g", "antibiotic efflux", "0", "MSTNPKPQRK", "1", ""],
            ["X2", "F", "NCBI", "beta_lactam", "g", "antibiotic efflux", "0", "MSTNPKPQRK", "1", ""],
        ],
    )
    pooled = Imported().extend(import_hmd_csv(a)).extend(import_hmd_csv(b))
    got = drop_ambiguous_ids(pooled)
    assert [r.source_id for r in got.records] == ["X2", "X2"]  # same id, same sequence: merged later
    assert [(d.source_id, d.reason) for d in got.dropped] == [("X1", "id names 2 different sequences in this source")] * 2
