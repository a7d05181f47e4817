"""Download the public upstream files a recipe reads, pinned in a lock file (``biotune data download``).

A download config (``configs/download/<recipe>.yaml``) lists *items*: name, version, official URL (or
``null`` when none is known), what to do with the file (``file``: keep as is; ``gzip``: compress;
``tar``: unpack selected members into a folder) and its destination under the output folder. The flow
for each item::

    source_url (upstream or --mirror) -> fetch into downloads/<name>.part (HTTP Range resume)
        -> sha256, compared with sources.lock.json -> install into <out>/<dest> -> lock entry

``<out>/downloads/`` keeps every raw download under its upstream file name, so that folder is itself a
mirror (``--mirror DIR_OR_URL``) for a site without internet. An item already downloaded, verified
against the lock file and installed is skipped. Problems a user can fix (unknown item, unreachable
mirror, checksum differing from the lock, corrupt or unsafe archive) raise :class:`InputError`.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import http.client
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from biotune.errors import InputError

LOCK_FILE = "sources.lock.json"
DOWNLOADS = "downloads"
KINDS = ("file", "gzip", "tar")
CHUNK = 1 << 20
LOCK_FORMAT = 1

_ITEM_KEYS = {"version", "url", "mirror_name", "kind", "strip", "members", "dest", "required", "licence", "note"}


@dataclass(frozen=True)
class Item:
    """One upstream file: where it comes from and where it goes under the output folder."""

    name: str
    version: str
    url: str | None
    dest: str
    kind: str = "file"
    mirror_name: str | None = None
    strip: int = 0
    members: tuple[str, ...] = ()
    required: bool = True
    licence: str = ""
    note: str = ""

    @property
    def file_name(self) -> str:
        """The raw download's name in ``downloads/`` and in a mirror: ``mirror_name``, else the URL's basename."""
        if self.mirror_name:
            return self.mirror_name
        if self.url:
            return PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(self.url).path)).name
        return PurePosixPath(self.dest).name


@dataclass(frozen=True)
class Outcome:
    """What happened to one item: ``downloaded``, ``installed`` (from an earlier download), ``present`` or ``missing``."""

    item: Item
    status: str
    detail: str = ""
    entry: Mapping[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ config


def _safe_relative(value: str, what: str, path: Path) -> str:
    rel = PurePosixPath(value)
    if not value or rel.is_absolute() or ".." in rel.parts:
        raise InputError(f"{what} {value!r} must be a relative path without '..'", path=path)
    return str(rel)


def load_items(path: str | Path) -> list[Item]:
    """The items of a download config, validated (kinds, relative destinations, unique names)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("download config not found (pass --config)", path=path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {' '.join(str(exc).split())}", path=path) from None
    raw_items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(raw_items, dict) or not raw_items:
        raise InputError("expected a mapping 'items: {name: {url, dest, ...}}'", path=path)
    items: list[Item] = []
    for name, spec in raw_items.items():
        where = f"item {name!r}:"
        if not isinstance(spec, dict):
            raise InputError(f"{where} expected a mapping", path=path)
        unknown = sorted(set(spec) - _ITEM_KEYS)
        if unknown:
            raise InputError(f"{where} unknown keys {unknown} (known: {sorted(_ITEM_KEYS)})", path=path)
        if "dest" not in spec or "url" not in spec:
            raise InputError(f"{where} needs 'url' (null when there is none) and 'dest'", path=path)
        url = spec["url"]
        if url is not None and urllib.parse.urlsplit(str(url)).scheme not in ("http", "https"):
            raise InputError(f"{where} url must be http(s) or null, got {url!r}", path=path)
        kind = spec.get("kind", "file")
        if kind not in KINDS:
            raise InputError(f"{where} kind {kind!r} is not one of {KINDS}", path=path)
        members = tuple(str(m) for m in spec.get("members") or ())
        if kind != "tar" and (members or spec.get("strip")):
            raise InputError(f"{where} 'members' and 'strip' apply to kind: tar only", path=path)
        item = Item(
            name=str(name),
            version=str(spec.get("version", "")),
            url=None if url is None else str(url),
            dest=_safe_relative(str(spec["dest"]), f"{where} dest", path),
            kind=kind,
            mirror_name=spec.get("mirror_name"),
            strip=int(spec.get("strip") or 0),
            members=members,
            required=bool(spec.get("required", True)),
            licence=str(spec.get("licence", "")),
            note=str(spec.get("note", "")),
        )
        if "/" in item.file_name or not item.file_name:
            raise InputError(f"{where} cannot derive a file name from the URL: set mirror_name", path=path)
        items.append(item)
    for attr in ("file_name", "dest"):
        values = [getattr(i, attr) for i in items]
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise InputError(f"two items share the {attr.replace('_', ' ')} {dupes}", path=path)
    return items


def select_items(items: Sequence[Item], only: Iterable[str] | None) -> list[Item]:
    """``items`` restricted to the names in ``only`` (all when empty); an unknown name is an error."""
    wanted = [n.strip() for n in (only or ()) if n.strip()]
    if not wanted:
        return list(items)
    known = {i.name for i in items}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise InputError(f"unknown source item(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return [i for i in items if i.name in wanted]


# ------------------------------------------------------------------------------------------ planning


def parse_mirror(value: str | Path | None) -> str | Path | None:
    """An http(s) base URL (returned with a trailing ``/``) or an existing local folder."""
    if value is None or str(value) == "":
        return None
    text = str(value)
    scheme = urllib.parse.urlsplit(text).scheme
    if scheme in ("http", "https"):
        return text if text.endswith("/") else text + "/"
    folder = Path(urllib.parse.unquote(urllib.parse.urlsplit(text).path)) if scheme == "file" else Path(text)
    if not folder.is_dir():
        raise InputError("mirror folder not found (pass a folder or an http(s) URL)", path=folder)
    return folder


def source_url(item: Item, mirror: str | Path | None) -> str | Path | None:
    """Where ``item`` is fetched from: the mirror's copy (URL or local path) if a mirror is given, else upstream."""
    if mirror is None:
        return item.url
    if isinstance(mirror, Path):
        return mirror / item.file_name
    return mirror + urllib.parse.quote(item.file_name)


def describe(source: str | Path) -> str:
    """The URL recorded in the lock file for a source (local mirror files as ``file://`` URIs)."""
    return source.resolve().as_uri() if isinstance(source, Path) else source


# ------------------------------------------------------------------------------------------ fetching


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class NotAvailable(Exception):
    """The source answered but does not have the file (HTTP 4xx/5xx, missing mirror file)."""


def _user_agent() -> str:
    from biotune import __version__

    return f"biotune/{__version__} (data download)"


def fetch(source: str | Path, part: Path, *, timeout: float = 60.0) -> None:
    """Copy ``source`` (an http(s) URL or a local file) into ``part``.

    Over HTTP an existing ``part`` is resumed with a ``Range`` request when the server answers 206, and
    restarted when it answers 200. A transfer that ends short of ``Content-Length`` leaves ``part`` in
    place and raises :class:`InputError` (run again to resume). Raises :class:`NotAvailable` when the
    source does not have the file.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, Path):
        if not source.is_file():
            raise NotAvailable(f"not in the mirror ({source})")
        shutil.copyfile(source, part)
        return
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": _user_agent()}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(source, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the partial file does not fit this resource: start again
            part.unlink()
            return fetch(source, part, timeout=timeout)
        raise NotAvailable(f"HTTP {exc.code} {exc.reason} from {source}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"cannot reach {source}: {reason}") from None
    with response:
        resumed = response.status == 206
        if resumed and not (offset and str(response.headers.get("Content-Range", "")).startswith(f"bytes {offset}-")):
            if not offset:
                raise InputError(f"{source}: the server answered with part of the file (HTTP 206) to a plain request")
            response.close()  # another range than asked for: start again from zero
            part.unlink()
            return fetch(source, part, timeout=timeout)
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        expected = start + int(length) if length and length.isdigit() else None
        try:
            with open(part, "ab" if resumed else "wb") as out:
                shutil.copyfileobj(response, out, CHUNK)
        except (OSError, http.client.HTTPException) as exc:
            raise InputError(f"download of {source} interrupted ({exc}); run the command again to resume") from None
    size = part.stat().st_size
    if expected is not None and size != expected:
        raise InputError(
            f"download of {source} interrupted at {size:,} of {expected:,} bytes; run the command again to resume"
        )


# ------------------------------------------------------------------------------------------ installing


def _member_path(name: str, strip: int) -> PurePosixPath | None:
    """The member's path after removing ``strip`` leading folders (None when nothing is left)."""
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    return PurePosixPath(*parts[strip:]) if len(parts) > strip else None


def plan_members(members: Sequence[tarfile.TarInfo], item: Item, archive: Path) -> list[tuple[tarfile.TarInfo, PurePosixPath]]:
    """The regular-file members to extract and their paths in the destination folder.

    Refuses absolute paths, ``..`` components, links leaving the folder and device files anywhere in
    the archive (an archive carrying any of them is not trusted), keeps only members matching
    ``item.members`` (every pattern must match at least one file).
    """
    chosen: list[tuple[tarfile.TarInfo, PurePosixPath]] = []
    for m in members:
        raw = PurePosixPath(m.name)
        if m.name.startswith(("/", "\\")) or raw.is_absolute() or ".." in raw.parts or ":" in (raw.parts[0] if raw.parts else ""):
            raise InputError(f"unsafe archive member {m.name!r} (absolute path or '..')", path=archive)
        if m.issym() or m.islnk():
            target = PurePosixPath(m.linkname)
            base = raw.parent if m.issym() else PurePosixPath()
            if target.is_absolute() or ".." in (base / target).parts:
                raise InputError(f"unsafe archive member {m.name!r}: link to {m.linkname!r} outside the folder", path=archive)
            continue  # links inside the archive are not needed by any importer: skipped
        if not (m.isfile() or m.isdir()):
            raise InputError(f"unsafe archive member {m.name!r}: device or special file", path=archive)
        rel = _member_path(m.name, item.strip)
        if m.isfile() and rel is not None and (not item.members or any(fnmatch.fnmatch(str(rel), p) for p in item.members)):
            chosen.append((m, rel))
    for pattern in item.members:
        if not any(fnmatch.fnmatch(str(rel), pattern) for _, rel in chosen):
            raise InputError(
                f"archive has no member matching {pattern!r} after stripping {item.strip} leading folder(s)", path=archive
            )
    if not chosen:
        raise InputError("archive holds no files to extract", path=archive)
    return chosen


def _replace(tmp: Path, dest: Path) -> None:
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    os.replace(tmp, dest)


def unpack(archive: Path, item: Item, dest: Path) -> int:
    """Extract the selected members of ``archive`` into the folder ``dest`` (replaced); returns the file count."""
    tmp = dest.with_name(f".{dest.name}.unpacking")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        with tarfile.open(archive) as tar:
            chosen = plan_members(tar.getmembers(), item, archive)
            tmp.mkdir(parents=True)
            for member, rel in chosen:
                target = tmp.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise InputError(f"cannot read archive member {member.name!r}", path=archive)
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"not a readable tar archive ({exc})", path=archive) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _replace(tmp, dest)
    return len(chosen)


def install(item: Item, raw: Path, dest: Path) -> str:
    """Put the raw download ``raw`` in place at ``dest`` according to ``item.kind``; returns a short description."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if item.kind == "tar":
        return f"{unpack(raw, item, dest)} files unpacked"
    tmp = dest.with_name(f".{dest.name}.tmp")
    if item.kind == "gzip":
        # fixed header (no name, mtime 0): the same download always gives the same .gz
        with open(raw, "rb") as src, open(tmp, "wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
            shutil.copyfileobj(src, gz, CHUNK)
        _replace(tmp, dest)
        return "gzip-compressed"
    shutil.copyfile(raw, tmp)
    _replace(tmp, dest)
    return "copied"


def is_installed(item: Item, dest: Path) -> bool:
    return dest.is_dir() and any(dest.iterdir()) if item.kind == "tar" else dest.is_file()


# ------------------------------------------------------------------------------------------ lock file


def read_lock(out: Path) -> dict[str, dict[str, Any]]:
    """The lock entries by item name (empty when there is no lock file yet)."""
    path = out / LOCK_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        items = data["items"]
        if not isinstance(items, dict):
            raise TypeError("'items' is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"unreadable lock file ({exc}); move it away to start afresh", path=path) from None
    return items


def write_lock(out: Path, entries: Mapping[str, Mapping[str, Any]]) -> Path:
    path = out / LOCK_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"format": LOCK_FORMAT, "items": dict(sorted(entries.items()))}, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def lock_entry(item: Item, used: str, raw: Path, digest: str) -> dict[str, Any]:
    return {
        "name": item.name,
        "version": item.version,
        "url": used,
        "upstream_url": item.url,
        "file": item.file_name,
        "sha256": digest,
        "bytes": raw.stat().st_size,
        "retrieved_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "dest": item.dest,
    }


# ------------------------------------------------------------------------------------------ the run


def _pins_match(item: Item, locked: Mapping[str, Any] | None) -> bool:
    return bool(locked) and locked.get("version") == item.version and locked.get("upstream_url") == item.url


def download_sources(
    items: Sequence[Item],
    out: str | Path,
    *,
    mirror: str | Path | None = None,
    update: bool = False,
    timeout: float = 60.0,
    echo: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Fetch, verify and install ``items`` under ``out``; write ``out/sources.lock.json`` after each item.

    An item whose raw download matches its lock entry (same version, URL and sha256) and is installed is
    ``present`` and left alone; a download whose sha256 differs from the lock is an error unless
    ``update``, which also re-fetches every item. Items the source does not have are ``missing`` (the
    caller decides whether that is fatal from :attr:`Item.required`).
    """
    out = Path(out)
    mirror = parse_mirror(mirror)
    downloads = out / DOWNLOADS
    lock = read_lock(out)
    outcomes: list[Outcome] = []
    for item in items:
        raw = downloads / item.file_name
        dest = out / item.dest
        locked = lock.get(item.name)
        trusted = not update and _pins_match(item, locked) and raw.is_file() and sha256_file(raw) == locked["sha256"]
        if trusted and is_installed(item, dest):
            outcome = Outcome(item, "present", "verified against the lock file", locked)
        elif trusted:
            outcome = Outcome(item, "installed", f"{install(item, raw, dest)} from {DOWNLOADS}/{item.file_name}", locked)
        else:
            source = source_url(item, mirror)
            if source is None:
                outcome = Outcome(item, "missing", f"no public upstream URL ({item.note or 'none known'}); only --mirror can provide it")
            else:
                outcome = _fetch_and_install(item, source, raw, dest, locked, update, timeout)
                if outcome.entry:
                    lock[item.name] = dict(outcome.entry)
                    write_lock(out, lock)
        outcomes.append(outcome)
        if echo is not None:
            echo(outcome)
    return outcomes


def _fetch_and_install(
    item: Item, source: str | Path, raw: Path, dest: Path, locked: Mapping[str, Any] | None, update: bool, timeout: float
) -> Outcome:
    part = raw.with_name(raw.name + ".part")
    try:
        fetch(source, part, timeout=timeout)
    except NotAvailable as exc:
        why = "" if item.url else f"; no public upstream URL ({item.note or 'none known'})"
        return Outcome(item, "missing", f"{exc}{why}")
    digest = sha256_file(part)
    if locked and digest != locked.get("sha256") and not update:
        part.unlink()
        raise InputError(
            f"{item.name}: sha256 of {item.file_name} from {describe(source)} is {digest}, the lock file has "
            f"{locked.get('sha256')} (version {locked.get('version')}): upstream changed or the mirror holds another "
            f"version; pass --update to accept it"
        )
    os.replace(part, raw)
    entry = lock_entry(item, describe(source), raw, digest)
    detail = install(item, raw, dest)
    return Outcome(item, "downloaded", f"{entry['bytes']:,} bytes from {entry['url']}, {detail}", entry)
