"""``biotune embed``: a FASTA file to an HDF5 file of embeddings, streamed, cached, resumable.

Output file (h5py)::

    ids         (n,) str       every input record, in file order
    status      (n,) str       "ok", or why the record was skipped (with --skip-invalid)
    embeddings  (n, n_layers, hidden) float32   per-protein (NaN rows for skipped records)
    residues/vectors (total, n_layers, hidden) float16, residues/offsets (n + 1,) int64   with --per-residue
                (instead of ``embeddings``): rows of record i are vectors[offsets[i]:offsets[i + 1]]
    attrs       backbone, fingerprint, layers, pool, precision, random_init, long_policy, max_length, ...

The file is written as ``<out>.partial`` and renamed when complete, so ``<out>`` is never a torn file.
Records are read and embedded in chunks, each written before the next is read: memory stays bounded
whatever the input size. Embeddings go through the cache, so re-running after an interruption
recomputes only what the interrupted run had not committed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING
from pathlib import Path

import h5py
import numpy as np
import typer
from omegaconf import DictConfig, OmegaConf

from biotune import __version__
from biotune.embed.cache import EmbeddingCache, default_cache_path
from biotune.errors import InputError, stderr_console
from biotune.io.fasta import FastaRecord, protein_problem, read_fasta
from biotune.paths import config_dir

if TYPE_CHECKING:  # the engine imports torch: keep `biotune --help` and other commands fast
    from biotune.embed.engine import EmbeddingEngine

console = stderr_console()
EMBED_CONFIG = Path("embed") / "default.yaml"


def embed_config(path: Path | None = None, overrides: dict | None = None) -> DictConfig:
    """The embed settings: ``configs/embed/default.yaml`` (or ``path``) with non-None ``overrides`` on top."""
    cfg = OmegaConf.load(path or config_dir() / EMBED_CONFIG)
    return OmegaConf.merge(cfg, {k: v for k, v in (overrides or {}).items() if v is not None})


def check_fasta(path: Path, *, skip_invalid: bool) -> tuple[int, int]:
    """Validate every record before any compute: (n records, n residues of the valid ones).

    Raises :class:`InputError` naming file and record for an empty id, a duplicate id or an invalid
    sequence — unless ``skip_invalid``, in which case such records get a status in the output.
    """
    seen: set[str] = set()
    n = residues = 0
    for record in read_fasta(path):
        n += 1
        problem = record_problem(record, seen)
        if problem is None:
            residues += len(record.sequence)
        elif not skip_invalid:
            raise InputError(problem + " (use --skip-invalid to embed the other records)", path=path, record=record.id or f"#{n}")
    return n, residues


def record_problem(record: FastaRecord, seen: set[str]) -> str | None:
    """Why a record cannot be embedded (ids are remembered in ``seen`` to catch duplicates)."""
    if not record.id:
        return "record without an id"
    if record.id in seen:
        return "duplicate record id"
    seen.add(record.id)
    return protein_problem(record.sequence)


def record_chunks(path: Path, chunk_residues: int) -> Iterator[list[tuple[FastaRecord, str | None]]]:
    """(record, problem) pairs in consecutive chunks of about ``chunk_residues`` residues."""
    seen: set[str] = set()
    chunk: list[tuple[FastaRecord, str | None]] = []
    size = 0
    for record in read_fasta(path):
        chunk.append((record, record_problem(record, seen)))
        size += len(record.sequence)
        if size >= chunk_residues:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


class EmbeddingWriter:
    """Appends records' embeddings to the output HDF5 file chunk by chunk."""

    def __init__(self, path: Path, engine: EmbeddingEngine, *, per_residue: bool, attrs: dict):
        self.file = h5py.File(path, "w")
        self.per_residue = per_residue
        width = engine.hidden_size if per_residue else engine.pooled_size
        shape = (len(engine.layer_index), width)
        text = h5py.string_dtype()
        self.ids = self.file.create_dataset("ids", (0,), maxshape=(None,), dtype=text, chunks=(4096,))
        self.status = self.file.create_dataset("status", (0,), maxshape=(None,), dtype=text, chunks=(4096,))
        if per_residue:
            group = self.file.create_group("residues")
            self.vectors = group.create_dataset(
                "vectors", (0, *shape), maxshape=(None, *shape), dtype=np.float16, chunks=(1024, *shape)
            )
            self.offsets = group.create_dataset("offsets", data=np.zeros(1, np.int64), maxshape=(None,), chunks=(4096,))
        else:
            self.vectors = self.file.create_dataset(
                "embeddings", (0, *shape), maxshape=(None, *shape), dtype=np.float32, chunks=(256, *shape)
            )
        for key, value in attrs.items():
            self.file.attrs[key] = value
        self.file.attrs["complete"] = False

    def append(self, ids: list[str], status: list[str], vectors: list[np.ndarray]) -> None:
        """One chunk: ids, statuses, and per record a (n_layers, hidden) or (length, n_layers, hidden) array."""
        n = self.ids.shape[0]
        for ds, values in ((self.ids, ids), (self.status, status)):
            ds.resize((n + len(values),))
            ds[n:] = values
        if self.per_residue:
            start = int(self.offsets[n])
            ends = start + np.cumsum([len(v) for v in vectors])
            self.vectors.resize((int(ends[-1]), *self.vectors.shape[1:]))
            if ends[-1] > start:
                self.vectors[start:] = np.concatenate(vectors)
            self.offsets.resize((n + len(ids) + 1,))
            self.offsets[n + 1 :] = ends
        else:
            self.vectors.resize((n + len(ids), *self.vectors.shape[1:]))
            self.vectors[n:] = np.stack(vectors)
        self.file.flush()

    def close(self, complete: bool) -> None:
        self.file.attrs["complete"] = complete
        self.file.close()


def embed_fasta(
    fasta: str | Path,
    out: str | Path,
    engine: EmbeddingEngine,
    *,
    cache: EmbeddingCache | None = None,
    per_residue: bool = False,
    skip_invalid: bool = False,
    chunk_residues: int = 65_536,
    progress: bool = False,
    attrs: dict | None = None,
) -> dict[str, int]:
    """Embed every record of a FASTA file into ``out`` (layout in the module docstring); returns counts.

    Input is validated first (see :func:`check_fasta`); then records are streamed in chunks of about
    ``chunk_residues`` residues, each embedded (through ``cache`` when given) and written before the next.
    """
    fasta, out = Path(fasta), Path(out)
    n_records, n_residues = check_fasta(fasta, skip_invalid=skip_invalid)
    partial = out.with_name(out.name + ".partial")
    meta = {
        "backbone": engine.name,
        "fingerprint": engine.fingerprint,
        "layers": list(engine.layer_index),
        "pool": "none (per-residue)" if per_residue else engine.pool,
        "precision": engine.precision,
        "long_policy": engine.long_policy,
        "max_length": engine.max_length,
        "window_overlap": engine.window_overlap,
        "source": str(fasta),
        "biotune_version": __version__,
        **(attrs or {}),
    }
    writer = EmbeddingWriter(partial, engine, per_residue=per_residue, attrs=meta)
    counts = {"records": 0, "embedded": 0, "skipped": 0}
    complete = False
    with contextlib.ExitStack() as stack:
        from biotune.embed.engine import progress_bar

        callback = stack.enter_context(progress_bar(n_residues)) if progress else None
        try:
            for chunk in record_chunks(fasta, chunk_residues):
                good = [r for r, problem in chunk if problem is None]
                embedded = iter(engine.embed([r.sequence for r in good], cache=cache, per_residue=per_residue, progress=callback))
                vectors, status = [], []
                for record, problem in chunk:
                    vectors.append(next(embedded) if problem is None else _missing(engine, per_residue))
                    status.append(problem or "ok")
                writer.append([r.id for r, _ in chunk], status, vectors)
                counts["records"] += len(chunk)
                counts["embedded"] += len(good)
                counts["skipped"] += len(chunk) - len(good)
            complete = counts["records"] == n_records
        finally:
            writer.close(complete)
    if not complete:
        raise InputError(f"{fasta} changed while being embedded ({n_records} records checked)", path=fasta)
    partial.replace(out)
    return counts


def _missing(engine: EmbeddingEngine, per_residue: bool) -> np.ndarray:
    """Placeholder of a skipped record: no residue rows, or a NaN per-protein row."""
    shape = (len(engine.layer_index), engine.hidden_size if per_residue else engine.pooled_size)
    return np.zeros((0, *shape), np.float16) if per_residue else np.full(shape, np.nan, np.float32)


def load_embeddings(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(ids, per-protein embeddings (n, n_layers, hidden)) of a complete ``biotune embed`` output file."""
    with h5py.File(path, "r") as f:
        if not f.attrs.get("complete", False):
            raise InputError("embedding file is incomplete (interrupted run?)", path=path)
        if "embeddings" not in f:
            raise InputError("embedding file holds per-residue vectors only (written with --per-residue)", path=path)
        return [s.decode() if isinstance(s, bytes) else s for s in f["ids"][:]], f["embeddings"][:]


def _show_warnings() -> None:
    """Print the engine's and cache's warnings (random weights, cache recovery) on stderr, one line each."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logger = logging.getLogger("biotune.embed")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)


def _parse_layers(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--layers expects comma-separated integers such as -1 or -1,6; got {value!r}") from None


def embed(
    fasta: Path = typer.Argument(..., help="Protein FASTA (plain or gzip)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output HDF5 file."),
    backbone: str = typer.Option(None, "--backbone", help="ESM-2 preset (esm2_t33_650M...), hub id or local directory; UniRep: unirep64 | unirep256 | unirep1900 or a directory of its weights."),
    layers: str = typer.Option(None, "--layers", help="Comma-separated hidden-state indices (-1 = last layer; UniRep: mLSTM layers)."),
    pool: str = typer.Option(None, "--pool", help="ESM-2: mean | cls (default mean); UniRep: h_avg | h_final | c_final | fusion (default h_avg)."),
    per_residue: bool = typer.Option(False, "--per-residue", help="Write residue vectors (float16) instead of per-protein ones."),
    random_init: bool = typer.Option(False, "--random-init", help="Random weights of the preset's architecture (offline testing only)."),
    seed: int = typer.Option(0, "--seed", help="Seed of --random-init weights."),
    precision: str = typer.Option(None, "--precision", help="fp32 | bf16 (autocast on CPUs with native bf16)."),
    token_budget: int = typer.Option(None, "--token-budget", help="Max padded tokens per forward batch."),
    max_length: int = typer.Option(None, "--max-length", help="Residues per model row; longer sequences are windowed or truncated."),
    long_policy: str = typer.Option(None, "--long-policy", help="window (overlapping windows averaged) | truncate."),
    threads: int = typer.Option(None, "--threads", help="Torch threads (default: all CPUs available)."),
    cache: Path = typer.Option(None, "--cache", help="HDF5 embedding cache (default: $BIOTUNE_CACHE_DIR/embeddings.h5 or ~/.cache/biotune/embeddings.h5)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write an embedding cache."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Record invalid records' problems in 'status' instead of failing."),
    config: Path = typer.Option(None, "--config", help="Settings YAML (default: configs/embed/default.yaml)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Embed the proteins of a FASTA file with ESM-2 or UniRep into an HDF5 file (cached, resumable)."""
    _show_warnings()
    cfg = embed_config(
        config,
        {
            "backbone": backbone, "layers": _parse_layers(layers), "pool": pool, "precision": precision,
            "token_budget": token_budget, "max_length": max_length, "long_policy": long_policy, "threads": threads,
            "cache": str(cache) if cache else None,
        },
    )  # fmt: skip
    try:
        from biotune.embed.engine import make_engine

        engine = make_engine(
            cfg.backbone, layers=list(cfg.layers), pool=cfg.pool, random_init=random_init, seed=seed,
            precision=cfg.precision, token_budget=cfg.token_budget, max_length=cfg.max_length,
            long_policy=cfg.long_policy, window_overlap=cfg.window_overlap, threads=cfg.threads,
        )  # fmt: skip
    except (ValueError, KeyError, OSError) as exc:
        raise InputError(str(exc.args[0]) if exc.args else str(exc)) from None
    with contextlib.ExitStack() as stack:
        cache_path = Path(cfg.cache).expanduser() if cfg.cache else default_cache_path()
        store = None if no_cache else stack.enter_context(EmbeddingCache(cache_path))
        counts = embed_fasta(
            fasta, out, engine, cache=store, per_residue=per_residue, skip_invalid=skip_invalid,
            chunk_residues=cfg.chunk_residues, progress=progress, attrs={"random_init": random_init, "seed": seed},
        )  # fmt: skip
    stats = engine.stats
    rate = stats.tokens / stats.forward_seconds if stats.forward_seconds else 0.0
    console.print(
        f"wrote {out}: {counts['embedded']} embedded, {counts['skipped']} skipped; "
        f"{stats.computed} sequences computed ({rate:,.0f} tokens/s), {stats.cached} from the cache"
    )
