"""The label vocabulary: strict mapping, merge rule, and coverage of every label in the real data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from biotune.errors import InputError
from biotune.recipes.arg.cli import default_build_config, load_build_config
from biotune.recipes.arg.importers import Imported, SourceRecord, import_source
from biotune.recipes.arg.vocabulary import load_vocabulary, map_records

PROJECT_DRUG_CLASSES = {
    "beta_lactam", "aminoglycoside", "MLS", "tetracycline", "glycopeptide", "quinolone", "sulfonamide", "trimethoprim",
    "phenicol", "fosfomycin", "rifamycin", "polymyxin", "bacitracin", "multidrug", "peptide", "other",
}
PROJECT_MECHANISMS = {"inactivation", "target_alteration", "target_protection", "target_replacement", "efflux", "other"}


def arg(vocabulary, drugs=(), mechs=(), mobility="", phenotypes=()):
    return SourceRecord("s", "r", "MKV", True, vocabulary, tuple(drugs), tuple(mechs), mobility, tuple(phenotypes))


def test_packaged_vocabulary_has_the_project_labels():
    vocab = load_vocabulary()
    assert set(vocab.drug_classes) == PROJECT_DRUG_CLASSES and len(vocab.drug_classes) == 16
    assert set(vocab.mechanisms) == PROJECT_MECHANISMS
    assert vocab.version


def test_spellings_of_one_class_map_together_and_resfinder_folate_uses_the_phenotype():
    vocab = load_vocabulary()
    (hmd_a, hmd_b, card, sul, dfr, efflux_note) = map_records(
        [
            arg("hmd", ["macrolide_lincosamide_streptogramin"], ["antibiotic inactivation"], "1"),
            arg("hmd", ["macrolide-lincosamide-streptogramin"], ["antibiotic target protection"], "0"),
            arg("card", ["penam", "cephalosporin", "macrolide antibiotic"], ["antibiotic efflux", "antibiotic target alteration"]),
            arg("resfinder", ["Folate pathway antagonist"], ["Purine synthesis"], "acquired", ["Sulfamethoxazole"]),
            arg("resfinder", ["Folate pathway antagonist"], [], "acquired", ["Trimethoprim"]),
            arg("resfinder", ["Tetracycline"], ["Efflux pump Together with tmexD1 and TOprJ1"]),
        ],
        vocab,
    )
    assert hmd_a.drug_classes == hmd_b.drug_classes == {"MLS"}
    assert (hmd_a.mobility, hmd_b.mobility) == ("acquired", "intrinsic")
    assert card.drug_classes == {"beta_lactam", "MLS"} and card.mechanisms == {"efflux", "target_alteration"}
    assert sul.drug_classes == {"sulfonamide"} and sul.mechanisms == {"target_replacement"}
    assert dfr.drug_classes == {"trimethoprim"} and dfr.mechanisms == set()
    assert efflux_note.mechanisms == {"efflux"}


def test_unmapped_labels_fail_with_the_full_list():
    vocab = load_vocabulary()
    records = [
        arg("hmd", ["beta_lactam", "unobtainium"], ["antibiotic inactivation"]),
        arg("card", ["kryptonite antibiotic"], ["telepathy"]),
        arg("card", ["kryptonite antibiotic"]),
        arg("resfinder", ["Folate pathway antagonist"], phenotypes=["Aspirin"]),
    ]
    with pytest.raises(InputError) as exc:
        map_records(records, vocab)
    message = str(exc.value)
    assert "4 source label(s) not in the vocabulary" in message
    for label in ("hmd/drug_class: unobtainium (1 records)", "card/drug_class: kryptonite antibiotic (2 records)",
                  "card/mechanism: telepathy", "resfinder/drug_class: Folate pathway antagonist [phenotype: Aspirin]"):
        assert label in message


def test_negatives_need_no_labels_and_bad_vocabulary_files_are_rejected(tmp_path):
    vocab = load_vocabulary()
    (neg,) = map_records([SourceRecord("n", "x", "MKV", False)], vocab)
    assert not neg.is_arg and neg.drug_classes == frozenset()
    broken = Path(vocab.path).read_text().replace("beta_lactam: [beta_lactam]", "beta_lactam: [betalactam]", 1)
    (tmp_path / "v.yaml").write_text(broken)
    with pytest.raises(InputError, match="hmd/drug_class: beta_lactam -> betalactam"):
        load_vocabulary(tmp_path / "v.yaml")
    with pytest.raises(InputError, match="vocabulary file not found"):
        load_vocabulary(tmp_path / "absent.yaml")


def test_mechanism_merge_rule_votes_then_precedence():
    vocab = load_vocabulary()
    assert vocab.merge_mechanism(["efflux", "efflux", "inactivation"]) == "efflux"
    assert vocab.merge_mechanism(["efflux", "target_alteration"]) == "efflux"
    assert vocab.merge_mechanism(["other", "target_alteration"]) == "target_alteration"
    assert vocab.merge_mechanism([]) is None


@pytest.mark.realdata
def test_vocabulary_covers_every_label_of_the_real_sources(arg_sources):
    """Every raw label in the shared data maps (else map_records raises listing them), and every class occurs."""
    config = load_build_config(default_build_config(), [])
    pooled = Imported()
    for name, spec in config["sources"].items():
        pooled.extend(import_source(spec["format"], [arg_sources / p for p in spec["paths"]], name, **(spec.get("options") or {})))
    vocab = load_vocabulary()
    mapped = map_records(pooled.records, vocab)
    drug_counts = Counter(c for m in mapped for c in m.drug_classes)
    assert set(drug_counts) == PROJECT_DRUG_CLASSES
    assert {m for labels in mapped for m in labels.mechanisms} == PROJECT_MECHANISMS
    assert drug_counts["beta_lactam"] > 10 * drug_counts["rifamycin"] > 0
    assert sum(m.is_arg for m in mapped) > 15000 and sum(not m.is_arg for m in mapped) > 5000
