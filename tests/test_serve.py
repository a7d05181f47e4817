"""``biotune serve`` through FastAPI's test client: a real bundle (kmer_lr on a synthetic dataset), real
DIAMOND, the same predict as the command line; oversized, malformed and hostile requests."""

from __future__ import annotations

import gzip
import io
import random
import time
from pathlib import Path

import pytest

from predict_fixtures import random_protein, save_synthetic_dataset, synthetic_arg_table

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, diamond):
    from biotune.predict.annotation_bundle import load_bundle
    from biotune.recipes.arg.default_model import load_default_config, train_default

    root = tmp_path_factory.mktemp("serve_bundle")
    dataset = save_synthetic_dataset(root / "dataset")
    return load_bundle(train_default(load_default_config([f"dataset={dataset}", "method=kmer_lr", "valid_fold=null"]), root / "arg_default"))


@pytest.fixture()
def service(bundle, tmp_path):
    from fastapi.testclient import TestClient

    from biotune.predict.pipeline import PredictSettings, load_predict_config
    from biotune.serve.app import Limits, create_app

    limits = Limits(max_upload_bytes=200_000, max_records=50, max_residues=100_000, job_lifetime_seconds=3600)
    app = create_app(bundle, PredictSettings.from_config(load_predict_config(["threads=1"])), tmp_path / "jobs", limits)
    with TestClient(app) as client:
        yield client, tmp_path


def fasta(n_arg: int = 3, n_random: int = 4) -> str:
    table = synthetic_arg_table()
    rng = random.Random(4)
    records = [(f"known_{i}", table["sequence"][i * 12]) for i in range(n_arg)]
    records += [(f"unrelated_{i}", random_protein(rng, 250)) for i in range(n_random)]
    return "".join(f">{rid}\n{seq}\n" for rid, seq in records)


def wait(client, job_id: str, timeout: float = 120.0) -> dict:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_upload_runs_predict_off_the_request_thread_and_serves_results(service, bundle):
    client, tmp = service
    reply = client.post("/api/jobs", files={"file": ("my genome.faa.gz", gzip.compress(fasta().encode()))})
    assert reply.status_code == 202 and reply.json()["status"] in ("queued", "running", "done")
    job_id = reply.json()["id"]
    assert len(job_id) == 22
    job = wait(client, job_id)
    assert job["status"] == "done" and job["input_name"] == "my_genome.faa.gz"
    assert job["summary"]["proteins"] == 7 and job["summary"]["arg_calls"] >= 3
    assert set(job["files"]) == {"predictions.tsv", "predictions.json", "hamronization.tsv", "report.html"}
    tsv = client.get(f"/api/jobs/{job_id}/files/predictions.tsv")
    assert tsv.status_code == 200 and tsv.text.count("\n") == 8  # header + one row per record
    assert "known_0" in client.get(f"/api/jobs/{job_id}/files/hamronization.tsv").text
    page = client.get(f"/jobs/{job_id}").text
    assert "id='results'" in page and "known_0" in page and "unrelated_0" not in page
    assert bundle.model_version in page and bundle.model_version == client.get("/api/model").json()["model_version"]
    pasted = client.post("/jobs", data={"sequences": fasta(1, 0)}, follow_redirects=False)
    assert pasted.status_code == 303 and pasted.headers["location"].startswith("/jobs/")
    assert wait(client, pasted.headers["location"].rsplit("/", 1)[1])["summary"]["proteins"] == 1
    schema = client.get("/openapi.json").json()
    assert "/api/jobs" in schema["paths"] and "/api/jobs/{job_id}/files/{name}" in schema["paths"]


def test_oversized_malformed_and_hostile_requests_get_clear_4xx_and_write_nothing_outside(service):
    client, tmp = service
    before = files_under(tmp)
    big = client.post("/api/jobs", files={"file": ("big.faa", b">x\n" + b"A" * 300_000)})
    assert big.status_code == 413 and "max_upload_bytes" in big.json()["detail"]
    many = client.post("/api/jobs", files={"file": ("many.faa", "".join(f">p{i}\nMKVLAAGIT\n" for i in range(60)).encode())})
    assert many.status_code == 413 and "max_records" in many.json()["detail"]
    table = client.post("/api/jobs", files={"file": ("../../etc/table.tsv", b"id\tsequence\nx\tMKV\n")})
    assert table.status_code == 422
    assert table.json()["detail"] == "table.tsv: not a FASTA file: first line is 'id\\tsequence', expected '>header'"
    empty = client.post("/api/jobs", data={"sequences": "  "})
    assert empty.status_code == 422 and "no input" in empty.json()["detail"]
    assert files_under(tmp) == before, "rejected uploads leave nothing behind"

    job_id = client.post("/api/jobs", data={"sequences": fasta(1, 1)}).json()["id"]
    wait(client, job_id)
    for url in (
        f"/api/jobs/{job_id}/files/input", f"/api/jobs/{job_id}/files/..%2F..%2Fsecret", "/api/jobs/..%2F..%2Fetc/files/predictions.tsv",
        "/api/jobs/AAAAAAAAAAAAAAAAAAAAAA", "/jobs/not-a-job",
    ):
        assert client.get(url).status_code == 404, url
    outside = {p for p in files_under(tmp) if (tmp / "jobs") not in p.parents}
    assert outside == {p for p in before if (tmp / "jobs") not in p.parents}


def test_duplicate_ids_and_a_damaged_gzip(service):
    client, _ = service
    reply = client.post("/api/jobs", files={"file": ("contigs.fna", b">c1\nACGT\n>c1\nACGTACGT\n")})
    assert reply.status_code == 202
    job = wait(client, reply.json()["id"])
    assert job["status"] == "done" and job["summary"]["statuses"]  # duplicate ids become per-record statuses
    bad_gz = client.post("/api/jobs", files={"file": ("x.faa.gz", b"\x1f\x8b" + b"not gzip at all")})
    assert bad_gz.status_code == 422
    assert bad_gz.json()["detail"].startswith("x.faa.gz: cannot read the file (damaged or truncated compressed file?)")


def test_jobs_expire_with_their_files(bundle, tmp_path):
    from fastapi.testclient import TestClient

    from biotune.predict.pipeline import PredictSettings, load_predict_config
    from biotune.serve.app import Limits, create_app

    app = create_app(bundle, PredictSettings.from_config(load_predict_config(["threads=1"])), tmp_path / "jobs", Limits(job_lifetime_seconds=0.5))
    with TestClient(app) as client:
        job_id = client.post("/api/jobs", files={"file": ("a.faa", io.BytesIO(fasta(1, 0).encode()))}).json()["id"]
        wait(client, job_id)
        assert (tmp_path / "jobs" / job_id).is_dir()
        time.sleep(0.6)
        assert client.get(f"/api/jobs/{job_id}").status_code == 404
        assert not (tmp_path / "jobs" / job_id).exists()


def test_a_real_browser_uploads_a_fasta_and_reads_the_result_table(bundle, tmp_path, chromium):
    """uvicorn on a free local port, Playwright driving Debian's chromium: upload, wait, read the table."""
    import socket
    import threading

    import uvicorn
    from playwright.sync_api import sync_playwright

    from biotune.predict.pipeline import PredictSettings, load_predict_config
    from biotune.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(bundle, PredictSettings.from_config(load_predict_config(["threads=1"])), tmp_path / "jobs")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    upload = tmp_path / "sample.faa"
    upload.write_text(fasta(3, 4))
    start = time.monotonic()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.set_input_files("#file", str(upload))
            page.click("#submit")
            page.wait_for_selector("#results", timeout=120_000)  # the job page refreshes itself until done
            ids = page.locator("#results tr td:first-child").all_inner_texts()
            calls = page.inner_text("#arg-calls")
            downloads = page.locator("a[href*='/files/']").all_inner_texts()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    seconds = time.monotonic() - start
    assert {"known_0", "known_1", "known_2"} <= set(ids) and not any(i.startswith("unrelated") for i in ids)
    assert int(calls) == len(ids) and "predictions.tsv" in downloads and "hamronization.tsv" in downloads
    print(f"browser round trip: {seconds:.1f} s")
