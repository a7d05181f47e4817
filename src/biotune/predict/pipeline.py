"""``biotune predict`` end to end: FASTA in, annotated ARG calls out, in bounded memory.

The input is streamed: records (or, for nucleotide input, the genes pyrodigal calls on them) are
scored ``chunk_size`` proteins at a time — the bundle's method gives the probabilities, and the
evidence comes from the method itself when it reports it (``Method.reports_reference_evidence``,
e.g. ``fusion``), else from DIAMOND against the bundle's references — and each chunk is written out
before the next is read. Every input record ends up in the output, scored or with a status.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from biotune.data.records import Record
from biotune.errors import InputError
from biotune.homology import diamond
from biotune.homology._tools import default_threads
from biotune.io.fasta import NUCLEOTIDE_LETTERS
from biotune.overrides import merge_overrides
from biotune.paths import config_dir
from biotune.predict.annotation import Annotation, CallRules, Hit, RunSummary, annotate_query
from biotune.predict.annotation_bundle import AnnotationBundle
from biotune.predict.checkpoints import ChunkCheckpoints
from biotune.predict.genes import GeneCallingOptions, gene_queries
from biotune.predict.inputs import Query, chunked, open_input, protein_queries
from biotune.predict.writers import PredictionWriter, input_file_stem


def load_predict_config(overrides: Sequence[str] = (), *, name: str = "default", nullable: Collection[str] = ()) -> DictConfig:
    """``configs/predict/<name>.yaml`` with ``key=value`` overrides, each checked (:func:`biotune.overrides.merge_overrides`;
    only the settings in ``nullable`` and those null by default take ``null``)."""
    path = config_dir() / "predict" / f"{name}.yaml"
    if not path.exists():
        raise InputError("predict config not found (set BIOTUNE_CONFIG_DIR to the project's configs/ directory)", path=path)
    return merge_overrides(OmegaConf.load(path), overrides, path, nullable=nullable)


@dataclass(frozen=True)
class PredictSettings:
    """Typed view of the predict config."""

    chunk_size: int
    threads: int
    sample_records: int
    min_nucleotide_fraction: float
    max_protein_length: int | None
    genes: GeneCallingOptions
    rules: CallRules
    search: dict[str, Any]
    report_rows: int

    @classmethod
    def from_config(cls, cfg: DictConfig) -> PredictSettings:
        for key in ("threads", "input.max_contig_length"):  # null by default: merge_overrides cannot check their kind
            value = OmegaConf.select(cfg, key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise InputError(f"bad value for setting {key}: {value!r} where a positive integer or null is expected")
        threads = int(cfg.threads or default_threads())
        return cls(
            chunk_size=int(cfg.chunk_size),
            threads=threads,
            sample_records=int(cfg.input.sample_records),
            min_nucleotide_fraction=float(cfg.input.min_nucleotide_fraction),
            max_protein_length=cfg.input.max_protein_length,
            genes=GeneCallingOptions(
                **OmegaConf.to_container(cfg.genes), max_contig_length=cfg.input.max_contig_length, threads=threads
            ),
            rules=CallRules(**OmegaConf.to_container(cfg.calls)),
            search=dict(OmegaConf.to_container(cfg.reference_search)),
            report_rows=int(cfg.report.max_table_rows),
        )


def iter_queries(path: str | Path, settings: PredictSettings, *, input_type: str = "auto") -> tuple[str, Iterator[Query]]:
    """Resolve the input type and stream the queries (proteins, or genes called on contigs)."""
    seq_type, records = open_input(
        path,
        input_type=input_type,
        sample_records=settings.sample_records,
        min_nucleotide_fraction=settings.min_nucleotide_fraction,
    )
    if seq_type == "nucleotide":
        return seq_type, gene_queries(records, settings.genes)
    return seq_type, protein_queries(records, max_length=settings.max_protein_length)


def nearest_references(queries: Sequence[Query], bundle: AnnotationBundle, settings: PredictSettings) -> dict[str, Hit]:
    """Best DIAMOND hit (by bitscore) of each query among the bundle's references, by query key.

    Peptides made only of A/C/G/T/U/N letters are not searched (they get no hit): DIAMOND refuses
    a whole query file that holds one of them.
    """
    searchable = {q.key: q.sequence for q in queries if not set(q.sequence) <= NUCLEOTIDE_LETTERS}
    if not searchable:
        return {}
    hits = diamond.blastp(
        searchable,
        bundle.reference_db,
        evalue=float(settings.search["evalue"]),
        max_target_seqs=int(settings.search["max_target_seqs"]),
        sensitivity=str(settings.search["sensitivity"]),
        threads=settings.threads,
    )
    labels = bundle.reference_labels
    out = {}
    for row in diamond.best_hits(hits).itertuples(index=False):
        ref = str(row.sseqid)
        out[str(row.qseqid)] = Hit(
            reference=ref,
            identity=float(row.pident),
            query_coverage=float(row.qcovhsp),
            reference_coverage=float(row.scovhsp),
            evalue=float(row.evalue),
            reference_length=int(row.slen),
            reference_labels=labels.loc[ref].to_dict() if ref in labels.index else {},
        )
    return out


#: Extra columns a method that reports reference evidence must give (see ``Method.reports_reference_evidence``).
REFERENCE_EVIDENCE_COLUMNS = (
    "nearest_reference", "reference_identity", "reference_query_coverage", "reference_coverage",
    "reference_evalue", "reference_length",
)  # fmt: skip


def hit_from_evidence(row: Mapping[str, Any], labels: pd.DataFrame) -> Hit | None:
    """The nearest reference a method reported for one query (its extra columns), with that reference's
    labels from the bundle's ``labels.tsv``; ``None`` when the method found no reference."""
    ref = row.get("nearest_reference")
    if not isinstance(ref, str) or not ref:
        return None

    def number(name: str) -> float:
        value = row.get(name)
        return float(value) if value is not None and value == value else math.nan  # NaN != NaN

    length = number("reference_length")
    return Hit(
        reference=ref,
        identity=number("reference_identity"),
        query_coverage=number("reference_query_coverage"),
        reference_coverage=number("reference_coverage"),
        evalue=number("reference_evalue"),
        reference_length=int(length) if math.isfinite(length) else 0,
        reference_labels=labels.loc[ref].to_dict() if ref in labels.index else {},
    )


def annotate_chunk(
    chunk: Sequence[Query], bundle: AnnotationBundle, settings: PredictSettings, rules: CallRules
) -> list[Annotation]:
    """Score the scorable queries of a chunk and build one annotation per query, in input order.

    When the method reports the nearest-reference evidence itself, that evidence is used and no
    reference search runs; otherwise the DIAMOND search runs in a background thread (an external
    process) while the method predicts.
    """
    scorable = [q for q in chunk if q.scorable]
    position = {q.key: i for i, q in enumerate(scorable)}
    predictions = None
    own_evidence = bundle.reports_reference_evidence
    with ThreadPoolExecutor(max_workers=1) as pool:
        search = None if own_evidence else pool.submit(nearest_references, scorable, bundle, settings)
        if scorable:
            predictions = bundle.method.predict([Record(id=q.key, sequence=q.sequence) for q in scorable])
            if list(predictions.ids) != [q.key for q in scorable]:
                raise RuntimeError(f"method {bundle.method.name!r} returned predictions out of input order")
        hits = {} if search is None else search.result()
    extra: list[dict[str, Any]] = []
    if predictions is not None and predictions.extra is not None:
        extra = predictions.extra.to_dict(orient="records")
    if own_evidence and predictions is not None:
        missing = [c for c in REFERENCE_EVIDENCE_COLUMNS if predictions.extra is None or c not in predictions.extra.columns]
        if missing:
            raise RuntimeError(f"method {bundle.method.name!r} reports reference evidence but its predictions lack {missing}")
        hits = {q.key: h for q, row in zip(scorable, extra) if (h := hit_from_evidence(row, bundle.reference_labels))}
    annotations = []
    for query in chunk:
        i = position.get(query.key)
        scores = None if i is None else {task: s[i] for task, s in predictions.scores.items()}
        annotations.append(
            annotate_query(
                query,
                scores,
                hits.get(query.key),
                bundle.tasks,
                rules,
                model_version=bundle.model_version,
                method_status=None if i is None else predictions.status[i],
                method_name=bundle.method.name,
                evidence=extra[i] if i is not None and extra else None,
            )
        )
    return annotations


def annotate(
    input_path: str | Path,
    bundle: AnnotationBundle,
    out_dir: str | Path,
    settings: PredictSettings,
    *,
    input_type: str = "auto",
    hamronization: bool = False,
    on_progress: Callable[[RunSummary], None] | None = None,
    settings_record: dict[str, Any] | None = None,
    resume: bool = False,
    scorer: ChunkScorer | None = None,
) -> tuple[RunSummary, dict[str, Path]]:
    """Annotate a FASTA file into ``out_dir``; returns the run summary and the files written.

    Every scored chunk is checkpointed in ``out_dir`` until the run completes; with ``resume`` the
    chunks a killed run finished are read back instead of scored (:mod:`biotune.predict.checkpoints`).
    ``scorer`` scores the chunks (default: here, one after the other; :class:`biotune.predict.scale.RayScorer`
    on a Ray cluster); whoever scores them, the chunks are written in input order.
    """
    start = time.perf_counter()
    seq_type, queries = iter_queries(input_path, settings, input_type=input_type)
    summary = RunSummary(input_file=str(input_path), input_type=seq_type)
    rules = bundle.call_rules(settings.rules)
    scorer = scorer or LocalScorer(bundle, settings, rules)
    with PredictionWriter(
        out_dir,
        input_file=input_path,
        model=bundle.manifest,
        hamronization=hamronization,
        report_rows=settings.report_rows,
        settings=settings_record,
    ) as writer:
        checkpoints = ChunkCheckpoints(out_dir, run_fingerprint(bundle, settings, seq_type), resume=resume)
        pending: deque[tuple[int, list[Query], Any, bool]] = deque()  # (index, chunk, annotations or handle, resumed)

        def write_oldest() -> None:
            index, chunk, result, resumed = pending.popleft()
            annotations = result if resumed else scorer.result(result)
            if not resumed:
                checkpoints.save(index, chunk, annotations)
            writer.write(annotations)
            summary.add(annotations)
            summary.seconds = time.perf_counter() - start
            if on_progress is not None:
                on_progress(summary)

        try:
            for index, chunk in enumerate(chunked(queries, settings.chunk_size)):
                stored = checkpoints.load(index, chunk) if resume else None
                pending.append((index, chunk, stored, True) if stored is not None else (index, chunk, scorer.submit(chunk), False))
                while len(pending) > scorer.in_flight:
                    write_oldest()
            while pending:
                write_oldest()
        except BaseException:
            checkpoints.close_failed()
            raise
        summary.seconds = time.perf_counter() - start
        summary.resumed_proteins = checkpoints.resumed_queries
        files = writer.finish(summary)
        checkpoints.clear()
    return summary, files


class ChunkScorer(Protocol):
    """Scores chunks of queries: :meth:`submit` starts a chunk, :meth:`result` waits for its annotations.
    ``in_flight`` chunks may be submitted ahead of the oldest one's result (bounded memory)."""

    in_flight: int

    def submit(self, chunk: Sequence[Query]) -> Any: ...

    def result(self, handle: Any) -> list[Annotation]: ...


class LocalScorer:
    """Scores each chunk in this process when it is submitted."""

    in_flight = 0

    def __init__(self, bundle: AnnotationBundle, settings: PredictSettings, rules: CallRules):
        self.bundle, self.settings, self.rules = bundle, settings, rules

    def submit(self, chunk: Sequence[Query]) -> list[Annotation]:
        return annotate_chunk(chunk, self.bundle, self.settings, self.rules)

    def result(self, handle: list[Annotation]) -> list[Annotation]:
        return handle


def output_folders(inputs: Sequence[str | Path], out: str | Path) -> list[Path]:
    """One input: ``out`` itself; several: ``out/<input name without .gz and FASTA suffixes>``, each name once."""
    if len(inputs) == 1:
        return [Path(out)]
    names = [input_file_stem(p) for p in inputs]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise InputError(f"several inputs would write to the same output folder {doubled[0]!r} (same file name); rename one")
    return [Path(out) / name for name in names]


def annotate_inputs(
    inputs: Sequence[str | Path],
    bundle: AnnotationBundle,
    out: str | Path,
    settings: PredictSettings,
    *,
    scorer: ChunkScorer | None = None,
    concurrent: int = 1,
    **options: Any,
) -> list[tuple[RunSummary, dict[str, Path]]]:
    """:func:`annotate` each input into its :func:`output_folders` folder, ``concurrent`` at a time (threads
    sharing ``scorer``, e.g. the workers of a Ray cluster); results in input order."""
    folders = output_folders(inputs, out)
    if concurrent <= 1 or len(inputs) == 1:
        return [annotate(path, bundle, folder, settings, scorer=scorer, **options) for path, folder in zip(inputs, folders)]
    with ThreadPoolExecutor(max_workers=concurrent) as pool:
        runs = [pool.submit(annotate, path, bundle, folder, settings, scorer=scorer, **options) for path, folder in zip(inputs, folders)]
        return [run.result() for run in runs]


def run_fingerprint(bundle: AnnotationBundle, settings: PredictSettings, input_type: str) -> dict[str, Any]:
    """What a checkpointed chunk depends on besides its own queries (threads do not change a call)."""
    fields = dataclasses.asdict(settings)
    fields.pop("threads")
    fields["genes"].pop("threads", None)
    return {"model_version": bundle.model_version, "method": bundle.method.name, "input_type": input_type, "settings": fields}
