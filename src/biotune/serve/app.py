"""``biotune serve``: the ARG annotator as a web page and a JSON API (FastAPI; OpenAPI docs at ``/docs``).

Upload a FASTA or GenBank file (proteins, genomes or contigs; gzip, bzip2 or xz accepted) or paste sequences; the
job runs ``predict`` off the request thread (:mod:`biotune.serve.jobs`) and its page shows the ARG
calls with their evidence, the HTML report and the TSV / JSON / hAMRonization downloads, next to the
model's version and cross-validated numbers. Limits (``configs/serve/default.yaml``): upload size
(413), number of records and residues (413), job lifetime; a file that is not FASTA/GenBank is a 422
with the same one-line message as the command line.

API: ``POST /api/jobs`` (multipart ``file`` or form field ``sequences``) → 202 ``{id, status, ...}``;
``GET /api/jobs/{id}``; ``GET /api/jobs/{id}/files/{name}``; ``GET /api/model``.
"""

from __future__ import annotations

import csv
import html
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse

from biotune import __version__
from biotune.errors import InputError
from biotune.predict.annotation_bundle import AnnotationBundle
from biotune.predict.inputs import open_input
from biotune.predict.pipeline import PredictSettings, annotate
from biotune.serve.jobs import DONE, DOWNLOADS, FAILED, Job, JobStore

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
PASTED_NAME = "pasted_sequences.fasta"
HEADLINE_METRICS = {"is_arg": ("f1", "auprc"), "drug_class": ("macro_f1",), "mechanism": ("macro_f1",)}
TABLE_COLUMNS = ("id", "is_arg_probability", "call_basis", "drug_classes", "mechanism", "nearest_reference", "reference_identity", "evidence")


@dataclass(frozen=True)
class Limits:
    """What one job may hold (413 beyond), how long jobs are kept, how many ARG rows a page shows."""

    max_upload_bytes: int = 20_000_000
    max_records: int = 20_000
    max_residues: int = 20_000_000
    job_lifetime_seconds: float = 86_400.0
    max_table_rows: int = 500


class TooLarge(Exception):
    """An upload beyond :class:`Limits` (HTTP 413)."""


def display_name(name: str | None) -> str:
    """A file name safe to show and to record (never used as a path): letters, digits, ``._-``."""
    cleaned = SAFE_NAME.sub("_", Path(name or "").name).strip("._")[:100]
    return cleaned or "upload"


def check_upload(path: Path, limits: Limits, shown_name: str) -> None:
    """Reject an input that is not FASTA/GenBank (InputError naming ``shown_name``) or beyond the limits."""
    try:
        _, records = open_input(path)
        n = residues = 0
        for record in records:
            n += 1
            residues += len(record.sequence)
            if n > limits.max_records:
                raise TooLarge(f"more than {limits.max_records} records (limit max_records)")
            if residues > limits.max_residues:
                raise TooLarge(f"more than {limits.max_residues} residues (limit max_residues)")
    except InputError as exc:
        raise InputError(exc.detail, path=shown_name if exc.path else None, record=exc.record) from None


def create_app(bundle: AnnotationBundle, settings: PredictSettings, work_dir: str | Path, limits: Limits = Limits()) -> FastAPI:
    """The service for one loaded bundle; jobs live under ``work_dir``."""

    def run(input_path: Path, out_dir: Path) -> dict[str, Any]:
        summary, _ = annotate(input_path, bundle, out_dir, settings, hamronization=True)
        return summary.to_dict()

    store = JobStore(work_dir, run, lifetime_seconds=limits.job_lifetime_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        store.shutdown()

    app = FastAPI(title="biotune ARG annotation", version=__version__, description=__doc__.split("\n\n")[0], lifespan=lifespan)
    app.state.store = store
    model = model_info(bundle)

    @app.middleware("http")
    async def refuse_oversized_bodies(request: Request, call_next):
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.max_upload_bytes + 65_536:
            return JSONResponse({"detail": f"upload larger than {limits.max_upload_bytes} bytes (limit max_upload_bytes)"}, status_code=413)
        return await call_next(request)

    async def new_job(file: UploadFile | None, sequences: str | None) -> Job:
        if file is not None and file.filename:
            data, name = await file.read(limits.max_upload_bytes + 1), display_name(file.filename)
        elif sequences and sequences.strip():
            data, name = sequences.encode(), PASTED_NAME
        else:
            raise HTTPException(422, "no input: upload a file or paste sequences")
        if len(data) > limits.max_upload_bytes:
            raise HTTPException(413, f"upload larger than {limits.max_upload_bytes} bytes (limit max_upload_bytes)")
        try:
            return store.submit(data, name, check=lambda path: check_upload(path, limits, name))
        except TooLarge as exc:
            raise HTTPException(413, str(exc)) from None
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None

    def found(job_id: str) -> Job:
        store.expire()
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job (unknown or expired)")
        return job

    @app.post("/api/jobs", status_code=202, summary="Submit a FASTA/GenBank file or pasted sequences")
    async def submit_job(file: UploadFile | None = File(None), sequences: str | None = Form(None)) -> dict[str, Any]:
        return job_view(await new_job(file, sequences))

    @app.get("/api/jobs/{job_id}", summary="Status, run summary and download links of a job")
    def get_job(job_id: str) -> dict[str, Any]:
        return job_view(found(job_id))

    @app.get("/api/jobs/{job_id}/files/{name}", summary="An output file of a finished job")
    def get_file(job_id: str, name: str) -> FileResponse:
        found(job_id)
        path = store.file(job_id, name)
        if path is None:
            raise HTTPException(404, f"no file {name!r} for this job (files: {', '.join(DOWNLOADS)}, once done)")
        return FileResponse(path, media_type=DOWNLOADS[name], filename=name if name != "report.html" else None)

    @app.get("/api/model", summary="The annotation model: version, training data, cross-validated numbers")
    def get_model() -> dict[str, Any]:
        return model

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return page("biotune ARG annotation", upload_form(limits) + model_html(model))

    @app.post("/jobs", include_in_schema=False)
    async def submit_form(file: UploadFile | None = File(None), sequences: str | None = Form(None)) -> RedirectResponse:
        job = await new_job(file, sequences)
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    @app.get("/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    def job_page(job_id: str) -> HTMLResponse:
        job = found(job_id)
        return HTMLResponse(page(f"job {job.input_name}", job_html(job, store, limits) + model_html(model), refresh=job.status not in (DONE, FAILED)))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith("/api/") or request.method != "GET":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return HTMLResponse(page("error", f"<p class='error'>{html.escape(str(exc.detail))}</p><p><a href='/'>back</a></p>"), status_code=exc.status_code)

    return app


def model_info(bundle: AnnotationBundle) -> dict[str, Any]:
    m = bundle.manifest
    return {
        "model_version": m.get("model_version"), "method": m.get("method"), "biotune_version": __version__,
        "dataset": {k: v for k, v in (m.get("dataset") or {}).items() if k in ("name", "version", "records", "arg", "non_arg")},
        "cross_validation": m.get("cross_validation"), "notes": m.get("notes") or [],
    }


def job_view(job: Job) -> dict[str, Any]:
    view = job.to_dict()
    view["urls"] = {"self": f"/api/jobs/{job.id}", "page": f"/jobs/{job.id}", **{f: f"/api/jobs/{job.id}/files/{f}" for f in job.files}}
    return view


def arg_rows(path: Path, limit: int) -> tuple[list[dict[str, str]], int]:
    """The ARG calls of a predictions.tsv (at most ``limit``) and how many there are."""
    rows, total = [], 0
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["is_arg"] == "ARG":
                total += 1
                if len(rows) < limit:
                    rows.append(row)
    return rows, total


def page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = "<meta http-equiv='refresh' content='2'>" if refresh else ""
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;font-size:90%}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}.error{color:#a00}textarea{width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>{meta}<title>{html.escape(title)}</title><style>{style}</style></head>"
        f"<body><h1><a href='/'>biotune</a> · {html.escape(title)}</h1>{body}</body></html>"
    )


def upload_form(limits: Limits) -> str:
    return (
        "<form action='/jobs' method='post' enctype='multipart/form-data'>"
        "<p><label>FASTA or GenBank file (proteins, genome or contigs; .gz, .bz2, .xz accepted): <input type='file' name='file' id='file'></label></p>"
        "<p><label>or paste sequences (FASTA):<br><textarea name='sequences' id='sequences' rows='8'></textarea></label></p>"
        "<p><button type='submit' id='submit'>Annotate</button></p></form>"
        f"<p>Limits: {limits.max_upload_bytes:,} bytes, {limits.max_records:,} records, {limits.max_residues:,} residues; "
        f"results kept {limits.job_lifetime_seconds / 3600:.0f} h. API: <a href='/docs'>/docs</a>.</p>"
    )


def model_html(model: dict[str, Any]) -> str:
    cv = model.get("cross_validation") or {}
    pooled = cv.get("metrics", {}).get("all", {})  # the pooled test records; the other keys are identity bins
    numbers = "; ".join(
        f"{task} {name} {_number(pooled.get(task, {}).get(name))}"
        for task, names in HEADLINE_METRICS.items() for name in names if _number(pooled.get(task, {}).get(name)) != "–"
    )
    false_calls = cv.get("proteome_false_calls", {}).get("pooled", {}).get("false_calls_per_1000")
    if numbers and false_calls is not None:
        numbers += f"; false ARG calls per 1,000 proteome proteins {_number(false_calls)}"
    held_out = cv.get("proteome_false_calls", {}).get("proteomes") if cv.get("split") == "leave-one-proteome-out" else None
    where = f"{cv.get('split', 'folds')} {', '.join(held_out) if held_out else cv.get('folds')}, thresholds {cv.get('thresholds')}"
    numbers = html.escape(f"{numbers} ({where})") if numbers else "none recorded in this bundle"
    notes = "".join(f"<li>{html.escape(str(n))}</li>" for n in model.get("notes", []))
    return (
        f"<h2>Model</h2><p id='model'>{html.escape(str(model.get('model_version')))} ({html.escape(str(model.get('method')))}), "
        f"trained on {html.escape(str(model.get('dataset')))}; biotune {html.escape(str(model.get('biotune_version')))}</p>"
        f"<p>Cross-validated: {numbers}</p>" + (f"<ul>{notes}</ul>" if notes else "")
    )


def _number(value: Any) -> str:
    """A metric as text: a number, or the point estimate of a ``{"value"|"point": x, ...}`` record."""
    if isinstance(value, dict):
        value = value.get("value", value.get("point"))
    return f"{value:.3f}" if isinstance(value, (int, float)) else "–"


def job_html(job: Job, store: JobStore, limits: Limits) -> str:
    head = f"<p>Input <b>{html.escape(job.input_name)}</b>: <span id='status'>{job.status}</span></p>"
    if job.status == FAILED:
        return head + f"<p class='error' id='error'>{html.escape(job.error or '')}</p>"
    if job.status != DONE:
        return head + "<p>This page refreshes itself.</p>"
    s = job.summary or {}
    links = " · ".join(f"<a href='/api/jobs/{job.id}/files/{f}'>{f}</a>" for f in job.files)
    rows, total = arg_rows(store.root / job.id / "out" / "predictions.tsv", limits.max_table_rows)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(r.get(c, ''))}</td>" for c in TABLE_COLUMNS) + "</tr>" for r in rows)
    shown = f" (first {len(rows)})" if total > len(rows) else ""
    return (
        head + f"<p id='summary'>{s.get('proteins')} proteins from {s.get('input_records')} {s.get('input_type')} records in "
        f"{s.get('seconds')} s; <b id='arg-calls'>{s.get('arg_calls')}</b> ARG calls ({html.escape(str(s.get('arg_calls_by_call_basis')))}).</p>"
        f"<p>Downloads: {links}</p><h2>ARG calls{shown}</h2>"
        f"<table id='results'><tr>{''.join(f'<th>{c}</th>' for c in TABLE_COLUMNS)}</tr>{cells}</table>"
    )
