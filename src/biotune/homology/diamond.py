"""DIAMOND blastp behind small typed functions: reference databases and best hits.

Identity is DIAMOND's ``pident`` (percent identical positions over the alignment, 0-100); coverages
are percent of query (``qcovhsp``) and subject (``scovhsp``) length.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from biotune.errors import ToolError
from biotune.homology._tools import default_threads, require, run
from biotune.io.fasta import write_fasta

HIT_COLUMNS = ["qseqid", "sseqid", "pident", "length", "qlen", "slen", "evalue", "bitscore", "qcovhsp", "scovhsp"]
SENSITIVITY_FLAGS = {
    "fast": "--fast",
    "default": None,
    "mid-sensitive": "--mid-sensitive",
    "sensitive": "--sensitive",
    "more-sensitive": "--more-sensitive",
    "very-sensitive": "--very-sensitive",
    "ultra-sensitive": "--ultra-sensitive",
}
#: What DIAMOND says when a database file is cut short or is not a database (it then tries to read it as FASTA).
DAMAGED_DATABASE_MESSAGES = ("Unexpected end of input", "Error detecting input file format")


@functools.lru_cache(maxsize=1)
def version() -> str:
    """The installed DIAMOND's version (``diamond version`` → ``2.1.3``); databases it builds are byte-identical
    for the same sequences, so a bundle records it next to the checksums of its databases."""
    out = subprocess.run([require("diamond"), "version"], capture_output=True, text=True).stdout.split()
    return out[-1] if out else ""


def make_db(sequences: Mapping[str, str], db_path: str | Path, *, threads: int | None = None) -> Path:
    """Build a DIAMOND database (``db_path`` + ``.dmnd``) from ``{id: sequence}``.

    It is written under a temporary name beside ``db_path`` and renamed when complete: an interrupted
    build never leaves a truncated database under the final name.
    """
    diamond = require("diamond")
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    final = db_path.with_suffix(".dmnd") if db_path.suffix != ".dmnd" else db_path
    partial = final.with_name(f".{final.stem}.{os.getpid()}.partial.dmnd")
    try:
        with tempfile.TemporaryDirectory(prefix="biotune_diamond_") as tmp:
            fasta = Path(tmp) / "ref.faa"
            write_fasta(sequences.items(), fasta)
            run([diamond, "makedb", "--in", str(fasta), "-d", str(partial), "--threads", str(threads or default_threads()), "--quiet"])
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return final


def blastp(
    query: Mapping[str, str],
    db: str | Path | Mapping[str, str],
    *,
    evalue: float = 1e-3,
    max_target_seqs: int = 25,
    sensitivity: str = "more-sensitive",
    min_identity: float = 0.0,
    threads: int | None = None,
    index_chunks: int = 1,
) -> pd.DataFrame:
    """Align ``query`` proteins against a database path or an ``{id: sequence}`` reference.

    ``index_chunks`` is DIAMOND's ``-c``: 1 keeps the seed index in memory in one piece — the same hits,
    measured 13.1 → 8.1 s for the PAO1 proteome against the default's 18k references (4 by default in
    DIAMOND saves memory on databases of millions of sequences).

    Returns every reported HSP with :data:`HIT_COLUMNS`, sorted by query then descending bitscore
    (ties broken by subject id, so results are deterministic). Queries without hits are absent.
    """
    diamond = require("diamond")
    if sensitivity not in SENSITIVITY_FLAGS:
        raise ValueError(f"unknown DIAMOND sensitivity {sensitivity!r}; choose from {list(SENSITIVITY_FLAGS)}")
    with tempfile.TemporaryDirectory(prefix="biotune_diamond_") as tmp:
        tmp = Path(tmp)
        searched_file = None if isinstance(db, Mapping) else db
        if isinstance(db, Mapping):
            db = make_db(db, tmp / "ref", threads=threads)
        qpath = tmp / "q.faa"
        if write_fasta(query.items(), qpath) == 0:
            return pd.DataFrame(columns=HIT_COLUMNS)
        out = tmp / "hits.tsv"
        args = [
            diamond, "blastp", "-q", str(qpath), "-d", str(db), "-o", str(out),
            "--outfmt", "6", *HIT_COLUMNS, "--evalue", str(evalue), "--max-target-seqs", str(max_target_seqs),
            "--id", str(min_identity), "--threads", str(threads or default_threads()), "--quiet",
            "--index-chunks", str(index_chunks),
        ]
        flag = SENSITIVITY_FLAGS[sensitivity]
        if flag:
            args.append(flag)
        try:
            run(args)
        except ToolError as exc:
            if searched_file is None:
                raise
            hint = ""
            if any(m in str(exc) for m in DAMAGED_DATABASE_MESSAGES):
                hint = " (the database file is truncated, damaged or not a DIAMOND database)"
            elif "version of Diamond and is incompatible" in str(exc):
                hint = f" (the installed DIAMOND is {version()}: rebuild the database)"
            raise ToolError(f"{searched_file}: {exc}{hint}") from None
        hits = pd.read_csv(out, sep="\t", header=None, names=HIT_COLUMNS, dtype={"qseqid": str, "sseqid": str})
    return sort_hits(hits)


def sort_hits(hits: pd.DataFrame) -> pd.DataFrame:
    """Hits by query, then descending bitscore, ties by subject id (deterministic): the order :func:`blastp` returns."""
    return hits.sort_values(["qseqid", "bitscore", "sseqid"], ascending=[True, False, True], kind="mergesort").reset_index(drop=True)


def best_hits(hits: pd.DataFrame, *, by: str = "bitscore") -> pd.DataFrame:
    """One row per query: the hit with the highest ``by`` (``bitscore`` or ``pident``)."""
    if hits.empty:
        return hits
    ordered = hits.sort_values(["qseqid", by, "sseqid"], ascending=[True, False, True], kind="mergesort")
    return ordered.drop_duplicates("qseqid", keep="first").reset_index(drop=True)
