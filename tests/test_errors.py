"""Error text is one line whatever the terminal width or the path length (users grep these messages)."""

import os
import subprocess
import sys


def run_biotune(*args: str) -> subprocess.CompletedProcess:
    """The real entry point in a subprocess with a 20-column terminal declared and stderr piped."""
    env = {**os.environ, "COLUMNS": "20", "TERM": "xterm-256color"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-c", "from biotune.cli import main; main()", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_error_is_one_unwrapped_unstyled_line(tmp_path):
    missing = tmp_path / ("deep_" * 30) / "proteins_that_do_not_exist.faa"
    proc = run_biotune("predict", str(missing), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and str(missing) in lines[0]
    assert "\x1b[" not in proc.stderr and "Traceback" not in proc.stderr


def test_command_line_mistakes_are_one_plain_line_too(tmp_path):
    """Click's usage errors (unknown option, missing argument) were a box wrapped at the terminal width."""
    proc = run_biotune("predict", str(tmp_path / ("deep_" * 30) / "x.faa"), "-o", str(tmp_path / "out"), "--no-such-option")
    assert proc.returncode == 2
    assert proc.stderr == "error: No such option: --no-such-option (see 'biotune predict --help')\n"
    proc = run_biotune("predict")
    assert proc.returncode == 2 and proc.stderr == "error: Missing argument 'INPUT...'. (see 'biotune predict --help')\n"


def test_version_flag_prints_the_version():
    from biotune import __version__

    proc = run_biotune("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == __version__ and not proc.stderr
