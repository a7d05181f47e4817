"""Running external homology tools: locate the binary, run it, turn failures into clear errors."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from biotune.errors import ToolError
from biotune.threads import available_cpus

INSTALL_HINT = {
    "mmseqs": "install MMseqs2 (Debian/Ubuntu: apt-get install mmseqs2; or ./setup.sh)",
    "diamond": "install DIAMOND (Debian/Ubuntu: apt-get install diamond-aligner; or ./setup.sh)",
}


def require(tool: str) -> str:
    """Absolute path of ``tool`` on PATH, or a :class:`ToolError` saying how to install it."""
    path = shutil.which(tool)
    if path is None:
        raise ToolError(f"{tool} not found on PATH: {INSTALL_HINT.get(tool, 'install it')}")
    return path


def default_threads() -> int:
    """Threads for external tools: every CPU this process may use."""
    return available_cpus()


def run(args: Sequence[str]) -> None:
    """Run a tool quietly; on failure raise :class:`ToolError` with the tail of its output, on one line
    (its last lines joined by `` | ``: the CLI prints every error as one line). The tool gets no stdin: it
    cannot wait on, or read from, whatever the caller's stdin is (a terminal, a pipe of a test runner)."""
    proc = subprocess.run(list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
        tail = " | ".join(lines[-5:]) or "no output"
        raise ToolError(f"{os.path.basename(args[0])} failed (exit {proc.returncode}): {' '.join(args[1:3])} ...: {tail}")
