"""On-disk HDF5 cache of embeddings, keyed by content hashes, safe against crashes.

Layout of the file (h5py)::

    /spaces/<space id>/          one per (backbone fingerprint, layer, pooling, precision, kind)
        keys     (n,) S32        entry key = hash(sequence, long-sequence policy) as hex
        vectors  protein: (n, hidden) float32; residue: (total residues, hidden) float16
        offsets  residue only: (n + 1,) int64, rows of entry i are vectors[offsets[i]:offsets[i+1]]
        attrs    committed = number of valid entries; descriptor fields for humans

The full cache key of one embedding is therefore the pair (space id, entry key), a hash of sequence,
backbone identity (weights fingerprint), layer, pooling, precision and long-sequence policy.

Crash safety is write-then-commit: new entries are appended past ``committed``, the file is flushed,
and only then ``committed`` is advanced (and flushed). A crash mid-append leaves an uncommitted tail,
which the next open detects, reports and discards, so those sequences are simply recomputed. A file
that HDF5 cannot open at all (killed while HDF5 rewrote its own metadata, cut short by a copy, not an
HDF5 file) is moved aside to ``<name>.corrupt-<time>`` with a warning and a fresh cache is started:
never silently reused.

Damage inside a file that still opens (bytes overwritten on disk) is caught too: every dataset is
written with HDF5's Fletcher-32 checksum filter, so a damaged chunk fails to read instead of giving
wrong vectors, and damaged metadata fails as well. Such a read raises :class:`CacheDamaged`;
:meth:`EmbeddingEngine.embed <biotune.embed.engine.EmbeddingEngine.embed>` then moves the file aside
(:meth:`EmbeddingCache.start_over`, same warning) and embeds again into a fresh cache. Caches written
before the filter was used have no checksums on their vectors: a damaged chunk there goes unnoticed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from biotune.errors import InputError, one_line

log = logging.getLogger(__name__)

KINDS = ("protein", "residue")
KEY_DTYPE = "S32"
#: What h5py raises when the file's bytes are damaged (a checksum that fails, a B-tree node that is garbage).
DAMAGE_ERRORS = (OSError, RuntimeError, KeyError, ValueError)


class CacheDamaged(InputError):
    """A cache file that opened but whose content fails to read: move it aside and start over."""


def default_cache_path() -> Path:
    """The cache shared by every run: ``$BIOTUNE_CACHE_DIR/embeddings.h5`` or ``~/.cache/biotune/embeddings.h5``."""
    return Path(os.environ.get("BIOTUNE_CACHE_DIR") or Path.home() / ".cache" / "biotune") / "embeddings.h5"


def content_hash(*parts: str) -> str:
    """A 32-hex-digit hash of the given strings (unambiguous: parts are length-prefixed)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def space_id(descriptor: Mapping[str, object]) -> str:
    """Identifier of the group of entries sharing backbone, layer, pooling, precision and kind."""
    return content_hash(json.dumps(dict(descriptor), sort_keys=True, default=str))


class _KeyIndex:
    """Entry key -> row, memory-light: a sorted array of the stored keys plus a dict of keys added since."""

    merge_every = 100_000

    def __init__(self, keys: np.ndarray):
        self._sorted = np.empty(0, dtype=KEY_DTYPE)
        self._rows = np.empty(0, dtype=np.int64)
        self._pending: dict[bytes, int] = {}
        self._merge(keys, np.arange(len(keys), dtype=np.int64))

    def _merge(self, keys: np.ndarray, rows: np.ndarray) -> None:
        all_keys = np.concatenate([self._sorted, keys.astype(KEY_DTYPE)])
        all_rows = np.concatenate([self._rows, rows])
        order = np.argsort(all_keys, kind="stable")
        self._sorted, self._rows = all_keys[order], all_rows[order]

    def add(self, keys: Sequence[bytes], first_row: int) -> None:
        for offset, key in enumerate(keys):
            self._pending[key] = first_row + offset
        if len(self._pending) >= self.merge_every:
            self._merge(np.array(list(self._pending), dtype=KEY_DTYPE), np.array(list(self._pending.values())))
            self._pending = {}

    def rows(self, keys: Sequence[bytes]) -> np.ndarray:
        """Row of each key, -1 when absent."""
        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(keys):
            return out
        query = np.array(keys, dtype=KEY_DTYPE)
        if len(self._sorted):
            pos = np.minimum(np.searchsorted(self._sorted, query), len(self._sorted) - 1)
            hit = self._sorted[pos] == query
            out[hit] = self._rows[pos[hit]]
        for i, key in enumerate(keys):
            if out[i] < 0 and key in self._pending:
                out[i] = self._pending[key]
        return out


class CacheSpace:
    """The entries of one (backbone, layer, pooling, precision, kind): lookup, read, append-and-commit."""

    def __init__(self, group: h5py.Group, kind: str):
        self.group = group
        self.kind = kind
        with self._reading("its index"):
            self.committed = int(group.attrs["committed"])
            self._discard_uncommitted_tail()
            self._index = _KeyIndex(group["keys"][: self.committed])

    @contextlib.contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Turn h5py's errors on damaged bytes into :class:`CacheDamaged` naming the file."""
        try:
            yield
        except DAMAGE_ERRORS as exc:
            raise CacheDamaged(f"embedding cache damaged, cannot read {what} ({one_line(exc)})", path=self.group.file.filename) from None

    def __len__(self) -> int:
        return self.committed

    def _discard_uncommitted_tail(self) -> None:
        keys, vectors = self.group["keys"], self.group["vectors"]
        n = self.committed
        n_rows = int(self.group["offsets"][n]) if self.kind == "residue" else n
        tail = keys.shape[0] - n
        if tail or vectors.shape[0] != n_rows or (self.kind == "residue" and self.group["offsets"].shape[0] != n + 1):
            log.warning(
                "embedding cache %s: discarding %d uncommitted entr%s left by an interrupted run; "
                "they will be recomputed",
                self.group.file.filename,
                max(tail, 0),
                "y" if tail == 1 else "ies",
            )
            keys.resize((n,))
            vectors.resize((n_rows, vectors.shape[1]))
            if self.kind == "residue":
                self.group["offsets"].resize((n + 1,))
            self.group.file.flush()

    def rows(self, keys: Sequence[str]) -> np.ndarray:
        """Stored row of each entry key, -1 when not cached."""
        return self._index.rows([k.encode() for k in keys])

    def read_proteins(self, rows: np.ndarray) -> np.ndarray:
        """Per-protein vectors of the given rows, float32 (m, hidden), in the given order."""
        unique, inverse = np.unique(rows, return_inverse=True)
        with self._reading("cached vectors"):
            return self.group["vectors"][unique][inverse] if len(unique) else np.empty((0, self.group["vectors"].shape[1]))

    def read_residues(self, row: int) -> np.ndarray:
        """Per-residue vectors of one row, float16 (length, hidden)."""
        with self._reading("cached vectors"):
            start, end = self.group["offsets"][row : row + 2]
            return self.group["vectors"][start:end]

    def append(self, keys: Sequence[str], vectors: Sequence[np.ndarray]) -> None:
        """Store entries (one vector per key for proteins, one (length, hidden) array for residues), then commit."""
        if not keys:
            return
        n = self.committed
        ds_keys, ds_vec = self.group["keys"], self.group["vectors"]
        ds_keys.resize((n + len(keys),))
        ds_keys[n:] = np.array([k.encode() for k in keys], dtype=KEY_DTYPE)
        if self.kind == "protein":
            ds_vec.resize((n + len(keys), ds_vec.shape[1]))
            ds_vec[n:] = np.stack(vectors).astype(np.float32)
        else:
            offsets = self.group["offsets"]
            start = int(offsets[n])
            ends = start + np.cumsum([len(v) for v in vectors])
            ds_vec.resize((int(ends[-1]), ds_vec.shape[1]))
            ds_vec[start:] = np.concatenate(vectors).astype(np.float16)
            offsets.resize((n + len(keys) + 1,))
            offsets[n + 1 :] = ends
        self._commit(n + len(keys))
        self._index.add([k.encode() for k in keys], n)

    def _commit(self, committed: int) -> None:
        """Make appended entries valid: data reaches the file before the count that declares it."""
        self.group.file.flush()
        self.group.attrs["committed"] = committed
        self.group.file.flush()
        self.committed = committed


class EmbeddingCache:
    """An HDF5 file of cached embeddings (see the module docstring for layout and crash safety).

    Use as a context manager, or call :meth:`close`. Only one process may write a cache file at a
    time (HDF5 locks it); a second one gets a clear error.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self._open()
        self._spaces: dict[str, CacheSpace] = {}

    def _open(self) -> h5py.File:
        try:
            return h5py.File(self.path, "a")
        except OSError as exc:
            if "unable to lock" in str(exc).lower():
                raise InputError(
                    "embedding cache is in use by another process; pass another cache path", path=self.path
                ) from exc
            self._move_aside(f"could not be opened ({one_line(exc)})")
            return h5py.File(self.path, "a")

    def _move_aside(self, why: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():  # two in the same second: never replace an earlier one
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        self.path.rename(aside)
        log.warning("embedding cache %s %s: moved aside to %s, starting an empty cache", self.path, why, aside)
        return aside

    def start_over(self, damage: CacheDamaged) -> None:
        """After :class:`CacheDamaged`: close the file, move it aside (with a warning) and open an empty cache."""
        try:
            self.close()
        except DAMAGE_ERRORS:
            pass
        self._spaces.clear()
        self._move_aside(f"is damaged ({damage.detail})")
        self.file = h5py.File(self.path, "a")

    def space(
        self, descriptor: Mapping[str, object], *, kind: str, hidden: int, labels: Mapping[str, object] | None = None
    ) -> CacheSpace:
        """The entries for ``descriptor`` (backbone fingerprint, layer, pooling, precision), created if new.

        ``labels`` (e.g. the backbone's name) are stored for humans but are not part of the key.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        sid = space_id({**descriptor, "kind": kind})
        if sid in self._spaces:
            return self._spaces[sid]
        name = f"spaces/{sid}"
        try:
            exists = name in self.file
        except DAMAGE_ERRORS as exc:
            raise CacheDamaged(f"embedding cache damaged, cannot read its index ({one_line(exc)})", path=self.path) from None
        if not exists:
            group = self.file.create_group(name)
            for field, value in {**(labels or {}), **descriptor, "kind": kind}.items():
                group.attrs[field] = str(value)
            checked = {"fletcher32": True}  # a damaged chunk fails to read instead of returning wrong vectors
            group.create_dataset("keys", shape=(0,), maxshape=(None,), dtype=KEY_DTYPE, chunks=(4096,), **checked)
            dtype, chunk_rows = (np.float32, 256) if kind == "protein" else (np.float16, 2048)
            group.create_dataset(
                "vectors", shape=(0, hidden), maxshape=(None, hidden), dtype=dtype, chunks=(chunk_rows, hidden), **checked
            )
            if kind == "residue":
                group.create_dataset("offsets", data=np.zeros(1, dtype=np.int64), maxshape=(None,), chunks=(4096,), **checked)
            group.attrs["committed"] = 0
            self.file.flush()
        try:
            group = self.file[name]
        except DAMAGE_ERRORS as exc:
            raise CacheDamaged(f"embedding cache damaged, cannot read its index ({one_line(exc)})", path=self.path) from None
        space = CacheSpace(group, kind)
        if space.group["vectors"].shape[1] != hidden:
            raise InputError(
                f"cache space {sid} holds vectors of width {space.group['vectors'].shape[1]}, expected {hidden}",
                path=self.path,
            )
        self._spaces[sid] = space
        return space

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
