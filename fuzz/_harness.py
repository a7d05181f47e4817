"""Shared driver of the atheris harnesses (``fuzz_<target>.py``): see ``fuzz/README.md``.

Each input is written to a file and read with the project's reader. The one expected failure is the project's
:class:`~biotune.errors.InputError` with a one-line message naming the file; any other exception (or an
InputError without the file, or over several lines) propagates, and libFuzzer reports it as a crash.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import atheris

#: libFuzzer flags added unless given: final stats (``stat::number_of_executed_units``) and no input over 64 kB.
DEFAULT_FLAGS = ("-print_final_stats=1", "-max_len=65536")


def check_input_error(exc: Exception, path: Path) -> None:
    """Re-raise ``exc`` unless it is the project's clear one-line input error naming ``path``."""
    from biotune.errors import InputError

    if not isinstance(exc, InputError):
        raise exc
    message = str(exc)
    if str(path) not in message or message.splitlines() != [message]:  # no line break at all, even at the end
        raise AssertionError(f"unclear input error: {message!r}") from exc


def fuzz(
    target: str, file_name: str, read: Callable[[Path], object], seeds: dict[str, bytes], dictionary: str | None = None
) -> None:
    """Fuzz ``read(path)`` on ``path = <tmp>/<file_name>`` holding each input; ``seeds`` start the corpus.

    Without a corpus directory on the command line, a temporary one holding ``seeds`` is used (libFuzzer
    writes the inputs it finds into the first corpus directory given). ``dictionary``: a libFuzzer ``-dict``
    file next to this one, used unless ``-dict=`` is given.
    """
    work = Path(tempfile.mkdtemp(prefix=f"fuzz_{target}_"))
    path = work / file_name
    argv = list(sys.argv)
    flags = [*DEFAULT_FLAGS, *([f"-dict={Path(__file__).resolve().parent / dictionary}"] if dictionary else [])]
    argv += [flag for flag in flags if not any(a.startswith(flag.split("=")[0] + "=") for a in argv)]
    if not any(not a.startswith("-") for a in argv[1:]):
        corpus = work / "corpus"
        corpus.mkdir()
        for name, data in seeds.items():
            (corpus / name).write_bytes(data)
        argv.append(str(corpus))

    def one_input(data: bytes) -> None:
        path.write_bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Biopython's / pandas' parser warnings are not failures
                read(path)
        except Exception as exc:  # noqa: BLE001 - sorted into expected / crash by check_input_error
            check_input_error(exc, path)

    atheris.Setup(argv, one_input)
    atheris.Fuzz()
