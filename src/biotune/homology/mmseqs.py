"""MMseqs2 behind small typed functions: clustering and all-vs-all / query-vs-target search.

Sequences are passed as ``{id: sequence}`` mappings; temporary files live in a private directory.
Identity is MMseqs2's ``fident`` (identical positions / alignment length) as a fraction in [0, 1];
coverages are fractions of query and target length.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from biotune.homology._tools import default_threads, require, run
from biotune.io.fasta import write_fasta

SEARCH_COLUMNS = ["query", "target", "fident", "alnlen", "qlen", "tlen", "qcov", "tcov", "evalue", "bits"]


def cluster(
    sequences: Mapping[str, str],
    *,
    min_seq_id: float = 0.4,
    coverage: float = 0.8,
    cov_mode: int = 0,
    sensitivity: float | None = None,
    threads: int | None = None,
) -> dict[str, str]:
    """Cluster sequences (``mmseqs cluster``, cascaded); return ``{id: representative id}`` for every input id.

    ``cov_mode=0`` requires ``coverage`` of both sequences (MMseqs2's bidirectional mode).
    """
    mmseqs = require("mmseqs")
    with tempfile.TemporaryDirectory(prefix="biotune_mmseqs_") as tmp:
        tmp = Path(tmp)
        write_fasta(sequences.items(), tmp / "in.faa")
        args = [
            mmseqs, "easy-cluster", str(tmp / "in.faa"), str(tmp / "res"), str(tmp / "work"),
            "--min-seq-id", str(min_seq_id), "-c", str(coverage), "--cov-mode", str(cov_mode),
            "--threads", str(threads or default_threads()), "-v", "1",
        ]
        if sensitivity is not None:
            args += ["-s", str(sensitivity)]
        run(args)
        table = pd.read_csv(tmp / "res_cluster.tsv", sep="\t", header=None, names=["rep", "member"], dtype=str)
    assignment = dict(zip(table["member"], table["rep"]))
    missing = set(sequences) - set(assignment)
    if missing:
        raise RuntimeError(f"mmseqs cluster lost {len(missing)} sequences, e.g. {sorted(missing)[:3]}")
    return assignment


def search(
    query: Mapping[str, str],
    target: Mapping[str, str] | None = None,
    *,
    min_seq_id: float = 0.0,
    coverage: float = 0.0,
    cov_mode: int = 0,
    sensitivity: float = 7.5,
    evalue: float = 10.0,
    max_seqs: int = 300,
    exhaustive: bool = False,
    threads: int | None = None,
) -> pd.DataFrame:
    """Search ``query`` against ``target`` (against itself when ``target`` is None).

    Returns one row per alignment with :data:`SEARCH_COLUMNS`. ``exhaustive=True`` skips the k-mer
    prefilter (every pair is aligned): slower, but no homolog can be missed, which is what a
    leakage check needs on small sets.
    """
    mmseqs = require("mmseqs")
    with tempfile.TemporaryDirectory(prefix="biotune_mmseqs_") as tmp:
        tmp = Path(tmp)
        write_fasta(query.items(), tmp / "q.faa")
        if target is None:
            tpath = tmp / "q.faa"
        else:
            tpath = tmp / "t.faa"
            write_fasta(target.items(), tpath)
        args = [
            mmseqs, "easy-search", str(tmp / "q.faa"), str(tpath), str(tmp / "hits.tsv"), str(tmp / "work"),
            "--min-seq-id", str(min_seq_id), "-c", str(coverage), "--cov-mode", str(cov_mode),
            "-s", str(sensitivity), "-e", str(evalue), "--max-seqs", str(max_seqs),
            "--alignment-mode", "3", "--format-output", ",".join(SEARCH_COLUMNS),
            "--threads", str(threads or default_threads()), "-v", "1",
        ]
        if exhaustive:
            args += ["--exhaustive-search", "1"]
        run(args)
        hits = pd.read_csv(tmp / "hits.tsv", sep="\t", header=None, names=SEARCH_COLUMNS, dtype={"query": str, "target": str})
    return hits
