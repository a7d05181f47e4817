import bz2
import gzip
import lzma

import pytest

from biotune.errors import InputError
from biotune.io.fasta import protein_problem, read_fasta, write_fasta


COMPRESSORS = {"x.faa": lambda b: b, "x.faa.gz": gzip.compress, "x.faa.bz2": bz2.compress, "x.faa.xz": lzma.compress}


def test_read_plain_and_compressed(tmp_path):
    """gzip, bzip2 and xz are recognised by their magic bytes, whatever the file is called."""
    text = b">a desc\nMKT\nAYI*\n>b\nmkl\n"
    for name, compress in COMPRESSORS.items():
        (tmp_path / name).write_bytes(compress(text))
        (tmp_path / f"renamed_{name}.txt").write_bytes(compress(text))
        for path in (tmp_path / name, tmp_path / f"renamed_{name}.txt"):
            recs = list(read_fasta(path))
            assert [(r.id, r.sequence) for r in recs] == [("a", "MKTAYI"), ("b", "MKL")]
            assert recs[0].description == "a desc"


@pytest.mark.parametrize("name", ["x.faa.gz", "x.faa.bz2", "x.faa.xz"])
def test_truncated_compressed_file_is_one_input_error(tmp_path, name):
    payload = COMPRESSORS[name](b"".join(b">p%d\n%s\n" % (i, b"MKTAYIAKQR" * 30) for i in range(400)))
    path = tmp_path / name
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(InputError, match="damaged or truncated") as info:
        list(read_fasta(path))
    assert str(path) in str(info.value)


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
