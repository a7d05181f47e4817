"""GO recipe: OBO resolution and true-path propagation, the TALE importer, `biotune data build-go`, bad input."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from biotune.data.dataset import load_dataset
from biotune.errors import InputError
from biotune.recipes.go.build import compare_with_tale, resolve_annotations, GoReport
from biotune.recipes.go.importer import read_tale, read_tale_terms
from biotune.recipes.go.ontology import CURRENT, MISSING, OBSOLETE, REPLACED, SECONDARY, load_ontology

SHARED_GO = Path(os.environ.get("BIOTUNE_GO_SOURCES", Path(__file__).resolve().parents[2] / "shared" / "data" / "go_tale"))
TERMS = [
    ("GO:0003674", "molecular_function", "molecular_function", []),
    ("GO:0000001", "binding", "molecular_function", ["is_a: GO:0003674"]),
    ("GO:0000002", "ion binding", "molecular_function", ["alt_id: GO:0000009", "is_a: GO:0000001"]),
    ("GO:0000003", "zinc binding", "molecular_function", ["is_a: GO:0000002", "relationship: part_of GO:0000004"]),
    ("GO:0000004", "complex activity", "molecular_function", ["is_a: GO:0003674"]),
    ("GO:0000005", "regulator", "molecular_function", ["is_a: GO:0003674", "relationship: regulates GO:0000001"]),
    ("GO:0000006", "obsolete old", "molecular_function", ["is_obsolete: true", "replaced_by: GO:0000003"]),
    ("GO:0000007", "obsolete gone", "molecular_function", ["is_obsolete: true"]),
    ("GO:0005575", "cellular_component", "cellular_component", []),
]
TALE_INDEX = {"GO:0003674": 0, "GO:0000001": 1, "GO:0000002": 2, "GO:0000003": 3, "GO:0000004": 4, "GO:0000005": 5}


def write_obo(path: Path) -> Path:
    stanzas = ["format-version: 1.2\ndata-version: releases/toy\nontology: go\n"]
    for term, name, namespace, tags in TERMS:
        stanzas.append("\n".join(["[Term]", f"id: {term}", f"name: {name}", f"namespace: {namespace}", *tags]) + "\n")
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(stanzas))
    return path


def families(n_families: int = 6, size: int = 2, length: int = 90, seed: int = 0) -> list[str]:
    """``size`` close homologs (95 % identical) of each of ``n_families`` unrelated random proteins."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    out = []
    for _ in range(n_families):
        base = rng.choice(letters, length)
        for _ in range(size):
            member = base.copy()
            flip = rng.random(length) < 0.05
            member[flip] = rng.choice(letters, flip.sum())
            out.append("M" + "".join(member))
    return out


def write_tale(folder: Path, go_lists: list[list[str]], ontology) -> Path:
    """A TALE ``ours`` folder for MF whose label indices are the correct propagation, except protein 0 lacks one."""
    folder.mkdir(parents=True, exist_ok=True)
    seqs = families()
    entries = [{"ac": f"P{k:05d}", "date": "01-JAN-2021", "seq": s, "mode": "test", "GO": go} for k, (s, go) in enumerate(zip(seqs, go_lists))]
    labels = []
    for go in go_lists:
        terms = ontology.propagate(r.term for g in go if (r := ontology.resolve(g)).term is not None)
        labels.append(sorted(TALE_INDEX[t] for t in terms if t in TALE_INDEX))
    labels[0] = labels[0][:-1]
    (folder / "test_seq_mf").write_bytes(pickle.dumps(entries))
    (folder / "test_label_mf").write_bytes(pickle.dumps(labels))
    (folder / "mf_go_1.pickle").write_bytes(pickle.dumps({go: {"ind": i, "name": go} for go, i in TALE_INDEX.items()}))
    return folder


GO_LISTS = [
    ["GO:0000003"], ["GO:0000003"], ["GO:0000009"], ["GO:0000006", "GO:0000007"], ["GO:0000005"], ["GO:0000005", "GO:0005575"],
    ["GO:0000004"], ["GO:0000004"], ["GO:0000002"], ["GO:0000001"], ["GO:0000099"], ["GO:0000002"],
]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("go_sources")
    ontology = load_ontology(write_obo(root / "toy.obo.gz"))
    write_tale(root / "ours", GO_LISTS, ontology)
    return root, ontology


def test_resolution_rules_and_true_path_propagation(toy):
    _, onto = toy
    assert onto.version == "releases/toy"
    assert [onto.resolve(g).status for g in ("GO:0000003", "GO:0000009", "GO:0000006", "GO:0000007", "GO:0000099")] == [
        CURRENT, SECONDARY, REPLACED, OBSOLETE, MISSING]
    assert onto.resolve("GO:0000009").term == "GO:0000002" and onto.resolve("GO:0000006").term == "GO:0000003"
    # is_a and part_of propagate; regulates does not
    assert onto.propagate(["GO:0000003"]) == {"GO:0000003", "GO:0000002", "GO:0000001", "GO:0000004", "GO:0003674"}
    assert onto.propagate(["GO:0000005"]) == {"GO:0000005", "GO:0003674"}


def test_unresolvable_ids_are_counted_and_tale_propagation_compared(toy):
    root, onto = toy
    proteins = read_tale(root / "ours", "mf")
    report = GoReport("mf", onto.version)
    annotated = resolve_annotations(proteins, onto, "mf", report)
    assert report.resolution == {"current": 9, "alt_id": 1, "obsolete_replaced": 1, "obsolete": 1, "missing": 1, "other_ontology": 1}
    assert report.unresolved == {"obsolete": ["P00003:GO:0000007"], "missing": ["P00010:GO:0000099"], "other_ontology": ["P00005:GO:0005575"]}
    assert annotated[3] == {"GO:0000003"} and annotated[10] == set()
    comparison = compare_with_tale(proteins, [onto.propagate(a) for a in annotated], read_tale_terms(root / "ours", "mf"), onto)
    assert comparison["only_tale"] == 0 and comparison["only_obo"] == 1


def build_go(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from biotune.cli import main; main()", "data", "build-go", *args],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "40"})


def test_build_go_writes_a_hierarchical_dataset_with_homology_folds(toy, tmp_path):
    root, _ = toy
    proc = build_go("--sources", str(root), "--out", str(tmp_path), "--set", "obo=toy.obo.gz", "--set", "ontologies=[mf]",
                    "--set", "min_count.mf=2", "--set", "folds.n_folds=3")
    assert proc.returncode == 0, proc.stderr
    ds = load_dataset(tmp_path / "go_tale_mf")
    task = ds.tasks[0]
    # the missing-id protein P00010 has no term left and is removed; the root is excluded; every term has >= 2 proteins
    assert "P00010" not in set(ds.table["id"]) and len(ds.table) == 11
    assert task.classes == ("GO:0000001", "GO:0000002", "GO:0000003", "GO:0000004", "GO:0000005")
    assert dict(zip(task.classes, task.hierarchy))["GO:0000003"] == ("GO:0000002", "GO:0000004")
    labels = dict(zip(ds.table["id"], ds.table["go_terms"]))
    assert labels["P00003"] == "GO:0000001;GO:0000002;GO:0000003;GO:0000004"
    # homologs (95 % identical pairs) share a cluster and a fold; 6 families over 3 folds
    assert ds.table.groupby("cluster")["fold"].nunique().max() == 1 and ds.table["cluster"].nunique() == 6
    card = (tmp_path / "go_tale_mf" / "CARD.md").read_text()
    assert "| obsolete | 1 |" in card and "`P00003:GO:0000007`" in card and "1 only in ours" in card
    assert json.loads((tmp_path / "go_tale_mf" / "dataset.json").read_text())["obo_version"] == "releases/toy"


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "test_seq_mf").write_bytes(b"not a pickle"), "test_seq_mf: not a readable pickle"),
    (lambda d: (d / "test_label_mf").unlink(), "test_label_mf: TALE file not found"),
    (lambda d: (d / "test_label_mf").write_bytes(pickle.dumps([[0]])), "test_label_mf: expected a list of 12 label lists"),
    (lambda d: (d / "test_seq_mf").write_bytes(pickle.dumps([{**e, "seq": "MK1"} for e in pickle.loads((d / "test_seq_mf").read_bytes())])),
     "test_seq_mf: record 'P00000': entry 0: invalid protein letters '1'"),
    (lambda d: (d / "test_label_mf").write_bytes(pickle.dumps([["GO:1"]] * 12)), "test_label_mf: record 'P00000': entry 0: labels are not"),
])
def test_bad_input_is_one_line_naming_the_file(toy, tmp_path, damage, message):
    root, onto = toy
    sources = tmp_path / "src"
    write_tale(sources / "ours", GO_LISTS, onto)
    (sources / "toy.obo.gz").write_bytes((root / "toy.obo.gz").read_bytes())
    damage(sources / "ours")
    proc = build_go("--sources", str(sources), "--out", str(tmp_path / "out"), "--set", "obo=toy.obo.gz", "--set", "ontologies=[mf]")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_obo_is_an_input_error(tmp_path):
    (tmp_path / "bad.obo.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(InputError, match="bad.obo.gz: not a readable OBO file"):
        load_ontology(tmp_path / "bad.obo.gz")


@pytest.mark.skipif(not (SHARED_GO / "ours" / "test_seq_mf").exists(), reason=f"TALE data not found at {SHARED_GO} (set BIOTUNE_GO_SOURCES)")
@pytest.mark.parametrize("ont, n, resolution", [
    ("mf", 1916, {"current": 2661, "alt_id": 9, "obsolete": 3}),
    ("cc", 2084, {"current": 3179, "alt_id": 42, "obsolete": 1}),
    ("bp", 2836, {"current": 6239, "alt_id": 23, "obsolete": 56}),
])
def test_real_tale_sets_resolve_against_the_2021_release(ont, n, resolution):
    onto = real_ontology()
    proteins = read_tale(SHARED_GO / "ours", ont)
    report = GoReport(ont, onto.version)
    annotated = resolve_annotations(proteins, onto, ont, report)
    assert len(proteins) == n and onto.version == "releases/2021-12-15"
    assert report.resolution == resolution and sum(resolution.values()) == sum(len(p.go) for p in proteins)
    if ont != "bp":
        c = compare_with_tale(proteins, [onto.propagate(a) for a in annotated], read_tale_terms(SHARED_GO / "ours", ont), onto)
        assert c["both"] / (c["both"] + c["only_tale"] + c["only_obo"]) > 0.95  # MF: 15,538 shared pairs, 165 + 170 differ
    else:
        assert read_tale_terms(SHARED_GO / "ours", "bp") is None


_REAL: list = []


def real_ontology():
    if not _REAL:
        _REAL.append(load_ontology(SHARED_GO / "go-basic.obo.gz"))
    return _REAL[0]
