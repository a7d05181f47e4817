"""User-facing errors: each names the file and record at fault, so the CLI can print it without a traceback.

Messages go to stderr through :func:`stderr_console` / :func:`report_error`: never wrapped at the
terminal width (a path of any length stays on one line, so the text users grep is the same
everywhere) and styled only when stderr is a terminal.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


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


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (whitespace runs joined, at most 200 characters; its type when empty)."""
    return (" ".join(str(exc).split()) or type(exc).__name__)[:200]


class OutputError(InputError):
    """The output cannot be written where the user asked: the folder is not one, is in use by another run,
    or the disk is full. Named like :class:`InputError` (path first), as the output path is user input too."""


class ToolError(BiotuneError):
    """An external tool (MMseqs2, DIAMOND) is missing or failed."""


def stderr_console() -> Console:
    """The console every command writes messages to: stderr, no line wrapping, colour only on a terminal."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)


def report_error(exc: BaseException) -> None:
    """Print ``exc`` as ``error: <message>`` on stderr: plain text unless stderr is a terminal, never wrapped."""
    if sys.stderr.isatty():
        from rich.markup import escape

        stderr_console().print(f"[bold red]error:[/] {escape(str(exc))}")
    else:
        sys.stderr.write(f"error: {exc}\n")
        sys.stderr.flush()


def is_usage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is click's ``ClickException`` (a bad command line). typer vendors its own click, whose
    classes are private, so the exception is recognised by the interface every ClickException has."""
    return callable(getattr(exc, "format_message", None)) and isinstance(getattr(exc, "exit_code", None), int)


def report_usage_error(exc: Exception) -> None:
    """A command-line mistake (unknown option, missing argument): typer's own panel on a terminal, else one
    plain ``error:`` line naming the command's ``--help``. A missing sub-command shows the help, as typer does."""
    if sys.stderr.isatty() or type(exc).__name__ == "NoArgsIsHelpError":
        from typer import rich_utils

        rich_utils.rich_format_error(exc)
        return
    context = getattr(exc, "ctx", None)
    hint = f" (see '{context.command_path} --help')" if context is not None else ""
    report_error(Exception(" ".join(exc.format_message().split()) + hint))
