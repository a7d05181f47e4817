"""Where biotune finds its Hydra/OmegaConf configs.

The configs live in the repository's ``configs/``; ``src/biotune/configs`` links to it, so a source
checkout, an editable install and a built wheel (which copies the linked files) all find them at the
same place next to the package. ``$BIOTUNE_CONFIG_DIR`` points elsewhere (a user's own config tree).
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_ENV = "BIOTUNE_CONFIG_DIR"


def config_dir() -> Path:
    """``$BIOTUNE_CONFIG_DIR``, else the configs shipped with the package."""
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path(__file__).resolve().parent / "configs"
