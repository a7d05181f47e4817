"""A non-editable install must carry the configs: the wheel holds every file of configs/."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_every_config(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("biotune-*.whl")
    shipped = {n.removeprefix("biotune/configs/") for n in zipfile.ZipFile(wheel).namelist() if n.startswith("biotune/configs/")}
    expected = {p.relative_to(ROOT / "configs").as_posix() for p in (ROOT / "configs").rglob("*") if p.is_file()}
    assert expected and shipped == expected
