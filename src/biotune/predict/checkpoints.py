"""Finished chunks of a ``biotune predict`` run, kept so that a killed run resumes where it stopped.

Every chunk's annotations are written (gzip'ed JSON, atomically: temporary name, then rename) to
``OUT/.biotune-chunks/chunk-NNNNNNNN.json.gz`` as soon as the chunk is scored, next to ``run.json``, the
run's fingerprint (model version, predict settings, input type). ``biotune predict --resume`` reads a
chunk back instead of scoring it again when the fingerprint and the chunk's own digest — a SHA-256 of
its queries (record number, id, sequence, status, gene coordinates) — both match; any other chunk is
scored. The final files are still written whole from the first record (they are atomic, see
:mod:`biotune.predict.writers`), so a resumed run's ``predictions.tsv`` is the uninterrupted run's,
byte for byte. The folder is deleted once the run's files are published, or when a run fails before
any chunk is done. Without ``--resume`` a run starts afresh and replaces any checkpoints left in the folder.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biotune.errors import InputError, OutputError
from biotune.io.atomic import write_atomically
from biotune.predict.annotation import Annotation
from biotune.predict.inputs import Query

CHECKPOINT_DIR = ".biotune-chunks"
RUN_FILE = "run.json"


def chunk_digest(queries: Sequence[Query]) -> str:
    """SHA-256 over every field of the chunk's queries: a chunk read back must be the chunk to score."""
    digest = hashlib.sha256()
    for q in queries:
        digest.update(json.dumps(dataclasses.astuple(q)).encode())
        digest.update(b"\n")
    return digest.hexdigest()


class ChunkCheckpoints:
    """The checkpoint folder of one output folder (module docstring); the caller holds the folder's lock."""

    def __init__(self, out_dir: str | Path, fingerprint: dict[str, Any], *, resume: bool):
        self.folder = Path(out_dir) / CHECKPOINT_DIR
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        self.resumed = 0  # chunks read back instead of scored
        self.resumed_queries = 0
        self.saved = 0  # chunks checkpointed by this run
        if resume:
            self._check_fingerprint()
        else:
            self.clear()
        self._write(self.folder / RUN_FILE, json.dumps(self.fingerprint, sort_keys=True, indent=1).encode())

    def _check_fingerprint(self) -> None:
        """``--resume`` into checkpoints of another model or other settings is an error, not a silent restart."""
        path = self.folder / RUN_FILE
        try:
            stored = json.loads(path.read_text())
        except FileNotFoundError:
            return  # nothing to resume: every chunk is scored
        except (OSError, ValueError):
            stored = None
        if stored != self.fingerprint:
            changed = sorted(k for k in {*self.fingerprint, *(stored or {})} if (stored or {}).get(k) != self.fingerprint.get(k))
            raise InputError(
                f"--resume: the checkpoints here were made by another run (different {', '.join(changed) or 'unreadable run.json'}); "
                "run without --resume to start over",
                path=self.folder,
            )

    def _path(self, index: int) -> Path:
        return self.folder / f"chunk-{index:08d}.json.gz"

    def load(self, index: int, queries: Sequence[Query]) -> list[Annotation] | None:
        """The annotations of chunk ``index`` if a checkpoint of exactly these queries exists, else None."""
        try:
            with gzip.open(self._path(index), "rt", encoding="utf-8") as handle:
                stored = json.load(handle)
        except (OSError, ValueError, EOFError):
            return None  # absent or damaged: score the chunk again
        if stored.get("digest") != chunk_digest(queries) or len(stored.get("annotations", ())) != len(queries):
            return None
        annotations = [Annotation(**a) for a in stored["annotations"]]
        self.resumed += 1
        self.resumed_queries += len(annotations)
        return annotations

    def save(self, index: int, queries: Sequence[Query], annotations: Sequence[Annotation]) -> None:
        payload = {"digest": chunk_digest(queries), "annotations": [dataclasses.asdict(a) for a in annotations]}
        self._write(self._path(index), gzip.compress(json.dumps(payload).encode(), compresslevel=1))
        self.saved += 1

    def _write(self, path: Path, data: bytes) -> None:
        """A checkpoint is whole or absent, never half-written."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
        except OSError as exc:
            kept = f", keeping the {self.saved} chunk{'s' * (self.saved != 1)} scored so far for --resume" if self.saved else ""
            raise OutputError(f"cannot write a checkpoint ({exc.strerror or exc}); the run stopped{kept}", path=path) from None

    def close_failed(self) -> None:
        """The run failed: keep the checkpoints for ``--resume`` if there are any, else leave no folder behind."""
        if not self.saved and not self.resumed:
            self.clear()

    def clear(self) -> None:
        """Delete the checkpoint folder (the run's files are published, or a fresh run starts)."""
        shutil.rmtree(self.folder, ignore_errors=True)
