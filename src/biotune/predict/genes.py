"""Gene calling on genomes and metagenomic contigs with pyrodigal (Prodigal), keeping coordinates.

Genes are named ``<contig>_<n>`` (Prodigal's convention, ``n`` counting from 1 along the contig) and
translated with the translation table Prodigal chose, without the stop. A contig that yields no gene
(too short, or no coding signal) or cannot be read becomes a single status query, so every contig
id appears in the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyrodigal

from biotune.io.fasta import FastaRecord
from biotune.predict.inputs import SKIPPED, STATUS_NO_GENE, Query, RecordChecker, chunked, nucleotide_problem


@dataclass(frozen=True)
class GeneCallingOptions:
    """Prodigal settings (see ``configs/predict/default.yaml``); ``meta`` = metagenome mode."""

    meta: bool = True
    closed: bool = False
    mask: bool = False
    min_gene: int = 90
    max_contig_length: int | None = None
    threads: int = 1
    contigs_per_batch: int = 64


def make_gene_finder(options: GeneCallingOptions) -> pyrodigal.GeneFinder:
    return pyrodigal.GeneFinder(meta=options.meta, closed=options.closed, mask=options.mask, min_gene=options.min_gene)


def genes_of_contig(finder: pyrodigal.GeneFinder, record: FastaRecord, number: int) -> list[Query]:
    """The genes Prodigal calls on one contig as queries, or a single ``no_gene_called`` query."""
    genes = finder.find_genes(record.sequence.replace("U", "T"))
    queries = [
        Query(
            record=number,
            id=f"{record.id}_{i}",
            sequence=gene.translate(include_stop=False),
            contig=record.id,
            start=gene.begin,
            end=gene.end,
            strand="+" if gene.strand == 1 else "-",
            partial=f"{int(gene.partial_begin)}{int(gene.partial_end)}",
            gene=i,
        )
        for i, gene in enumerate(genes, start=1)
    ]
    return queries or [Query(record=number, id=record.id, sequence="", status=STATUS_NO_GENE, contig=record.id)]


def gene_queries(records: Iterable[FastaRecord], options: GeneCallingOptions) -> Iterator[Query]:
    """Stream queries for nucleotide records, in input order: genes per contig, or one status row.

    Contigs are processed in batches over a thread pool (pyrodigal releases the GIL), so memory
    stays bounded by one batch whatever the assembly size.
    """
    finder = make_gene_finder(options)
    checker = RecordChecker()
    numbered = enumerate(records, start=1)
    with ThreadPoolExecutor(max_workers=max(1, options.threads)) as pool:
        for batch in chunked(numbered, options.contigs_per_batch):
            callable_batch = []
            results: dict[int, list[Query]] = {}
            for number, rec in batch:
                problem = checker.identifier_problem(rec, number) or nucleotide_problem(
                    rec.sequence, max_length=options.max_contig_length
                )
                if problem is not None:
                    results[number] = [Query(record=number, id=rec.id, sequence="", status=SKIPPED + problem, contig=rec.id)]
                else:
                    callable_batch.append((number, rec))
            called = pool.map(lambda item: genes_of_contig(finder, item[1], item[0]), callable_batch)
            results.update({number: queries for (number, _), queries in zip(callable_batch, called)})
            for number, _ in batch:
                yield from results[number]
