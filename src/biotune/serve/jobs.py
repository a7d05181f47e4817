"""Prediction jobs of the web service: an unguessable id and a folder each, one worker, a lifetime.

A job is an uploaded input file run through the same ``predict`` as the command line
(:func:`biotune.predict.pipeline.annotate`), off the request thread. Nothing from a request names a
path: job ids are checked against :data:`JOB_ID` (``secrets.token_urlsafe``, 128 bits) before they
touch the file system, the input is stored under a fixed name, and only the output files of
:data:`DOWNLOADS` can be fetched. Jobs finished ``lifetime_seconds`` ago are deleted with their folder.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from biotune.errors import BiotuneError, InputError

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"[A-Za-z0-9_-]{22}")
INPUT_NAME = "input"
OUTPUT_DIR = "out"
DOWNLOADS = {
    "predictions.tsv": "text/tab-separated-values",
    "predictions.json": "application/json",
    "hamronization.tsv": "text/tab-separated-values",
    "report.html": "text/html",
}
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass
class Job:
    """What the service knows of one job (``summary`` = the run summary of ``predict`` once done)."""

    id: str
    created: float
    input_name: str
    status: str = QUEUED
    error: str | None = None
    summary: dict[str, Any] | None = None
    finished: float | None = None
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobStore:
    """Jobs under ``root`` run one at a time by ``run(input_path, out_dir) -> summary dict``."""

    def __init__(self, root: str | Path, run: Callable[[Path, Path], dict[str, Any]], *, lifetime_seconds: float, workers: int = 1):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.lifetime_seconds = float(lifetime_seconds)
        self._run = run
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="biotune-job")

    def submit(self, data: bytes, input_name: str, check: Callable[[Path], None] | None = None) -> Job:
        """Store ``data`` as a new job's input and queue it; ``check(path)`` may reject it first (its
        exception propagates and nothing of the job remains)."""
        self.expire()
        job = Job(id=secrets.token_urlsafe(16), created=time.time(), input_name=input_name)
        folder = self.root / job.id
        folder.mkdir()
        (folder / INPUT_NAME).write_bytes(data)
        if check is not None:
            try:
                check(folder / INPUT_NAME)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._execute, job)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job, or None for an unknown, expired or malformed id."""
        if not JOB_ID.fullmatch(job_id or ""):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def file(self, job_id: str, name: str) -> Path | None:
        """An output file of a finished job, only for the names in :data:`DOWNLOADS`."""
        job = self.get(job_id)
        if job is None or job.status != DONE or name not in DOWNLOADS or name not in job.files:
            return None
        return self.root / job.id / OUTPUT_DIR / name

    def expire(self) -> int:
        """Delete the jobs (and folders) finished longer than the lifetime ago; returns how many."""
        cutoff = time.time() - self.lifetime_seconds
        with self._lock:
            old = [j for j in self._jobs.values() if j.finished is not None and j.finished < cutoff]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            shutil.rmtree(self.root / job.id, ignore_errors=True)
        return len(old)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _execute(self, job: Job) -> None:
        folder = self.root / job.id
        job.status = RUNNING
        try:
            job.summary = self._run(folder / INPUT_NAME, folder / OUTPUT_DIR)
            job.files = sorted(p.name for p in (folder / OUTPUT_DIR).iterdir() if p.name in DOWNLOADS)
            job.status = DONE
        except InputError as exc:  # bad input: the command line's one-line message, naming the upload, not the server path
            job.error, job.status = str(InputError(exc.detail, path=job.input_name if exc.path else None, record=exc.record)), FAILED
        except BiotuneError as exc:
            job.error, job.status = str(exc), FAILED
        except Exception:  # noqa: BLE001 - a job must end in a state, whatever went wrong
            log.exception("job %s failed", job.id)
            job.error, job.status = "internal error while annotating (see the server log)", FAILED
        job.finished = time.time()
