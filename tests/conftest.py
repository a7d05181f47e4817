"""Shared fixtures. Tests never touch the network; real data is read from ../shared/data/arg when present."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_ARG = Path(os.environ.get("BIOTUNE_ARG_SOURCES", REPO.parent / "shared" / "data" / "arg"))


@pytest.fixture(scope="session")
def arg_sources() -> Path:
    """The shared raw ARG data; skips the test with a message when it is not there."""
    if not (SHARED_ARG / "README.md").exists():
        pytest.skip(f"real ARG data not found at {SHARED_ARG} (set BIOTUNE_ARG_SOURCES)")
    return SHARED_ARG


def _require_tool(name: str) -> None:
    if shutil.which(name) is None:
        pytest.fail(f"{name} is not on PATH: ./setup.sh installs it")


@pytest.fixture(scope="session")
def mmseqs() -> None:
    _require_tool("mmseqs")


@pytest.fixture(scope="session")
def diamond() -> None:
    _require_tool("diamond")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (Playwright's own browser download is not available here)."""
    _require_tool("chromium")
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def tiny_esm_dir(tmp_path_factory) -> Path:
    """A tiny random-weight ESM-2 saved with ``save_pretrained`` — loaded like a real checkpoint."""
    from biotune.models.backbones.esm import save_random_esm

    return save_random_esm("esm2_tiny", tmp_path_factory.mktemp("esm2_tiny"), seed=0)


@pytest.fixture(scope="module")
def embed_one_thread():
    """Embedding engines of the module run single-threaded: tiny models gain nothing from threads, and on a busy
    shared machine spinning OpenMP workers turn seconds into minutes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BIOTUNE_EMBED_THREADS", "1")
        yield
