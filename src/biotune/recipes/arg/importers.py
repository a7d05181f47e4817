"""Importers: one function per raw upstream format, each turning a path into source records.

Every importer returns an :class:`Imported` — the records it kept plus the records it dropped, each
drop with its file, record id and reason — so nothing is lost silently. Structural problems (missing
file, missing column, a CARD folder without ``aro_index.tsv``) raise :class:`InputError` naming the
file; per-record problems (empty or non-protein sequence, untranslatable ResFinder gene) are drops.

Raw labels are kept verbatim; :mod:`biotune.recipes.arg.vocabulary` maps them to project labels.
``SourceRecord.vocabulary`` names the section of ``vocabulary.yaml`` whose mapping applies.

Formats (see ``../shared/data/arg/README.md``):

* ``hmd_csv``: HMD-ARG-DB CSV parts (``Accession, Database, Drug Class, Resistance Mechanism,
  Remove, Sequence, is_ARG``; ``Remove`` is the 0/1 mobility flag, ``Drug Class`` is ``;``-separated).
* ``hmd_fasta``: HMD-ARG-DB FASTA with header ``id|FEATURES|database|drug class|gene|mechanism|mobility``.
* ``card``: a CARD release folder (or the folder a ``card-data.tar.bz2`` was unpacked into, at any depth):
  ``protein_fasta_<model>_model.fasta`` (header ``gb|ACC|ARO:NNN|NAME [organism]``) joined on the
  ARO accession with ``aro_index.tsv`` (Drug Class, Resistance Mechanism, AMR Gene Family).
* ``resfinder``: a ResFinder database folder or git checkout: ``all.fsa`` when present, else the
  per-class ``*.fsa`` files; nucleotide genes translated (see :func:`translate_gene`) and joined with
  ``phenotypes.txt`` (Class, Phenotype, Mechanism of resistance).
* ``negative_fasta``: plain FASTA of non-ARG proteins.
* ``proteome``: whole proteomes / genomes (every protein of an organism, ``is_arg=False`` until the
  build's label rule decides), see :func:`import_proteome`: protein FASTA (UniProt ``sp|ACC|NAME``
  or RefSeq ``ACC description`` headers), GenBank (CDS ``/translation``, else the CDS translated),
  or a nucleotide genome FASTA (genes called with pyrodigal). Each file is one proteome, named by
  :func:`proteome_name`; source ids are ``<proteome>:<accession | locus_tag | gene number>``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from Bio.Data.CodonTable import TranslationError
from Bio.Seq import Seq

from biotune.errors import InputError
from biotune.io.fasta import IUPAC_NUCLEOTIDE_LETTERS, protein_problem, read_fasta
from biotune.io.genbank import BACTERIAL_TABLE, cds_proteins, read_genbank


@dataclass(frozen=True)
class SourceRecord:
    """One protein as one source states it, with the source's own (raw) labels."""

    source: str
    source_id: str
    sequence: str
    is_arg: bool
    vocabulary: str = ""
    drug_classes: tuple[str, ...] = ()
    mechanisms: tuple[str, ...] = ()
    mobility: str = ""
    phenotypes: tuple[str, ...] = ()
    gene_family: str = ""


@dataclass(frozen=True)
class Dropped:
    """A record an importer or the build excluded, and why."""

    source: str
    source_id: str
    reason: str
    path: str = ""


@dataclass
class Imported:
    """What one importer produced: kept records and counted, named drops."""

    records: list[SourceRecord] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)

    def extend(self, other: Imported) -> Imported:
        self.records.extend(other.records)
        self.dropped.extend(other.dropped)
        return self

    def add(self, record: SourceRecord, path: Path | str) -> None:
        """Keep ``record`` if its sequence is a usable protein, otherwise count it as dropped."""
        problem = protein_problem(record.sequence)
        if problem is None:
            self.records.append(record)
        else:
            self.dropped.append(Dropped(record.source, record.source_id, problem, str(path)))


def _split(value: str, sep: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in str(value).split(sep) if v.strip())


def clean_sequence(sequence: str) -> str:
    """Upper-case, strip whitespace and one trailing stop ``*`` (the convention of :func:`read_fasta`)."""
    seq = "".join(str(sequence).split()).upper()
    return seq[:-1] if seq.endswith("*") else seq


def read_table(path: str | Path, required: Sequence[str], *, sep: str = ",") -> pd.DataFrame:
    """Read a delimited text table as strings; raise :class:`InputError` naming missing columns.

    Rows shorter than the header are padded with empty cells (real ResFinder ``phenotypes.txt`` rows omit
    empty trailing fields); rows longer than the header are an error, never a silent shift of the columns.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found" if not path.exists() else "expected a file", path=path)
    kind = "TSV" if sep == "\t" else "CSV"
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot parse as a {kind} table: {' '.join(str(exc).split())}", path=path) from None
    if not isinstance(table.index, pd.RangeIndex):
        # pandas reads rows one or more fields longer than the header as index + shifted columns
        first = table.index[0]
        raise InputError(
            f"the data rows have more fields than the header's {len(table.columns)} (a trailing delimiter?)",
            path=path,
            record=str(first[0] if isinstance(first, tuple) else first).strip()[:80] or None,
        )
    header = _header_fields(path, sep)  # pandas renames a repeated name (Sequence, Sequence.1): look at the file's own
    raw = header if len(header) == len(table.columns) else table.columns
    names = pd.Index([c.strip().lstrip("#").strip() for c in raw])
    doubled = sorted({c for c in names[names.duplicated()] if c in required})
    if doubled:
        raise InputError(f"column(s) {doubled} appear more than once in the header", path=path)
    table.columns = names
    table = table.loc[:, ~names.duplicated()]  # another column named twice: the first one, as pandas reads it
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; found {list(table.columns)}", path=path)
    return table


def _header_fields(path: Path, sep: str) -> list[str]:
    """The header line's fields as written (empty if unreadable: the caller falls back to pandas' names)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle, delimiter=sep), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


# --------------------------------------------------------------------------------------- HMD-ARG-DB

HMD_CSV_COLUMNS = ("Accession", "Database", "Drug Class", "Resistance Mechanism", "Remove", "Sequence", "is_ARG")


def _binary(value: str, path: Path, record: str, column: str) -> bool:
    if value.strip() not in ("0", "1"):
        raise InputError(f"column {column!r} must be 0 or 1, got {value!r}", path=path, record=record)
    return value.strip() == "1"


def import_hmd_csv(path: str | Path, source: str = "hmd_arg_db") -> Imported:
    """One HMD-ARG-DB CSV part. Rows with ``is_ARG == 0`` are negatives (their label cells are empty)."""
    path = Path(path)
    table = read_table(path, HMD_CSV_COLUMNS)
    out = Imported()
    for i, row in enumerate(_table_rows(table), start=2):
        rid = row["Accession"].strip() or f"line {i}"
        is_arg = _binary(row["is_ARG"], path, rid, "is_ARG")
        out.add(
            SourceRecord(
                source=source,
                source_id=rid,
                sequence=clean_sequence(row["Sequence"]),
                is_arg=is_arg,
                vocabulary="hmd",
                drug_classes=_split(row["Drug Class"], ";") if is_arg else (),
                mechanisms=_split(row["Resistance Mechanism"], ";") if is_arg else (),
                mobility=row["Remove"].strip() if is_arg else "",
            ),
            path,
        )
    return out


def _table_rows(table: pd.DataFrame) -> Iterable[dict[str, str]]:
    return table.to_dict("records")


HMD_FASTA_FIELDS = 7


def import_hmd_fasta(path: str | Path, source: str = "hmd_only") -> Imported:
    """HMD-ARG-DB FASTA with ``id|FEATURES|database|drug class|gene|mechanism|mobility`` headers (all ARGs)."""
    path = Path(path)
    out = Imported()
    for rec in read_fasta(path):
        fields = rec.description.split("|")
        if len(fields) != HMD_FASTA_FIELDS:
            raise InputError(
                f"header has {len(fields)} '|'-fields, expected {HMD_FASTA_FIELDS} "
                "(id|FEATURES|database|drug class|gene|mechanism|mobility)",
                path=path,
                record=rec.description[:80],
            )
        rid, _, _, drug, _, mechanism, mobility = (f.strip() for f in fields)
        out.add(
            SourceRecord(
                source=source,
                source_id=rid,
                sequence=rec.sequence,
                is_arg=True,
                vocabulary="hmd",
                drug_classes=_split(drug, ";"),
                mechanisms=_split(mechanism, ";"),
                mobility=mobility,
            ),
            path,
        )
    return out


# --------------------------------------------------------------------------------------- negatives


def import_negative_fasta(path: str | Path, source: str = "negatives") -> Imported:
    """Plain FASTA of non-ARG proteins (header = accession)."""
    path = Path(path)
    out = Imported()
    for rec in read_fasta(path):
        out.add(SourceRecord(source=source, source_id=rec.id, sequence=rec.sequence, is_arg=False), path)
    return out


# --------------------------------------------------------------------------------------- CARD

CARD_INDEX = "aro_index.tsv"
CARD_INDEX_COLUMNS = ("ARO Accession", "Drug Class", "Resistance Mechanism", "AMR Gene Family")
CARD_HEADER = re.compile(r"^(?P<db>[^|]+)\|(?P<acc>[^|]+)\|(?P<aro>ARO:\d+)\|(?P<name>.*)$")


def locate_file(root: str | Path, name: str) -> Path:
    """``root/name`` or, for an unpacked download, the shallowest ``name`` below ``root``."""
    root = Path(root)
    if not root.exists():
        raise InputError("folder not found", path=root)
    if root.is_file():
        raise InputError(f"expected a folder containing {name}, got a file", path=root)
    if (root / name).is_file():
        return root / name
    found = sorted(root.rglob(name), key=lambda p: (len(p.parts), str(p)))
    if not found:
        raise InputError(f"{name} not found in this folder or below it", path=root)
    return found[0]


def import_card(folder: str | Path, source: str = "card", models: Sequence[str] = ("protein_homolog",)) -> Imported:
    """A CARD release: the ``protein_fasta_<model>_model.fasta`` files joined with ``aro_index.tsv``.

    Only the protein homolog model by default: variant/overexpression/knockout models hold wild-type
    proteins that confer resistance only with specific mutations or expression changes, so their
    sequences are not resistance genes by themselves. An ARO accession missing from the index fails.
    """
    index_path = locate_file(folder, CARD_INDEX)
    index = read_table(index_path, CARD_INDEX_COLUMNS, sep="\t")
    by_aro: dict[str, dict[str, set[str]]] = {}
    for row in _table_rows(index):
        entry = by_aro.setdefault(row["ARO Accession"].strip(), {"drug": set(), "mech": set(), "family": set()})
        entry["drug"].update(_split(row["Drug Class"], ";"))
        entry["mech"].update(_split(row["Resistance Mechanism"], ";"))
        entry["family"].update(_split(row["AMR Gene Family"], ";"))
    out = Imported()
    for model in models:
        fasta = locate_file(index_path.parent, f"protein_fasta_{model}_model.fasta")
        for rec in read_fasta(fasta):
            match = CARD_HEADER.match(rec.description)
            if match is None:
                raise InputError("header is not 'gb|ACCESSION|ARO:NNN|NAME'", path=fasta, record=rec.description[:80])
            aro = match["aro"]
            if aro not in by_aro:
                raise InputError(f"{aro} is not in {index_path}", path=fasta, record=rec.description[:80])
            labels = by_aro[aro]
            out.add(
                SourceRecord(
                    source=source,
                    source_id=f"{match['acc']}|{aro}",
                    sequence=rec.sequence,
                    is_arg=True,
                    vocabulary="card",
                    drug_classes=tuple(sorted(labels["drug"])),
                    mechanisms=tuple(sorted(labels["mech"])),
                    gene_family=";".join(sorted(labels["family"])),
                ),
                fasta,
            )
    return out


# --------------------------------------------------------------------------------------- ResFinder

RESFINDER_PHENOTYPES = "phenotypes.txt"
RESFINDER_COLUMNS = ("Gene_accession no.", "Class", "Phenotype", "Mechanism of resistance")


def translate_gene(nucleotides: str) -> tuple[str | None, str | None]:
    """Translate a complete coding sequence; return ``(protein, None)`` or ``(None, problem)``.

    IUPAC ambiguity codes are allowed (an ambiguous codon becomes ``X`` or the amino acid all its
    readings agree on). The gene must be a whole CDS: length a multiple of 3, a start codon, a terminal stop and no
    internal stop (Biopython ``translate(cds=True)``). Genes failing any check are excluded because
    their protein is not what the gene encodes in the cell.
    """
    bad = sorted(set(nucleotides) - IUPAC_NUCLEOTIDE_LETTERS)
    if bad:
        return None, f"letters {''.join(bad)!r} are not IUPAC nucleotide codes"
    try:
        protein = str(Seq(nucleotides).translate(table=BACTERIAL_TABLE, cds=True))
    except TranslationError as exc:
        return None, f"frame problem: {exc}"
    return protein, None


def _resfinder_genes(folder: Path) -> tuple[list[Path], Path]:
    """The nucleotide FASTA files of a ResFinder DB: ``all.fsa`` or, in a git checkout, every ``*.fsa``."""
    phenotypes = locate_file(folder, RESFINDER_PHENOTYPES)
    root = phenotypes.parent
    if (root / "all.fsa").is_file():
        return [root / "all.fsa"], phenotypes
    parts = sorted(p for p in root.glob("*.fsa") if p.is_file())
    if not parts:
        raise InputError("no all.fsa nor per-class *.fsa files next to phenotypes.txt", path=root)
    return parts, phenotypes


def import_resfinder(folder: str | Path, source: str = "resfinder") -> Imported:
    """A ResFinder database folder or git checkout: translated genes joined with ``phenotypes.txt``.

    A gene missing from ``phenotypes.txt`` is dropped (counted); the same gene name in several
    ``*.fsa`` files of a git checkout is read once when the sequences agree.
    """
    fastas, phen_path = _resfinder_genes(Path(folder))
    phen = read_table(phen_path, RESFINDER_COLUMNS, sep="\t")
    labels: dict[str, dict[str, set[str]]] = {}
    for row in _table_rows(phen):
        entry = labels.setdefault(row["Gene_accession no."].strip(), {"drug": set(), "mech": set(), "phen": set()})
        entry["drug"].update(_split(row["Class"], ","))
        entry["phen"].update(_split(row["Phenotype"], ","))
        if row["Mechanism of resistance"].strip():
            entry["mech"].add(row["Mechanism of resistance"].strip())
    out = Imported()
    seen: dict[str, str] = {}
    for fasta in fastas:
        for rec in read_fasta(fasta):
            if rec.id in seen:
                if seen[rec.id] != rec.sequence:
                    out.dropped.append(Dropped(source, rec.id, "same gene name with different sequences", str(fasta)))
                continue
            seen[rec.id] = rec.sequence
            protein, problem = translate_gene(rec.sequence)
            if problem is not None:
                out.dropped.append(Dropped(source, rec.id, problem, str(fasta)))
                continue
            if rec.id not in labels:
                out.dropped.append(Dropped(source, rec.id, f"gene not in {RESFINDER_PHENOTYPES}", str(fasta)))
                continue
            entry = labels[rec.id]
            out.add(
                SourceRecord(
                    source=source,
                    source_id=rec.id,
                    sequence=protein,
                    is_arg=True,
                    vocabulary="resfinder",
                    drug_classes=tuple(sorted(entry["drug"])),
                    mechanisms=tuple(sorted(entry["mech"])),
                    mobility="acquired",
                    phenotypes=tuple(sorted(entry["phen"])),
                ),
                fasta,
            )
    return out


# --------------------------------------------------------------------------------------- proteomes

PROTEOME_SUFFIXES = {
    ".gb": "genbank", ".gbk": "genbank", ".gbff": "genbank", ".genbank": "genbank",
    ".faa": "protein", ".fna": "genome", ".ffn": "genome",
    ".fasta": "fasta", ".fa": "fasta", ".fas": "fasta",
}
#: File-name tails that say nothing about the organism (``GCF_..._protein.faa`` -> ``GCF_...``).
PROTEOME_NAME_TAILS = ("_protein", "_genomic", "_cds_from_genomic", "_translated_cds")
UNIPROT_HEADER = re.compile(r"^(?:sp|tr)\|(?P<acc>[^|]+)\|")
#: Single-genome Prodigal needs enough sequence to train on; shorter inputs use metagenome mode.
MIN_TRAINING_LENGTH = 100_000


def _proteome_suffixes(path: Path) -> tuple[str, str]:
    """``(stem, kind)`` of a proteome file name, ``.gz`` ignored; kind is '' for other files."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    stem, dot, suffix = name.rpartition(".")
    kind = PROTEOME_SUFFIXES.get(f".{suffix.lower()}", "") if dot else ""
    return (stem if kind else name), kind


def proteome_name(path: str | Path) -> str:
    """Short, stable proteome name from a file name: suffixes and ``.gz`` removed, NCBI tails
    (``_protein``, ``_genomic``) dropped, whitespace and ``:;|`` replaced by ``_``
    (``GCF_000006765.1_ASM676v1_protein.faa.gz`` -> ``GCF_000006765.1_ASM676v1``,
    ``UP000001425-Synechocystis.fasta.gz`` -> ``UP000001425-Synechocystis``)."""
    stem, _ = _proteome_suffixes(Path(path))
    for tail in PROTEOME_NAME_TAILS:
        if stem.endswith(tail):
            stem = stem[: -len(tail)]
            break
    return _safe_name(stem)


def _safe_name(name: str) -> str:
    return re.sub(r"[\s:;|]+", "_", str(name).strip())


def proteome_files(path: str | Path) -> list[Path]:
    """The proteome files of ``path``: the file itself, or every recognised file of a folder (sorted)."""
    path = Path(path)
    if not path.exists():
        raise InputError("proteome file or folder not found", path=path)
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and _proteome_suffixes(p)[1])
    if not files:
        raise InputError(f"no proteome files ({', '.join(sorted(PROTEOME_SUFFIXES))}, optionally .gz) in this folder", path=path)
    return files


def _is_nucleotide(sequence: str) -> bool:
    letters = sequence.replace("N", "")
    return bool(letters) and sum(letters.count(c) for c in "ACGTU") >= 0.9 * len(letters)


def _fasta_kind(path: Path) -> str:
    """'genome' when the first records are nucleotide sequences, else 'protein'."""
    sample = []
    for rec in read_fasta(path, allow_empty=True):
        sample.append(rec.sequence)
        if sum(map(len, sample)) > 10_000 or len(sample) >= 20:
            break
    return "genome" if sample and _is_nucleotide("".join(sample)) else "protein"


def _protein_accession(header_id: str) -> str:
    match = UNIPROT_HEADER.match(header_id)
    return match["acc"] if match else header_id


def _proteome_record(source: str, proteome: str, accession: str, sequence: str) -> SourceRecord:
    return SourceRecord(source=source, source_id=f"{proteome}:{accession}", sequence=sequence, is_arg=False)


def _import_protein_fasta(path: Path, source: str, proteome: str, out: Imported) -> None:
    for rec in read_fasta(path):
        out.add(_proteome_record(source, proteome, _protein_accession(rec.id), rec.sequence), path)


def _import_genbank(path: Path, source: str, proteome: str, out: Imported) -> None:
    """CDS features (:func:`biotune.io.genbank.cds_proteins`); pseudo genes and CDSs that do not
    translate as a whole CDS are dropped with the reason."""
    for entry in read_genbank(path):
        for cds in cds_proteins(entry):
            if cds.protein is None:
                out.dropped.append(Dropped(source, f"{proteome}:{cds.accession}", str(cds.problem), str(path)))
            else:
                out.add(_proteome_record(source, proteome, cds.accession, clean_sequence(cds.protein)), path)


def call_genome_genes(contigs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Genes of a complete genome with pyrodigal: ``[(<contig>_<n>, protein)]``, stop removed.

    Prodigal's single-genome mode, trained on the whole genome (all contigs), as Prodigal
    recommends for a finished genome; a genome shorter than :data:`MIN_TRAINING_LENGTH` cannot
    train reliably and uses the metagenome mode (pre-trained models) instead.
    """
    import pyrodigal

    contigs = [(cid, seq.replace("U", "T")) for cid, seq in contigs]
    if sum(len(s) for _, s in contigs) >= MIN_TRAINING_LENGTH:
        finder = pyrodigal.GeneFinder(meta=False)
        finder.train(*(s for _, s in contigs))
    else:
        finder = pyrodigal.GeneFinder(meta=True)
    return [
        (f"{cid}_{i}", gene.translate(include_stop=False))
        for cid, seq in contigs
        for i, gene in enumerate(finder.find_genes(seq), start=1)
    ]


def _import_genome(path: Path, source: str, proteome: str, out: Imported) -> None:
    contigs = [(rec.id, rec.sequence) for rec in read_fasta(path)]
    for gene_id, protein in call_genome_genes(contigs):
        out.add(_proteome_record(source, proteome, gene_id, protein), path)


def import_proteome(path: str | Path, source: str = "proteomes", names: Mapping[str, str] | None = None) -> Imported:
    """Every protein of one proteome file, or of every proteome file in a folder (one proteome per file).

    The kind is chosen by suffix (``.gz`` ignored): ``.gb/.gbk/.gbff`` GenBank, ``.faa`` protein
    FASTA, ``.fna/.ffn`` nucleotide genome; ``.fasta/.fa/.fas`` are protein or genome by content.
    Records are ``is_arg=False``: the build's label rule decides which proteome proteins are ARGs.
    ``names`` maps a file name (e.g. ``GCF_000006765.1_ASM676v1_protein.faa.gz``) to the proteome name
    to use instead of :func:`proteome_name`'s. Two files giving the same proteome name fail (source ids
    would collide).
    """
    out = Imported()
    seen: dict[str, Path] = {}
    names = dict(names or {})
    for file in proteome_files(path):
        name = _safe_name(names[file.name]) if file.name in names else proteome_name(file)
        if name in seen:
            raise InputError(f"proteome name {name!r} also comes from {seen[name]}: rename one file", path=file)
        seen[name] = file
        kind = _proteome_suffixes(file)[1] or "fasta"
        if kind == "fasta":
            kind = _fasta_kind(file)
        reader = {"protein": _import_protein_fasta, "genbank": _import_genbank, "genome": _import_genome}[kind]
        reader(file, source, name, out)
    return out


def proteome_of(source_id: str) -> str:
    """The proteome name of a proteome record's source id (``<proteome>:<accession>``)."""
    return source_id.split(":", 1)[0]


# --------------------------------------------------------------------------------------- registry

IMPORTERS: dict[str, Callable[..., Imported]] = {
    "hmd_csv": import_hmd_csv,
    "hmd_fasta": import_hmd_fasta,
    "card": import_card,
    "resfinder": import_resfinder,
    "negative_fasta": import_negative_fasta,
    "proteome": import_proteome,
}


def import_source(fmt: str, paths: Sequence[str | Path], source: str, **options) -> Imported:
    """Run the importer for ``fmt`` on every path of one source and pool the results."""
    if fmt not in IMPORTERS:
        raise InputError(f"source {source!r}: unknown format {fmt!r}; expected one of {sorted(IMPORTERS)}")
    out = Imported()
    for path in paths:
        out.extend(IMPORTERS[fmt](path, source=source, **options))
    return out
