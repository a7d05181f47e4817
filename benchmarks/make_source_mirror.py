"""Build a ``--mirror`` folder for ``biotune data download`` from the team's local copy of the sources.

    .venv/bin/python benchmarks/make_source_mirror.py --shared ../shared/data --out /tmp/biotune_mirror
    .venv/bin/biotune data download --out data/sources --mirror /tmp/biotune_mirror

For every item of the download config (``configs/download/arg.yaml``) the mirror gets one file named like
the upstream download (the basename of the item's URL, or its ``mirror_name``), in the upstream format:
``kind: file`` items are copied from ``<shared>/<dest>``; ``kind: gzip`` items are decompressed (upstream
publishes them plain); ``kind: tar`` folders are packed into an archive of the upstream compression
(``.tar.bz2`` / ``.tar.gz``) under ``strip`` leading folders. ``download`` from that mirror then rebuilds
the shared layout file by file (same content after unpacking) with no network — how an offline site, or
this repository's must-show, runs the README's two commands.

Checksums differ from upstream: the re-packed archives are not upstream's bytes (nor are files wherever the
team's copy is not byte-identical to the published one), so a lock file written from this mirror pins the
team's copy, not the upstream release. Run ``biotune data download --update`` on a machine with internet
to pin upstream. A real mirror is simply the ``downloads/`` folder of an online machine's ``--out``.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tarfile
from pathlib import Path

from biotune.data.download import Item, load_items, sha256_file
from biotune.paths import config_dir

TAR_MODES = {".tar.bz2": "w:bz2", ".tbz2": "w:bz2", ".tar.gz": "w:gz", ".tgz": "w:gz", ".tar.xz": "w:xz", ".tar": "w"}


def _tar_mode(name: str) -> str:
    for suffix, mode in TAR_MODES.items():
        if name.endswith(suffix):
            return mode
    raise SystemExit(f"error: {name}: cannot tell the archive format from the file name")


def pack(folder: Path, target: Path, item: Item) -> None:
    """``folder``'s files into ``target`` under ``strip`` leading folders (``./`` when strip is 0, as CARD does)."""
    prefix = "/".join([f"{item.name}-mirror"] * item.strip) if item.strip else "."
    files = sorted(p for p in folder.rglob("*") if p.is_file())

    def owner_free(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(target, _tar_mode(target.name)) as tar:
        for f in files:
            tar.add(f, arcname=f"{prefix}/{f.relative_to(folder).as_posix()}", recursive=False, filter=owner_free)


def build_mirror(items: list[Item], shared: Path, out: Path) -> list[tuple[Item, Path | None, str]]:
    """Write one mirror file per item found under ``shared``; returns (item, file or None, note) rows."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for item in items:
        source = shared / item.dest
        target = out / item.file_name
        if not source.exists():
            rows.append((item, None, f"not in {shared}"))
            continue
        if item.kind == "tar":
            pack(source, target, item)
            note = f"packed {sum(1 for p in source.rglob('*') if p.is_file())} files"
        elif item.kind == "gzip":
            with gzip.open(source, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            note = "decompressed"
        else:
            shutil.copyfile(source, target)
            note = "copied"
        rows.append((item, target, note))
    return rows


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=repo.parent / "shared" / "data",
                        help="folder holding arg/ and proteomes/ (the team's copy) [default: ../shared/data]")
    parser.add_argument("--out", type=Path, required=True, help="mirror folder to write")
    parser.add_argument("--config", type=Path, default=config_dir() / "download" / "arg.yaml", help="download config")
    args = parser.parse_args(argv)
    rows = build_mirror(load_items(args.config), args.shared, args.out)
    width = max(len(item.name) for item, _, _ in rows)
    print(f"{'item':<{width}}  {'mirror file':<48} {'bytes':>12}  sha256 (first 16)  note")
    for item, path, note in rows:
        if path is None:
            print(f"{item.name:<{width}}  {item.file_name:<48} {'-':>12}  {'-':<17}  {note}")
        else:
            digest = sha256_file(path)[:16]
            print(f"{item.name:<{width}}  {item.file_name:<48} {path.stat().st_size:>12,}  {digest:<17}  {note}")
    missing = [item.name for item, path, _ in rows if path is None]
    print(f"{args.out}: {len(rows) - len(missing)} files" + (f"; not found in {args.shared}: {', '.join(missing)}" if missing else ""))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
