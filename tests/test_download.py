"""`biotune data download`: a real HTTP server on localhost serves tiny fake upstream files (no other network)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from biotune.data.download import (
    LOCK_FILE,
    Item,
    download_sources,
    load_items,
    read_lock,
    select_items,
    unpack,
)
from biotune.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support (206), records requests, and can cut a transfer in half."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        name = self.path.lstrip("/")
        server.requests.append((name, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        wanted = self.headers.get("Range")
        if wanted and server.ranges:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name in server.cut:  # the connection drops half-way (HTTP/1.0: closed when the handler returns)
            server.cut.discard(name)
            self.wfile.write(body[: len(body) // 2])
            return
        self.wfile.write(body)


def _tar_bz2(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _fasta(n: int, seed: int) -> bytes:
    rng = __import__("random").Random(seed)
    return "".join(f">p{i}\n{''.join(rng.choice('ACDEFGHIKLMNPQRSTVWY') for _ in range(120))}\n" for i in range(n)).encode()


@pytest.fixture()
def upstream(tmp_path):
    """A folder of tiny upstream files served over HTTP; yields (base_url, folder, server)."""
    root = tmp_path / "upstream"
    root.mkdir()
    (root / "tiny-db-v1.tar.bz2").write_bytes(
        _tar_bz2({"tiny-db-v1/a.fasta": _fasta(5, 1), "tiny-db-v1/index.tsv": b"id\tclass\np0\tbeta-lactam\n",
                  "tiny-db-v1/card.json": b"{}"})
    )
    (root / "genome.fna.gz").write_bytes(gzip.compress(_fasta(400, 2), mtime=0))
    (root / "proteins.faa").write_bytes(_fasta(30, 3))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(root)))
    server.requests, server.ranges, server.cut = [], True, set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root, server
    finally:
        server.shutdown()
        server.server_close()


def _config(tmp_path: Path, base: str) -> Path:
    items = {
        "tinydb": {"version": "1", "url": f"{base}/tiny-db-v1.tar.bz2", "kind": "tar", "strip": 1,
                   "members": ["*.fasta", "index.tsv"], "dest": "arg/tinydb_v1", "licence": "test"},
        "genome": {"version": "g1", "url": f"{base}/genome.fna.gz", "kind": "file", "dest": "proteomes/genome.fna.gz"},
        "proteins": {"version": "p1", "url": f"{base}/proteins.faa", "kind": "gzip", "dest": "proteomes/proteins.faa.gz"},
        "hmd": {"version": "h", "url": None, "note": "not published", "kind": "file", "dest": "arg/hmd/part.csv",
                "required": False},
    }
    path = tmp_path / "download.yaml"
    path.write_text(yaml.safe_dump({"name": "test", "items": items}))
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _status(outcomes) -> dict[str, str]:
    return {o.item.name: o.status for o in outcomes}


def test_download_layout_and_lock(tmp_path, upstream):
    base, root, _ = upstream
    out = tmp_path / "sources"
    outcomes = download_sources(load_items(_config(tmp_path, base)), out)

    assert _status(outcomes) == {"tinydb": "downloaded", "genome": "downloaded", "proteins": "downloaded", "hmd": "missing"}
    assert sorted(p.name for p in (out / "arg" / "tinydb_v1").iterdir()) == ["a.fasta", "index.tsv"]  # card.json not selected
    assert (out / "arg" / "tinydb_v1" / "a.fasta").read_bytes() == _fasta(5, 1)
    assert (out / "proteomes" / "genome.fna.gz").read_bytes() == (root / "genome.fna.gz").read_bytes()
    assert gzip.decompress((out / "proteomes" / "proteins.faa.gz").read_bytes()) == (root / "proteins.faa").read_bytes()
    assert not (out / "arg" / "hmd").exists()
    # the raw downloads, under their upstream names: a mirror
    assert sorted(p.name for p in (out / "downloads").iterdir()) == ["genome.fna.gz", "proteins.faa", "tiny-db-v1.tar.bz2"]

    lock = json.loads((out / LOCK_FILE).read_text())
    assert lock["format"] == 1 and sorted(lock["items"]) == ["genome", "proteins", "tinydb"]
    for name, upstream_file in [("tinydb", "tiny-db-v1.tar.bz2"), ("genome", "genome.fna.gz"), ("proteins", "proteins.faa")]:
        entry = lock["items"][name]
        assert entry["sha256"] == _sha(root / upstream_file)
        assert entry["bytes"] == (root / upstream_file).stat().st_size
        assert entry["url"] == entry["upstream_url"] == f"{base}/{upstream_file}"
        assert entry["name"] == name and entry["file"] == upstream_file
        assert datetime.fromisoformat(entry["retrieved_at"]).tzinfo is not None
    assert lock["items"]["tinydb"]["version"] == "1"
    missing = next(o for o in outcomes if o.item.name == "hmd")
    assert "no public upstream URL (not published)" in missing.detail and "--mirror" in missing.detail


def test_rerun_is_idempotent_and_reinstalls_from_downloads(tmp_path, upstream):
    base, _, server = upstream
    out = tmp_path / "sources"
    items = load_items(_config(tmp_path, base))
    download_sources(items, out)
    lock_text = (out / LOCK_FILE).read_text()
    n_requests = len(server.requests)

    again = download_sources(items, out)
    assert _status(again) == {"tinydb": "present", "genome": "present", "proteins": "present", "hmd": "missing"}
    assert len(server.requests) == n_requests  # nothing fetched
    assert (out / LOCK_FILE).read_text() == lock_text

    (out / "proteomes" / "proteins.faa.gz").unlink()
    (out / "arg" / "tinydb_v1" / "a.fasta").unlink()
    (out / "arg" / "tinydb_v1" / "index.tsv").unlink()
    third = download_sources(items, out)
    assert _status(third)["proteins"] == "installed" and _status(third)["tinydb"] == "installed"
    assert len(server.requests) == n_requests
    assert (out / "arg" / "tinydb_v1" / "a.fasta").read_bytes() == _fasta(5, 1)


def test_resume_after_interrupted_transfer(tmp_path, upstream):
    base, root, server = upstream
    out = tmp_path / "sources"
    items = select_items(load_items(_config(tmp_path, base)), ["genome"])
    size = (root / "genome.fna.gz").stat().st_size
    server.cut.add("genome.fna.gz")

    with pytest.raises(InputError, match="interrupted at .* bytes; run the command again to resume"):
        download_sources(items, out)
    part = out / "downloads" / "genome.fna.gz.part"
    assert part.is_file() and part.stat().st_size == size // 2
    assert not (out / "proteomes" / "genome.fna.gz").exists() and not (out / LOCK_FILE).exists()

    (outcome,) = download_sources(items, out)
    assert outcome.status == "downloaded"
    assert server.requests[-1] == ("genome.fna.gz", f"bytes={size // 2}-")  # resumed, not restarted
    assert (out / "proteomes" / "genome.fna.gz").read_bytes() == (root / "genome.fna.gz").read_bytes()
    assert read_lock(out)["genome"]["sha256"] == _sha(root / "genome.fna.gz")
    assert not part.exists()


def test_restart_when_the_server_ignores_range(tmp_path, upstream):
    base, root, server = upstream
    server.ranges = False  # answers 200 with the whole file
    out = tmp_path / "sources"
    part = out / "downloads" / "proteins.faa.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes of another file")
    download_sources(select_items(load_items(_config(tmp_path, base)), ["proteins"]), out)
    assert server.requests[-1][1] == "bytes=27-"
    assert (out / "downloads" / "proteins.faa").read_bytes() == (root / "proteins.faa").read_bytes()


def test_mirror_local_folder_and_http(tmp_path, upstream):
    base, root, server = upstream
    first = tmp_path / "online"
    config = _config(tmp_path, base)
    items = load_items(config)
    download_sources(items, first)
    mirror = first / "downloads"
    (mirror / "part.csv").write_text("Accession,is_ARG\nX,1\n")  # the url-less item: only a mirror has it
    n_requests = len(server.requests)

    offline = tmp_path / "offline"
    outcomes = download_sources(items, offline, mirror=str(mirror))
    assert _status(outcomes) == {"tinydb": "downloaded", "genome": "downloaded", "proteins": "downloaded", "hmd": "downloaded"}
    assert len(server.requests) == n_requests  # upstream never contacted
    for rel in ["arg/tinydb_v1/a.fasta", "arg/tinydb_v1/index.tsv", "proteomes/genome.fna.gz", "proteomes/proteins.faa.gz"]:
        assert (offline / rel).read_bytes() == (first / rel).read_bytes()
    assert (offline / "arg" / "hmd" / "part.csv").read_text().startswith("Accession")
    lock = read_lock(offline)
    assert lock["genome"]["url"] == (mirror / "genome.fna.gz").resolve().as_uri()
    assert lock["genome"]["upstream_url"] == f"{base}/genome.fna.gz"
    assert lock["genome"]["sha256"] == read_lock(first)["genome"]["sha256"]

    # an http(s) mirror: files under their upstream names below a base URL
    via_http = tmp_path / "via_http"
    download_sources(select_items(items, ["proteins"]), via_http, mirror=base)
    assert read_lock(via_http)["proteins"]["url"] == f"{base}/proteins.faa"


def test_tar_round_trip_through_the_mirror_script(tmp_path, upstream):
    """benchmarks/make_source_mirror.py re-packs a shared layout into upstream file names; download restores it."""
    base, _, _ = upstream
    items = load_items(_config(tmp_path, base))
    shared = tmp_path / "online"
    download_sources(items, shared)
    (shared / "arg" / "hmd").mkdir()
    (shared / "arg" / "hmd" / "part.csv").write_text("Accession,is_ARG\n")
    spec = importlib.util.spec_from_file_location("make_source_mirror", REPO / "benchmarks" / "make_source_mirror.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rows = script.build_mirror(items, shared, tmp_path / "mirror")
    assert all(path is not None for _, path, _ in rows)
    assert (tmp_path / "mirror" / "proteins.faa").read_bytes() == gzip.decompress((shared / "proteomes" / "proteins.faa.gz").read_bytes())

    restored = tmp_path / "restored"
    download_sources(items, restored, mirror=tmp_path / "mirror")
    for rel in ["arg/tinydb_v1/a.fasta", "arg/tinydb_v1/index.tsv", "arg/hmd/part.csv", "proteomes/genome.fna.gz"]:
        assert (restored / rel).read_bytes() == (shared / rel).read_bytes()


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "30"}
    return subprocess.run(
        [sys.executable, "-c", "from biotune.cli import main; main()", "data", "download", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


def test_checksum_mismatch_with_the_lock_is_a_one_line_cli_error(tmp_path, upstream):
    base, root, _ = upstream
    out = tmp_path / "sources"
    config = _config(tmp_path, base)
    items = select_items(load_items(config), ["tinydb"])
    download_sources(items, out)
    locked = read_lock(out)["tinydb"]["sha256"]
    # upstream re-publishes the "same" release; this site lost its downloads/ and fetches again
    (root / "tiny-db-v1.tar.bz2").write_bytes(_tar_bz2({"tiny-db-v1/a.fasta": _fasta(6, 9), "tiny-db-v1/index.tsv": b"id\n"}))
    (out / "downloads" / "tiny-db-v1.tar.bz2").unlink()

    proc = _cli("--out", str(out), "--config", str(config), "--only", "tinydb")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: tinydb: sha256 of tiny-db-v1.tar.bz2"), proc.stderr
    assert locked in lines[0] and "--update" in lines[0] and "Traceback" not in proc.stderr
    assert read_lock(out)["tinydb"]["sha256"] == locked  # lock and installed files untouched
    assert (out / "arg" / "tinydb_v1" / "a.fasta").read_bytes() == _fasta(5, 1)

    (outcome,) = download_sources(items, out, update=True)
    assert outcome.status == "downloaded"
    assert read_lock(out)["tinydb"]["sha256"] == _sha(root / "tiny-db-v1.tar.bz2") != locked
    assert (out / "arg" / "tinydb_v1" / "a.fasta").read_bytes() == _fasta(6, 9)


def test_cli_reports_missing_items_and_fails_only_for_required_ones(tmp_path, upstream):
    base, _, _ = upstream
    config = _config(tmp_path, base)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "proteins.faa").write_bytes(_fasta(3, 4))

    proc = _cli("--out", str(tmp_path / "a"), "--config", str(config), "--mirror", str(mirror), "--only", "proteins,hmd")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"missing (optional): hmd h: not in the mirror ({mirror / 'part.csv'}); no public upstream URL (not published)"
    ]
    assert "downloaded: proteins p1:" in proc.stdout

    proc = _cli("--out", str(tmp_path / "b"), "--config", str(config), "--mirror", str(mirror), "--only", "genome,proteins")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("missing (required): genome g1: not in the mirror")
    assert lines[-1] == "error: 1 required source(s) not obtained: genome (see the lines above)"


def test_bad_input_errors(tmp_path, upstream):
    base, root, _ = upstream
    items = load_items(_config(tmp_path, base))
    with pytest.raises(InputError, match=r"unknown source item\(s\) nope \(known: genome, hmd, proteins, tinydb\)"):
        select_items(items, ["genome", "nope"])
    with pytest.raises(InputError, match="mirror folder not found"):
        download_sources(items, tmp_path / "out", mirror=tmp_path / "no_such_mirror")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(InputError, match=f"cannot reach http://127.0.0.1:{closed}/"):
        download_sources(items[:1], tmp_path / "out", mirror=f"http://127.0.0.1:{closed}")
    (root / "tiny-db-v1.tar.bz2").write_bytes(b"BZh9 this is not an archive")
    with pytest.raises(InputError, match="not a readable tar archive"):
        download_sources(select_items(items, ["tinydb"]), tmp_path / "out")
    assert not (tmp_path / "out" / "arg" / "tinydb_v1").exists() and not (tmp_path / "out" / LOCK_FILE).exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"items": {"x": {"url": "ftp://h/x", "dest": "a/x"}}}))
    with pytest.raises(InputError, match="url must be http"):
        load_items(bad)
    bad.write_text(yaml.safe_dump({"items": {"x": {"url": None, "dest": "../x"}}}))
    with pytest.raises(InputError, match="relative path without"):
        load_items(bad)


def _archive(tmp_path: Path, build) -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        build(tar)
    return path


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"x", **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data) if not attrs else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if not attrs else None)


@pytest.mark.parametrize(
    ("member", "attrs", "message"),
    [
        ("db/../../escaped.txt", {}, "unsafe archive member 'db/../../escaped.txt'"),
        ("/tmp/absolute.txt", {}, "unsafe archive member '/tmp/absolute.txt'"),
        ("db/link", {"type": tarfile.SYMTYPE, "linkname": "../../outside"}, "link to '../../outside' outside the folder"),
        ("db/link", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "link to '/etc/passwd' outside the folder"),
        ("db/dev", {"type": tarfile.CHRTYPE}, "device or special file"),
    ],
)
def test_unsafe_tar_member_is_rejected(tmp_path, member, attrs, message):
    def build(tar):
        _add(tar, "db/a.fasta", b">a\nMK\n")
        _add(tar, member, **attrs)

    archive = _archive(tmp_path, build)
    dest = tmp_path / "work" / "out" / "db"
    item = Item(name="evil", version="1", url=None, dest="db", kind="tar", strip=1)
    with pytest.raises(InputError, match=message):
        unpack(archive, item, dest)
    assert not dest.exists()
    left = [p.name for p in tmp_path.rglob("*")]
    assert "escaped.txt" not in left and "absolute.txt" not in left and not any(n.endswith(".unpacking") for n in left)


def test_missing_member_pattern_fails_loudly(tmp_path):
    archive = _archive(tmp_path, lambda tar: _add(tar, "top/a.fasta", b">a\nMK\n"))
    item = Item(name="db", version="1", url=None, dest="db", kind="tar", strip=1, members=("a.fasta", "aro_index.tsv"))
    with pytest.raises(InputError, match="no member matching 'aro_index.tsv' after stripping 1 leading folder"):
        unpack(archive, item, tmp_path / "db")
    ok = Item(name="db", version="1", url=None, dest="db", kind="tar", strip=1, members=("a.fasta",))
    assert unpack(archive, ok, tmp_path / "db") == 1 and (tmp_path / "db" / "a.fasta").read_bytes() == b">a\nMK\n"


def test_arg_download_config_matches_the_build_layout():
    """Every path configs/build/arg_v2.yaml reads is produced by an item of configs/download/arg.yaml."""
    items = load_items(REPO / "configs" / "download" / "arg.yaml")
    dests = {i.dest for i in items}
    build = yaml.safe_load((REPO / "configs" / "build" / "arg_v2.yaml").read_text())
    for name, spec in build["sources"].items():
        for rel in spec["paths"]:
            if rel == "../proteomes":
                proteomes = {Path(d).name for d in dests if d.startswith("proteomes/")}
                assert set(spec["options"]["names"]) <= proteomes
            else:
                assert f"arg/{rel}" in dests, (name, rel)
    card = next(i for i in items if i.dest == f"arg/{build['mutation_models']['card']}")  # the mutation models' CARD folder
    assert {f"protein_fasta_{m}_model.fasta" for m in build["mutation_models"]["models"]} <= set(card.members)
    assert len({i.file_name for i in items}) == len(items)
    assert all(i.url or not i.required for i in items)  # only optional items may lack a URL
    shared_proteomes = SHARED_DATA / "proteomes"
    if shared_proteomes.is_dir():  # the team's copy: every proteome file has an item
        files = {p.name for p in shared_proteomes.iterdir() if p.name != "README.md"}
        assert files == {Path(d).name for d in dests if d.startswith("proteomes/")}


def test_build_skips_a_source_switched_off_with_null(tmp_path):
    """setup.sh builds with --set sources.hmd_arg_db=null when the HMD-ARG-DB CSVs could not be obtained."""
    from biotune.recipes.arg.build import BuildReport, import_sources

    (tmp_path / "neg.fasta").write_text(">n1\nMKVLAAGIVGLLLAQ\n")
    report = BuildReport()
    sources = {"hmd_arg_db": None, "negatives": {"format": "negative_fasta", "paths": ["neg.fasta"]}}
    imported = import_sources(tmp_path, sources, report)
    assert [r.source for r in imported.records] == ["negatives"] and list(report.imported) == ["negatives"]
