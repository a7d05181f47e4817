"""The pure rules of ``predict``: calls from probabilities, status grouping, report row selection, writers' cells."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from biotune.predict.annotation import (
    Annotation,
    CallRules,
    Hit,
    RunSummary,
    annotate_query,
    call_drug_classes,
    fallback_call_basis,
    fallback_evidence,
    status_kind,
)
from biotune.predict.inputs import Query, chunked
from biotune.predict.writers import TopRows, cell, input_file_stem, tsv_row
from biotune.tasks import TaskSpec

TASKS = [
    TaskSpec("is_arg", "binary"),
    TaskSpec("drug_class", "multilabel", ("beta_lactam", "MLS", "tetracycline")),
    TaskSpec("mechanism", "multiclass", ("efflux", "inactivation")),
]


def scores(p_arg: float, classes=(0.9, 0.2, 0.6), mechanism=(0.3, 0.7)) -> dict[str, np.ndarray]:
    return {"is_arg": np.float64(p_arg), "drug_class": np.array(classes), "mechanism": np.array(mechanism)}


def test_arg_call_names_classes_above_threshold_most_probable_first():
    ann = annotate_query(Query(1, "p", "MKV"), scores(0.8), None, TASKS, CallRules(), model_version="v")
    assert ann.is_arg == "ARG" and ann.drug_classes == ["beta_lactam", "tetracycline"]
    assert (ann.mechanism, ann.mechanism_probability) == ("inactivation", 0.7)
    assert ann.novel is True and ann.nearest_reference is None


def test_non_arg_has_no_class_call_but_keeps_probabilities():
    ann = annotate_query(Query(1, "p", "MKV"), scores(0.2), None, TASKS, CallRules(), model_version="v")
    assert ann.is_arg == "non-ARG" and ann.drug_classes == [] and ann.mechanism is None
    assert ann.drug_class_probabilities == {"beta_lactam": 0.9, "MLS": 0.2, "tetracycline": 0.6}


def test_per_class_thresholds_and_novelty_from_identity():
    rules = CallRules(class_thresholds={"tetracycline": 0.65}, novelty_identity=50)
    near = Hit("ref1", identity=50.0, query_coverage=90, reference_coverage=95, evalue=1e-30, reference_length=300)
    ann = annotate_query(Query(1, "p", "MKV"), scores(0.9), near, TASKS, rules, model_version="v")
    assert ann.drug_classes == ["beta_lactam"] and ann.novel is False
    far = Hit("ref1", identity=49.9, query_coverage=90, reference_coverage=95, evalue=1e-5, reference_length=300)
    assert annotate_query(Query(1, "p", "MKV"), scores(0.9), far, TASKS, rules, model_version="v").novel is True


def hit(identity: float, qcov: float = 100.0, scov: float = 100.0, is_arg: str = "1") -> Hit:
    return Hit("ref1", identity, qcov, scov, evalue=1e-50, reference_length=300, reference_labels={"is_arg": is_arg})


def test_fallback_call_basis_from_the_nearest_reference():
    rules = CallRules()  # 80 % identity over 80 % of both
    assert fallback_call_basis(hit(100.0), rules) == "EXACT"
    assert fallback_call_basis(hit(100.0, qcov=99.0), rules) == "ALIGNMENT", "identical but not full length"
    assert fallback_call_basis(hit(80.0, 80.0, 80.0), rules) == "ALIGNMENT"
    assert fallback_call_basis(hit(79.9), rules) == "MODEL"
    assert fallback_call_basis(hit(95.0, scov=60.0), rules) == "MODEL", "a fragment of the reference"
    assert fallback_call_basis(hit(95.0, is_arg="0"), rules) == "MODEL", "a non-ARG reference is no ARG evidence"
    assert fallback_call_basis(None, rules) == "MODEL"
    assert fallback_call_basis(Hit("r", 85.0, 90, 90, 1e-9, 100), rules) == "ALIGNMENT", "no is_arg label: ARG-only references"
    assert fallback_call_basis(hit(85.0), CallRules(alignment_identity=90.0)) == "MODEL"


def test_fallback_evidence_names_reference_and_model_score():
    assert fallback_evidence(hit(91.26, 98.0, 99.6), "kmer_lr", 0.87) == "ARG ref ref1 91.3% id, cov 98%/100%; kmer_lr 0.87"
    assert fallback_evidence(hit(60.0, is_arg="0"), "kmer_lr", 0.1).startswith("non-ARG ref ref1 60.0% id")
    assert fallback_evidence(None, "kmer_lr", 0.2) == "no reference hit; kmer_lr 0.20"


def test_call_basis_only_for_arg_calls_evidence_for_every_scored_protein():
    close = hit(90.0)
    arg = annotate_query(Query(1, "p", "MKV"), scores(0.8), close, TASKS, CallRules(), model_version="v", method_name="kmer_lr")
    assert arg.call_basis == "ALIGNMENT" and arg.evidence.endswith("kmer_lr 0.80") and arg.evidence_details == {}
    non = annotate_query(Query(2, "q", "MKV"), scores(0.2), close, TASKS, CallRules(), model_version="v", method_name="kmer_lr")
    assert non.call_basis is None and "ARG ref ref1 90.0% id" in non.evidence


def test_method_evidence_takes_precedence_and_details_are_kept():
    """A method with its own evidence (fusion): its call_basis/evidence are used, details become plain JSON values."""
    evidence = {
        "call_basis": "HMM", "evidence": "HMM fam1 120.0 bits >= TC 80.0", "nearest_negative": "",
        "negative_identity": np.float64("nan"), "hmm_profile": "fam1", "hmm_bitscore": np.float64(120.0),
        "hmm_trusted_cutoff": 80.0, "reference_identity": 45.0,
    }
    ann = annotate_query(Query(1, "p", "MKV"), scores(0.9), None, TASKS, CallRules(), model_version="v", evidence=evidence)
    assert (ann.call_basis, ann.evidence) == ("HMM", "HMM fam1 120.0 bits >= TC 80.0")
    assert ann.evidence_details == {"nearest_negative": None, "negative_identity": None, "hmm_profile": "fam1", "hmm_bitscore": 120.0, "hmm_trusted_cutoff": 80.0}
    assert type(ann.evidence_details["hmm_bitscore"]) is float
    low = annotate_query(Query(1, "p", "MKV"), scores(0.3), None, TASKS, CallRules(), model_version="v", evidence=evidence)
    assert low.call_basis is None and low.evidence == evidence["evidence"]
    summary = RunSummary()
    summary.add([ann, low])
    assert summary.to_dict()["arg_calls_by_call_basis"] == {"HMM": 1}


def test_arg_calls_are_counted_by_their_nearest_references_mobility():
    def hit(mobility: str, is_arg: str = "1") -> Hit:
        return Hit("ref", 60.0, 95.0, 95.0, 1e-50, 300, {"is_arg": is_arg, "mobility": mobility})

    calls = [
        annotate_query(Query(i, f"p{i}", "MKV"), scores(p), h, TASKS, CallRules(), model_version="v")
        for i, (p, h) in enumerate([
            (0.9, hit("acquired")), (0.9, hit("intrinsic")), (0.8, hit("intrinsic")), (0.9, hit("")),
            (0.9, hit("", is_arg="0")), (0.9, None), (0.2, hit("acquired")),
        ])
    ]
    summary = RunSummary()
    summary.add(calls)
    assert summary.to_dict()["arg_calls_by_reference_mobility"] == {"intrinsic": 2, "acquired": 1, "no ARG reference": 2, "unknown": 1}
    assert tsv_row(calls[1])["reference_mobility"] == "intrinsic" and tsv_row(calls[5])["reference_mobility"] == ""


def test_unscored_query_keeps_its_status_and_no_scores():
    ann = annotate_query(Query(3, "x", "", status="skipped: empty sequence"), None, None, TASKS, CallRules(), model_version="v")
    assert ann.status == "skipped: empty sequence" and not ann.scored and ann.novel is None and ann.record == 3
    assert ann.call_basis is None and ann.evidence is None


@given(st.lists(st.floats(0, 1), min_size=2, max_size=6), st.floats(0, 1))
def test_an_arg_call_always_names_at_least_one_class(probabilities, threshold):
    probs = {f"c{i}": p for i, p in enumerate(probabilities)}
    called = call_drug_classes(probs, CallRules(class_threshold=threshold))
    assert called and probs[called[0]] == max(probabilities)
    above = {c for c, p in probs.items() if p >= threshold}
    assert set(called) == above if above else len(called) == 1


def test_status_kinds_group_record_specific_details():
    assert status_kind("skipped: duplicate id (first seen at record 3)") == "skipped: duplicate id"
    assert status_kind("skipped: invalid protein letters '1' (first at position 52)") == "skipped: invalid protein letters"
    assert status_kind("skipped: sequence length 60001 exceeds the limit of 50000") == "skipped: sequence length"
    assert status_kind("ok") == "ok" and status_kind("no_gene_called") == "no_gene_called"


def test_report_keeps_the_most_probable_rows():
    top = TopRows(3)
    anns = [Annotation(record=i, id=f"p{i}", status="ok", model_version="v", is_arg_probability=p) for i, p in enumerate([0.1, 0.9, None, 0.5, 0.95, 0.2])]
    top.add(anns[:3])
    top.add(anns[3:])
    assert [a.id for a in top.rows()] == ["p4", "p1", "p3"]
    genes = TopRows(2)
    genes.add([Annotation(record=1, id=f"c_{i}", status="ok", model_version="v", is_arg_probability=0.5) for i in range(4)])
    assert [a.id for a in genes.rows()] == ["c_0", "c_1"], "ties (genes of one contig) keep input order"


def test_cells_and_file_stems():
    assert [cell(None), cell(True), cell(["a", "b"]), cell(float("nan")), cell(0.5)] == ["", "true", "a;b", "", "0.5"]
    assert input_file_stem("/data/sample_1.fna.gz") == "sample_1" and input_file_stem("x.faa") == "x"


@given(st.lists(st.integers(), max_size=50), st.integers(1, 10))
def test_chunked_preserves_order_and_bounds_size(items, size):
    chunks = list(chunked(items, size))
    assert [x for c in chunks for x in c] == items and all(0 < len(c) <= size for c in chunks)
