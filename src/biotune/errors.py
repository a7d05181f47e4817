"""User-facing errors: each names the file and record at fault, so the CLI can print it without a traceback."""

from __future__ import annotations


class BiotuneError(Exception):
    """Base class for errors the CLI reports as a one-line message (exit code 2)."""


class InputError(BiotuneError):
    """Bad user input: a missing file, a malformed record, an unexpected column."""

    def __init__(self, message: str, *, path: object | None = None, record: str | None = None):
        self.path = None if path is None else str(path)
        self.record = record
        self.detail = message
        where = []
        if self.path:
            where.append(self.path)
        if record is not None:
            where.append(f"record {record!r}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


class ToolError(BiotuneError):
    """An external tool (MMseqs2, DIAMOND) is missing or failed."""
