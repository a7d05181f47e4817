"""The PPG recipe: wrist-PPG heart-rate windows (IEEE SP Cup 2015), leave-subject-out folds and a spectral baseline.

:mod:`.importers` reads recordings, :mod:`.windows` turns them into labelled, preprocessed windows and
folds, :mod:`.spectral` is the classic periodogram baseline. Settings live in ``configs/ppg/``.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from biotune.paths import config_dir
from biotune.recipes.config import load_recipe_config


def recipe_config(name: str = "spc2015", overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """``configs/ppg/<name>.yaml`` with ``key=value`` overrides, resolved."""
    return load_recipe_config(Path(config_dir()) / "ppg" / f"{name}.yaml", overrides)
