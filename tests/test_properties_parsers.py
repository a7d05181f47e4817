"""Property-based tests of the input parsers: any bytes give records or one clear InputError, never a traceback.

Targets: :func:`biotune.io.fasta.read_fasta` / :func:`~biotune.io.fasta.write_fasta`, the GenBank reader
(:func:`biotune.io.genbank.read_genbank` + :func:`~biotune.io.genbank.cds_proteins`) and the table readers of
the ARG importers (HMD-ARG-DB CSV, CARD ``aro_index.tsv``, ResFinder ``phenotypes.txt``), and the ``--set`` config
overrides (:func:`biotune.overrides.merge_overrides`, through predict's settings). A clear error is an
:class:`~biotune.errors.InputError` whose text is one line and names the file (and the record when it has one).
The plain tests at the end are regressions: inputs that once crashed a parser (tracker issue 17).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biotune.errors import InputError
from biotune.io.fasta import PROTEIN_LETTERS, FastaRecord, read_fasta, write_fasta
from biotune.io.genbank import CDS, cds_proteins, read_genbank
from biotune.recipes.arg.importers import (
    CARD_INDEX_COLUMNS,
    HMD_CSV_COLUMNS,
    RESFINDER_COLUMNS,
    Imported,
    import_card,
    import_hmd_csv,
    import_resfinder,
    read_table,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------------------- helpers


@contextmanager
def written(data: bytes, name: str):
    """``data`` in a fresh file called ``name`` (a new directory per example: no state between examples)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        yield path


def one_line(text: str) -> bool:
    """Non-empty and free of every line break ``str.splitlines`` knows (a trailing newline counts too)."""
    return text.splitlines() == [text]


def assert_clear_input_error(exc: BaseException, path: Path) -> None:
    """The project's one-line input error: an InputError naming ``path`` (and its record, if it has one)."""
    assert isinstance(exc, InputError), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert str(path) in message, message
    assert one_line(message), f"error text is not one line: {message!r}"
    if exc.record is not None:
        assert repr(exc.record) in message


def outcome(read, path: Path):
    """``(result, None)`` or ``(None, error)``; only InputError is caught, anything else fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Biopython's parser warnings are not failures
            return read(path), None
    except InputError as exc:
        assert_clear_input_error(exc, path)
        return None, exc


def header_lines(text: str) -> int:
    """Lines starting with '>' (lines split as Python's universal-newline reading splits them; a leading
    byte-order mark is not part of the first line)."""
    return sum(line.startswith(">") for line in re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff")))


COMPRESS = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}

# FASTA-looking text: headers, sequence lines, blank lines, junk, every kind of line break.
FASTA_LINE = st.one_of(
    st.builds(lambda s: ">" + s, st.text(max_size=20)),
    st.text(alphabet="ACDEFGHIKLMNPQRSTVWYXacgtu*-. \t", max_size=40),
    st.text(max_size=20),
    st.sampled_from(["", " ", ">", "> ", ">\t", ";comment", "\x00", "\ufeff>bom", " >indented"]),
)
FASTA_TEXT = st.builds(
    lambda lines, breaks: "".join(line + breaks[i % len(breaks)] for i, line in enumerate(lines)),
    st.lists(FASTA_LINE, max_size=12),
    st.lists(st.sampled_from(["\n", "\r\n", "\r", "\n\n", ""]), min_size=1, max_size=3),
)
FASTA_BYTES = st.one_of(
    st.binary(max_size=400),
    FASTA_TEXT.map(lambda t: t.encode("utf-8")),
    st.builds(lambda t, e: t.encode("utf-8", "replace") + e, FASTA_TEXT, st.binary(max_size=8)),
)


def read_all_fasta(path: Path) -> list[FastaRecord]:
    return list(read_fasta(path))


# --------------------------------------------------------------------------------------- FASTA


@FAST
@given(FASTA_BYTES)
def test_fasta_any_bytes_give_records_or_one_clear_error(data):
    with written(data, "in.faa") as path:
        records, error = outcome(read_all_fasta, path)
    if error is not None:
        return
    for rec in records:
        assert isinstance(rec, FastaRecord)
        assert rec.sequence == rec.sequence.upper() and not rec.sequence.endswith("*")
        assert not any(c.isspace() for c in rec.sequence) and not any(c.isspace() for c in rec.id)
    if not data.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")):
        # no record dropped: every '>' line is one record
        assert len(records) == header_lines(data.decode("utf-8", "replace"))


@SLOW
@given(FASTA_TEXT, st.sampled_from(sorted(COMPRESS)), st.floats(0.0, 1.0))
def test_compressed_fasta_whole_or_truncated_gives_records_or_one_clear_error(text, kind, keep):
    """A compressed file, whole or cut anywhere: the same records as the plain text, or one clear error."""
    payload = COMPRESS[kind](text.encode("utf-8"))
    cut = payload[: int(len(payload) * keep)] if keep < 1 else payload
    with written(cut, f"in.faa.{kind}") as path:
        records, error = outcome(read_all_fasta, path)
    if error is None and cut == payload:
        assert len(records) == header_lines(text)
        with written(text.encode("utf-8"), "plain.faa") as plain:
            assert records == list(read_fasta(plain))


IDS = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)).filter(lambda c: not c.isspace()),
    min_size=1,
    max_size=12,
)
SEQUENCES = st.text(alphabet="".join(sorted(PROTEIN_LETTERS)) + "*", max_size=150).filter(lambda s: not s.endswith("*"))


@FAST
@given(st.lists(st.tuples(IDS, SEQUENCES), max_size=8), st.sampled_from([0, 1, 7, 60]))
def test_fasta_write_then_read_round_trips(pairs, width):
    """What the writer writes (any non-whitespace id, any protein sequence, any width) reads back identically."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.faa"
        assert write_fasta(pairs, path, width=width) == len(pairs)
        if not pairs:
            assert list(read_fasta(path, allow_empty=True)) == []
            return
        back = list(read_fasta(path))
    assert [(r.id, r.sequence) for r in back] == pairs
    assert [r.description for r in back] == [rid for rid, _ in pairs]


@FAST
@given(st.sampled_from(["", " ", "a b", "a\tb", " a", "a\n", "a\x0bb", "a\u00a0b"]))
def test_fasta_writer_refuses_ids_that_would_not_read_back(rid):
    with tempfile.TemporaryDirectory() as tmp, pytest.raises(ValueError, match="empty or holds whitespace"):
        write_fasta([(rid, "MKV")], Path(tmp) / "out.faa")


@pytest.mark.parametrize("compress", [None, "gz"])
def test_fasta_with_a_utf8_byte_order_mark_reads_like_without(tmp_path, compress):
    text = ">p1 first\nMKV\n>p2\nMAL\n"
    data = b"\xef\xbb\xbf" + text.encode()
    path = tmp_path / "bom.faa"
    path.write_bytes(COMPRESS[compress](data) if compress else data)
    assert [(r.id, r.description, r.sequence) for r in read_fasta(path)] == [("p1", "p1 first", "MKV"), ("p2", "p2", "MAL")]


# --------------------------------------------------------------------------------------- GenBank

GB_SEQUENCE = "atgaaaacggcgtatattgcgaaacagcgccagattagctttgtgaaaagccattaa"  # MKTAYIAKQRQISFVKSH*, 57 bp

POSITION = st.one_of(st.integers(-2, 70).map(str), st.sampled_from(["<1", ">57", "?", "", "1.5", "99999999999999999999"]))
LOCATION = st.one_of(
    st.builds(lambda a, b: f"{a}..{b}", POSITION, POSITION),
    st.builds(lambda a, b: f"complement({a}..{b})", POSITION, POSITION),
    st.builds(lambda a, b, c, d: f"join({a}..{b},{c}..{d})", POSITION, POSITION, POSITION, POSITION),
    st.sampled_from(["1..57", "complement(1..57)", "1^2", "X00001.1:1..57", "order(1..3,4..57)", "join(", "1..57)", "garbage"]),
    st.text(alphabet="0123456789.,<>^()complementjoin: ", max_size=20),
)
QUALIFIER = st.one_of(
    st.sampled_from(["/pseudo", "/pseudogene=\"unknown\"", "/translation=\"MKTAYIAKQRQISFVKSH\"", "/translation=\"\"", "/codon_start=2"]),
    st.builds(lambda v: f"/transl_table={v}", st.one_of(st.integers(-3, 40).map(str), st.text(max_size=4))),
    st.builds(
        lambda k, v: f'/{k}="{v}"',
        st.sampled_from(["protein_id", "locus_tag", "note", "translation", "product", "codon_start"]),
        st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters='"\r\n'), max_size=12),
    ),
)
FEATURE = st.tuples(st.sampled_from(["CDS", "CDS", "gene", "source", "misc_feature"]), LOCATION, st.lists(QUALIFIER, max_size=3))
SEQ_TEXT = st.one_of(st.just(GB_SEQUENCE), st.text(alphabet="acgtnrykm", max_size=80), st.text(max_size=20))


def genbank_record(name: str, features, sequence: str, *, origin: bool = True, end: bool = True) -> str:
    lines = [
        f"LOCUS       {name:<16}{len(sequence):>12} bp    DNA     linear   BCT 01-JAN-2020",
        "DEFINITION  property test.",
        f"ACCESSION   {name}",
        f"VERSION     {name}.1",
        "FEATURES             Location/Qualifiers",
    ]
    for kind, location, qualifiers in features:
        lines.append(f"     {kind:<16}{location}")
        lines.extend(f"                     {q}" for q in qualifiers)
    if origin:
        lines.append("ORIGIN")
        for i in range(0, len(sequence), 60):
            lines.append(f"{i + 1:>9} {sequence[i:i + 60]}")
    if end:
        lines.append("//")
    return "\n".join(lines) + "\n"


GENBANK_TEXT = st.builds(
    lambda recs: "".join(recs),
    st.lists(
        st.builds(genbank_record, st.sampled_from(["TEST", "CTG_2", "X"]), st.lists(FEATURE, max_size=4), SEQ_TEXT,
                  origin=st.booleans(), end=st.booleans()),
        min_size=1,
        max_size=2,
    ),
)
GENBANK_BYTES = st.one_of(
    st.binary(max_size=300),
    GENBANK_TEXT.map(lambda t: t.encode("utf-8")),
    # cut anywhere, or with random bytes spliced in
    st.builds(lambda t, f: t.encode("utf-8")[: int(len(t) * f)], GENBANK_TEXT, st.floats(0, 1)),
    st.builds(lambda t, f, junk: (lambda b: b[: int(len(b) * f)] + junk + b[int(len(b) * f):])(t.encode("utf-8")),
              GENBANK_TEXT, st.floats(0, 1), st.binary(min_size=1, max_size=10)),
)


def read_all_cds(path: Path) -> list[CDS]:
    return [cds for entry in read_genbank(path) for cds in cds_proteins(entry)]


def assert_valid_cds(cds: CDS) -> None:
    assert isinstance(cds, CDS)
    assert (cds.protein is None) != (cds.problem is None), cds  # a protein or the reason there is none
    if cds.problem is not None:
        assert one_line(cds.problem), cds.problem
    assert cds.strand in "+-" and len(cds.strand) == 1


@SLOW
@given(GENBANK_BYTES)
def test_genbank_any_bytes_give_cds_or_one_clear_error(data):
    with written(data, "genome.gbk") as path:
        found, error = outcome(read_all_cds, path)
    if error is None:
        for cds in found:
            assert_valid_cds(cds)


@SLOW
@given(st.lists(FEATURE, min_size=1, max_size=5))
def test_genbank_every_cds_feature_gives_one_cds(features):
    """No CDS dropped silently: each CDS feature line gives one CDS (a protein or a named problem), or the file
    is one clear error (Biopython rejects some locations, e.g. an end before the start, for the whole record)."""
    with written(genbank_record("TEST", features, GB_SEQUENCE).encode(), "genome.gbk") as path:
        found, error = outcome(read_all_cds, path)
    if error is not None:
        return
    for cds in found:
        assert_valid_cds(cds)
    assert len(found) == sum(kind == "CDS" for kind, _, _ in features)


# --------------------------------------------------------------------------------------- ARG tables

FIELD = st.one_of(
    st.sampled_from(["", "0", "1", "MKTAYIAKQR", "beta_lactam;aminoglycoside", "ARO:3000001", "x y", "NA", "nan"]),
    st.text(max_size=10),
)


def table_text(header, rows, sep):
    return "".join(sep.join(r) + "\n" for r in [header, *rows])


def table_bytes(columns, sep):
    """Delimited text: the required columns (shuffled, some missing or doubled) plus ragged rows, or junk."""
    header = st.lists(st.one_of(st.sampled_from(list(columns)), st.text(max_size=6)), min_size=1, max_size=len(columns) + 2)
    rows = st.lists(st.lists(FIELD, max_size=len(columns) + 2), max_size=5)
    return st.one_of(
        st.binary(max_size=300),
        st.builds(table_text, st.permutations(list(columns)), rows, st.just(sep)).map(lambda t: t.encode("utf-8")),
        st.builds(table_text, header, rows, st.sampled_from([sep, ",", "\t"])).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


CARD_FASTA = b">gb|AAA1.1|ARO:3000001|TEM-1 [Escherichia coli]\nMSIQHFRVALIPFFAAFCLPVFA\n"
RESFINDER_FSA = b">blaGOOD_1_X1\nATGAAAACGGCGTATATTGCGAAACAGCGCTAA\n"


def hmd(path: Path) -> Imported:
    return import_hmd_csv(path)


def card(index: Path) -> Imported:
    (index.parent / "protein_fasta_protein_homolog_model.fasta").write_bytes(CARD_FASTA)
    return import_card(index.parent)


def resfinder(phenotypes: Path) -> Imported:
    (phenotypes.parent / "all.fsa").write_bytes(RESFINDER_FSA)
    return import_resfinder(phenotypes.parent)


def assert_valid_import(got: Imported) -> None:
    assert isinstance(got, Imported)
    for rec in got.records:
        assert isinstance(rec.source_id, str) and rec.sequence and isinstance(rec.is_arg, bool)
        assert all(isinstance(v, str) for v in (*rec.drug_classes, *rec.mechanisms, *rec.phenotypes))
    for drop in got.dropped:
        assert one_line(drop.reason), drop.reason


@pytest.mark.parametrize(
    "read, columns, sep, name",
    [(hmd, HMD_CSV_COLUMNS, ",", "part.csv"), (card, CARD_INDEX_COLUMNS, "\t", "aro_index.tsv"), (resfinder, RESFINDER_COLUMNS, "\t", "phenotypes.txt")],
    ids=["hmd_csv", "card_index", "resfinder_phenotypes"],
)
@FAST
@given(data=st.data())
def test_arg_tables_any_bytes_give_records_or_one_clear_error(read, columns, sep, name, data):
    with written(data.draw(table_bytes(columns, sep)), name) as path:
        got, error = outcome(read, path)
    if error is None:
        assert_valid_import(got)


SIMPLE_CELL = st.text(alphabet="ABCXYZ019_;", min_size=1, max_size=6)


@FAST
@given(st.lists(st.lists(SIMPLE_CELL, min_size=1, max_size=5), min_size=1, max_size=6), st.integers(2, 4), st.sampled_from([",", "\t"]))
def test_table_rows_are_never_dropped_or_shifted(rows, width, sep):
    """Each data row is one table row whose cells are the cells written under each header, or a clear error
    (rows longer than the header must not silently turn the first column into the index)."""
    header = [f"c{j}" for j in range(width)]
    with written(table_text(header, rows, sep).encode(), "t.tsv") as path:
        table, error = outcome(lambda p: read_table(p, header, sep=sep), path)
    if error is not None:
        assert any(len(r) > width for r in rows), error  # only over-long rows are an error
        return
    assert len(table) == len(rows)
    for got, row in zip(table.to_dict("records"), rows):
        assert [got[c] for c in header] == (row + [""] * width)[:width]


# --------------------------------------------------------------------------------------- configs

# Command-line overrides: known and unknown keys, sections and leaves, values of every kind and broken grammar.
PREDICT_KEYS = ["chunk_size", "threads", "input.sample_records", "input.max_contig_length", "input.min_nucleotide_fraction",
                "genes.meta", "genes.min_gene", "calls", "calls.is_arg_threshold", "reference_search.sensitivity",
                "report", "report.max_table_rows", "nope", "calls.nope", "a b"]  # fmt: skip
OVERRIDE_VALUES = st.one_of(
    st.integers(-3, 10**6).map(str), st.floats(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["true", "false", "null", "", "[1, 2]", "{a: 1}", "[", "{a:", "${oops}", "${chunk_size}", "abc", "'5'", "1e-3"]),
    st.text(max_size=10),
)
OVERRIDES = st.lists(st.one_of(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(PREDICT_KEYS), OVERRIDE_VALUES), st.text(max_size=12)), max_size=3)


def _positive_int_or_none(value) -> bool:
    return value is None or (type(value) is int and value >= 1)


@SLOW
@given(OVERRIDES)
def test_predict_overrides_give_typed_settings_or_one_clear_error(overrides):
    """Whatever ``--set`` gets, predict either has settings of the documented kinds or stops with one line
    naming the config file or the setting — never a traceback from deep inside the run."""
    from biotune.predict.pipeline import PredictSettings, load_predict_config

    try:
        settings_ = PredictSettings.from_config(load_predict_config(overrides))
    except InputError as exc:
        assert one_line(str(exc)) and ("default.yaml" in str(exc) or "setting" in str(exc)), str(exc)
        return
    assert type(settings_.chunk_size) is int and type(settings_.sample_records) is int and type(settings_.report_rows) is int
    assert _positive_int_or_none(settings_.threads) and _positive_int_or_none(settings_.genes.max_contig_length)
    assert all(type(x) in (int, float) for x in (settings_.min_nucleotide_fraction, settings_.rules.is_arg_threshold))
    assert type(settings_.genes.meta) is bool and type(settings_.genes.min_gene) is int
    assert isinstance(settings_.search["sensitivity"], str)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-2, 2), st.text(alphabet="abc", max_size=3))
CONFIGS = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(SCALARS, max_size=2), st.dictionaries(st.sampled_from("xyz"), inner, max_size=3)), max_leaves=8)


@FAST
@given(st.dictionaries(st.sampled_from("abc"), CONFIGS, min_size=1, max_size=3), st.lists(st.tuples(st.lists(st.sampled_from("abcxyz"), min_size=1, max_size=3), OVERRIDE_VALUES), max_size=3),
       st.one_of(st.none(), st.just(())))  # fmt: skip
def test_a_merged_override_has_the_kind_of_the_default_it_replaces(base, pairs, nullable):
    """:func:`biotune.overrides.merge_overrides` on any config: one clear error, or every overridden setting
    keeps the kind of its default (numbers widen from integer to real; null defaults take anything; null goes
    anywhere unless ``nullable`` says where)."""
    from omegaconf import OmegaConf

    from biotune.overrides import MISSING, leaf_keys, lookup, merge_overrides

    cfg = OmegaConf.create(base)
    overrides = [f"{'.'.join(k)}={v}" for k, v in pairs]
    try:
        merged = merge_overrides(cfg, overrides, "base.yaml", nullable=nullable)
    except InputError as exc:
        assert one_line(str(exc)) and "base.yaml" in str(exc), str(exc)
        return
    for key in leaf_keys(OmegaConf.from_dotlist(overrides)):
        default, value = lookup(cfg, key), OmegaConf.select(merged, key)
        if default is MISSING or default is None or (value is None and nullable is None):
            continue
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert type(value) in ((int,) if type(default) is int else (int, float)), (key, default, value)
        else:
            assert type(value) is type(default), (key, default, value)


# --------------------------------------------------------------------------------------- regressions


def test_regression_genbank_unknown_translation_table_is_a_cds_problem(tmp_path):
    """``/transl_table=99`` raised KeyError from Biopython's codon-table lookup."""
    path = tmp_path / "g.gbk"
    path.write_text(genbank_record("TEST", [("CDS", "1..57", ["/transl_table=99", '/locus_tag="T1"'])], GB_SEQUENCE))
    (cds,) = read_all_cds(path)
    assert cds.accession == "T1" and cds.protein is None
    assert "transl_table" in cds.problem and "99" in cds.problem


def test_regression_genbank_unparsable_location_is_a_cds_problem(tmp_path):
    """A CDS whose location Biopython cannot parse (it sets ``location=None``) raised AttributeError."""
    path = tmp_path / "g.gbk"
    path.write_text(genbank_record("TEST", [("CDS", "garbage", ['/locus_tag="T1"']), ("CDS", "0..57", [])], GB_SEQUENCE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, second = read_all_cds(path)
    assert first.accession == "T1" and first.protein is None and "location" in first.problem
    assert second.accession == "TEST.1_cds2" and "location" in second.problem


@pytest.mark.parametrize("sep, name", [(",", "part.csv"), ("\t", "phenotypes.txt")])
def test_regression_table_rows_longer_than_the_header_are_an_error_not_a_shift(tmp_path, sep, name):
    """Every row one field longer than the header (e.g. a trailing delimiter): pandas silently used the first
    column as the index, so each value landed under the next column's name."""
    path = tmp_path / name
    path.write_text(f"a{sep}b\nA1{sep}x{sep}\nA2{sep}y{sep}\n")
    with pytest.raises(InputError, match="more fields than the header") as info:
        read_table(path, ["a", "b"], sep=sep)
    assert_clear_input_error(info.value, path)
    assert info.value.record == "A1"


def test_regression_table_parse_error_is_one_line(tmp_path):
    """pandas' tokenizer message ends in a newline; the InputError text must stay one line."""
    path = tmp_path / "part.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InputError, match="line 3") as info:
        read_table(path, ["a", "b"])
    assert_clear_input_error(info.value, path)


def test_regression_table_duplicate_column_after_stripping_is_an_error(tmp_path):
    """``Sequence`` and `` Sequence`` both became ``Sequence``: one column was silently ignored."""
    path = tmp_path / "part.csv"
    path.write_text("a,b, b\n1,2,3\n")
    with pytest.raises(InputError, match="'b'.*more than once") as info:
        read_table(path, ["a", "b"])
    assert_clear_input_error(info.value, path)


@pytest.mark.parametrize("header", ["a,b,b", "a,b,c,b", "\ufeffa,b,b"])
def test_regression_table_with_a_required_column_named_twice_is_an_error(tmp_path, header):
    """pandas renames an exactly repeated name (``b``, ``b.1``): the first was taken without a word."""
    path = tmp_path / "part.csv"
    path.write_text(header + "\n" + ",".join("1" * len(header.split(","))) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="'b'.*more than once") as info:
        read_table(path, ["a", "b"])
    assert_clear_input_error(info.value, path)
    path.write_text("a,b,c,c\n1,2,3,4\n")
    assert list(read_table(path, ["a", "b"]).columns) == ["a", "b", "c"]  # a column nobody reads, named twice: the first


def test_regression_genbank_feature_line_cut_at_the_qualifier_column_is_one_error(tmp_path):
    """A 21-character feature line made Biopython's scanner raise IndexError (not a ValueError)."""
    path = tmp_path / "g.gbk"
    path.write_bytes(b"LOCUS       \nFEATURES             Location/Qualifiers\n                  CDS")
    with pytest.raises(InputError, match=r"record 1: cannot parse as GenBank: IndexError") as info:
        read_all_cds(path)
    assert_clear_input_error(info.value, path)


def test_regression_genbank_cds_line_without_location_is_an_error_not_a_silent_drop(tmp_path):
    """Biopython skips a feature line with no location (only a warning): the CDS vanished without a trace."""
    path = tmp_path / "g.gbk"
    path.write_text(genbank_record("TEST", [("CDS", "1..57", []), ("CDS", "", ['/locus_tag="T2"'])], GB_SEQUENCE))
    with pytest.raises(InputError, match=r"record 1: a CDS feature line has no location") as info:
        read_all_cds(path)
    assert_clear_input_error(info.value, path)
    path.write_text(genbank_record("TEST", [("CDS", "1..57", []), ("gene", "", [])], GB_SEQUENCE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(read_all_cds(path)) == 1  # another feature without a location is Biopython's warning only
