"""Error text is one line whatever the terminal width or the path length (users grep these messages)."""

import os
import subprocess
import sys


def test_cli_error_is_one_unwrapped_unstyled_line(tmp_path):
    missing = tmp_path / ("deep_" * 30) / "proteins_that_do_not_exist.faa"
    env = {**os.environ, "COLUMNS": "20", "TERM": "xterm-256color", "FORCE_COLOR": ""}
    env.pop("FORCE_COLOR")
    proc = subprocess.run(
        [sys.executable, "-c", "from biotune.cli import main; main()", "predict", str(missing), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and str(missing) in lines[0]
    assert "\x1b[" not in proc.stderr and "Traceback" not in proc.stderr
