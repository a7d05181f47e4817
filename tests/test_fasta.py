import gzip

import pytest

from biotune.errors import InputError
from biotune.io.fasta import protein_problem, read_fasta, write_fasta


def test_read_plain_and_gzip(tmp_path):
    text = ">a desc\nMKT\nAYI*\n>b\nmkl\n"
    (tmp_path / "x.faa").write_text(text)
    with gzip.open(tmp_path / "x.faa.gz", "wt") as fh:
        fh.write(text)
    for name in ("x.faa", "x.faa.gz"):
        recs = list(read_fasta(tmp_path / name))
        assert [(r.id, r.sequence) for r in recs] == [("a", "MKTAYI"), ("b", "MKL")]
        assert recs[0].description == "a desc"


@pytest.mark.parametrize(
    "text, message",
    [("", "empty"), ("hello\n>a\nMK\n", "not a FASTA"), ("\n\n", "empty")],
)
def test_bad_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.faa"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        list(read_fasta(path))
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        list(read_fasta(tmp_path / "nope.faa"))


@pytest.mark.parametrize(
    "seq, problem",
    [
        ("", "empty"),
        ("MKT1AY", "invalid protein letters '1'"),
        ("MK*TAY", "internal stop"),
        ("ATGAAACGCATTAGCACCACCATTACCACC", "nucleotide"),
        ("MKTAYIAKQR", None),
    ],
)
def test_protein_problem(seq, problem):
    found = protein_problem(seq)
    assert (found is None) if problem is None else (problem in found)


def test_write_roundtrip(tmp_path):
    n = write_fasta([("x", "MKT" * 30), ("y", "A")], tmp_path / "o.faa", width=60)
    assert n == 2
    assert [(r.id, r.sequence) for r in read_fasta(tmp_path / "o.faa")] == [("x", "MKT" * 30), ("y", "A")]
